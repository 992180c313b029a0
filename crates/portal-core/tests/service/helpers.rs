use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::{SignedDuration, Timestamp};
use portal_core::ports::{MockPasswordHasher, PasswordHasher};
use portal_core::scrypt_hasher::{ScryptHasher, ScryptParams};
use portal_core::service::{NewClient, PortalService, StaffContext};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom, TestSealer};
use portal_core::{
    ClientId, LinkKey, MailKind, OutgoingMail, Password, PasswordHash, Policy, RequestContext, TimeZoneName,
    TokenPurpose,
};
use secrecy::ExposeSecret;

pub const GOOD_PASSWORD: &str = "correct horse battery staple";
pub const OTHER_PASSWORD: &str = "a completely different passphrase";

pub type Service<H = ScryptHasher> = PortalService<InMemoryStore, H, ManualClock, SeededRandom, InMemoryStore>;

pub struct World<H: PasswordHasher = ScryptHasher> {
    pub service: Service<H>,
    pub store: InMemoryStore,
    pub clock: ManualClock,
    pub staff: StaffContext,
    pub client: ClientId,
}

pub fn start() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

pub fn fast_hasher() -> ScryptHasher {
    ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap()
}

/// Makes `hasher` answer every `hash` with a distinct fake hash, and counts the calls.
pub fn numbered_hashes(hasher: &mut MockPasswordHasher) -> Arc<AtomicUsize> {
    let counter = Arc::new(AtomicUsize::new(0));
    let seen = counter.clone();
    hasher.expect_hash().returning(move |_| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::from_phc(format!("$scrypt$ln=4,r=8,p=1$salt{n}$hash{n}")))
    });
    counter
}

pub fn key() -> LinkKey {
    LinkKey::from_bytes([42; 32])
}

pub fn ctx() -> RequestContext {
    RequestContext { request_id: Some("req-1".into()), source_ip: Some([127, 0, 0, 1].into()) }
}

pub fn password(text: &str) -> Password {
    Password::new(text)
}

/// A practice, a staff member and one client with an email on file.
pub async fn world() -> World {
    world_with(fast_hasher()).await
}

/// A world whose service has no passkey relying party wired (as a host that wires none).
pub async fn world_without_passkeys() -> World {
    world_of(fast_hasher(), false).await
}

pub async fn world_with<H: PasswordHasher>(hasher: H) -> World<H> {
    world_of(hasher, true).await
}

async fn world_of<H: PasswordHasher>(hasher: H, passkeys: bool) -> World<H> {
    let store = InMemoryStore::default();
    let clock = ManualClock::new(start());
    let mut service = PortalService::new(
        store.clone(),
        store.clone(),
        hasher,
        clock.clone(),
        SeededRandom::new(7),
        Policy::default(),
        key(),
    )
    .with_bundled_records()
    .with_secret_sealer(Arc::new(TestSealer::new([9; 32])));
    if passkeys {
        service = service.with_passkeys(Arc::new(portal_core::testing::TestPasskeys::new()));
    }
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let staff = StaffContext { staff: created.staff, request: ctx() };
    let client = service
        .create_client(
            &staff,
            NewClient { name: "Ada Lovelace".into(), email: Some("ada@example.org".into()), ..Default::default() },
        )
        .await
        .unwrap()
        .client
        .id;
    World { service, store, clock, staff, client }
}

impl<H: PasswordHasher> World<H> {
    pub fn advance(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    /// Every queued mail, oldest first.
    pub fn mail(&self) -> Vec<OutgoingMail> {
        self.store.outbox().into_iter().map(|(mail, _)| mail).collect()
    }

    /// The link token text the latest mail of this purpose carries, derived as the dispatcher
    /// will derive it.
    pub fn latest_link(&self, purpose: TokenPurpose) -> String {
        let token_id = self
            .mail()
            .into_iter()
            .rev()
            .find_map(|mail| match (purpose, mail.kind) {
                (TokenPurpose::Invite, MailKind::Invitation { token_id, .. })
                | (TokenPurpose::Reset, MailKind::PasswordReset { token_id, .. }) => Some(token_id),
                _ => None,
            })
            .expect("a mail carrying a link");
        key().link_token(purpose, token_id).expose().expose_secret().to_owned()
    }

    /// Invite and register the client as `ada` with [`GOOD_PASSWORD`].
    pub async fn registered(&self) {
        self.service.send_invite(&self.staff, &self.client).await.unwrap();
        let link = self.latest_link(TokenPurpose::Invite);
        self.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    }
}
