//! The real binary at `PORTAL_LOG=trace` (every crate: sqlx, sea-orm, poem, rustls, mail-send),
//! in both log formats, through the whole lifecycle with an SMTP relay that needs a
//! password: no password, raw link token, session token, staff key, link key, relay password or
//! date of birth reaches stdout or stderr, raw or encoded.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portal_testkit::{
    Email, Inbox, ServerBuilder, SinkBehaviour, SinkOptions, SinkTls, SmtpSink, TestCertificate, token_after,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy as RedirectPolicy;
use serde_json::{Value, json};

use crate::helpers::{NEW_PASSWORD, PASSWORD};

/// The relay's login and password; the password has characters a URL must percent-encode.
const RELAY_LOGIN: &str = "relay-user";
const RELAY_PASSWORD: &str = "Relay:s3cret@p/ss word";
const RELAY_PASSWORD_IN_URL: &str = "Relay%3As3cret%40p%2Fss%20word";
/// A wrong password a client typed: as secret as the right one (often a near miss).
const WRONG_PASSWORD: &str = "violet kettles hum at dusk";
/// The client's date of birth on file, and a wrong answer to the link's question (a near miss).
const DATE_OF_BIRTH: &str = "1987-03-21";
const WRONG_DATE_OF_BIRTH: &str = "1987-03-12";

/// The secrets one run used, each with what it is, in every form a log could carry it.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, secret: &str) {
        self.0.push((what.to_owned(), secret.to_owned()));
        // The random part of a prefixed bearer secret (`pst_…`, `pcs_…`) alone.
        if let Some((_, random)) = secret.split_once('_').filter(|(prefix, _)| prefix.len() == 3) {
            self.0.push((format!("{what} (its random part)"), random.to_owned()));
        }
    }

    fn add_bytes(&mut self, what: &str, secret: &[u8]) {
        self.0.push((format!("{what} (base64url)"), URL_SAFE_NO_PAD.encode(secret)));
        self.0.push((format!("{what} (base64)"), STANDARD.encode(secret)));
        self.0.push((format!("{what} (hex)"), secret.iter().map(|b| format!("{b:02x}")).collect()));
        self.0.push((format!("{what} (as a byte list)"), format!("{secret:?}")));
    }

    #[track_caller]
    fn assert_absent_from(&self, output: &str, which: &str) {
        for (what, secret) in &self.0 {
            assert!(!output.contains(secret.as_str()), "{what} is in {which}");
        }
    }
}

/// The HTTP side of one run against the binary.
struct Client {
    http: reqwest::Client,
    base: String,
    staff_key: String,
    relay: Inbox<SmtpSink>,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the binary answers");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn staff(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(method, path, Some(&self.staff_key), body).await
    }

    async fn sign_in(&self, slug: &str, username: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({"practice": slug, "username": username, "password": password});
        self.call(reqwest::Method::POST, "/api/v1/portal/sessions", None, Some(body)).await
    }

    /// The next message the relay accepted whose text contains `marker`.
    async fn next_email_with(&self, marker: &str) -> Email {
        let what = format!("with {marker} at the relay");
        self.relay.next_matching(&what, Duration::from_secs(30), |email| email.text.contains(marker)).await
    }

    /// Opens the emailed link as a browser would (the page moves the token into a cookie).
    async fn open_link(&self, link_path: &str, token: &str) {
        let response =
            self.http.get(format!("{}{link_path}?token={token}", self.base)).send().await.expect("the page answers");
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{response:?}");
    }
}

