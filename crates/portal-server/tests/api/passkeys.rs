//! Passkeys over the API, end to end through the real relying party (portal-passkeys with
//! webauthn-rs) and a software authenticator (P-256, `portal_testkit::passkeys`): registering
//! one, the second step with it, passkey-first sign-in, the notices, replays and clones refused,
//! another site's answers refused, a disabled account refused, and no passkeys on a public URL
//! that cannot be a relying party. On SQLite, and on PostgreSQL when it is configured.

use portal_testkit::passkeys::SoftAuthenticator;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Answer, AppOptions, Backend, PASSWORD, TestApp, spawn_app_with};

/// The public URL the passkey tests' server runs under: a relying party needs a host name.
const PUBLIC_URL: &str = "https://portal.clinic.example";

async fn passkey_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(AppOptions { backend, public_url: Some(PUBLIC_URL.to_owned()), ..AppOptions::default() }).await
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_else(|| panic!("not text: {value}"))
}

async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> Answer {
    app.request(Method::POST, path, bearer, Some(body)).await
}

/// Registers a passkey of `authenticator` for the signed-in `session`.
async fn register(app: &TestApp, session: &str, authenticator: &mut SoftAuthenticator, name: &str) -> Answer {
    let started = app.request(Method::POST, "/api/v1/portal/factors/passkeys", Some(session), None).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let options = started.body["options"].to_string();
    assert_eq!(started.body["options"]["publicKey"]["rp"]["id"], "portal.clinic.example");
    let response = authenticator.register(&options);
    let body = json!({"ceremony": text(&started.body["ceremony"]), "response": response, "name": name});
    post(app, "/api/v1/portal/factors/passkeys/finish", Some(session), body).await
}

