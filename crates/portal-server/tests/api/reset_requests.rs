//! Client-started password resets through the real wiring: 202 for every request, the real
//! reset email for the matching one only (its link completes the reset), 404 when the practice
//! does not take them; on SQLite and PostgreSQL.

use std::time::Duration;

use portal_testkit::LinkKind;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, Backend, NEW_PASSWORD, TestApp, spawn_app_with};

/// Turns the practice's setting on, as its staff would.
async fn allow_client_resets(app: &TestApp) {
    let on = json!({"client_started_resets": true});
    let answer = app.staff(Method::PATCH, "/api/v1/practice/settings", Some(on)).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
}

/// A count from the database.
async fn count(app: &TestApp, sql: &str) -> i64 {
    let db = Database::connect(&app.database_url).await.expect("the database");
    let rows =
        db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned())).await.expect("a query");
    rows[0].try_get::<i64>("", "n").expect("a count")
}

async fn request_reset(app: &TestApp, username: &str, email: &str) -> crate::helpers::Answer {
    let body = json!({"practice": app.slug, "username": username, "email": email});
    app.request(Method::POST, "/api/v1/portal/password-reset-requests", None, Some(body)).await
}

async fn only_the_matching_request_gets_the_real_email_and_its_link_completes_the_reset(app: &TestApp) {
    app.registered_client("Ada", "ada@example.org", "ada").await;
    let refused = request_reset(app, "ada", "ada@example.org").await;
    refused.assert_problem(404, "not_available");

    allow_client_resets(app).await;
    let bob = app.registered_client("Bob", "bob@example.org", "bob").await;
    assert_eq!(app.set_enabled(&bob, false).await.status, StatusCode::OK);
    for (username, email) in [
        ("ada", "someone.else@example.org"),
        ("nobody", "ada@example.org"),
        ("bob", "bob@example.org"),
        ("ADA", "Ada@Example.org"),
    ] {
        let answer = request_reset(app, username, email).await;
        assert_eq!((answer.status, &answer.body), (StatusCode::ACCEPTED, &Value::Null), "{answer:?}");
    }

    let token = app.next_link_token("ada@example.org", LinkKind::PasswordReset).await;
    assert_eq!(app.verify_reset(&token).await.status, StatusCode::OK);
    assert_eq!(app.complete_reset(&token, NEW_PASSWORD).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.sign_in("ada", NEW_PASSWORD).await.status, StatusCode::CREATED);

    // Every request was audited (their work runs after the answer), and only one queued mail.
    let audited = "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'reset_requested'";
    for _ in 0..200 {
        if count(app, audited).await == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(app, audited).await, 4);
    let matched = "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'reset_requested' AND failure IS NULL";
    assert_eq!(count(app, matched).await, 1);
    assert_eq!(count(app, "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'password_reset'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_started_reset_mails_the_real_link_only_for_the_match_on_sqlite() {
    let app = spawn_app_with(AppOptions::default()).await.expect("SQLite");
    only_the_matching_request_gets_the_real_email_and_its_link_completes_the_reset(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_started_reset_mails_the_real_link_only_for_the_match_on_postgresql() {
    let Some(app) = spawn_app_with(AppOptions { backend: Backend::Postgres, ..AppOptions::default() }).await else {
        return;
    };
    only_the_matching_request_gets_the_real_email_and_its_link_completes_the_reset(&app).await;
    app.stop().await;
}
