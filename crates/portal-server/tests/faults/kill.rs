//! `kill -9` in the middle of a burst of 1,000 invitations, then a restart on the same database:
//! every invitation answered 2xx is delivered, at most the one message being sent at the kill
//! arrives twice (with the same Message-ID), and no invitation left part of its transaction
//! behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portal_testkit::{Email, SmtpSink};
use reqwest::StatusCode;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::common::{Deployment, email_of, invite_rows, pending_mail};
use crate::helpers::Backend;

const INVITES: usize = 1_000;
/// Requests on the wire at once: a busy front desk times a hundred, without running the test
/// process out of sockets.
const IN_FLIGHT: usize = 64;
/// The kill comes once this many invitations were answered 2xx.
const KILL_AFTER_ACCEPTED: usize = 300;

/// How one invitation request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// 2xx: the server promised the mail.
    Accepted,
    /// Another status (the server was up and said no).
    Refused(StatusCode),
    /// No answer: the connection was reset by the kill or refused while the server was down.
    NoAnswer,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_during_a_burst_of_invitations_loses_no_mail_on_sqlite() {
    kill_during_a_burst(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_during_a_burst_of_invitations_loses_no_mail_on_postgresql() {
    kill_during_a_burst(Backend::Postgres).await;
}

async fn kill_during_a_burst(backend: Backend) {
    let sink = SmtpSink::start();
    let smtp_url = sink.url();
    let settings = [
        ("PORTAL_SMTP_URL", smtp_url.as_str()),
        // Rows the killed server had claimed are taken again this long after: the default
        // (5 minutes) is right for production and far too long for a test.
        ("PORTAL_MAIL_LEASE", "6s"),
        ("PORTAL_MAIL_POLL_INTERVAL", "200ms"),
        ("PORTAL_MAIL_RETRY_MAX", "1s"),
    ];
    let Some(deployment) = Deployment::new(backend, &settings).await else { return };
    let deployment = Arc::new(deployment);
    let (server, key) = deployment.first_start().await;

    let clients = create_clients(&deployment, &key).await;

    // The burst: every invitation at once (IN_FLIGHT on the wire), and SIGKILL part-way.
    let accepted = Arc::new(AtomicUsize::new(0));
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut burst = JoinSet::new();
    for (n, client) in clients.iter().enumerate() {
        let (deployment, key, client) = (Arc::clone(&deployment), key.clone(), client.clone());
        let (accepted, permits) = (Arc::clone(&accepted), Arc::clone(&permits));
        burst.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore stays open");
            let sent = match deployment.send_invite(&key, &client).await {
                Ok(answer) if answer.status.is_success() => {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    Sent::Accepted
                }
                Ok(answer) => Sent::Refused(answer.status),
                Err(_) => Sent::NoAnswer,
            };
            (n, sent)
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(Ordering::SeqCst) < KILL_AFTER_ACCEPTED {
        assert!(Instant::now() < deadline, "only {} invitations accepted within 60 s", accepted.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (status, _) = server.kill().expect("SIGKILL");
    assert_eq!(status.code(), None, "killed by a signal: {status}");
    // A message whose last byte was on the wire at the kill may still be landing in the Maildir.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let delivered_before_restart: HashSet<String> =
        sink.received().iter().map(|raw| Email::parse(raw).expect("a message").message_id).collect();

    let mut outcomes: BTreeMap<usize, Sent> = BTreeMap::new();
    while let Some(joined) = burst.join_next().await {
        let (n, sent) = joined.expect("an invitation task");
        outcomes.insert(n, sent);
    }
    let count = |wanted: fn(&Sent) -> bool| outcomes.values().filter(|sent| wanted(sent)).count();
    let accepted_total = count(|sent| *sent == Sent::Accepted);
    let no_answer = count(|sent| *sent == Sent::NoAnswer);
    let refused: Vec<_> = outcomes.values().filter(|sent| matches!(sent, Sent::Refused(_))).collect();
    assert!(refused.is_empty(), "while it ran, the server refused invitations: {refused:?}");
    assert!(
        (KILL_AFTER_ACCEPTED..INVITES).contains(&accepted_total) && no_answer > 0,
        "the kill came part-way: {accepted_total} accepted, {no_answer} without an answer"
    );

    // The same database, a new process: it delivers what the killed one left.
    let restarted = deployment.start().await;
    let db = deployment.database().await;
    let by_address: HashMap<String, usize> = (0..INVITES).map(|n| (email_of(n), n)).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: HashSet<usize> = sink
            .received()
            .iter()
            .filter_map(|raw| by_address.get(&Email::parse(raw).expect("a message").to).copied())
            .collect();
        let undelivered =
            outcomes.iter().filter(|(n, sent)| **sent == Sent::Accepted && !delivered.contains(*n)).count();
        if undelivered == 0 && pending_mail(&db).await == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{undelivered} accepted invitations undelivered 60 s after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Time for a late duplicate to show itself before the books are closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, log) = restarted.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "the restarted server stops cleanly; log:\n{log}");

    // Every invitation is whole in the database: token, outbox row, audit event and the
    // account's pointer, all or nothing, whatever its request saw.
    let rows = invite_rows(&db).await;
    let mut answered_lost = 0;
    for (n, sent) in &outcomes {
        let written = rows.get(clients[*n].as_str()).cloned().unwrap_or_default();
        assert!(written.is_whole(), "client {n} ({sent:?}) has half an invitation: {written:?}");
        match sent {
            Sent::Accepted => assert_eq!(written.mails.len(), 1, "client {n}: accepted, so queued"),
            _ if !written.mails.is_empty() => answered_lost += 1,
            _ => {}
        }
    }

    // Every queued invitation went out (none pending or failed), each under the Message-ID its
    // outbox row gives it, to its own client.
    let mut row_of_message: HashMap<String, (uuid::Uuid, usize)> = HashMap::new();
    for (n, client) in clients.iter().enumerate() {
        for (id, _, status) in rows.get(client.as_str()).map(|written| written.mails.as_slice()).unwrap_or_default() {
            assert_eq!(status, "sent", "client {n}: mail {id}");
            row_of_message.insert(format!("{id}@portal.example.org"), (*id, n));
        }
    }
    let mut copies: HashMap<String, usize> = HashMap::new();
    for raw in sink.received() {
        let email = Email::parse(&raw).expect("a message");
        let (_, n) = row_of_message
            .get(&email.message_id)
            .unwrap_or_else(|| panic!("{} is no outbox row's Message-ID", email.message_id));
        assert_eq!(email.to, email_of(*n), "{} went to its own client", email.message_id);
        *copies.entry(email.message_id).or_default() += 1;
    }
    assert_eq!(copies.len(), row_of_message.len(), "every queued invitation was delivered");

    // One delivery runs at a time, so only the message being sent at the kill (on the relay,
    // not yet marked sent) may arrive again, and then under the same Message-ID.
    let duplicated: Vec<(&String, &usize)> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.len() <= 1, "more than the one message in flight was sent twice: {duplicated:?}");
    for (message_id, n) in &duplicated {
        assert_eq!(**n, 2, "{message_id}");
        assert!(delivered_before_restart.contains(*message_id), "{message_id}: first copy before the kill");
    }

    let received: usize = copies.values().sum();
    eprintln!(
        "kill -9 on {backend:?}: {INVITES} invitations, {accepted_total} answered 2xx before the kill, \
         {no_answer} without an answer ({answered_lost} of them committed all the same); \
         {} delivered before the kill, {} after the restart; {} delivered twice (same Message-ID)",
        delivered_before_restart.len(),
        received - delivered_before_restart.len(),
        duplicated.len(),
    );
}

/// Creates the clients (a few at a time), returning their ids by number.
async fn create_clients(deployment: &Arc<Deployment>, key: &str) -> Vec<String> {
    let permits = Arc::new(Semaphore::new(16));
    let mut created = JoinSet::new();
    for n in 0..INVITES {
        let (deployment, key, permits) = (Arc::clone(deployment), key.to_owned(), Arc::clone(&permits));
        created.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("the semaphore stays open");
            (n, deployment.create_client(&key, n).await)
        });
    }
    let mut ids = vec![String::new(); INVITES];
    while let Some(joined) = created.join_next().await {
        let (n, id) = joined.expect("a client task");
        ids[n] = id;
    }
    ids
}
