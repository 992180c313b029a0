//! Every error code of the contract, with its status, as `application/problem+json`.

use std::sync::Arc;

use jiff::SignedDuration;
use poem::Body;
use poem::http::{Method, StatusCode};
use portal_core::testing::InMemoryStore;
use serde_json::json;

use crate::failing_store::{FailingStore, Mode, SECRET_TEXT};
use crate::hashing::occupy_one_permit;
use crate::helpers::{
    NEW_PASSWORD, PASSWORD, assert_problem, json_body, spawn_app, spawn_app_over, spawn_app_with, test_config,
};

#[tokio::test]
async fn a_missing_or_unknown_staff_key_is_401_unauthenticated_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let response = app.client.get("/api/v1/clients").send().await;
    response.assert_header("www-authenticate", "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    let response = app.staff_with("pst_not-a-key", Method::GET, "/api/v1/clients").send().await;
    response.assert_header("www-authenticate", "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A session token is not a staff key.
    let id = app.registered_client("Ada", "ada.l").await;
    let session = app.session("ada.l", PASSWORD).await;
    let response = app.staff_with(&session, Method::GET, &format!("/api/v1/clients/{id}")).send().await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn a_missing_or_unknown_session_is_401_unauthenticated() {
    let app = spawn_app().await;
    let response = app.client.get("/api/v1/portal/me").send().await;
    response.assert_header("www-authenticate", "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(app.me("pcs_unknown").await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    // A staff key is not a session.
    let key = app.staff_key.clone();
    assert_problem(app.me(&key).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = app.client.delete("/api/v1/portal/sessions/current").send().await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada.l").await;
    let session = app.session("ada.l", PASSWORD).await;
    app.clock.advance(SignedDuration::from_mins(29));
    app.me(&session).await.assert_status_is_ok();
    app.clock.advance(SignedDuration::from_mins(30));
    assert_problem(app.me(&session).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn an_unknown_client_is_404_client_not_found() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/clients/00000000-0000-4000-8000-000000000000",
        "/api/v1/clients/not-a-uuid",
        "/api/v1/clients/00000000-0000-4000-8000-000000000000/portal",
        "/api/v1/clients/00000000-0000-4000-8000-000000000000/portal/audit",
    ] {
        assert_problem(app.staff(Method::GET, path).send().await, StatusCode::NOT_FOUND, "client_not_found").await;
    }
    for path in [
        "/api/v1/clients/00000000-0000-4000-8000-000000000000/portal/invitation",
        "/api/v1/clients/00000000-0000-4000-8000-000000000000/portal/password-reset",
    ] {
        assert_problem(app.staff(Method::POST, path).send().await, StatusCode::NOT_FOUND, "client_not_found").await;
    }
    let response = app.set_enabled("00000000-0000-4000-8000-000000000000", false).await;
    assert_problem(response, StatusCode::NOT_FOUND, "client_not_found").await;
    let response = app
        .staff(Method::PATCH, "/api/v1/clients/00000000-0000-4000-8000-000000000000")
        .body_json(&json!({ "name": "X" }))
        .send()
        .await;
    assert_problem(response, StatusCode::NOT_FOUND, "client_not_found").await;
}

#[tokio::test]
async fn staff_refusals_are_409_with_their_codes() {
    let app = spawn_app().await;

    // account_exists: invite after registration.
    let registered = app.registered_client("Ada", "ada.l").await;
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{registered}/portal/invitation")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "account_exists").await;

    // no_account: reset or toggle before registration.
    let fresh = app.create_client("Grace", Some("grace@example.org")).await;
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{fresh}/portal/password-reset")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "no_account").await;
    assert_problem(app.set_enabled(&fresh, false).await, StatusCode::CONFLICT, "no_account").await;
    assert_problem(app.set_enabled(&fresh, true).await, StatusCode::CONFLICT, "no_account").await;

    // account_disabled (staff): a reset for a disabled account.
    app.set_enabled(&registered, false).await.assert_status_is_ok();
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{registered}/portal/password-reset")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "account_disabled").await;

    // no_email and email_not_permitted, for invitations and resets.
    let no_email = app.create_client("Linus", None).await;
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{no_email}/portal/invitation")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "no_email").await;
    let no_consent = app.create_client("Barbara", Some("barbara@example.org")).await;
    app.staff(Method::PATCH, &format!("/api/v1/clients/{no_consent}"))
        .body_json(&json!({ "email_consent": false }))
        .send()
        .await
        .assert_status_is_ok();
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{no_consent}/portal/invitation")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "email_not_permitted").await;

    let active = app.registered_client("Edsger", "edsger").await;
    app.staff(Method::PATCH, &format!("/api/v1/clients/{active}"))
        .body_json(&json!({ "email": "" }))
        .send()
        .await
        .assert_status_is_ok();
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{active}/portal/password-reset")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "no_email").await;
    app.staff(Method::PATCH, &format!("/api/v1/clients/{active}"))
        .body_json(&json!({ "email": "edsger@example.org", "email_consent": false }))
        .send()
        .await
        .assert_status_is_ok();
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{active}/portal/password-reset")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "email_not_permitted").await;
}

#[tokio::test]
async fn unusable_invitation_links_are_404_or_410() {
    let app = spawn_app().await;
    let verify = |token: String| {
        let client = &app.client;
        async move { client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": token })).send().await }
    };
    assert_problem(verify("nonsense".to_owned()).await, StatusCode::NOT_FOUND, "invite_not_found").await;
    assert_problem(app.register("nonsense", "ada.l", PASSWORD).await, StatusCode::NOT_FOUND, "invite_not_found").await;

    let id = app.create_client("Ada", Some("ada@example.org")).await;
    let token = app.invite(&id).await;
    app.clock.advance(SignedDuration::from_hours(48) - SignedDuration::from_secs(1));
    verify(token.clone()).await.assert_status_is_ok();
    app.clock.advance(SignedDuration::from_secs(1));
    assert_problem(verify(token.clone()).await, StatusCode::GONE, "invite_expired").await;
    assert_problem(app.register(&token, "ada.l", PASSWORD).await, StatusCode::GONE, "invite_expired").await;
    let portal = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await).await;
    assert_eq!(portal["state"], "invite_expired");
}

#[tokio::test]
async fn unusable_reset_links_are_404_or_410() {
    let app = spawn_app().await;
    let verify = |token: String| {
        let client = &app.client;
        async move {
            client.post("/api/v1/portal/password-resets/verify").body_json(&json!({ "token": token })).send().await
        }
    };
    let complete = |token: String| {
        let client = &app.client;
        async move {
            client
                .post("/api/v1/portal/password-resets")
                .body_json(&json!({ "token": token, "password": NEW_PASSWORD }))
                .send()
                .await
        }
    };
    assert_problem(verify("nonsense".to_owned()).await, StatusCode::NOT_FOUND, "reset_not_found").await;
    assert_problem(complete("nonsense".to_owned()).await, StatusCode::NOT_FOUND, "reset_not_found").await;

    let id = app.registered_client("Ada", "ada.l").await;
    // An invitation link never works as a reset link.
    let invite = app.link_token(&id, portal_core::TokenPurpose::Invite);
    assert_problem(verify(invite).await, StatusCode::NOT_FOUND, "reset_not_found").await;

    let token = app.send_reset(&id).await;
    app.clock.advance(SignedDuration::from_hours(48));
    assert_problem(verify(token.clone()).await, StatusCode::GONE, "reset_expired").await;
    assert_problem(complete(token).await, StatusCode::GONE, "reset_expired").await;

    // A disabled account's reset link is refused with 403 (disabling also voided it).
    let token = app.send_reset(&id).await;
    app.set_enabled(&id, false).await.assert_status_is_ok();
    assert_problem(verify(token.clone()).await, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_problem(complete(token.clone()).await, StatusCode::FORBIDDEN, "account_disabled").await;
    // Enabling brings the voided link back neither.
    app.set_enabled(&id, true).await.assert_status_is_ok();
    assert_problem(verify(token.clone()).await, StatusCode::NOT_FOUND, "reset_not_found").await;
    assert_problem(complete(token).await, StatusCode::NOT_FOUND, "reset_not_found").await;
}

#[tokio::test]
async fn registration_refusals_name_the_rule() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada.l").await;
    let id = app.create_client("Grace", Some("grace@example.org")).await;
    let token = app.invite(&id).await;

    assert_problem(app.register(&token, "ADA.L", PASSWORD).await, StatusCode::CONFLICT, "username_taken").await;

    let body = assert_problem(
        app.register(&token, "no spaces", PASSWORD).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_username",
    )
    .await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("username")), "{body}");
    assert_problem(app.register(&token, "ab", PASSWORD).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_username")
        .await;

    let response = app.register(&token, "grace.h", "grace.h").await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let codes: Vec<&str> = body["reasons"].as_array().unwrap().iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, ["too_short", "contains_username"], "{body}");
    assert!(body["reasons"][0]["message"].as_str().is_some_and(|m| m.contains("15")), "{body}");

    // Still usable after the refusals.
    app.register(&token, "grace.h", PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_weak_new_password_is_refused_with_every_reason() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada", "ada.l").await;
    let token = app.send_reset(&id).await;
    let response = app
        .client
        .post("/api/v1/portal/password-resets")
        .body_json(&json!({ "token": token, "password": "password" }))
        .send()
        .await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let codes: Vec<&str> = body["reasons"].as_array().unwrap().iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, ["too_short", "common"], "{body}");
}

#[tokio::test]
async fn sign_in_refusals_do_not_tell_which_part_was_wrong() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada.l").await;
    for (practice, username, password) in [
        ("sunrise", "ada.l", "wrong password entirely"),
        ("sunrise", "nobody.here", PASSWORD),
        ("no-such-practice", "ada.l", PASSWORD),
        ("NOT A SLUG!", "ada.l", PASSWORD),
    ] {
        let body = assert_problem(
            app.sign_in_at(practice, username, password).await,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
        assert!(body.get("detail").is_none(), "{body}");
    }
}

#[tokio::test]
async fn repeated_failures_for_a_username_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada.l").await;
    for username in ["ada.l", "nobody.here"] {
        let mut throttled = None;
        for _ in 0..10 {
            let response = app.sign_in(username, "wrong password entirely").await;
            if response.0.status() == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(response);
                break;
            }
            assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let response = throttled.expect("no 429 after 10 failures");
        let retry_after: u64 = response.0.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1, "{retry_after}");
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
    }
    // Even the right password waits; after the delay it works.
    let response = app.sign_in("ada.l", PASSWORD).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
    app.clock.advance(SignedDuration::from_mins(20));
    app.sign_in("ada.l", PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_saturated_hashing_pool_is_503_busy_with_retry_after() {
    let mut config = test_config();
    config.hash_permits = 1;
    config.hash_queue = 0;
    let app = spawn_app_with(config).await;
    app.registered_client("Ada", "ada.l").await;

    let (release, hog) = occupy_one_permit(&app.hasher).await;
    let response = app.sign_in("ada.l", PASSWORD).await;
    response.assert_header("retry-after", "1");
    assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "busy").await;

    release.send(()).unwrap();
    hog.await.unwrap().unwrap();
    app.sign_in("ada.l", PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_full_hashing_pool_refuses_before_any_store_work() {
    // A refusal under a flood of sign-ins must cost no database work: with the store down, a
    // request that reached it would be `unavailable`; `busy` proves it was refused first.
    let memory = InMemoryStore::new();
    let failing = FailingStore::new(memory.clone());
    let mut config = test_config();
    config.hash_permits = 1;
    config.hash_queue = 0;
    let app = spawn_app_over(Arc::new(failing.clone()), memory, config).await;
    let id = app.registered_client("Ada", "ada.l").await;
    let reset_token = app.send_reset(&id).await;
    let invited = app.create_client("Grace", Some("grace@example.org")).await;
    let invite_token = app.invite(&invited).await;

    let (release, hog) = occupy_one_permit(&app.hasher).await;
    assert!(app.hasher.is_saturated());
    failing.set(Mode::Unavailable);
    let refused = [
        app.sign_in("ada.l", PASSWORD).await,
        app.register(&invite_token, "grace.h", PASSWORD).await,
        app.client
            .post("/api/v1/portal/password-resets")
            .body_json(&serde_json::json!({ "token": reset_token, "password": NEW_PASSWORD }))
            .send()
            .await,
    ];
    for response in refused {
        response.assert_header("retry-after", "1");
        assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
    }

    failing.set(Mode::Healthy);
    release.send(()).unwrap();
    hog.await.unwrap().unwrap();
    assert!(!app.hasher.is_saturated());
    // Nothing was used up: the links and the password still work.
    app.register(&invite_token, "grace.h", PASSWORD).await.assert_status(StatusCode::CREATED);
    app.client
        .post("/api/v1/portal/password-resets")
        .body_json(&serde_json::json!({ "token": reset_token, "password": NEW_PASSWORD }))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.sign_in("ada.l", NEW_PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn malformed_requests_are_400_invalid_request_as_problem_json() {
    let app = spawn_app().await;
    let cases = [
        ("{\"name\": ", "not valid JSON"),
        ("[1, 2, 3]", "wrong type"),
        ("{\"name\": [\"12345\"]}", "wrong type"),
        ("{\"email\": \"a@example.org\"}", "missing"),
        ("", "missing"),
    ];
    for (body, hint) in cases {
        let response =
            app.staff(Method::POST, "/api/v1/clients").content_type("application/json").body(body).send().await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(hint), "{body}: {problem}");
        assert!(!detail.contains("12345"), "values are never echoed: {problem}");
    }
    let response = app.staff(Method::GET, "/api/v1/clients?portal=everyone").send().await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    let response = app.client.post("/api/v1/portal/sessions").content_type("text/plain").body("hello").send().await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[tokio::test]
async fn field_rules_are_422_validation_failed() {
    let app = spawn_app().await;
    let response = app.staff(Method::POST, "/api/v1/clients").body_json(&json!({ "name": "" })).send().await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("name")), "{body}");

    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ada", "email": "not an email" }))
        .send()
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let response =
        app.staff(Method::POST, "/api/v1/clients").body_json(&json!({ "name": "Ada", "language": "fr" })).send().await;
    let body = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("language")), "{body}");

    let id = app.registered_client("Grace", "grace.h").await;
    let response = app
        .staff(Method::PUT, &format!("/api/v1/clients/{id}/portal/enabled"))
        .body_json(&json!({ "enabled": false, "reason": "x".repeat(501) }))
        .send()
        .await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

#[tokio::test]
async fn a_one_megabyte_password_is_413_before_any_hashing() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada.l").await;
    let audit_before = app.store.audit_events().len();
    let huge = "a".repeat(1024 * 1024);
    let response = app.sign_in("ada.l", &huge).await;
    // The unread rest of the body leaves the connection unusable: the answer says it closes.
    response.assert_header("connection", "close");
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // The same without a Content-Length (a streamed body) is cut off at the limit too.
    let body = serde_json::to_vec(&json!({ "practice": "sunrise", "username": "ada.l", "password": huge })).unwrap();
    let response = app
        .client
        .post("/api/v1/portal/sessions")
        .content_type("application/json")
        .body(Body::from_async_read(std::io::Cursor::new(body)))
        .send()
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;

    // Nothing reached the service: no sign-in attempt was audited.
    assert_eq!(app.store.audit_events().len(), audit_before);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems_too() {
    let app = spawn_app().await;
    assert_problem(app.client.get("/api/v1/nothing-here").send().await, StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(
        app.client.put("/api/v1/portal/me").send().await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

async fn failing_app() -> (crate::helpers::TestApp, FailingStore) {
    let memory = InMemoryStore::new();
    let failing = FailingStore::new(memory.clone());
    let app = spawn_app_over(Arc::new(failing.clone()), memory, test_config()).await;
    (app, failing)
}

#[tokio::test]
async fn a_store_outage_is_503_unavailable_without_internal_text() {
    let (app, store) = failing_app().await;
    let id = app.registered_client("Ada", "ada.l").await;
    let invited = app.create_client("Grace", Some("grace@example.org")).await;
    let token = app.invite(&invited).await;
    store.set(Mode::Unavailable);
    let responses = [
        app.staff(Method::GET, "/api/v1/clients").send().await,
        app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await,
        app.sign_in("ada.l", PASSWORD).await,
        app.register(&token, "grace.h", PASSWORD).await,
        app.me("pcs_whatever").await,
        app.client.get("/readyz").send().await,
    ];
    for response in responses {
        let text = response.0.into_body().into_string().await.unwrap();
        assert!(!text.contains("hunter2") && !text.contains("db.internal"), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], "unavailable", "{body}");
        assert_eq!(body["status"], 503, "{body}");
        assert!(body.get("detail").is_none(), "{body}");
    }
    let response = app.staff(Method::GET, "/api/v1/clients").send().await;
    response.assert_header("retry-after", "5");
    store.set(Mode::Healthy);
    app.client.get("/readyz").send().await.assert_status_is_ok();
}

#[tokio::test]
async fn unreadable_data_is_500_internal_without_internal_text() {
    let (app, store) = failing_app().await;
    let id = app.create_client("Ada", Some("ada@example.org")).await;
    let token = app.invite(&id).await;
    store.set(Mode::Corrupt);
    for response in [
        app.staff(Method::GET, &format!("/api/v1/clients/{id}")).send().await,
        app.sign_in("ada.l", PASSWORD).await,
        app.client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": token })).send().await,
    ] {
        let text = response.0.into_body().into_string().await.unwrap();
        assert!(!text.contains(SECRET_TEXT) && !text.contains("row 17"), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["code"], "internal", "{body}");
        assert_eq!(body["status"], 500, "{body}");
        assert_eq!(body["title"], "An unexpected error occurred; quote the request id when reporting it");
    }
}

#[tokio::test]
async fn an_account_that_keeps_changing_is_409_conflict() {
    let (app, store) = failing_app().await;
    let id = app.create_client("Ada", Some("ada@example.org")).await;
    store.set(Mode::CommitConflict);
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{id}/portal/invitation")).send().await;
    assert_problem(response, StatusCode::CONFLICT, "conflict").await;
    assert_eq!(app.wakeups(), 0, "nothing was queued");
}
