//! `cargo xtask schemathesis`: contract fuzzing of the HTTP API with schemathesis.
//!
//! Builds `portal-server` (debug), serves it from a fresh data directory (SQLite, mail as `.eml`
//! files) on a free loopback port, creates a practice and seeds clients in every portal state
//! (a registered client signs in for the session-token operations), then runs schemathesis
//! against the served `/openapi.json` with every check, a bounded number of examples per
//! operation and all phases (examples, coverage, fuzzing, stateful). Any failure fails the
//! command. `docs/contract-testing.md` says what runs and why.
//!
//! schemathesis comes from a virtualenv under the target directory, installed at the pinned
//! version on first use (`python3 -m venv` and `pip`, so PyPI must be reachable once); set
//! `PORTAL_SCHEMATHESIS` to the path of an `st` executable to use another one.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use portal_testkit::{EmlDir, PortalServer};

use crate::served::{Deployment, invitation_in};
use crate::{Result, display, output_of, workspace_root};

/// The schemathesis release the contract is checked with (its checks change between releases).
const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// Test cases generated per operation and phase: enough to cover every documented rule in a
/// couple of minutes on a 2-core machine.
const MAX_EXAMPLES: &str = "40";
/// A fixed seed keeps CI reproducible; `PORTAL_SCHEMATHESIS_SEED` explores other inputs.
const DEFAULT_SEED: &str = "20261127";
/// The seeded client's credentials (for the operations that take a session token).
const USERNAME: &str = "contract.tester";
const PASSWORD: &str = "plum harbour seventeen lanterns";

pub(crate) fn run() -> Result {
    let started = Instant::now();
    let st = schemathesis()?;
    let server_binary = crate::served::build(false, &[])?;

    let run_dir = target_dir().join("schemathesis");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir).map_err(|error| format!("cannot clear {}: {error}", run_dir.display()))?;
    }
    let data_dir = run_dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;
    let deployment = Deployment { binary: &server_binary, data_dir: &data_dir, database_url: None };

    let created = deployment.command(&["practice", "create", "--name", "Contract Test"])?;
    let created: Value = serde_json::from_str(&created)
        .map_err(|error| format!("`portal-server practice create` printed invalid JSON: {error}"))?;
    let (Some(slug), Some(staff_key)) = (created["slug"].as_str(), created["staff_key"].as_str()) else {
        return Err(format!("`portal-server practice create` printed no slug or staff key: {created}"));
    };

    // Every request comes from 127.0.0.1: the per-IP limit would answer most client calls (and
    // the session sign-in) 429 and hide the handlers from the fuzzer. Links are built from the
    // public URL, which is the served address.
    let port = portal_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server =
        deployment.serve(port, &["--public-url", &base, "--ip-rate-limit", "0"], &run_dir.join("server.log"))?;
    let api = Api::new(&server, staff_key)?;
    seed(&api, &server.mail())?;
    let cursor = list_cursor(&api)?;

    let config = run_dir.join("schemathesis.toml");
    std::fs::write(&config, config_toml(staff_key, slug, &cursor))
        .map_err(|error| format!("cannot write {}: {error}", config.display()))?;
    let seed = std::env::var("PORTAL_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let mut command = Command::new(&st);
    command
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", &format!("{base}/openapi.json"), "--url", &base])
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", &seed])
        .args(["--workers", "2", "--request-timeout", "20", "--report", "junit,ndjson", "--report-dir"])
        .arg(run_dir.join("report"))
        .current_dir(&run_dir);
    eprintln!("schemathesis: {}", display(&command));
    let status = command.status().map_err(|error| format!("could not run `{}`: {error}", st.display()))?;
    drop(server);
    eprintln!("schemathesis: finished in {:.0?} (server log and reports in {})", started.elapsed(), run_dir.display());
    if status.success() { Ok(()) } else { Err(format!("schemathesis found contract failures ({status})")) }
}

