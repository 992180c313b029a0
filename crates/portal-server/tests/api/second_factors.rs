//! Second factors over the API, end to end: an authenticator app enrolled by a signed-in
//! client (the code computed by the test with totp-rs, as an app would), the second step of
//! sign-in with it and with a recovery code, replays refused, the notices mailed, staff seeing
//! and removing the factors, and a practice that requires a factor.

use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, PASSWORD, TestApp, spawn_app, spawn_app_with};

/// The code an authenticator app shows now for the enrolment's base32 secret.
fn app_code(app: &TestApp, secret: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32").as_bytes().to_vec();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().expect("a TOTP");
    totp.generate(u64::try_from(app.clock.now().as_second()).expect("after 1970")).to_string()
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not text: {value}"))
}

async fn second_step(app: &TestApp, challenge: &str, kind: &str, code: &str) -> crate::helpers::Answer {
    let body = json!({"challenge": challenge, "kind": kind, "code": code});
    app.request(Method::POST, "/api/v1/portal/sessions/second-factor", None, Some(body)).await
}

#[tokio::test]
async fn an_app_enrolled_over_the_api_adds_a_second_step_that_each_code_passes_once() {
    an_app_adds_a_second_step(&spawn_app().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_enrolled_over_the_api_adds_a_second_step_on_postgresql() {
    let options = AppOptions { backend: Backend::Postgres, ..AppOptions::default() };
    let Some(app) = spawn_app_with(options).await else { return };
    an_app_adds_a_second_step(&app).await;
    app.stop().await;
}

async fn an_app_adds_a_second_step(app: &TestApp) {
    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let session = app.session("ada", PASSWORD).await;

    // Start: the secret, its otpauth URI and the QR code drawn as SVG.
    let started = app.request(Method::POST, "/api/v1/portal/factors/totp", Some(&session), None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let (factor_id, secret) = (text(&started.body["factor_id"]), text(&started.body["secret"]));
    assert!(text(&started.body["otpauth_url"]).starts_with("otpauth://totp/Sunrise%20Therapy:ada?secret="));
    assert!(text(&started.body["qr_svg"]).contains("<svg"));
    let confirm = |code: String| json!({"factor_id": factor_id, "code": code, "name": "Phone"});
    let wrong = if app_code(app, secret) == "000000" { "111111" } else { "000000" };
    let refused =
        app.request(Method::POST, "/api/v1/portal/factors/totp/confirm", Some(&session), Some(confirm(wrong.into())));
    refused.await.assert_problem(422, "invalid_code");
    let confirmed = app
        .request(
            Method::POST,
            "/api/v1/portal/factors/totp/confirm",
            Some(&session),
            Some(confirm(app_code(app, secret))),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{confirmed:?}");
    let codes: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .expect("recovery codes with the first factor")
        .iter()
        .map(|code| text(code).to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(app.next_email_to("ada@example.org").await.subject, "A sign-in step was added to your account");

    // The password now answers 202 with a challenge, not a session.
    let step = app.sign_in("ada", PASSWORD).await;
    assert_eq!(step.status, StatusCode::ACCEPTED, "{step:?}");
    assert_eq!(step.body["factors"], json!(["totp", "recovery_code"]));
    assert_eq!(step.body["enrolment_required"], json!(false));
    assert!(step.body.get("token").is_none());
    let challenge = text(&step.body["challenge"]).to_owned();

    // The confirming code's step is used: the same code is a replay.
    second_step(app, &challenge, "totp", &app_code(app, secret)).await.assert_problem(401, "invalid_code");
    app.advance(SignedDuration::from_secs(30));
    let signed_in = second_step(app, &challenge, "totp", &app_code(app, secret)).await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{signed_in:?}");
    assert_eq!(app.me(text(&signed_in.body["token"])).await.status, StatusCode::OK);
    second_step(app, &challenge, "totp", &app_code(app, secret)).await.assert_problem(401, "challenge_invalid");

    // A recovery code works once, and its use is mailed.
    let challenge = text(&app.sign_in("ada", PASSWORD).await.body["challenge"]).to_owned();
    let with_code = second_step(app, &challenge, "recovery_code", &codes[0]).await;
    assert_eq!(with_code.status, StatusCode::CREATED, "{with_code:?}");
    assert_eq!(app.next_email_to("ada@example.org").await.subject, "A recovery code was used for your account");
    let challenge = text(&app.sign_in("ada", PASSWORD).await.body["challenge"]).to_owned();
    second_step(app, &challenge, "recovery_code", &codes[0]).await.assert_problem(401, "invalid_code");

    // What the client and staff see: kinds, names, dates; never a secret.
    let listed = app.request(Method::GET, "/api/v1/portal/factors", Some(text(&with_code.body["token"])), None).await;
    assert_eq!(listed.body["recovery_codes_left"], json!(9));
    assert_eq!(listed.body["factors"][0]["name"], json!("Phone"));
    let seen = app.staff(Method::GET, &format!("/api/v1/clients/{client}/portal/factors"), None).await;
    assert_eq!(seen.status, StatusCode::OK, "{seen:?}");
    assert_eq!(seen.body["factors"][0]["kind"], json!("totp"));
    assert!(!seen.body.to_string().contains(secret), "staff never see the secret");

    // Staff remove them (a lost phone): the client is told, and the password alone signs in.
    let removed = app.staff(Method::DELETE, &format!("/api/v1/clients/{client}/portal/factors"), None).await;
    assert_eq!(removed.body["removed"], json!(1), "{removed:?}");
    assert_eq!(app.next_email_to("ada@example.org").await.subject, "A sign-in step was removed from your account");
    assert_eq!(app.sign_in("ada", PASSWORD).await.status, StatusCode::CREATED);
    let trail = app.staff(Method::GET, &format!("/api/v1/clients/{client}/portal/audit"), None).await;
    let actions: Vec<&str> = trail
        .body
        .as_array()
        .map_or(vec![], |events| events.iter().filter_map(|event| event["action"].as_str()).collect());
    for action in ["second_factor_enrolled", "second_factor_used", "second_factor_refused", "second_factor_removed"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn a_practice_that_requires_a_factor_has_it_enrolled_right_after_the_password() {
    let app = spawn_app().await;
    app.registered_client("Grace Hopper", "grace@example.org", "grace").await;
    let patched =
        app.staff(Method::PATCH, "/api/v1/practice/settings", Some(json!({"second_factor_policy": "required"}))).await;
    assert_eq!(patched.body["second_factor_policy"], json!("required"), "{patched:?}");

    let step = app.sign_in("grace", PASSWORD).await;
    assert_eq!(step.status, StatusCode::ACCEPTED, "{step:?}");
    assert_eq!(step.body["enrolment_required"], json!(true));
    let challenge = text(&step.body["challenge"]).to_owned();
    // The challenge allows only enrolling.
    second_step(&app, &challenge, "totp", "123456").await.assert_problem(401, "challenge_invalid");

    let body = json!({"challenge": challenge});
    let started = app.request(Method::POST, "/api/v1/portal/sessions/second-factor/totp", None, Some(body)).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let (factor_id, secret) = (text(&started.body["factor_id"]), text(&started.body["secret"]));
    let body = json!({"challenge": challenge, "factor_id": factor_id, "code": app_code(&app, secret)});
    let done = app.request(Method::POST, "/api/v1/portal/sessions/second-factor/totp/confirm", None, Some(body)).await;
    assert_eq!(done.status, StatusCode::CREATED, "{done:?}");
    assert_eq!(app.me(text(&done.body["session"]["token"])).await.status, StatusCode::OK);
    assert_eq!(done.body["enrolled"]["recovery_codes"].as_array().map(Vec::len), Some(10));

    // The last factor stays while the practice requires one.
    let id = text(&done.body["enrolled"]["factor"]["id"]).to_owned();
    let token = text(&done.body["session"]["token"]).to_owned();
    let removed = app.request(Method::DELETE, &format!("/api/v1/portal/factors/{id}"), Some(&token), None).await;
    removed.assert_problem(409, "factor_required");
}

/// A client with an app, signed in once with a code and once with a recovery code: the
/// secrets this used (the app's key, raw and in base32, the recovery codes, the challenges), for
/// the scans of the database files and the logs (`secrets.rs`).
pub async fn second_factor_secrets(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    app.registered_client("Grace Hopper", "grace@example.org", "grace").await;
    let session = app.session("grace", PASSWORD).await;
    let started = app.request(Method::POST, "/api/v1/portal/factors/totp", Some(&session), None).await;
    let (factor_id, key) = (text(&started.body["factor_id"]).to_owned(), text(&started.body["secret"]).to_owned());
    let body = json!({"factor_id": factor_id, "code": app_code(app, &key)});
    let confirmed = app.request(Method::POST, "/api/v1/portal/factors/totp/confirm", Some(&session), Some(body)).await;
    let codes: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|code| text(code).to_owned())
        .collect();
    let mut secrets = vec![
        ("a TOTP key (base32)".to_owned(), key.clone().into_bytes()),
        ("a TOTP key".to_owned(), totp_rs::Secret::try_from_base32(&key).expect("base32").as_bytes().to_vec()),
    ];
    app.advance(SignedDuration::from_secs(30));
    for (kind, code) in [("totp", app_code(app, &key)), ("recovery_code", codes[0].clone())] {
        let challenge = text(&app.sign_in("grace", PASSWORD).await.body["challenge"]).to_owned();
        let done = second_step(app, &challenge, kind, &code).await;
        assert_eq!(done.status, StatusCode::CREATED, "{done:?}");
        secrets.push(("a second-step challenge".to_owned(), challenge.into_bytes()));
    }
    for code in codes {
        secrets.push(("a recovery code (normalised)".to_owned(), code.replace('-', "").into_bytes()));
        secrets.push(("a recovery code".to_owned(), code.into_bytes()));
    }
    secrets
}