/// The second step with a passkey: its start, then the authenticator's answer.
async fn passkey_step(
    app: &TestApp,
    challenge: &str,
    authenticator: &mut SoftAuthenticator,
) -> (Answer, Value, String) {
    let started =
        post(app, "/api/v1/portal/sessions/second-factor/passkey", None, json!({"challenge": challenge})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let answer = authenticator.authenticate(&started.body["options"].to_string());
    let ceremony = text(&started.body["ceremony"]).to_owned();
    let body = json!({"challenge": challenge, "kind": "passkey", "ceremony": ceremony, "response": answer});
    (post(app, "/api/v1/portal/sessions/second-factor", None, body).await, answer, ceremony)
}

async fn challenge_of(app: &TestApp) -> String {
    let step = app.sign_in("ada", PASSWORD).await;
    assert_eq!(step.status, StatusCode::ACCEPTED, "{step:?}");
    text(&step.body["challenge"]).to_owned()
}

#[tokio::test]
async fn a_passkey_registered_over_the_api_is_the_second_step_and_signs_in_alone() {
    let Some(app) = passkey_app(Backend::Sqlite).await else { return };
    passkeys_end_to_end(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_registered_over_the_api_is_the_second_step_and_signs_in_alone_on_postgresql() {
    let Some(app) = passkey_app(Backend::Postgres).await else { return };
    passkeys_end_to_end(&app).await;
    app.stop().await;
}

async fn passkeys_end_to_end(app: &TestApp) {
    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let session = app.session("ada", PASSWORD).await;
    let mut laptop = SoftAuthenticator::new(PUBLIC_URL);

    let registered = register(app, &session, &mut laptop, "Laptop").await;
    assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
    assert_eq!(registered.body["factor"]["kind"], "passkey");
    assert_eq!(registered.body["factor"]["name"], "Laptop");
    assert_eq!(registered.body["recovery_codes"].as_array().map(Vec::len), Some(10));
    let notice = app.next_email_to("ada@example.org").await;
    assert!(!notice.text.contains("ada "), "the notice never names the username");
    // The same credential again (a fresh software authenticator derives the same first
    // credential, and ignores the exclusion as a misbehaving one would): for this account the
    // relying party refuses the excluded credential; for another account the portal does.
    let again = register(app, &session, &mut SoftAuthenticator::new(PUBLIC_URL), "Again").await;
    again.assert_problem(422, "passkey_rejected");
    app.registered_client("Bob Babbage", "bob@example.org", "bob").await;
    let bob = app.session("bob", PASSWORD).await;
    let taken = register(app, &bob, &mut SoftAuthenticator::new(PUBLIC_URL), "Mine").await;
    taken.assert_problem(409, "passkey_in_use");

    // The password now leads to the second step, and the passkey opens the session.
    let challenge = challenge_of(app).await;
    let (signed_in, answer, ceremony) = passkey_step(app, &challenge, &mut laptop).await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{signed_in:?}");
    assert_eq!(app.me(text(&signed_in.body["token"])).await.status, StatusCode::OK);
    // Replayed on a new challenge: the ceremony is spent.
    let challenge = challenge_of(app).await;
    let replay = json!({"challenge": challenge, "kind": "passkey", "ceremony": ceremony, "response": answer});
    post(app, "/api/v1/portal/sessions/second-factor", None, replay).await.assert_problem(401, "passkey_rejected");
    // A copy of the authenticator whose counter fell behind is refused.
    let mut copy = laptop.clone();
    assert_eq!(passkey_step(app, &challenge, &mut laptop).await.0.status, StatusCode::CREATED, "the laptop signs");
    let challenge = challenge_of(app).await;
    let (cloned, _, _) = passkey_step(app, &challenge, &mut copy).await;
    cloned.assert_problem(401, "passkey_rejected");

    // Passkey-first: no username, no password.
    let started = post(app, "/api/v1/portal/sessions/passkey", None, json!({"practice": app.slug})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let answer = laptop.authenticate(&started.body["options"].to_string());
    let body = json!({"ceremony": text(&started.body["ceremony"]), "response": answer});
    let signed_in = post(app, "/api/v1/portal/sessions/passkey/finish", None, body.clone()).await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "{signed_in:?}");
    let me = app.me(text(&signed_in.body["token"])).await;
    assert_eq!(me.body["username"], "ada", "{me:?}");
    post(app, "/api/v1/portal/sessions/passkey/finish", None, body).await.assert_problem(401, "passkey_rejected");

    // A phishing site's answer (another origin) is refused.
    let mut phished = laptop.clone();
    phished.origin = "https://portal.clinic.example.evil.test".to_owned();
    let started = post(app, "/api/v1/portal/sessions/passkey", None, json!({"practice": app.slug})).await;
    let answer = phished.authenticate(&started.body["options"].to_string());
    let body = json!({"ceremony": text(&started.body["ceremony"]), "response": answer});
    post(app, "/api/v1/portal/sessions/passkey/finish", None, body).await.assert_problem(401, "passkey_rejected");

    // Staff turn the account off: the passkey opens nothing.
    assert_eq!(app.set_enabled(&client, false).await.status, StatusCode::OK);
    let started = post(app, "/api/v1/portal/sessions/passkey", None, json!({"practice": app.slug})).await;
    let answer = laptop.authenticate(&started.body["options"].to_string());
    let body = json!({"ceremony": text(&started.body["ceremony"]), "response": answer});
    post(app, "/api/v1/portal/sessions/passkey/finish", None, body).await.assert_problem(403, "account_disabled");

    // Staff see the passkey among the factors, never its key, and remove it.
    let factors = app.staff(Method::GET, &format!("/api/v1/clients/{client}/portal/factors"), None).await;
    assert_eq!(factors.body["factors"][0]["kind"], "passkey", "{factors:?}");
    assert!(!factors.body.to_string().contains("credential"), "{factors:?}");
}

#[tokio::test]
async fn a_second_step_answer_is_read_by_its_kind_and_a_refused_passkey_leaves_the_challenge_live() {
    let Some(app) = passkey_app(Backend::Sqlite).await else { return };
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let session = app.session("ada", PASSWORD).await;
    let mut laptop = SoftAuthenticator::new(PUBLIC_URL);
    assert_eq!(register(&app, &session, &mut laptop, "").await.status, StatusCode::CREATED);
    let challenge = challenge_of(&app).await;
    let path = "/api/v1/portal/sessions/second-factor";
    // Each kind reads its own fields: a passkey answer without a ceremony, or an app's answer
    // without a code, is an answer that is not right.
    post(&app, path, None, json!({"challenge": challenge, "kind": "passkey", "code": "123456"}))
        .await
        .assert_problem(401, "passkey_rejected");
    post(&app, path, None, json!({"challenge": challenge, "kind": "totp"})).await.assert_problem(401, "invalid_code");
    // An answer made for another relying party is refused and counted like a wrong code.
    let started =
        post(&app, "/api/v1/portal/sessions/second-factor/passkey", None, json!({"challenge": challenge})).await;
    let mut elsewhere = laptop.clone();
    elsewhere.rp_id_override = Some("evil.test".to_owned());
    let answer = elsewhere.authenticate(&started.body["options"].to_string());
    let body = json!({"challenge": challenge, "kind": "passkey", "ceremony": text(&started.body["ceremony"]), "response": answer});
    post(&app, path, None, body).await.assert_problem(401, "passkey_rejected");
    let (signed_in, _, _) = passkey_step(&app, &challenge, &mut laptop).await;
    assert_eq!(signed_in.status, StatusCode::CREATED, "the challenge outlives a refused answer: {signed_in:?}");
}

#[tokio::test]
async fn without_a_host_name_in_the_public_url_the_server_runs_without_passkeys() {
    // The default public URL is http://127.0.0.1:PORT: no relying party can be made of it.
    let Some(app) = spawn_app_with(AppOptions::default()).await else { return };
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let session = app.session("ada", PASSWORD).await;
    let started = app.request(Method::POST, "/api/v1/portal/factors/passkeys", Some(&session), None).await;
    started.assert_problem(404, "not_available");
    post(&app, "/api/v1/portal/sessions/passkey", None, json!({"practice": app.slug}))
        .await
        .assert_problem(404, "not_available");
    // The password alone still signs in.
    assert_eq!(app.sign_in("ada", PASSWORD).await.status, StatusCode::CREATED);
}