/// The schemathesis configuration: the staff key for `StaffKey`, a sign-in as the seeded client
/// for `ClientSessionToken` (fetched again whenever a call answers 401, e.g. after the fuzzer
/// signed the session out), and a real `cursor` for the client list.
///
/// A list cursor is opaque: any base64url text fits its schema, but only the cursors the list
/// gave out are accepted (others are 422 `invalid_cursor`, by design), and a schema cannot say
/// which. So the list's `cursor` is always one the server made (the next page after the first
/// seeded client), as the staff key is a real one; the refusal of made-up, cut and altered
/// cursors is tested in Rust (`crates/portal-http/tests/api/list.rs`).
/// Operations with a rule no JSON schema can state, whose schema-valid requests may still be 422
/// `validation_failed`: a real calendar date of birth between 1880 and tomorrow
/// (`create_client`, `update_client`), a time zone the tz database knows and a reminder shorter
/// than the invitation lifetime in force (`update_practice_settings`), exactly one of two forms
/// (`send_invitations`). For them alone `positive_data_acceptance` also takes 422; every other
/// check still runs on them, and each rule has its Rust tests.
const RULES_NO_SCHEMA_STATES: [&str; 4] =
    ["create_client", "update_client", "update_practice_settings", "send_invitations"];

/// Schemathesis' default expected statuses for `positive_data_acceptance`, plus 422.
const ACCEPTED_OR_REFUSED_BY_A_RULE: &str = r#"["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]"#;

fn config_toml(staff_key: &str, slug: &str, list_cursor: &str) -> String {
    // TOML basic strings take JSON string escapes, so `Value::to_string` quotes them safely.
    let quote = |text: &str| Value::from(text).to_string();
    format!(
        "[auth.openapi.StaffKey]\nbearer = {key}\n\n\
         [auth.dynamic.openapi.ClientSessionToken]\npath = \"/api/v1/portal/sessions\"\n\
         payload = {{ practice = {slug}, username = {user}, password = {password} }}\n\
         extract_selector = \"/token\"\n\n\
         [[operations]]\ninclude-operation-id = \"list_clients\"\n\
         parameters = {{ \"query.cursor\" = {cursor} }}\n{rules}",
        rules = RULES_NO_SCHEMA_STATES
            .iter()
            .map(|operation| {
                format!(
                    "\n[[operations]]\ninclude-operation-id = {operation:?}\n\
                     checks.positive_data_acceptance.expected-statuses = {ACCEPTED_OR_REFUSED_BY_A_RULE}\n"
                )
            })
            .collect::<String>(),
        key = quote(staff_key),
        cursor = quote(list_cursor),
        slug = quote(slug),
        user = quote(USERNAME),
        password = quote(PASSWORD),
    )
}

/// The `st` to run: `PORTAL_SCHEMATHESIS`, else the pinned release in a virtualenv under the
/// target directory, installed when missing or of another version.
fn schemathesis() -> Result<PathBuf> {
    if let Some(st) = std::env::var_os("PORTAL_SCHEMATHESIS") {
        return Ok(PathBuf::from(st));
    }
    let venv = target_dir().join("schemathesis-venv");
    let st = venv.join("bin").join("st");
    let installed = Command::new(&st).arg("--version").output().ok().filter(|output| output.status.success());
    if installed.is_some_and(|output| String::from_utf8_lossy(&output.stdout).trim().ends_with(SCHEMATHESIS_VERSION)) {
        return Ok(st);
    }
    eprintln!("schemathesis: installing schemathesis=={SCHEMATHESIS_VERSION} into {}", venv.display());
    output_of(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|error| {
        format!("{error}\n(needs python3 with venv, e.g. `apt-get install python3-venv`; or set PORTAL_SCHEMATHESIS)")
    })?;
    output_of(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
    )?;
    Ok(st)
}

/// Where cargo builds: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Just enough HTTP to seed data.
struct Api {
    client: reqwest::blocking::Client,
    base: String,
    staff_key: String,
}

