//! The committed `docs/openapi.json` is what the code generates (`cargo xtask openapi`
//! regenerates it).

use std::path::Path;

#[test]
fn the_committed_openapi_document_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}; run `cargo xtask openapi`", path.display()));
    let generated = portal_http::openapi_json(portal_server::OPENAPI_PUBLIC_URL);
    assert!(
        committed.trim_end() == generated.trim_end(),
        "docs/openapi.json is stale: run `cargo xtask openapi` and commit the result"
    );
    let spec: serde_json::Value = serde_json::from_str(&committed).expect("valid JSON");
    assert_eq!(spec["servers"][0]["url"], portal_server::OPENAPI_PUBLIC_URL);
}
