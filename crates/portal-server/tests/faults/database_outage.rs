//! The database out of reach while the server runs: answers are quick 503 `unavailable`
//! problems with `Retry-After` (never a hang, a 500 or a crash), `/readyz` says 503, and the same
//! process serves again once the database is back.
//!
//! PostgreSQL: the server reaches the shared server through a [`TcpProxy`] the test cuts and
//! restores; a server started while the proxy is cut waits for the database instead of exiting.
//! (A database that stops answering without closing its connections: `silent_database.rs`.) SQLite has no network to lose; its outage is another process holding the write
//! lock (a backup, an operator's `sqlite3` shell): writes answer 503 after the busy timeout,
//! reads and `/readyz` go on working, and writes resume when the lock is released.

use std::time::{Duration, Instant};

use portal_testkit::{EmlDir, TcpProxy};
use reqwest::{Method, StatusCode};
use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait as _};
use serde_json::json;

use crate::common::{Deployment, invite_rows};
use crate::helpers::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_out_of_reach_gets_quick_503s_and_the_same_process_recovers() {
    let Some(mut deployment) = Deployment::new(Backend::Postgres, &[("PORTAL_MAIL_POLL_INTERVAL", "200ms")]).await
    else {
        return;
    };
    let (mut proxy, through_proxy) = TcpProxy::for_postgres(&deployment.database_url).await;
    deployment.server_database_url = through_proxy;
    let (mut server, key) = deployment.first_start().await;
    let first = deployment.create_client(&key, 0).await;
    assert_eq!(deployment.readyz().await.status, StatusCode::OK);

    proxy.cut().await;
    let cut_at = Instant::now();
    let (ready, list, create, invite) = tokio::join!(
        deployment.readyz(),
        deployment.staff(&key, Method::GET, "/api/v1/clients", None),
        deployment.staff(&key, Method::POST, "/api/v1/clients", Some(json!({"name": "Bo", "email": "bo@example.org"}))),
        deployment.send_invite(&key, &first),
    );
    let answered_within = cut_at.elapsed();
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{ready:?}");
    assert_eq!(ready.body["code"], "unavailable", "{ready:?}");
    // `Err` here would be no answer within common::HANG: a hang.
    for answer in [list, create, invite] {
        answer.expect("an answer while the database is out of reach").assert_unavailable();
    }
    assert!(server.is_running(), "the server survives the outage");

    proxy.restore().await;
    let restored_at = Instant::now();
    let deadline = restored_at + Duration::from_secs(20);
    while deployment.readyz().await.status != StatusCode::OK {
        assert!(Instant::now() < deadline, "not ready 20 s after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready_after = restored_at.elapsed();
    let second = deployment.create_client(&key, 1).await;
    for client in [&first, &second] {
        let answer = deployment.send_invite(&key, client).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    }
    // The dispatcher recovered too: both invitations are written out as .eml files.
    wait_for_mail_files(&deployment, 2).await;
    assert!(server.is_running(), "the same process, never restarted");
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");

    // The invitation refused during the outage left nothing; the two after it are whole.
    let rows = invite_rows(&deployment.database().await).await;
    for client in [&first, &second] {
        let written = rows.get(client.as_str()).cloned().unwrap_or_default();
        assert!(written.is_whole() && written.mails.len() == 1, "{client}: {written:?}");
    }
    eprintln!(
        "PostgreSQL cut: 4 requests answered 503 within {:.1} s; ready again {:.1} s after the proxy came back",
        answered_within.as_secs_f64(),
        ready_after.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_locked_by_another_process_refuses_writes_with_503_and_recovers() {
    let deployment = Deployment::new(Backend::Sqlite, &[]).await.expect("SQLite is always available");
    let (server, key) = deployment.first_start().await;
    let first = deployment.create_client(&key, 0).await;

    // Another process takes the write lock and keeps it.
    let other = deployment.database().await;
    let immediate = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    let lock = other.begin_with_options(immediate).await.expect("the write lock");
    let locked_at = Instant::now();
    let (ready, list, create, invite) = tokio::join!(
        deployment.readyz(),
        deployment.staff(&key, Method::GET, "/api/v1/clients", None),
        deployment.staff(&key, Method::POST, "/api/v1/clients", Some(json!({"name": "Bo", "email": "bo@example.org"}))),
        deployment.send_invite(&key, &first),
    );
    let answered_within = locked_at.elapsed();
    // Readers never wait for the writer in WAL mode: the database is reachable.
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert_eq!(list.expect("an answer").status, StatusCode::OK);
    for answer in [create, invite] {
        answer.expect("an answer while the database is locked").assert_unavailable();
    }
    lock.rollback().await.expect("the lock released");

    let second = deployment.create_client(&key, 1).await;
    for client in [&first, &second] {
        let answer = deployment.send_invite(&key, client).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    }
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    let rows = invite_rows(&other).await;
    for client in [&first, &second] {
        let written = rows.get(client.as_str()).cloned().unwrap_or_default();
        assert!(written.is_whole() && written.mails.len() == 1, "{client}: {written:?}");
    }
    eprintln!(
        "SQLite locked: writes answered 503 within {:.1} s (busy timeout {:?}); reads and /readyz answered 200",
        answered_within.as_secs_f64(),
        portal_store::SQLITE_BUSY_TIMEOUT
    );
}

async fn wait_for_mail_files(deployment: &Deployment, count: usize) {
    let mail = EmlDir::new(deployment.data.path().join("mail"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let found = mail.files().len();
        if found >= count {
            return;
        }
        assert!(Instant::now() < deadline, "{found} of {count} mails written within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_while_postgresql_is_out_of_reach_waits_for_it() {
    let Some(mut deployment) = Deployment::new(Backend::Postgres, &[]).await else { return };
    let (mut proxy, through_proxy) = TcpProxy::for_postgres(&deployment.database_url).await;
    deployment.server_database_url = through_proxy;
    proxy.cut().await;

    let started_at = Instant::now();
    let starting = tokio::spawn(async move {
        let started = deployment.first_start().await;
        (deployment, started)
    });
    // Longer than one try (the pool's 3 s acquire timeout), well within the 30 s start-up wait.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!starting.is_finished(), "the server waits for its database");
    proxy.restore().await;
    let (deployment, (server, key)) = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("the server starts once the database answers")
        .expect("the start");
    let took = started_at.elapsed();
    deployment.create_client(&key, 0).await;
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(log.contains("trying again for up to 30 s after the start"), "{log}");
    assert!(!log.contains("postgres://"), "the log names no database URL: {log}");
    eprintln!(
        "PostgreSQL out of reach at start: the server waited and was serving {:.1} s after its start",
        took.as_secs_f64()
    );
}
