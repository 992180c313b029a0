//! Ordinary concurrency never surfaces as 409 over the real wiring: many staff requests on one
//! client queue in the store and all succeed, on SQLite and on PostgreSQL.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::helpers::{AppOptions, Backend, spawn_app_with};

/// A double-click times a multi-tab front desk, and more than either pool's connections.
const RESENDS: usize = 32;

async fn thirty_two_concurrent_resends_are_all_accepted(backend: Backend) {
    let Some(app) = spawn_app_with(AppOptions { backend, ..AppOptions::default() }).await else { return };
    let client = app.create_client("Ada Lovelace", "ada@example.org").await;
    let path = format!("{}/api/v1/clients/{client}/portal/invitation", app.base);
    let sends: Vec<_> = (0..RESENDS)
        .map(|_| {
            let request = app.http.request(Method::POST, &path).bearer_auth(&app.staff_key);
            tokio::spawn(async move { request.send().await.expect("the server answers").status() })
        })
        .collect();
    for send in sends {
        assert_eq!(send.await.expect("the task ends"), StatusCode::ACCEPTED, "never 409 for ordinary concurrency");
    }

    let portal = app.portal(&client).await;
    assert_eq!(portal.body["state"], "invited", "{portal:?}");
    let db = Database::connect(&app.database_url).await.expect("the database");
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("a query");
            rows[0].try_get::<i64>("", "n").expect("a count")
        }
    };
    let live = "SELECT COUNT(*) AS n FROM tokens WHERE purpose = 'invite' AND used_at IS NULL AND voided_at IS NULL";
    assert_eq!(count(live).await, 1, "exactly one live link");
    let audited = "SELECT COUNT(*) AS n FROM audit_events WHERE action IN ('invite_sent', 'invite_resent')";
    assert_eq!(count(audited).await, i64::try_from(RESENDS).expect("small"));
    // Every resend queued its mail. The dispatcher runs meanwhile, so a mail may have gone out
    // before the next resend replaced its link; what must never happen is a replaced link still
    // waiting to go out, or a mail failing for another reason.
    assert_eq!(count("SELECT COUNT(*) AS n FROM mail_outbox").await, i64::try_from(RESENDS).expect("small"));
    let dead_link_pending = "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'pending' AND token_id NOT IN \
         (SELECT id FROM tokens WHERE used_at IS NULL AND voided_at IS NULL)";
    assert_eq!(count(dead_link_pending).await, 0, "a replaced link still waits to go out");
    let other_failures = "SELECT COUNT(*) AS n FROM mail_outbox WHERE status = 'failed' AND last_error_cause <> 'cancelled_link_superseded'";
    assert_eq!(count(other_failures).await, 0);
    let cancelled = "SELECT COUNT(*) AS n FROM mail_outbox WHERE last_error_cause = 'cancelled_link_superseded'";
    assert!(count(cancelled).await >= 1, "the replaced links' mail was cancelled");
    db.close().await.expect("closed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_resends_are_all_accepted_on_sqlite() {
    thirty_two_concurrent_resends_are_all_accepted(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_resends_are_all_accepted_on_postgres() {
    thirty_two_concurrent_resends_are_all_accepted(Backend::Postgres).await;
}
