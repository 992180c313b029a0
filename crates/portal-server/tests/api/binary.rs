//! The real `portal-server` binary, configured by environment variables only: first run prints
//! a staff key that works, mail lands as `.eml` files under the data directory, SIGTERM exits 0,
//! and a second start prints no key.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use portal_testkit::{Inbox, PortalServer, ServerBuilder, free_port, token_after};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The binary on `data_dir` and loopback `port`, answering, with a debug log.
fn start(data_dir: &Path, port: u16) -> PortalServer {
    ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
        .data_dir(data_dir)
        .port(port)
        .env("PORTAL_LOG", "debug")
        .start()
        .expect("portal-server answers")
}

async fn post(http: &reqwest::Client, url: String, key: &str, body: Value) -> reqwest::Response {
    http.post(url).bearer_auth(key).json(&body).send().await.expect("an answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_on_environment_variables_alone_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let port = free_port();
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");

    // First run: the staff key is printed once, with the URLs.
    let process = start(data.path(), port);
    let base = process.base_url().to_owned();
    let first = process.first_run().expect("a first-run block");
    let key = first.staff_key;
    assert!(key.starts_with("pst_"), "{key}");
    assert_eq!(first.slug, "my-practice");
    let text = first.printed.join("\n");
    for expected in [format!("{base}/api/v1"), format!("{base}/docs"), "curl".to_owned(), "  time zone    ".to_owned()]
    {
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
    let email = Inbox::new(process.mail()).next_to("ada@example.org").await;
    let token =
        token_after(&email.text, &format!("{base}/portal/invitation?token=")).expect("a link to the public URL");
    let verified = http
        .post(format!("{base}/api/v1/portal/invitations/verify"))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(verified.status(), StatusCode::OK);

    // SIGTERM: a clean exit, and nothing secret in the log.
    let (status, log) = process.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains(&key), "the staff key is in the log");
    assert!(!log.contains(&token), "the link token is in the log");

    // Second run on the same data: no new practice, no key printed, the old key still works.
    let process = start(data.path(), port);
    let printed = process.stdout_lines(Duration::from_secs(2));
    assert!(printed.iter().all(|line| !line.contains("pst_")), "{printed:#?}");
    let listed = http.get(format!("{base}/api/v1/clients")).bearer_auth(&key).send().await.expect("an answer");
    assert_eq!(listed.status(), StatusCode::OK);
    let (status, _) = process.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0));
}

/// The names of the process's threads (`/proc/<pid>/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_address_serves_the_same_portal_from_threads_of_its_own() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let staff_port = free_port();
    let process = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
        .data_dir(data.path())
        .port(free_port())
        .env("PORTAL_STAFF_BIND", format!("127.0.0.1:{staff_port}"))
        .env("PORTAL_LOG", "info")
        .start()
        .expect("portal-server answers");
    let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
    let key = process.first_run().expect("a first-run block").staff_key;
    let (base, staff) = (process.base_url().to_owned(), format!("http://127.0.0.1:{staff_port}"));

    // One portal behind both addresses: a client created on the staff address is on the other.
    let created =
        post(&http, format!("{staff}/api/v1/clients"), &key, json!({"name": "Ada", "email": "ada@example.org"})).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.expect("JSON")["id"].as_str().expect("an id").to_owned();
    let sent = post(&http, format!("{staff}/api/v1/clients/{id}/portal/invitation"), &key, Value::Null).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    for address in [&base, &staff] {
        let panel = http
            .get(format!("{address}/api/v1/clients/{id}/portal"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("an answer");
        assert_eq!(panel.status(), StatusCode::OK, "{address}");
        assert_eq!(panel.json::<Value>().await.expect("JSON")["state"], "invited", "{address}");
        let unauthenticated = http.get(format!("{address}/api/v1/clients")).send().await.expect("an answer");
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED, "{address}");
    }
    // The invitation's mail links to the public URL, whichever address staff used.
    let email = Inbox::new(process.mail()).next_to("ada@example.org").await;
    assert!(token_after(&email.text, &format!("{base}/portal/invitation?token=")).is_some(), "{}", email.text);

    // Its own threads: the staff runtime's workers are not the main runtime's.
    let names = thread_names(process.pid());
    assert!(names.iter().any(|name| name == "portal-staff"), "{names:?}");
    assert!(names.iter().any(|name| name == "tokio-rt-worker"), "{names:?}");

    let (status, log) = process.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "exit status {status}; log:\n{log}");
    assert!(log.contains(&format!("127.0.0.1:{staff_port}")), "the staff address is not in the log:\n{log}");
    assert!(
        reqwest::Client::new().get(format!("{staff}/healthz")).send().await.is_err(),
        "the staff address still answers after the stop"
    );
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
