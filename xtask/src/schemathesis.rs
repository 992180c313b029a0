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

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{Result, cargo, display, output_of, workspace_root};

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
    let server_binary = build_server()?;

    let run_dir = target_dir().join("schemathesis");
    if run_dir.exists() {
        std::fs::remove_dir_all(&run_dir).map_err(|error| format!("cannot clear {}: {error}", run_dir.display()))?;
    }
    let data_dir = run_dir.join("data");
    std::fs::create_dir_all(&data_dir).map_err(|error| format!("cannot create {}: {error}", data_dir.display()))?;

    let created = output_of(Command::new(&server_binary).arg("--data-dir").arg(&data_dir).args([
        "--log",
        "warn",
        "practice",
        "create",
        "--name",
        "Contract Test",
    ]))?;
    let created: Value = serde_json::from_str(&created)
        .map_err(|error| format!("`portal-server practice create` printed invalid JSON: {error}"))?;
    let (Some(slug), Some(staff_key)) = (created["slug"].as_str(), created["staff_key"].as_str()) else {
        return Err(format!("`portal-server practice create` printed no slug or staff key: {created}"));
    };

    let port = free_port()?;
    let server = Server::start(&server_binary, &data_dir, port, &run_dir.join("server.log"))?;
    let api = Api { port, staff_key: staff_key.to_owned() };
    api.wait_until_healthy(Duration::from_secs(30))?;
    seed(&api, &data_dir.join("mail"))?;

    let config = run_dir.join("schemathesis.toml");
    std::fs::write(&config, config_toml(staff_key, slug))
        .map_err(|error| format!("cannot write {}: {error}", config.display()))?;
    let seed = std::env::var("PORTAL_SCHEMATHESIS_SEED").unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    let base = format!("http://127.0.0.1:{port}");
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

