//! `cargo xtask faults`: only the fault tests (`crates/portal-server/tests/faults/`), with their
//! figures printed, against the local PostgreSQL unless `PORTAL_TEST_POSTGRES_URL` says
//! otherwise. `cargo test --workspace --all-features` runs the same tests among the others.

use crate::{Result, cargo, display};

const POSTGRES_URL_VAR: &str = "PORTAL_TEST_POSTGRES_URL";
/// The server CI and the developers' machines run (trust authentication on loopback).
const LOCAL_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub(crate) fn run() -> Result {
    let mut command = cargo(["test", "-p", "portal-server", "--all-features", "--test", "faults", "--", "--nocapture"]);
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => eprintln!("==> {POSTGRES_URL_VAR} is set; using it"),
        _ => {
            eprintln!("==> {POSTGRES_URL_VAR}={LOCAL_POSTGRES_URL}");
            command.env(POSTGRES_URL_VAR, LOCAL_POSTGRES_URL);
        }
    }
    let shown = display(&command);
    eprintln!("==> {shown}");
    let status = command.status().map_err(|error| format!("could not run `{shown}`: {error}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{shown}` failed ({status})")) }
}
