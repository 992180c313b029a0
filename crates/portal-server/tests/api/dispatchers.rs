//! Several server processes may share one PostgreSQL database (design §4): two dispatchers, each
//! over its own connection pool, never send the same outbox row twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portal_core::service::{NewClient, PortalService, StaffContext};
use portal_core::{
    LinkKey, MailOutbox as _, MailTransport, OsRandom, Policy, RenderedEmail, ScryptHasher, ScryptParams, SystemClock,
    TimeZoneName, TransportError,
};
use portal_mail::{Dispatcher, DispatcherConfig, MailFrom, Renderer, SmtpConfig, SmtpTransport};

use portal_testkit::{Email, PgDatabase, SmtpSink};

const MAILS: usize = 60;
const KEY: [u8; 32] = [3; 32];

/// Counts what one dispatcher delivered, so the test can tell both took part.
struct Counting {
    inner: SmtpTransport,
    sent: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl MailTransport for Counting {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        self.inner.send(email).await?;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn dispatcher(
    store: portal_store::SeaOrmStore,
    sink: &SmtpSink,
    sent: &Arc<AtomicUsize>,
) -> Dispatcher<portal_store::SeaOrmStore, portal_store::SeaOrmStore, Counting, SystemClock, OsRandom> {
    let smtp = SmtpConfig::from_url(&sink.url()).expect("a URL");
    let renderer =
        Renderer::new("https://portal.example.org", MailFrom::parse("no-reply@portal.example.org").expect("a sender"))
            .expect("a renderer");
    // Small batches and a short poll, so both dispatchers claim many times while the other does.
    let config =
        DispatcherConfig { batch_size: 3, poll_interval: Duration::from_millis(20), ..DispatcherConfig::default() };
    let transport = Counting { inner: SmtpTransport::new(smtp).expect("a transport"), sent: Arc::clone(sent) };
    Dispatcher::new(store.clone(), store, transport, SystemClock, OsRandom, renderer, LinkKey::from_bytes(KEY), config)
        .expect("a dispatcher")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dispatchers_on_one_postgresql_database_never_send_a_row_twice() {
    let Some(database) = PgDatabase::create().await else { return };
    portal_mail::install_crypto_provider();
    let sink = SmtpSink::start();

    // Queue many invitations before either dispatcher runs.
    let store = portal_store::connect(database.url()).await.expect("the database");
    let service = PortalService::new(
        store.clone(),
        store.clone(),
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).expect("a hasher"),
        SystemClock,
        OsRandom,
        Policy::default(),
        LinkKey::from_bytes(KEY),
    );
    let created = service.create_practice("Sunrise Therapy", None, TimeZoneName::utc()).await.expect("a practice");
    let staff = StaffContext { staff: created.staff, request: Default::default() };
    for n in 0..MAILS {
        let new = NewClient {
            name: format!("Client {n}"),
            email: Some(format!("client{n}@example.org")),
            ..NewClient::default()
        };
        let client = service.create_client(&staff, new).await.expect("a client").client;
        service.send_invite(&staff, &client.id).await.expect("an invitation");
    }
    assert_eq!(store.pending_count().await.expect("a count"), MAILS as u64);

    // Two dispatchers, each with its own connection pool, as two server processes would have.
    let (sent_first, sent_second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let first = dispatcher(portal_store::connect(database.url()).await.expect("pool 1"), &sink, &sent_first);
    let second = dispatcher(portal_store::connect(database.url()).await.expect("pool 2"), &sink, &sent_second);
    let (first, second) = (first.spawn(), second.spawn());
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.pending_count().await.expect("a count") > 0 || sink.received().len() < MAILS {
        assert!(Instant::now() < deadline, "not everything was delivered within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a duplicate every chance to show up.
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.shutdown().await;
    second.shutdown().await;

    let mut copies: HashMap<String, usize> = HashMap::new();
    for raw in sink.received() {
        *copies.entry(Email::parse(&raw).expect("a message").message_id).or_default() += 1;
    }
    let duplicated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "sent more than once: {duplicated:?}");
    assert_eq!(copies.len(), MAILS, "every queued mail arrived exactly once");
    let (by_first, by_second) = (sent_first.load(Ordering::SeqCst), sent_second.load(Ordering::SeqCst));
    assert_eq!(by_first + by_second, MAILS);
    assert!(by_first > 0 && by_second > 0, "both dispatchers delivered: {by_first} + {by_second}");
}