/// The schemathesis configuration: the staff key for `StaffKey`, and a sign-in as the seeded
/// client for `ClientSessionToken` (fetched again whenever a call answers 401, e.g. after the
/// fuzzer signed the session out).
fn config_toml(staff_key: &str, slug: &str) -> String {
    // TOML basic strings take JSON string escapes, so `Value::to_string` quotes them safely.
    let quote = |text: &str| Value::from(text).to_string();
    format!(
        "[auth.openapi.StaffKey]\nbearer = {key}\n\n\
         [auth.dynamic.openapi.ClientSessionToken]\npath = \"/api/v1/portal/sessions\"\n\
         payload = {{ practice = {slug}, username = {user}, password = {password} }}\n\
         extract_selector = \"/token\"\n",
        key = quote(staff_key),
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

/// Builds `portal-server` (debug) and returns the executable cargo reports.
fn build_server() -> Result<PathBuf> {
    eprintln!("schemathesis: building portal-server");
    let messages = output_of(&mut cargo(["build", "-q", "-p", "portal-server", "--message-format=json"]))?;
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact" && message["target"]["name"] == "portal-server")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "`cargo build -p portal-server` reported no executable".to_owned())
}

/// Where cargo builds: `CARGO_TARGET_DIR`, or `target/` in the workspace.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// A loopback port nobody listens on now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|error| format!("no free port: {error}"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(|error| format!("no free port: {error}"))
}

/// The running server; stopped when dropped, whatever happened in between.
struct Server(Child);

impl Server {
    fn start(binary: &Path, data_dir: &Path, port: u16, log: &Path) -> Result<Self> {
        let log_file =
            std::fs::File::create(log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
        let stderr = log_file.try_clone().map_err(|error| format!("cannot share {}: {error}", log.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--bind", &format!("127.0.0.1:{port}"), "--public-url", &url, "--log", "warn"])
            // Every request comes from 127.0.0.1: the per-IP limit would answer most client
            // calls (and the session sign-in) 429 and hide the handlers from the fuzzer.
            .args(["--ip-rate-limit", "0"])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("could not start {}: {error}", binary.display()))?;
        eprintln!("schemathesis: portal-server serving {url} (log: {})", log.display());
        Ok(Self(child))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Best effort: the process may already have exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Just enough HTTP to seed data, over HTTP/1.0 so the answer is never chunked.
struct Api {
    port: u16,
    staff_key: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, bearer: Option<&str>, body: Option<&Value>) -> Result<(u16, Value)> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
            .map_err(|error| format!("{method} {path}: {error}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|error| format!("{method} {path}: {error}"))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n", self.port);
        if let Some(token) = bearer {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !body.is_empty() {
            request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes()).map_err(|error| format!("{method} {path}: {error}"))?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(|error| format!("{method} {path}: {error}"))?;
        let response = String::from_utf8_lossy(&response);
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
        Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
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

    fn wait_until_healthy(&self, limit: Duration) -> Result {
        let deadline = Instant::now() + limit;
        loop {
            match self.call("GET", "/healthz", None, None) {
                Ok((200, _)) => return Ok(()),
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                outcome => return Err(format!("the server did not become healthy in {limit:?}: {outcome:?}")),
            }
        }
    }
}

/// Clients in every portal state, so listings and the stateful phase's links reach every
/// response shape: one never invited and without email, one invited, one registered (whose
/// credentials the fuzzer signs in with) and one registered and then disabled.
fn seed(api: &Api, mail_dir: &Path) -> Result {
    let create = |name: &str, email: Option<&str>| -> Result<String> {
        let client = api.staff("POST", "/api/v1/clients", Some(&json!({ "name": name, "email": email })), 201)?;
        client["id"].as_str().map(str::to_owned).ok_or_else(|| format!("seeding: a client without an id: {client}"))
    };
    create("Nadia No-Email", None)?;
    let invited = create("Iris Invited", Some("iris@example.org"))?;
    invite(api, mail_dir, &invited)?;
    for (name, email, username, disable) in [
        ("Ada Active", "ada@example.org", USERNAME, false),
        ("Dora Disabled", "dora@example.org", "dora.disabled", true),
    ] {
        let id = create(name, Some(email))?;
        let token = invite(api, mail_dir, &id)?;
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

/// Sends the client's invitation and returns its link token, read from the `.eml` file the mail
/// dispatcher writes (the only place a raw token exists).
fn invite(api: &Api, mail_dir: &Path, client: &str) -> Result<String> {
    let before = mail_files(mail_dir);
    api.staff("POST", &format!("/api/v1/clients/{client}/portal/invitation"), None, 202)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for file in mail_files(mail_dir).into_iter().filter(|file| !before.contains(file)) {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            // The HTML part is quoted-printable and may wrap or escape the link; the plain-text
            // part holds it whole. Each candidate is checked with the server.
            for candidate in link_tokens(&text) {
                let (status, _) =
                    api.call("POST", "/api/v1/portal/invitations/verify", None, Some(&json!({ "token": candidate })))?;
                if status == 200 {
                    return Ok(candidate);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("seeding: no invitation for client {client} appeared in {}", mail_dir.display()))
}

fn mail_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
        .unwrap_or_default()
}

/// Every `token=` value of 64 base64url characters in a message (a link token's length).
fn link_tokens(text: &str) -> Vec<String> {
    text.match_indices("token=")
        .map(|(at, key)| {
            text[at + key.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect::<String>()
        })
        .filter(|token| token.len() == 64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_read_from_the_plain_text_part() {
        let token = "AHQtG-YfTF2LtlD3bQjpEPmt6pQutjMAXrKRUtEcePeTFvfknesfA5cQNLeeLXn2";
        let message = format!(
            "Open this link:\r\n\r\nhttp://127.0.0.1:1/portal/invitation?token={token}\r\n\r\n\
             <a href=3D\"http://127.0.0.1:1/portal/invitation?token=3D{}=\r\n{}\">",
            &token[..40],
            &token[40..]
        );
        assert_eq!(link_tokens(&message), [token]);
    }

    #[test]
    fn the_config_quotes_its_values() {
        let config = config_toml("pst_a\"b", "sunrise");
        assert!(config.contains(r#"bearer = "pst_a\"b""#), "{config}");
        assert!(config.contains(r#"payload = { practice = "sunrise", username = "contract.tester", "#), "{config}");
    }
}
