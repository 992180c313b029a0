//! PostgreSQL stops answering without closing its connections (a network partition), while the
//! dispatcher is in the middle of a delivery: every request is answered 503 `unavailable` with
//! `Retry-After` within 5 s (never a hang), the process and its dispatcher live through it, and
//! once the network heals the same process serves again and the invitation it was delivering is
//! recorded as sent and arrives exactly once.
//!
//! Both the database and the SMTP relay are reached through portal-testkit's [`TcpProxy`]: a
//! partition keeps connections open and moves no byte until it heals (then what was held is
//! delivered, as TCP would after a short outage).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use portal_store::entity::mail_outbox;
use portal_testkit::{Email, SmtpSink, TcpProxy, poll_until};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait as _;
use serde_json::json;

use crate::common::{Deployment, email_of, invite_rows, pending_mail};
use crate::helpers::{Answer, Backend};

/// The promise: a request that meets a silent database is answered within this long. The
/// database timeout (3 s by default) is what keeps it; the rest is slack for a loaded machine.
const ANSWERED_WITHIN: Duration = Duration::from_secs(5);

/// How long the database stays silent after the message went out, while the dispatcher tries
/// to record it: longer than the few quick tries (about 10 s on a silent database) after which
/// it used to give up, leaving the row to be sent again once its lease lapsed.
const SILENT_AFTER_DELIVERY: Duration = Duration::from_secs(12);

/// `request` with how long its answer took.
async fn timed(request: impl Future<Output = reqwest::Result<Answer>>) -> (reqwest::Result<Answer>, Duration) {
    let started = Instant::now();
    let answer = request.await;
    (answer, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_postgresql_gets_503s_within_5_s_and_the_same_process_recovers_and_delivers_once() {
    let sink = SmtpSink::start();
    let smtp_proxy = TcpProxy::start(([127, 0, 0, 1], sink.port()).into()).await;
    let smtp_url = format!("smtp://{}?tls=none", smtp_proxy.addr());
    let settings = [("PORTAL_SMTP_URL", smtp_url.as_str()), ("PORTAL_MAIL_POLL_INTERVAL", "200ms")];
    let Some(mut deployment) = Deployment::new(Backend::Postgres, &settings).await else { return };
    let (db_proxy, through_proxy) = TcpProxy::for_postgres(&deployment.database_url).await;
    deployment.server_database_url = through_proxy;
    let (mut server, key) = deployment.first_start().await;
    let first = deployment.create_client(&key, 0).await;
    let second = deployment.create_client(&key, 1).await;
    // The start-up check of the relay has come and gone.
    poll_until(Duration::from_secs(10), "the relay probed", || async { smtp_proxy.connections() >= 1 }).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 1. The dispatcher is in the middle of a delivery: the relay's connection holds it.
    smtp_proxy.partition();
    let relay_connections = smtp_proxy.connections();
    let answer = deployment.send_invite(&key, &first).await.expect("an answer");
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    poll_until(Duration::from_secs(10), "the dispatcher connects to the relay", || async {
        smtp_proxy.connections() > relay_connections
    })
    .await;

    // 2. The database goes silent: every request is answered 503 within the promise.
    db_proxy.partition();
    let (ready, list, create, invite) = tokio::join!(
        timed(async { Ok::<_, reqwest::Error>(deployment.readyz().await) }),
        timed(deployment.staff(&key, Method::GET, "/api/v1/clients", None)),
        timed(deployment.staff(
            &key,
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "Bo", "email": "bo@example.org"}))
        )),
        timed(deployment.send_invite(&key, &second)),
    );
    let mut slowest = Duration::ZERO;
    for (what, (answer, took)) in
        [("/readyz", ready), ("a list", list), ("a creation", create), ("an invitation", invite)]
    {
        // `Err` would be no answer within common::HANG: a hang.
        let answer = answer.unwrap_or_else(|error| panic!("{what}: no answer while the database is silent: {error}"));
        if what == "/readyz" {
            answer.assert_problem(503, "unavailable");
        } else {
            answer.assert_unavailable();
        }
        assert!(took < ANSWERED_WITHIN, "{what} answered after {took:?}");
        slowest = slowest.max(took);
    }
    assert!(server.is_running(), "the server lives through the partition");

    // 3. The relay answers again: the message goes out while the database is still silent, and
    //    the dispatcher cannot record it yet.
    smtp_proxy.heal();
    let delivered = tokio::task::spawn_blocking(move || {
        let received = sink.wait_for(1);
        (sink, received.len())
    })
    .await
    .expect("the sink");
    let (sink, count) = delivered;
    assert_eq!(count, 1, "the message in flight went out once the relay answered");
    tokio::time::sleep(SILENT_AFTER_DELIVERY).await;
    let (still, took) = timed(deployment.staff(&key, Method::GET, "/api/v1/clients", None)).await;
    still.expect("an answer").assert_unavailable();
    assert!(took < ANSWERED_WITHIN, "a request late in the partition answered after {took:?}");
    assert!(server.is_running(), "the server lives through the partition");

    // 4. The network heals: the same process serves again, records the delivery, and goes on
    //    delivering.
    db_proxy.heal();
    let ready_after = poll_until(Duration::from_secs(20), "/readyz turns 200", || async {
        deployment.readyz().await.status == StatusCode::OK
    })
    .await;
    let db = deployment.database().await;
    poll_until(Duration::from_secs(20), "the delivered invitation is recorded as sent", || async {
        pending_mail(&db).await == 0
    })
    .await;
    let answer = deployment.send_invite(&key, &second).await.expect("an answer");
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    poll_until(Duration::from_secs(20), "the invitation sent after the partition arrives", || async {
        sink.received().len() >= 2
    })
    .await;
    // Time for a second copy, if one were coming, to arrive.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(server.is_running(), "the same process, never restarted");
    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "log:\n{log}");
    assert!(!log.contains("panicked"), "{log}");

    let mut copies: HashMap<String, usize> = HashMap::new();
    for raw in sink.received() {
        *copies.entry(Email::parse(&raw).expect("a message").to).or_default() += 1;
    }
    let expected: HashMap<String, usize> = (0..2).map(|n| (email_of(n), 1)).collect();
    assert_eq!(copies, expected, "each invitation arrived exactly once");
    let rows = mail_outbox::Entity::find().all(&db).await.expect("the outbox");
    assert!(rows.len() == 2 && rows.iter().all(|row| row.status == "sent"), "{rows:#?}");
    // The invitation refused during the partition left nothing; the one after it is whole.
    let written = invite_rows(&db).await.get(second.as_str()).cloned().unwrap_or_default();
    assert!(written.is_whole() && written.mails.len() == 1, "{second}: {written:?}");
    eprintln!(
        "PostgreSQL silent: 4 requests answered 503 within {:.1} s (the promise is {} s); the message in flight \
         delivered during the partition and recorded as sent after it; ready again {:.1} s after the heal; \
         each invitation arrived once",
        slowest.as_secs_f64(),
        ANSWERED_WITHIN.as_secs(),
        ready_after.as_secs_f64()
    );
}
