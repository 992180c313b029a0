//! `cargo xtask openapi`: regenerates `docs/openapi.json` from the server itself
//! (`portal-server openapi`), with a placeholder public URL since every installation has its
//! own. A test in `portal-server` fails when the committed file differs from what the code
//! generates.

use std::path::Path;

use crate::{Result, cargo, output_of, workspace_root};

/// The `servers` URL of the committed document; the same as `portal_server::OPENAPI_PUBLIC_URL`
/// (the staleness test compares against that constant, so a mismatch here fails it).
const PLACEHOLDER_PUBLIC_URL: &str = "https://portal.example.org";

/// Where the document lives, relative to the workspace root.
const DOCUMENT: &str = "docs/openapi.json";

pub(crate) fn run() -> Result {
    eprintln!("openapi: generating with `portal-server openapi --public-url {PLACEHOLDER_PUBLIC_URL}`");
    let spec = output_of(&mut cargo([
        "run",
        "-q",
        "-p",
        "portal-server",
        "--",
        "openapi",
        "--public-url",
        PLACEHOLDER_PUBLIC_URL,
    ]))?;
    serde_json::from_str::<serde_json::Value>(&spec)
        .map_err(|error| format!("`portal-server openapi` printed invalid JSON: {error}"))?;
    let path = workspace_root().join(DOCUMENT);
    write_if_changed(&path, &spec)
}

fn write_if_changed(path: &Path, spec: &str) -> Result {
    if std::fs::read_to_string(path).is_ok_and(|current| current == spec) {
        eprintln!("openapi: {DOCUMENT} is up to date");
        return Ok(());
    }
    std::fs::write(path, spec).map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    eprintln!("openapi: wrote {DOCUMENT}");
    Ok(())
}
