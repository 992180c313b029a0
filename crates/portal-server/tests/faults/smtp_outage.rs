//! The SMTP relay is down (nothing listens on its port) while invitations are queued, then comes
//! back on the same port: the same server process delivers everything, once each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use portal_store::entity::mail_outbox;
use portal_testkit::{Email, SinkOptions, SmtpSink, free_port};
use reqwest::StatusCode;
use sea_orm::EntityTrait as _;

use crate::common::{Deployment, email_of, pending_mail};
use crate::helpers::Backend;

const INVITES: usize = 20;
/// Failed attempts each mail must have had before the relay comes back: a retry, not just one
/// failure.
const FAILED_ATTEMPTS: i64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_while_the_relay_is_down_goes_out_when_it_returns_on_sqlite() {
    relay_down_then_up(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_while_the_relay_is_down_goes_out_when_it_returns_on_postgresql() {
    relay_down_then_up(Backend::Postgres).await;
}

async fn relay_down_then_up(backend: Backend) {
    let relay_port = free_port();
    let smtp_url = format!("smtp://127.0.0.1:{relay_port}?tls=none");
    let settings = [
        ("PORTAL_SMTP_URL", smtp_url.as_str()),
        // Retries every second instead of doubling from 30 s up to an hour (the defaults).
        ("PORTAL_MAIL_RETRY_MAX", "1s"),
        ("PORTAL_MAIL_POLL_INTERVAL", "200ms"),
    ];
    let Some(deployment) = Deployment::new(backend, &settings).await else { return };
    let (mut server, key) = deployment.first_start().await;

    for n in 0..INVITES {
        let client = deployment.create_client(&key, n).await;
        let answer = deployment.send_invite(&key, &client).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::ACCEPTED, "queued while the relay is down: {answer:?}");
    }

    // Every mail fails and is retried while nothing listens on the relay's port.
    let db = deployment.database().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = mail_outbox::Entity::find().all(&db).await.expect("the outbox");
        if rows.len() == INVITES && rows.iter().all(|row| row.attempts >= FAILED_ATTEMPTS) {
            break rows;
        }
        assert!(Instant::now() < deadline, "not every mail failed {FAILED_ATTEMPTS} times within 30 s: {rows:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(rows.iter().all(|row| row.status == "pending" && row.last_error.is_some()), "{rows:#?}");
    let attempts_while_down = rows.iter().map(|row| row.attempts).max().unwrap_or_default();

    // The relay comes back where the server expects it; no restart.
    let sink = SmtpSink::start_with(SinkOptions { port: Some(relay_port), ..SinkOptions::default() });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.received().len() < INVITES || pending_mail(&db).await > 0 {
        assert!(
            Instant::now() < deadline,
            "{} of {INVITES} delivered 30 s after the relay came back",
            sink.received().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server.is_running(), "the same process delivered the mail");

    let mut copies: HashMap<String, usize> = HashMap::new();
    for raw in sink.received() {
        *copies.entry(Email::parse(&raw).expect("a message").to).or_default() += 1;
    }
    let expected: HashMap<String, usize> = (0..INVITES).map(|n| (email_of(n), 1)).collect();
    assert_eq!(copies, expected, "each client got its invitation once");
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    eprintln!(
        "SMTP down on {backend:?}: {INVITES} invitations queued (202), up to {attempts_while_down} failed attempts \
         each while the relay was down, all delivered once after it came back, without a restart"
    );
}
