//! A small world for the tests: the core's service over the in-memory store with a manual clock,
//! a practice with a staff member, and builders for renderers and dispatchers.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use portal_core::service::{LinkSent, NewClient, PortalService, StaffContext};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    ClientId, DeliveryState, Directory, DisplayName, Language, LinkKey, MailTransport, OutgoingMail, Password, Policy,
    Practice, PracticeId, PracticeSlug, RequestContext, ScryptHasher, ScryptParams, StaffId, StaffMember, TimeZoneName,
    TokenHash,
};
use portal_mail::{Dispatcher, DispatcherConfig, MailFrom, Renderer};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// 2027-01-15 08:00 UTC, a Friday.
pub const T0: Timestamp = Timestamp::constant(1_800_000_000, 0);
pub const KEY: [u8; 32] = [9; 32];
pub const PUBLIC_URL: &str = "https://portal.example.org";

pub type Service = PortalService<InMemoryStore, ScryptHasher, Arc<ManualClock>, SeededRandom, InMemoryStore>;
pub type TestDispatcher<T> = Dispatcher<InMemoryStore, InMemoryStore, T, Arc<ManualClock>, SeededRandom>;

pub struct World {
    pub store: InMemoryStore,
    pub clock: Arc<ManualClock>,
    pub service: Service,
    pub practice: Practice,
    pub staff: StaffContext,
}

impl World {
    /// A practice "Sunrise Therapy" in America/Chicago with discreet mail on.
    pub async fn new() -> TestResult<Self> {
        Self::with_practice("America/Chicago", true).await
    }

    pub async fn with_practice(time_zone: &str, discreet_mail: bool) -> TestResult<Self> {
        let store = InMemoryStore::new();
        let clock = Arc::new(ManualClock::new(T0));
        let service = PortalService::new(
            store.clone(),
            store.clone(),
            ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS)?,
            Arc::clone(&clock),
            SeededRandom::new(1),
            Policy::default(),
            LinkKey::from_bytes(KEY),
        );
        let practice = Practice {
            id: PracticeId::from_uuid(uuid::Uuid::from_u128(0x5u128)),
            slug: PracticeSlug::parse("sunrise")?,
            name: DisplayName::parse("name", "Sunrise Therapy")?,
            time_zone: TimeZoneName::parse(time_zone)?,
            discreet_mail,
            settings: portal_core::PracticeSettings::default(),
            created_at: T0,
        };
        let staff = StaffMember {
            id: StaffId::from_uuid(uuid::Uuid::from_u128(0x57u128)),
            practice_id: practice.id,
            label: DisplayName::parse("label", "Front desk")?,
            created_at: T0,
        };
        store.create_practice(&practice, &staff, &TokenHash::of(b"pst_test")).await?;
        let staff = StaffContext { staff, request: RequestContext::default() };
        Ok(Self { store, clock, service, practice, staff })
    }

    pub async fn client(&self, name: &str, email: &str, language: Language) -> TestResult<ClientId> {
        let new = NewClient {
            name: name.into(),
            email: Some(email.into()),
            language: Some(language.code().into()),
            email_consent: None,
            date_of_birth: None,
        };
        Ok(self.service.create_client(&self.staff, new).await?.client.id)
    }

    pub async fn invite(&self, client: &ClientId) -> TestResult<LinkSent> {
        Ok(self.service.send_invite(&self.staff, client).await?)
    }

    /// Registers through an invitation link (as the client would).
    pub async fn register(&self, link_token: &str, username: &str) -> TestResult {
        let password = Password::new("correct horse battery staple, twice");
        self.service.register(link_token, username, &password, &RequestContext::default()).await?;
        Ok(())
    }

    /// Every outbox row with its delivery state, oldest first.
    pub fn outbox(&self) -> Vec<(OutgoingMail, DeliveryState)> {
        self.store.outbox()
    }

    pub fn state_of(&self, index: usize) -> DeliveryState {
        self.outbox()[index].1.clone()
    }

    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        self.clock.advance(by)
    }

    pub fn dispatcher<T: MailTransport>(&self, transport: T) -> TestDispatcher<T> {
        self.dispatcher_with(transport, DispatcherConfig::default())
    }

    pub fn dispatcher_with<T: MailTransport>(&self, transport: T, config: DispatcherConfig) -> TestDispatcher<T> {
        Dispatcher::new(
            self.store.clone(),
            self.store.clone(),
            transport,
            Arc::clone(&self.clock),
            SeededRandom::new(2),
            renderer(),
            LinkKey::from_bytes(KEY),
            config,
        )
        .expect("a valid dispatcher configuration")
    }
}

pub fn renderer() -> Renderer {
    Renderer::new(PUBLIC_URL, MailFrom::parse("no-reply@example.org").expect("a valid sender"))
        .expect("a valid public URL")
}

/// The token of the first link to `{PUBLIC_URL}/portal/{path}?token=` in `text`.
pub fn token_in(text: &str, path: &str) -> Option<String> {
    portal_testkit::token_after(text, &format!("{PUBLIC_URL}/portal/{path}?token="))
}

impl World {
    /// The delivery state of the mail that carried a token, as the staff view reads it.
    pub async fn store_delivery(&self, token: portal_core::TokenId) -> TestResult<Option<DeliveryState>> {
        use portal_core::MailOutbox as _;
        Ok(self.store.delivery_for_token(token).await?)
    }
}
