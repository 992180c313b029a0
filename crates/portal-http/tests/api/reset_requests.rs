//! `POST /api/v1/portal/password-reset-requests`: 202 in every case, before the work is done;
//! a reset email only for the username and email of an active account; 404 when the practice
//! does not take such requests.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use portal_core::testing::InMemoryStore;
use portal_core::{AuditFailure, TokenPurpose};
use serde_json::json;

use crate::failing_store::FailingStore;
use crate::helpers::{NEW_PASSWORD, assert_problem, spawn_app, spawn_app_over, test_config};

/// Status, then body, of an answer.
async fn answer(response: poem::test::TestResponse) -> (StatusCode, String) {
    let status = response.0.status();
    (status, response.0.into_body().into_string().await.unwrap())
}

#[tokio::test]
async fn every_request_is_answered_202_alike_and_only_the_matching_one_is_mailed_with_a_working_link() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    let ada = app.registered_client("Ada", "ada").await;
    let bob = app.registered_client("Bob", "bob").await;
    app.set_enabled(&bob, false).await.assert_status(StatusCode::OK);
    let wakeups = app.wakeups();

    let mut answers = Vec::new();
    for (username, email) in [
        ("ada", "someone.else@example.org"), // wrong email
        ("nobody", "client@example.org"),    // unknown username
        ("bob", "client@example.org"),       // disabled
        ("ADA", "Client@Example.org"),       // the match, in another case
    ] {
        answers.push(answer(app.request_reset(&app.slug, username, email).await).await);
    }
    for (status, body) in &answers {
        assert_eq!((*status, body.as_str()), (StatusCode::ACCEPTED, ""), "every answer is the same");
    }

    let events = app.reset_requests_done(4).await;
    let mut failures: Vec<_> = events.iter().map(|event| event.failure.clone()).collect();
    failures.sort_by_key(|f| f.as_ref().map(|f| f.as_str().to_owned()));
    assert_eq!(
        failures,
        vec![None, Some(AuditFailure::AccountDisabled), Some(AuditFailure::NoMatch), Some(AuditFailure::NoMatch)]
    );
    assert_eq!(app.reset_mails(), 1, "one email, for the matching request only");
    assert_eq!(app.wakeups(), wakeups + 1, "the dispatcher is woken for it");

    // The real link of that email, completed as a staff-started reset's would be.
    let token = app.link_token(&ada, TokenPurpose::Reset);
    app.client
        .post("/api/v1/portal/password-resets/verify")
        .body_json(&json!({ "token": token }))
        .send()
        .await
        .assert_status(StatusCode::OK);
    app.client
        .post("/api/v1/portal/password-resets")
        .body_json(&json!({ "token": token, "password": NEW_PASSWORD }))
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
    app.sign_in("ada", NEW_PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_second_request_within_fifteen_minutes_is_answered_alike_and_mails_nothing() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    app.registered_client("Ada", "ada").await;
    for _ in 0..2 {
        app.request_reset(&app.slug, "ada", "client@example.org").await.assert_status(StatusCode::ACCEPTED);
    }
    let events = app.reset_requests_done(2).await;
    assert_eq!(app.reset_mails(), 1);
    assert!(events.iter().any(|event| event.failure == Some(AuditFailure::Throttled)), "{events:?}");
}

#[tokio::test]
async fn a_practice_that_does_not_take_requests_is_404_not_available_and_an_unknown_one_practice_not_found() {
    let app = spawn_app().await;
    app.registered_client("Ada", "ada").await;
    let refused = app.request_reset(&app.slug, "ada", "client@example.org").await;
    assert_problem(refused, StatusCode::NOT_FOUND, "not_available").await;
    let unknown = app.request_reset("nowhere", "ada", "client@example.org").await;
    assert_problem(unknown, StatusCode::NOT_FOUND, "practice_not_found").await;
    assert!(app.reset_requests().is_empty(), "no account was looked at");
    assert_eq!(app.reset_mails(), 0);
}

#[tokio::test]
async fn malformed_input_is_refused_before_any_work() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    for (username, email) in [("a b", "client@example.org"), ("ada", "not-an-address"), ("", "client@example.org")] {
        let refused = app.request_reset(&app.slug, username, email).await;
        assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let missing = app
        .client
        .post("/api/v1/portal/password-reset-requests")
        .body_json(&json!({ "practice": app.slug, "username": "ada" }))
        .send()
        .await;
    assert!(missing.0.status().is_client_error());
    assert!(app.reset_requests().is_empty());
}

#[tokio::test]
async fn the_answer_does_not_wait_for_the_account_lookup() {
    let memory = InMemoryStore::new();
    let store = FailingStore::new(memory.clone());
    let app = spawn_app_over(Arc::new(store.clone()), memory, test_config()).await;
    app.allow_client_resets().await;
    app.registered_client("Ada", "ada").await;

    // With every username lookup held, the answer still comes: it never waits for the work.
    store.hold_username_lookups();
    let answered =
        tokio::time::timeout(Duration::from_secs(30), app.request_reset(&app.slug, "ada", "client@example.org"))
            .await
            .expect("the answer waited for the account lookup");
    answered.assert_status(StatusCode::ACCEPTED);
    assert!(app.reset_requests().is_empty(), "the work had not run when the answer came");
    assert_eq!(app.reset_mails(), 0);

    store.release_username_lookups();
    let events = app.reset_requests_done(1).await;
    assert_eq!(events[0].failure, None);
    assert_eq!(app.reset_mails(), 1);
}
