//! `spawn_app()` and friends.
#![allow(dead_code)] // Helpers are shared by test modules that each use some of them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::{EndpointExt, Response};
use portal_core::service::PortalService;
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    Clock, DynPortalService, LinkKey, PasswordHasher, Policy, PortalStore, Randomness, ScryptHasher, ScryptParams,
    TimeZoneName,
};
use portal_http::{BlockingHasher, HttpConfig, app};

pub type Client = TestClient<BoxEndpoint<'static, Response>>;

/// A running application over fresh in-memory adapters.
pub struct TestApp {
    pub client: Client,
    pub service: Arc<DynPortalService>,
    pub store: InMemoryStore,
    pub clock: Arc<ManualClock>,
    pub hasher: Arc<BlockingHasher>,
    pub mail_wakeups: Arc<AtomicUsize>,
    /// The first practice's slug and staff key.
    pub slug: String,
    pub staff_key: String,
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(HttpConfig::default()).await
}

pub async fn spawn_app_with(config: HttpConfig) -> TestApp {
    spawn_app_over(Arc::new(InMemoryStore::new()), InMemoryStore::new(), config).await
}

/// `store` is what the service uses; `memory` is the in-memory store behind it (for peeking).
pub async fn spawn_app_over(store: Arc<dyn PortalStore>, memory: InMemoryStore, config: HttpConfig) -> TestApp {
    let clock = Arc::new(ManualClock::new(t0()));
    let hasher = Arc::new(BlockingHasher::new(
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(),
        config.hash_permits,
        config.hash_queue,
    ));
    let service: Arc<DynPortalService> = Arc::new(PortalService::new(
        store,
        Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
        Arc::clone(&clock) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(7)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([9; 32]),
    ));
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let mail_wakeups = Arc::new(AtomicUsize::new(0));
    let wakeups = Arc::clone(&mail_wakeups);
    let endpoint = app(
        Arc::clone(&service),
        config,
        Arc::new(move || {
            wakeups.fetch_add(1, Ordering::SeqCst);
        }),
        &hasher,
    );
    use secrecy::ExposeSecret as _;
    TestApp {
        client: TestClient::new(endpoint.boxed()),
        service,
        store: memory,
        clock,
        hasher,
        mail_wakeups,
        slug: created.practice.slug.as_str().to_owned(),
        staff_key: created.staff_key.expose().expose_secret().to_owned(),
    }
}