impl Api {
    fn new(server: &PortalServer, staff_key: &str) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| format!("HTTP client: {error}"))?;
        Ok(Self { client, base: server.base_url().to_owned(), staff_key: staff_key.to_owned() })
    }

    fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|error| format!("{method}: {error}"))?;
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let answer = request.send().map_err(|error| format!("{method} {path}: {error}"))?;
        let status = answer.status().as_u16();
        let text = answer.text().map_err(|error| format!("{method} {path}: {error}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// A staff call that must answer `expected`; returns the body.
    fn staff(&self, method: &str, path: &str, body: Option<&Value>, expected: u16) -> Result<Value> {
        let (status, answer) = self.call(method, path, Some(&self.staff_key), body)?;
        if status == expected {
            Ok(answer)
        } else {
            Err(format!("seeding: {method} {path} answered {status}: {answer}"))
        }
    }
}

/// Clients in every portal state, so listings and the stateful phase's links reach every
/// response shape: one never invited and without email, one invited, one registered (whose
/// credentials the fuzzer signs in with) and one registered and then disabled.
fn seed(api: &Api, mail: &EmlDir) -> Result {
    let create = |name: &str, email: Option<&str>| -> Result<String> {
        let client = api.staff("POST", "/api/v1/clients", Some(&json!({ "name": name, "email": email })), 201)?;
        client["id"].as_str().map(str::to_owned).ok_or_else(|| format!("seeding: a client without an id: {client}"))
    };
    create("Nadia No-Email", None)?;
    let invited = create("Iris Invited", Some("iris@example.org"))?;
    invite(api, mail, &invited)?;
    for (name, email, username, disable) in [
        ("Ada Active", "ada@example.org", USERNAME, false),
        ("Dora Disabled", "dora@example.org", "dora.disabled", true),
    ] {
        let id = create(name, Some(email))?;
        let token = invite(api, mail, &id)?;
        let registration = json!({ "token": token, "username": username, "password": PASSWORD });
        let (status, answer) = api.call("POST", "/api/v1/portal/registrations", None, Some(&registration))?;
        if status != 201 {
            return Err(format!("seeding: registering {username} answered {status}: {answer}"));
        }
        if disable {
            let body = json!({ "enabled": false, "reason": "seeded for contract tests" });
            api.staff("PUT", &format!("/api/v1/clients/{id}/portal/enabled"), Some(&body), 200)?;
        }
    }
    eprintln!("schemathesis: seeded 4 clients (no account, invited, active, disabled)");
    Ok(())
}

/// A cursor the client list gave out: the page after the first seeded client.
fn list_cursor(api: &Api) -> Result<String> {
    let page = api.staff("GET", "/api/v1/clients?limit=1", None, 200)?;
    page["next_cursor"].as_str().map(str::to_owned).ok_or_else(|| format!("seeding: no next page in {page}"))
}

/// Sends the client's invitation and returns its link token, read from the `.eml` file the mail
/// dispatcher writes (the only place a raw token exists).
fn invite(api: &Api, mail: &EmlDir, client: &str) -> Result<String> {
    let before = mail.files();
    api.staff("POST", &format!("/api/v1/clients/{client}/portal/invitation"), None, 202)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for file in mail.files().into_iter().filter(|file| !before.contains(file)) {
            let raw = std::fs::read(&file).unwrap_or_default();
            if let Some((_, token)) = invitation_in(&raw) {
                return Ok(token);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("seeding: no invitation for client {client} appeared in {}", mail.path().display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_quotes_its_values() {
        let config = config_toml("pst_a\"b", "sunrise", "AQA_-x");
        assert!(config.contains(r#"bearer = "pst_a\"b""#), "{config}");
        assert!(config.contains(r#"parameters = { "query.cursor" = "AQA_-x" }"#), "{config}");
        assert!(config.contains(r#"payload = { practice = "sunrise", username = "contract.tester", "#), "{config}");
        assert!(config.contains("include-operation-id = \"update_practice_settings\"\nchecks.positive_data_acceptance.expected-statuses = [\"2xx\", "), "{config}");
    }
}