/// Runs the whole lifecycle against the binary with `format` and returns everything it printed
/// and the secrets it used.
async fn lifecycle_logged_in(format: &str, link_key: Option<[u8; 32]>) -> (String, Secrets) {
    // A login goes only over TLS: the relay offers STARTTLS with a certificate of a test CA.
    let certificate = TestCertificate::generate();
    let login = SinkBehaviour::RequireAuth { login: RELAY_LOGIN, password: RELAY_PASSWORD };
    let sink = SmtpSink::start_with(SinkOptions {
        behaviour: login,
        tls: SinkTls::StartTls(&certificate),
        ..SinkOptions::default()
    });
    let smtp_url = format!(
        "smtp://{RELAY_LOGIN}:{RELAY_PASSWORD_IN_URL}@127.0.0.1:{}?ca_file={}",
        sink.port(),
        certificate.cert().display()
    );
    let encoded_key = link_key.map(|key| URL_SAFE_NO_PAD.encode(key));
    let mut env = vec![("PORTAL_LOG", "trace"), ("PORTAL_LOG_FORMAT", format), ("PORTAL_SMTP_URL", smtp_url.as_str())];
    if let Some(key) = &encoded_key {
        env.push(("PORTAL_LINK_KEY", key.as_str()));
    }
    let process =
        ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server")).envs(env).start().expect("portal-server answers");
    let http = reqwest::Client::builder().no_proxy().redirect(RedirectPolicy::none()).build().expect("a client");
    let first_run = process.first_run().expect("a first-run block");
    let (staff_key, slug, printed) = (first_run.staff_key, first_run.slug.as_str(), first_run.printed);
    let base = process.base_url().to_owned();
    let client = Client { http, base, staff_key: staff_key.clone(), relay: Inbox::new(sink) };
    let mut secrets = Secrets::default();
    secrets.add("the staff key", &staff_key);
    for (what, password) in
        [("the password", PASSWORD), ("the new password", NEW_PASSWORD), ("a wrong password", WRONG_PASSWORD)]
    {
        secrets.add(what, password);
        secrets.add(&format!("{what} (form-encoded)"), &password.replace(' ', "+"));
    }
    for (what, date) in [("the date of birth", DATE_OF_BIRTH), ("a wrong date of birth", WRONG_DATE_OF_BIRTH)] {
        secrets.add(what, date);
        secrets.add(&format!("{what} (digits)"), &date.replace('-', ""));
        secrets.add(&format!("{what} (day first)"), &date.split('-').rev().collect::<Vec<_>>().join("/"));
    }
    secrets.add("the relay password", RELAY_PASSWORD);
    secrets.add("the relay password (URL-encoded)", RELAY_PASSWORD_IN_URL);
    secrets.add("the relay password (base64)", &STANDARD.encode(RELAY_PASSWORD));
    secrets.add("the relay AUTH PLAIN answer", &STANDARD.encode(format!("\0{RELAY_LOGIN}\0{RELAY_PASSWORD}")));
    secrets.add("the relay URL", &smtp_url);
    let link_key = link_key.unwrap_or_else(|| {
        std::fs::read(process.data_dir().join("link.key")).expect("the key file").try_into().expect("32 bytes")
    });
    secrets.add_bytes("the link key", &link_key);

    // The practice asks for the date of birth on emailed links (its staff turn it on).
    let check_on = json!({"date_of_birth_check": true});
    let (status, body) = client.staff(reqwest::Method::PATCH, "/api/v1/practice/settings", Some(check_on)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A staff member creates a client with a date of birth, changes it, and invites them; the
    // relay receives the invitation.
    let new_client = json!({"name": "Ada", "email": "ada@example.org", "date_of_birth": "1987-03-20"});
    let (status, created) = client.staff(reqwest::Method::POST, "/api/v1/clients", Some(new_client)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let patch = json!({"date_of_birth": DATE_OF_BIRTH});
    let (status, body) = client.staff(reqwest::Method::PATCH, &format!("/api/v1/clients/{id}"), Some(patch)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    secrets.add("the first date of birth on file", "1987-03-20");
    let (status, _) =
        client.staff(reqwest::Method::POST, &format!("/api/v1/clients/{id}/portal/invitation"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let invite_link = format!("{}/portal/invitation?token=", client.base);
    let invitation = client.next_email_with(&invite_link).await;
    let invite_token = token_after(&invitation.text, &invite_link).expect("an invitation link");
    secrets.add("the invitation token", &invite_token);

    // The client opens the link (page and API), registers, signs in, uses the session, and once
    // mistypes the password.
    client.open_link("/portal/invitation", &invite_token).await;
    let verify = json!({"token": invite_token});
    let (status, body) =
        client.call(reqwest::Method::POST, "/api/v1/portal/invitations/verify", None, Some(verify)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["date_of_birth_required"], true, "{body}");
    let wrong =
        json!({"token": invite_token, "date_of_birth": WRONG_DATE_OF_BIRTH, "username": "ada.l", "password": PASSWORD});
    let (status, body) = client.call(reqwest::Method::POST, "/api/v1/portal/registrations", None, Some(wrong)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let registration =
        json!({"token": invite_token, "date_of_birth": DATE_OF_BIRTH, "username": "ada.l", "password": PASSWORD});
    let (status, body) =
        client.call(reqwest::Method::POST, "/api/v1/portal/registrations", None, Some(registration)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = client.sign_in(slug, "ada.l", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let session = body["token"].as_str().expect("a session token").to_owned();
    secrets.add("a session token", &session);
    let (status, _) = client.call(reqwest::Method::GET, "/api/v1/portal/me", Some(&session), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = client.sign_in(slug, "ada.l", WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A password reset, from the staff action through the emailed link to the new password.
    let (status, _) =
        client.staff(reqwest::Method::POST, &format!("/api/v1/clients/{id}/portal/password-reset"), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let reset_link = format!("{}/portal/password-reset?token=", client.base);
    let reset = client.next_email_with(&reset_link).await;
    let reset_token = token_after(&reset.text, &reset_link).expect("a reset link");
    secrets.add("the reset token", &reset_token);
    client.open_link("/portal/password-reset", &reset_token).await;
    let completion = json!({"token": reset_token, "date_of_birth": DATE_OF_BIRTH, "password": NEW_PASSWORD});
    let (status, body) =
        client.call(reqwest::Method::POST, "/api/v1/portal/password-resets", None, Some(completion)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // The "password changed" notice goes through the relay too, before the server stops.
    let _password_changed = client.next_email_with("").await;
    let (status, body) = client.sign_in(slug, "ada.l", NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let session = body["token"].as_str().expect("a session token").to_owned();
    secrets.add("a second session token", &session);
    let (status, _) =
        client.call(reqwest::Method::DELETE, "/api/v1/portal/sessions/current", Some(&session), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (exit, stderr) = process.terminate().expect("a stop");
    assert_eq!(exit.code(), Some(0), "exit status {exit}");
    let stdout = printed.join("\n");
    // A positive control: the one place the key is printed on purpose is found by the scan.
    assert!(stdout.contains(&staff_key), "the first run printed the staff key");
    let stdout_without_first_run_key = stdout.replace(&staff_key, "");
    (format!("{stdout_without_first_run_key}\n{stderr}"), secrets)
}

/// Asserts the log held what a trace filter lets through, so an empty or filtered log cannot
/// pass: debug events of the dispatcher and a line for every request. (No SQL: the store turns
/// sqlx's statement logging off, so no level of `PORTAL_LOG` prints statements or values.)
fn assert_traced_everything(output: &str, format: &str) {
    for expected in ["dispatch round", "mail delivered", "portal is listening", "sign_in", "complete_password_reset"] {
        assert!(output.contains(expected), "{expected} is missing from the {format} log");
    }
    assert!(!output.contains("sqlx::query"), "sqlx logs statements again: check what they carry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_binarys_json_log_at_trace_level() {
    let mut key = [0_u8; 32];
    portal_core::Randomness::fill(&portal_core::OsRandom, &mut key).expect("OS randomness");
    let (output, secrets) = lifecycle_logged_in("json", Some(key)).await;
    assert_traced_everything(&output, "JSON");
    secrets.assert_absent_from(&output, "the JSON log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_binarys_text_log_at_trace_level() {
    let (output, secrets) = lifecycle_logged_in("text", None).await;
    assert_traced_everything(&output, "text");
    secrets.assert_absent_from(&output, "the text log");
}
