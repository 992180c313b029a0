//! Every error code of design §5 end to end, practice isolation, and the edges of the HTTP
//! contract (malformed JSON, unknown paths, missing staff keys).

use jiff::SignedDuration;
use portal_testkit::LinkKind;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{NEW_PASSWORD, PASSWORD, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_calls_without_a_valid_key_are_unauthenticated() {
    let app = spawn_app().await;
    app.request(Method::GET, "/api/v1/clients", None, None).await.assert_problem(401, "unauthenticated");
    app.request(Method::GET, "/api/v1/clients", Some("pst_not-a-key"), None)
        .await
        .assert_problem(401, "unauthenticated");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_refusals_carry_their_codes() {
    let app = spawn_app().await;
    let client = app.create_client("Grace Hopper", "grace@example.org").await;

    // No account yet: neither a reset nor a toggle.
    app.send_reset(&client).await.assert_problem(409, "no_account");
    app.set_enabled(&client, false).await.assert_problem(409, "no_account");
    app.set_enabled(&client, true).await.assert_problem(409, "no_account");

    // An account exists: no invite; disabled: no reset.
    let ada = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let active = app.staff(Method::GET, "/api/v1/clients?portal=active", None).await;
    assert_eq!(active.body["clients"].as_array().map(Vec::len), Some(1), "{active:?}");
    assert_eq!(active.body["clients"][0]["id"], ada.as_str());
    app.send_invite(&ada).await.assert_problem(409, "account_exists");
    assert_eq!(app.set_enabled(&ada, false).await.status, StatusCode::OK);
    app.send_reset(&ada).await.assert_problem(409, "account_disabled");

    // Unknown clients.
    let nobody = "00000000-0000-4000-8000-000000000000";
    app.staff(Method::GET, &format!("/api/v1/clients/{nobody}"), None).await.assert_problem(404, "client_not_found");
    app.send_invite(nobody).await.assert_problem(404, "client_not_found");

    // A client without email, or who asked not to be emailed, gets no invitation.
    let no_email = app.staff(Method::POST, "/api/v1/clients", Some(json!({"name": "No Mail"}))).await;
    assert_eq!(no_email.status, StatusCode::CREATED, "{no_email:?}");
    app.send_invite(no_email.body["id"].as_str().expect("an id")).await.assert_problem(409, "no_email");
    let body = json!({"name": "Private", "email": "private@example.org", "email_consent": false});
    let no_consent = app.staff(Method::POST, "/api/v1/clients", Some(body)).await;
    app.send_invite(no_consent.body["id"].as_str().expect("an id")).await.assert_problem(409, "email_not_permitted");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_refusals_carry_their_codes() {
    let app = spawn_app().await;
    app.verify_invite("not-a-token").await.assert_problem(404, "invite_not_found");
    app.register("not-a-token", "someone", PASSWORD).await.assert_problem(404, "invite_not_found");

    // A resend voids the first link.
    let client = app.create_client("Ada Lovelace", "ada@example.org").await;
    assert_eq!(app.send_invite(&client).await.status, StatusCode::ACCEPTED);
    let first = app.next_link_token("ada@example.org", LinkKind::Invitation).await;
    assert_eq!(app.send_invite(&client).await.status, StatusCode::ACCEPTED);
    let second = app.next_link_token("ada@example.org", LinkKind::Invitation).await;
    app.verify_invite(&first).await.assert_problem(404, "invite_not_found");

    // Weak passwords and taken usernames.
    let weak = app.register(&second, "ada", "short").await;
    weak.assert_problem(422, "weak_password");
    assert!(weak.body["reasons"].is_array(), "{weak:?}");
    app.register(&second, "ada", "ada loves long passwords a lot").await.assert_problem(422, "weak_password");
    app.registered_client("Grace Hopper", "grace@example.org", "grace").await;
    app.register(&second, "GRACE", PASSWORD).await.assert_problem(409, "username_taken");

    // Expiry: `now >= expires_at`, 48 hours by default.
    app.advance(SignedDuration::from_hours(48) - SignedDuration::from_secs(1));
    assert_eq!(app.verify_invite(&second).await.status, StatusCode::OK);
    app.advance(SignedDuration::from_secs(1));
    app.verify_invite(&second).await.assert_problem(410, "invite_expired");
    app.register(&second, "ada", PASSWORD).await.assert_problem(410, "invite_expired");
    assert_eq!(app.portal(&client).await.body["state"], "invite_expired");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_refusals_carry_their_codes() {
    let app = spawn_app().await;
    app.verify_reset("not-a-token").await.assert_problem(404, "reset_not_found");
    app.complete_reset("not-a-token", NEW_PASSWORD).await.assert_problem(404, "reset_not_found");

    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    assert_eq!(app.send_reset(&client).await.status, StatusCode::ACCEPTED);
    let token = app.next_link_token("ada@example.org", LinkKind::PasswordReset).await;
    app.complete_reset(&token, "short").await.assert_problem(422, "weak_password");

    // A disabled account cannot complete a reset (and disabling voided it anyway).
    assert_eq!(app.set_enabled(&client, false).await.status, StatusCode::OK);
    app.complete_reset(&token, NEW_PASSWORD).await.assert_problem(403, "account_disabled");
    assert_eq!(app.set_enabled(&client, true).await.status, StatusCode::OK);
    app.complete_reset(&token, NEW_PASSWORD).await.assert_problem(404, "reset_not_found");

    // Expiry.
    assert_eq!(app.send_reset(&client).await.status, StatusCode::ACCEPTED);
    let token = app.next_link_token("ada@example.org", LinkKind::PasswordReset).await;
    app.advance(SignedDuration::from_hours(48));
    app.verify_reset(&token).await.assert_problem(410, "reset_expired");
    app.complete_reset(&token, NEW_PASSWORD).await.assert_problem(410, "reset_expired");
    // The old password still works.
    app.session("ada", PASSWORD).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_another_practice_is_not_found() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let (other_slug, other_key) = app.another_practice("Northside Counseling", "northside").await;
    let other = |method: Method, path: String, body| {
        let app = &app;
        let key = other_key.clone();
        async move { app.request(method, &path, Some(&key), body).await }
    };

    for (method, path, body) in [
        (Method::GET, format!("/api/v1/clients/{client}"), None),
        (Method::PATCH, format!("/api/v1/clients/{client}"), Some(json!({"name": "Stolen"}))),
        (Method::GET, format!("/api/v1/clients/{client}/portal"), None),
        (Method::POST, format!("/api/v1/clients/{client}/portal/invitation"), None),
        (Method::POST, format!("/api/v1/clients/{client}/portal/password-reset"), None),
        (Method::PUT, format!("/api/v1/clients/{client}/portal/enabled"), Some(json!({"enabled": false}))),
        (Method::GET, format!("/api/v1/clients/{client}/portal/audit"), None),
    ] {
        other(method.clone(), path.clone(), body).await.assert_problem(404, "client_not_found");
    }
    let listed = other(Method::GET, "/api/v1/clients".to_owned(), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.body.to_string().contains(&client), "{listed:?}");
    // The account is unchanged and signs in only to its own practice.
    assert_eq!(app.portal(&client).await.body["state"], "active");
    app.sign_in_to(&other_slug, "ada", PASSWORD).await.assert_problem(401, "invalid_credentials");
    app.session("ada", PASSWORD).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_problems() {
    let app = spawn_app().await;
    let url = format!("{}/api/v1/portal/sessions", app.base);
    let response = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"practice": "sunrise-therapy", "username": "#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let content_type = response.headers()["content-type"].to_str().expect("text").to_owned();
    assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["code"], "invalid_request");
    assert!(body["request_id"].is_string(), "{body}");

    let response =
        app.http.post(&url).header("content-type", "text/plain").body("hello").send().await.expect("an answer");
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    app.request(Method::GET, "/api/v1/nowhere", None, None).await.assert_problem(404, "not_found");
    let missing = app.staff(Method::POST, "/api/v1/clients", Some(json!({"email": "x@example.org"}))).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{missing:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_answer() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/openapi.json", "/metrics"] {
        let response = app.http.get(format!("{}{path}", app.base)).send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let docs = app.http.get(format!("{}/docs", app.base)).send().await.expect("an answer");
    assert!(docs.status().is_success() || docs.status().is_redirection(), "{}", docs.status());
    let spec = app.request(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.body["servers"][0]["url"], app.base.as_str(), "links come from the configured public URL");
    app.stop().await;
}
