//! The real `portal-server` binary, configured by environment variables only: first run prints
//! a staff key that works, mail lands as `.eml` files under the data directory, SIGTERM exits 0,
//! and a second start prints no key.

use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{parse_email, token_in};
use crate::smtp_sink::free_port;

/// A running `portal-server` binary with its output captured.
pub(crate) struct Process {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        // Only when a test failed half-way: the normal path waits for a clean exit.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path, bind: &str) -> Process {
    start_with(data_dir, bind, &[("PORTAL_LOG", "debug")])
}

/// Starts the binary on `data_dir` and `bind`, configured by `env` on top (and nothing else from
/// this process's environment).
pub(crate) fn start_with(data_dir: &Path, bind: &str, env: &[(&str, &str)]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_BIND", bind)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the portal-server binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, stdout_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Process { child, stdout: stdout_rx, stderr: Some(stderr) }
}

/// Waits until the server answers `/healthz`.
pub(crate) async fn wait_until_ready(http: &reqwest::Client, base: &str, process: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("portal-server exited early ({status})");
        }
        assert!(Instant::now() < deadline, "portal-server did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then the exit status (within 30 s) and everything it logged.
pub(crate) fn terminate(mut process: Process) -> (ExitStatus, String) {
    let pid = i32::try_from(process.child.id()).expect("a pid");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("a status") {
            break status;
        }
        assert!(Instant::now() < deadline, "portal-server did not exit within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = process.stderr.take().map(|reader| reader.join().expect("the stderr reader")).unwrap_or_default();
    (status, log)
}

/// Everything printed on stdout so far (waiting up to `wait` for the first-run block to end).
pub(crate) fn stdout_lines(process: &Process, wait: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match process.stdout.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("the README walks through the rest");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    lines
}

async fn post(http: &reqwest::Client, url: String, key: &str, body: Value) -> reqwest::Response {
    http.post(url).bearer_auth(key).json(&body).send().await.expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_on_environment_variables_alone_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let bind = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{bind}");
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");

    // First run: the staff key is printed once, with the URLs.
    let mut process = start(data.path(), &bind);
    wait_until_ready(&http, &base, &mut process).await;
    let printed = stdout_lines(&process, Duration::from_secs(10));
    let key = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("staff key").map(|rest| rest.trim().to_owned()))
        .unwrap_or_else(|| panic!("no staff key in {printed:#?}"));
    assert!(key.starts_with("pst_"), "{key}");
    let text = printed.join("\n");
    for expected in [format!("{base}/api/v1"), format!("{base}/docs"), "my-practice".to_owned(), "curl".to_owned()] {
        assert!(text.contains(&expected), "{expected} missing from {text}");
    }
    let link_key = data.path().join("link.key");
    let mode = std::fs::metadata(&link_key).expect("the link key file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The key works: create a client, send the invite, find the .eml file.
    let created =
        post(&http, format!("{base}/api/v1/clients"), &key, json!({"name": "Ada", "email": "ada@example.org"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let client: Value = created.json().await.expect("JSON");
    let id = client["id"].as_str().expect("an id");
    let sent = post(&http, format!("{base}/api/v1/clients/{id}/portal/invitation"), &key, Value::Null).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let mail_dir = data.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(15);
    let eml = loop {
        let found = std::fs::read_dir(&mail_dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "eml"));
        if let Some(path) = found {
            break path;
        }
        assert!(Instant::now() < deadline, "no .eml file under {} within 15 s", mail_dir.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let email = parse_email(&std::fs::read(&eml).expect("the .eml file"));
    assert_eq!(email.to, "ada@example.org");
    let token = token_in(&email.text, &format!("{base}/portal/invitation?token=")).expect("a link to the public URL");
    let verified = http
        .post(format!("{base}/api/v1/portal/invitations/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(verified.status(), StatusCode::OK);

    // SIGTERM: a clean exit, and nothing secret in the log.
    let (status, log) = terminate(process);
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains(&key), "the staff key is in the log");
    assert!(!log.contains(&token), "the link token is in the log");

    // Second run on the same data: no new practice, no key printed, the old key still works.
    let mut process = start(data.path(), &bind);
    wait_until_ready(&http, &base, &mut process).await;
    let printed = stdout_lines(&process, Duration::from_secs(2));
    assert!(printed.iter().all(|line| !line.contains("pst_")), "{printed:#?}");
    let listed = http.get(format!("{base}/api/v1/clients")).bearer_auth(&key).send().await.expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK);
    let (status, _) = terminate(process);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn the_binary_prints_the_openapi_document_and_refuses_bad_settings() {
    let output = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .args(["openapi", "--public-url", "https://portal.example.org"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).expect("UTF-8");
    assert_eq!(printed.trim_end(), portal_http::openapi_json("https://portal.example.org").trim_end());

    let output = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_INVITE_TTL", "8d")
        .env("PORTAL_DATA_DIR", "/nonexistent/never-created")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--invite-ttl"), "{stderr}");
    assert!(!Path::new("/nonexistent/never-created").exists());
}
