//! In-memory implementations of every port, for offline tests and for embedders that want to run
//! the whole credential lifecycle without a database or a mail server (a demo, a trial, an EHR's
//! own integration tests).
//!
//! - [`ManualClock`]: a [`Clock`] that moves only when told to.
//! - [`SeededRandom`]: a deterministic [`Randomness`]. **Not secure**: tests only.
//! - [`InMemoryStore`]: every storage port ([`Directory`], [`AccountStore`], [`SessionStore`],
//!   [`ThrottleStore`], [`AuditLog`], [`MailOutbox`]), so it is a [`PortalStore`](crate::PortalStore).
//! - [`RecordingTransport`]: a [`MailTransport`] that keeps what it was given and fails on request.
//!
//! Nothing here is durable: the state lives in memory and is gone when the last clone is
//! dropped. Within that limit these are real implementations, not mocks: the store keeps every
//! `# Errors` contract of the ports exactly as a database adapter must (optimistic concurrency,
//! all-or-nothing commits, unique usernames per practice, token voiding, outbox leases), so a
//! test that passes against it exercises the same rules the store crate's contract tests hold a
//! real database to. Lookups are linear scans: fine for tests and small offline use, not meant
//! for production volumes.
//!
//! Every type is cheap to [`Clone`]; clones share one state (an `Arc`), so a test can keep a
//! handle to inspect what the service under test did.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::account::PortalAccount;
use crate::ports::{
    AccountCommit, AccountStore, AuditLog, Clock, Directory, MailOutbox, MailTransport, Randomness, RandomnessError,
    RenderedEmail, SessionStore, StoreError, ThrottleStore, TransportError,
};
use crate::records::{
    AuditEvent, ClaimedMail, Client, DeliveryState, MailKind, OutgoingMail, Practice, Session, StaffMember,
    ThrottleState,
};
use crate::token::{IssuedToken, TokenHash, TokenPurpose, TokenState};
use crate::types::{
    AuditId, ClientId, DisplayName, EmailAddress, MailId, PracticeId, PracticeSlug, SessionId, TokenId, Username,
};

/// Locks a mutex, ignoring poisoning: every mutation below validates first and cannot panic
/// midway, so a poisoned lock never guards half-written state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------

/// A [`Clock`] whose time is set and advanced by the test. Clones share the same time.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::testing::ManualClock;
///
/// let clock = ManualClock::new(Timestamp::from_second(1_800_000_000)?);
/// let shared = clock.clone();
/// clock.advance(SignedDuration::from_hours(48));
/// assert_eq!(shared.now(), Timestamp::from_second(1_800_000_000 + 48 * 3600)?);
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// The current (manual) time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        *lock(&self.now)
    }

    /// Sets the time (it may move backwards, to test a store against a skewed clock).
    pub fn set(&self, at: Timestamp) {
        *lock(&self.now) = at;
    }

    /// Moves the time by `by` (negative moves it back) and returns the new time.
    ///
    /// # Panics
    /// When the result lies outside the range of [`Timestamp`]: a test bug, not a condition to
    /// handle.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = lock(&self.now);
        *now = now.checked_add(by).expect("ManualClock advanced beyond the range of Timestamp");
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Self::now(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// A deterministic [`Randomness`]: a SplitMix64 generator from a seed, so ids and secrets are the
/// same on every run. Clones share (and advance) one generator.
///
/// **NOT SECURE.** Its output is predictable by design. Use it only in tests and demos; a real
/// deployment uses [`OsRandom`](crate::OsRandom).
///
/// Each [`Randomness::fill`] call draws its bytes under one lock, so the sequence is
/// reproducible as long as the calls happen in the same order.
///
/// ```
/// use portal_core::Randomness;
/// use portal_core::testing::SeededRandom;
///
/// let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
/// SeededRandom::new(7).fill(&mut a)?;
/// SeededRandom::new(7).fill(&mut b)?;
/// assert_eq!(a, b);
/// # Ok::<(), portal_core::RandomnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: Arc<Mutex<u64>>,
}

impl SeededRandom {
    /// A generator started from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: Arc::new(Mutex::new(seed)) }
    }

    /// SplitMix64 (Steele, Lea and Flood, 2014): a full-period 64-bit generator with good
    /// statistical quality and no cryptographic strength whatsoever.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Randomness for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError> {
        let mut state = lock(&self.state);
        for chunk in dest.chunks_mut(8) {
            let bytes = Self::next(&mut state).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------------

/// One entry of a client's token history: every invite or reset token an account ever held,
/// with the state storage last saw it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The client whose account held the token.
    pub client_id: ClientId,
    /// The token as last committed (live or used).
    pub token: IssuedToken,
    /// When a later token of the same purpose (or a commit that dropped it, such as disable)
    /// voided it. A voided token never comes back.
    pub voided_at: Option<Timestamp>,
}

impl StoredToken {
    /// True when the token is neither used nor voided (it may still be expired: expiry is a
    /// comparison with `now`, not a state).
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.token.state == TokenState::Live && self.voided_at.is_none()
    }
}

/// What an address and a name are replaced with once a mail is delivered.
const PURGED_ADDRESS: &str = "purged@purged.invalid";
const PURGED_NAME: &str = "(purged)";

/// One outbox row.
#[derive(Debug, Clone)]
struct OutboxRow {
    /// The message; purged by `mark_sent` (see [`InMemoryStore`]).
    mail: OutgoingMail,
    /// The token the mail carried a link for, kept after the purge for the staff view.
    token_id: Option<TokenId>,
    delivery: DeliveryState,
    /// Held by a dispatcher until this instant.
    lease_until: Option<Timestamp>,
}

impl OutboxRow {
    fn queued(mail: OutgoingMail) -> Self {
        let delivery = DeliveryState::Pending { attempts: 0, next_attempt_at: mail.created_at, last_error: None };
        Self { token_id: mail.kind.token_id(), mail, delivery, lease_until: None }
    }

    /// Drops what was needed only to render the message: the recipient's address and name, and
    /// the token id inside the body (the link could be re-derived from it).
    fn purge(&mut self) {
        self.mail.to = EmailAddress::parse(PURGED_ADDRESS).expect("the purged address is a valid address");
        self.mail.recipient_name =
            DisplayName::parse("recipient", PURGED_NAME).expect("the purged name is a valid name");
        let nil = TokenId::from_uuid(uuid::Uuid::nil());
        self.mail.kind = match self.mail.kind {
            MailKind::Invitation { expires_at, .. } => MailKind::Invitation { token_id: nil, expires_at },
            MailKind::PasswordReset { expires_at, .. } => MailKind::PasswordReset { token_id: nil, expires_at },
            MailKind::PasswordChanged => MailKind::PasswordChanged,
        };
    }
}

/// Everything the store holds.
#[derive(Default)]
struct State {
    practices: HashMap<PracticeId, Practice>,
    staff_keys: HashMap<TokenHash, StaffMember>,
    clients: HashMap<ClientId, Client>,
    /// Stored accounts, at their stored version (`loaded version + 1`).
    accounts: HashMap<ClientId, PortalAccount>,
    /// Every token ever committed, in the order first seen.
    tokens: Vec<StoredToken>,
    sessions: HashMap<SessionId, Session>,
    throttle: HashMap<(PracticeId, String), ThrottleState>,
    outbox: Vec<OutboxRow>,
    audit: Vec<AuditEvent>,
    audit_ids: HashSet<AuditId>,
}

/// Fails with `Duplicate(what)` when an id is already `taken` or appears twice in `ids`.
fn check_unique<T: Copy + Eq + Hash>(
    ids: impl IntoIterator<Item = T>,
    taken: impl Fn(T) -> bool,
    what: &'static str,
) -> Result<(), StoreError> {
    let mut batch = HashSet::new();
    for id in ids {
        if taken(id) || !batch.insert(id) {
            return Err(StoreError::Duplicate(what));
        }
    }
    Ok(())
}

impl State {
    fn client_in(&self, practice: PracticeId, client: ClientId) -> Option<&Client> {
        self.clients.get(&client).filter(|c| c.practice_id == practice)
    }

    fn account_or_new(&self, practice: PracticeId, client: ClientId) -> PortalAccount {
        self.accounts.get(&client).cloned().unwrap_or_else(|| PortalAccount::new(practice, client))
    }

    fn check_new_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        check_unique(events.iter().map(|e| e.id), |id| self.audit_ids.contains(&id), "audit event")
    }

    fn check_new_mail(&self, mail: &[OutgoingMail]) -> Result<(), StoreError> {
        check_unique(mail.iter().map(|m| m.id), |id| self.outbox.iter().any(|row| row.mail.id == id), "mail")
    }

    fn push_audit(&mut self, events: impl IntoIterator<Item = AuditEvent>) {
        for event in events {
            self.audit_ids.insert(event.id);
            self.audit.push(event);
        }
    }

    /// A pending row by id; rows already sent or failed are final and ignore further reports.
    fn pending_row(&mut self, id: MailId) -> Option<&mut OutboxRow> {
        self.outbox.iter_mut().find(|row| row.mail.id == id && matches!(row.delivery, DeliveryState::Pending { .. }))
    }

    fn commit(&mut self, change: AccountCommit) -> Result<(), StoreError> {
        let AccountCommit { at, account, mail, audit, revoke_sessions, clear_throttle } = change;
        let (practice, client) = (account.practice_id(), account.client_id());

        // Validate everything first: nothing is written unless all of it can be.
        if self.client_in(practice, client).is_none() {
            return Err(StoreError::NotFound("client"));
        }
        let stored_version = self.accounts.get(&client).map_or(0, PortalAccount::version);
        if stored_version != account.version() {
            return Err(StoreError::Conflict);
        }
        let new_version =
            account.version().checked_add(1).ok_or_else(|| StoreError::Corrupt("version overflow".into()))?;
        if let Some(username) = account.username() {
            let taken = self.accounts.values().any(|other| {
                other.practice_id() == practice
                    && other.client_id() != client
                    && other.username().is_some_and(|u| u.as_str().eq_ignore_ascii_case(username.as_str()))
            });
            if taken {
                return Err(StoreError::UsernameTaken);
            }
        }
        let current: Vec<&IssuedToken> = [account.invite(), account.reset()].into_iter().flatten().collect();
        let foreign = |id: TokenId| self.tokens.iter().any(|t| t.token.id == id && t.client_id != client);
        check_unique(current.iter().map(|t| t.id), foreign, "token")?;
        self.check_new_mail(&mail)?;
        self.check_new_audit(&audit)?;

        let live: Vec<TokenId> = current.iter().filter(|t| t.state == TokenState::Live).map(|t| t.id).collect();

        // Write. Nothing below can fail.
        for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
            let keep = account.token(purpose).map(|t| t.id);
            self.tokens
                .iter_mut()
                .filter(|t| t.client_id == client && t.token.purpose == purpose && t.is_live())
                .filter(|t| Some(t.token.id) != keep)
                .for_each(|t| t.voided_at = Some(at));
        }
        for token in current {
            match self.tokens.iter_mut().find(|t| t.token.id == token.id) {
                Some(stored) => stored.token = token.clone(),
                None => self.tokens.push(StoredToken { client_id: client, token: token.clone(), voided_at: None }),
            }
        }
        if revoke_sessions {
            self.sessions.retain(|_, s| !(s.practice_id == practice && s.client_id == client));
        }
        if let Some(username) = account.username().filter(|_| clear_throttle) {
            self.throttle.remove(&(practice, username.as_str().to_owned()));
        }
        let disabled = matches!(account.state(), crate::AccountState::Disabled { .. });
        for row in self.outbox.iter_mut().filter(|row| row.mail.client_id == client) {
            let dead_link = row.mail.kind.token_id().is_some_and(|id| !live.contains(&id));
            if matches!(row.delivery, DeliveryState::Pending { .. }) && (disabled || dead_link) {
                let reason = if disabled { crate::MAIL_CANCELLED_DISABLED } else { crate::MAIL_CANCELLED_SUPERSEDED };
                row.delivery = DeliveryState::Failed { at, reason: reason.to_owned() };
            }
        }
        self.outbox.extend(mail.into_iter().map(OutboxRow::queued));
        self.push_audit(audit);
        let stored = PortalAccount::restore(
            practice,
            client,
            new_version,
            account.state().clone(),
            account.invite().cloned(),
            account.reset().cloned(),
        );
        self.accounts.insert(client, stored);
        Ok(())
    }
}

/// An in-memory, fully working [`PortalStore`](crate::PortalStore): practices, staff keys,
/// clients, accounts with their token history, sessions, throttle counters, the mail outbox and
/// the audit trail. Clones share one state.
///
/// It keeps every contract of the ports as a database would, including the ones the port docs
/// leave to the database itself: ids are primary keys (a reused mail, audit-event, client,
/// session or staff-key id is [`StoreError::Duplicate`]), and references must resolve (a
/// session or account of an unknown client is [`StoreError::NotFound`]`("client")`). Every
/// write validates first and then applies all of its effects under one lock, so it is atomic and
/// never half done.
///
/// **Outbox purge.** [`MailOutbox::mark_sent`] keeps the row's metadata for the staff view (id,
/// practice, client, language, kind, link expiry, creation time, delivery state, and the token
/// id in a separate column so [`MailOutbox::delivery_for_token`] keeps working) and replaces what
/// was needed only to render the message: the recipient address becomes
/// `purged@purged.invalid`, the recipient name `(purged)`, and the token id inside the kind the
/// nil id. Rows marked failed are not purged.
///
/// Not durable: everything is lost when the last clone is dropped.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::testing::{InMemoryStore, SeededRandom};
/// use portal_core::{
///     AccountCommit, AccountStore, Actor, AuditAction, AuditEvent, AuditId, Client, ClientId, Directory,
///     DisplayName, EmailAddress, IssuedToken, Language, MailId, MailKind, MailOutbox, OutgoingMail,
///     PortalStatus, Practice, PracticeId, PracticeSlug, RequestContext, StaffId, StaffMember, TimeZoneName,
///     TokenHash, TokenId, TokenPurpose, TokenState,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new();
/// let random = SeededRandom::new(7);
/// let now = Timestamp::from_second(1_800_000_000)?;
///
/// // A practice with its first staff key, and a client.
/// let practice = Practice {
///     id: PracticeId::generate(&random)?,
///     slug: PracticeSlug::parse("sunrise")?,
///     name: DisplayName::parse("name", "Sunrise Therapy")?,
///     time_zone: TimeZoneName::utc(),
///     discreet_mail: true,
///     created_at: now,
/// };
/// let label = DisplayName::parse("label", "Front desk")?;
/// let staff = StaffMember { id: StaffId::generate(&random)?, practice_id: practice.id, label, created_at: now };
/// store.create_practice(&practice, &staff, &TokenHash::of(b"pst_staff-key")).await?;
/// let client = Client {
///     id: ClientId::generate(&random)?,
///     practice_id: practice.id,
///     name: DisplayName::parse("name", "Ada Lovelace")?,
///     email: Some(EmailAddress::parse("ada@example.org")?),
///     language: Language::En,
///     email_consent: true,
///     created_at: now,
/// };
/// let created = AuditEvent {
///     id: AuditId::generate(&random)?,
///     at: now,
///     practice_id: practice.id,
///     client_id: Some(client.id),
///     actor: Actor::Staff { id: staff.id, label: staff.label.clone() },
///     action: AuditAction::ClientCreated,
///     failure: None,
///     detail: None,
///     context: RequestContext::default(),
/// };
/// store.create_client(&client, &created).await?;
///
/// // Invite the client: the account, its token and the mail carrying it in one commit.
/// let mut account = store.account(practice.id, client.id).await?;
/// assert_eq!(account.version(), 0);
/// let invite = IssuedToken {
///     id: TokenId::generate(&random)?,
///     purpose: TokenPurpose::Invite,
///     hash: TokenHash::of(b"link secret"),
///     issued_at: now,
///     expires_at: now + SignedDuration::from_hours(48),
///     state: TokenState::Live,
/// };
/// account.issue_invite(invite.clone())?;
/// let mail = OutgoingMail {
///     id: MailId::generate(&random)?,
///     practice_id: practice.id,
///     client_id: client.id,
///     to: EmailAddress::parse("ada@example.org")?,
///     recipient_name: client.name.clone(),
///     language: client.language,
///     kind: MailKind::Invitation { token_id: invite.id, expires_at: invite.expires_at },
///     created_at: now,
/// };
/// store
///     .commit(AccountCommit {
///         at: now,
///         account,
///         mail: vec![mail],
///         audit: vec![],
///         revoke_sessions: false,
///         clear_throttle: false,
///     })
///     .await?;
///
/// // Read it back.
/// let stored = store.account(practice.id, client.id).await?;
/// assert_eq!(stored.version(), 1);
/// assert!(matches!(stored.status(now), PortalStatus::Invited { .. }));
/// assert_eq!(store.account_by_token(TokenPurpose::Invite, &invite.hash).await?, Some(stored));
/// assert_eq!(store.pending_count().await?, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("InMemoryStore")
            .field("practices", &state.practices.len())
            .field("clients", &state.clients.len())
            .field("accounts", &state.accounts.len())
            .field("sessions", &state.sessions.len())
            .field("outbox", &state.outbox.len())
            .field("audit", &state.audit.len())
            .finish_non_exhaustive()
    }
}

impl InMemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` under the lock. Never awaits, so the lock is never held across an await point.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// Every outbox row, oldest first, with its delivery state (delivered rows are purged; see
    /// the type's documentation).
    #[must_use]
    pub fn outbox(&self) -> Vec<(OutgoingMail, DeliveryState)> {
        self.with(|s| s.outbox.iter().map(|row| (row.mail.clone(), row.delivery.clone())).collect())
    }

    /// Every audit event of every practice, in the order written.
    #[must_use]
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.with(|s| s.audit.clone())
    }

    /// Every stored (unrevoked) session, ordered by creation time then id.
    #[must_use]
    pub fn sessions(&self) -> Vec<Session> {
        let mut sessions: Vec<Session> = self.with(|s| s.sessions.values().cloned().collect());
        sessions.sort_by_key(|s| (s.created_at, s.id));
        sessions
    }

    /// The client's tokens that are neither used nor voided (possibly expired), oldest first.
    /// After any commit there is at most one per purpose.
    #[must_use]
    pub fn live_tokens(&self, client: ClientId) -> Vec<IssuedToken> {
        self.token_history(client).into_iter().filter(StoredToken::is_live).map(|t| t.token).collect()
    }

    /// Every token the client's account ever held, in the order first committed.
    #[must_use]
    pub fn token_history(&self, client: ClientId) -> Vec<StoredToken> {
        self.with(|s| s.tokens.iter().filter(|t| t.client_id == client).cloned().collect())
    }
}

#[async_trait]
impl Directory for InMemoryStore {
    async fn create_practice(
        &self,
        practice: &Practice,
        first_staff: &StaffMember,
        key_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.practices.values().any(|p| p.slug == practice.slug) {
                return Err(StoreError::Duplicate("slug"));
            }
            if s.practices.contains_key(&practice.id) {
                return Err(StoreError::Duplicate("practice"));
            }
            if first_staff.practice_id != practice.id && !s.practices.contains_key(&first_staff.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            if s.staff_keys.contains_key(key_hash) {
                return Err(StoreError::Duplicate("staff key"));
            }
            s.practices.insert(practice.id, practice.clone());
            s.staff_keys.insert(*key_hash, first_staff.clone());
            Ok(())
        })
    }

    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        Ok(self.with(|s| s.practices.values().find(|p| &p.slug == slug).cloned()))
    }

    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        Ok(self.with(|s| s.practices.get(&id).cloned()))
    }

    async fn practice_count(&self) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.practices.len() as u64))
    }

    async fn add_staff_key(&self, staff: &StaffMember, key_hash: &TokenHash) -> Result<(), StoreError> {
        self.with(|s| {
            if !s.practices.contains_key(&staff.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            if s.staff_keys.contains_key(key_hash) {
                return Err(StoreError::Duplicate("staff key"));
            }
            s.staff_keys.insert(*key_hash, staff.clone());
            Ok(())
        })
    }

    async fn staff_by_key_hash(&self, key_hash: &TokenHash) -> Result<Option<StaffMember>, StoreError> {
        Ok(self.with(|s| s.staff_keys.get(key_hash).cloned()))
    }

    async fn create_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if !s.practices.contains_key(&client.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            if s.clients.contains_key(&client.id) {
                return Err(StoreError::Duplicate("client"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.clients.insert(client.id, client.clone());
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn update_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if s.client_in(client.practice_id, client.id).is_none() {
                return Err(StoreError::NotFound("client"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            if let Some(stored) = s.clients.get_mut(&client.id) {
                stored.name = client.name.clone();
                stored.email = client.email.clone();
                stored.language = client.language;
                stored.email_consent = client.email_consent;
            }
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn client(&self, practice: PracticeId, id: ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.with(|s| s.client_in(practice, id).cloned()))
    }

    async fn list_clients(&self, practice: PracticeId) -> Result<Vec<(Client, PortalAccount)>, StoreError> {
        let mut clients: Vec<(Client, PortalAccount)> = self.with(|s| {
            s.clients
                .values()
                .filter(|c| c.practice_id == practice)
                .map(|c| (c.clone(), s.account_or_new(practice, c.id)))
                .collect()
        });
        // Byte order, as SQLite's default collation sorts.
        clients.sort_by(|(a, _), (b, _)| a.name.as_str().cmp(b.name.as_str()).then(a.id.cmp(&b.id)));
        Ok(clients)
    }
}

#[async_trait]
impl AccountStore for InMemoryStore {
    async fn account(&self, practice: PracticeId, client: ClientId) -> Result<PortalAccount, StoreError> {
        self.with(|s| {
            s.client_in(practice, client).ok_or(StoreError::NotFound("client"))?;
            Ok(s.account_or_new(practice, client))
        })
    }

    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError> {
        Ok(self.with(|s| {
            s.accounts
                .values()
                .find(|a| {
                    a.practice_id() == practice
                        && a.username().is_some_and(|u| u.as_str().eq_ignore_ascii_case(username.as_str()))
                })
                .cloned()
        }))
    }

    async fn account_by_token(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<PortalAccount>, StoreError> {
        Ok(self.with(|s| {
            let stored = s.tokens.iter().find(|t| t.token.purpose == purpose && t.token.hash.matches(hash))?;
            s.accounts.get(&stored.client_id).cloned()
        }))
    }

    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        self.with(|s| s.commit(change))
    }
}

#[async_trait]
impl SessionStore for InMemoryStore {
    async fn create_session(&self, session: &Session, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if s.client_in(session.practice_id, session.client_id).is_none() {
                return Err(StoreError::NotFound("client"));
            }
            let taken = s.sessions.contains_key(&session.id)
                || s.sessions.values().any(|other| other.token_hash.matches(&session.token_hash));
            if taken {
                return Err(StoreError::Duplicate("session"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.sessions.insert(session.id, session.clone());
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        Ok(self.with(|s| s.sessions.values().find(|session| session.token_hash.matches(hash)).cloned()))
    }

    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(session) = s.sessions.get_mut(&id) {
                session.last_seen_at = at;
            }
        });
        Ok(())
    }

    async fn revoke_session(&self, id: SessionId, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.sessions.remove(&id);
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }
}

#[async_trait]
impl ThrottleStore for InMemoryStore {
    async fn throttle(&self, practice: PracticeId, key: &str) -> Result<ThrottleState, StoreError> {
        Ok(self.with(|s| s.throttle.get(&(practice, key.to_owned())).copied().unwrap_or_default()))
    }

    async fn record_failure(
        &self,
        practice: PracticeId,
        key: &str,
        at: Timestamp,
    ) -> Result<ThrottleState, StoreError> {
        Ok(self.with(|s| {
            let counter = s.throttle.entry((practice, key.to_owned())).or_default();
            counter.failures = counter.failures.saturating_add(1);
            counter.last_failure_at = Some(at);
            *counter
        }))
    }

    async fn clear_throttle(&self, practice: PracticeId, key: &str) -> Result<(), StoreError> {
        self.with(|s| s.throttle.remove(&(practice, key.to_owned())));
        Ok(())
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_audit(events)?;
            s.push_audit(events.iter().cloned());
            Ok(())
        })
    }

    async fn trail(&self, practice: PracticeId, client: ClientId) -> Result<Vec<AuditEvent>, StoreError> {
        let mut trail: Vec<AuditEvent> = self.with(|s| {
            s.audit.iter().filter(|e| e.practice_id == practice && e.client_id == Some(client)).cloned().collect()
        });
        // Stable: events with the same time keep the order they were written in.
        trail.sort_by_key(|e| e.at);
        Ok(trail)
    }
}

#[async_trait]
impl MailOutbox for InMemoryStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        let lease_until = now.checked_add(lease).unwrap_or(Timestamp::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(self.with(|s| {
            let mut due: Vec<(Timestamp, usize)> = s
                .outbox
                .iter()
                .enumerate()
                .filter_map(|(index, row)| match row.delivery {
                    DeliveryState::Pending { next_attempt_at, .. }
                        if next_attempt_at <= now && row.lease_until.is_none_or(|until| until <= now) =>
                    {
                        Some((next_attempt_at, index))
                    }
                    _ => None,
                })
                .collect();
            due.sort_unstable();
            due.truncate(limit);
            due.into_iter()
                .filter_map(|(_, index)| {
                    let row = &mut s.outbox[index];
                    let DeliveryState::Pending { attempts, .. } = row.delivery else {
                        return None;
                    };
                    row.lease_until = Some(lease_until);
                    Some(ClaimedMail { mail: row.mail.clone(), attempts, lease_until })
                })
                .collect()
        }))
    }

    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                row.delivery = DeliveryState::Sent { at };
                row.lease_until = None;
                row.purge();
            }
        });
        Ok(())
    }

    async fn retry_later(&self, id: MailId, next_attempt_at: Timestamp, error: &str) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                if let DeliveryState::Pending { attempts, .. } = row.delivery {
                    row.delivery = DeliveryState::Pending {
                        attempts: attempts.saturating_add(1),
                        next_attempt_at,
                        last_error: Some(error.to_owned()),
                    };
                }
                row.lease_until = None;
            }
        });
        Ok(())
    }

    async fn mark_failed(&self, id: MailId, at: Timestamp, reason: &str) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(row) = s.pending_row(id) {
                row.delivery = DeliveryState::Failed { at, reason: reason.to_owned() };
                row.lease_until = None;
            }
        });
        Ok(())
    }

    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        Ok(self.with(|s| s.outbox.iter().rev().find(|row| row.token_id == Some(token)).map(|row| row.delivery.clone())))
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            s.outbox.iter().filter(|row| matches!(row.delivery, DeliveryState::Pending { .. })).count() as u64
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Transport
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Failure {
    Transient,
    Permanent,
}

#[derive(Debug, Default)]
struct TransportState {
    sent: Vec<RenderedEmail>,
    attempts: usize,
    failures: VecDeque<Failure>,
}

/// A [`MailTransport`] that delivers into a list instead of a mail server, and can be told to
/// fail the next sends (for dispatcher tests). Clones share the list.
///
/// ```
/// use portal_core::testing::RecordingTransport;
/// use portal_core::{MailTransport, RenderedEmail, TransportError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let transport = RecordingTransport::new();
/// let email = RenderedEmail {
///     message_id: "1@portal".into(),
///     from_name: "Sunrise Therapy".into(),
///     from_address: "no-reply@example.org".into(),
///     to: "ada@example.org".into(),
///     subject: "Your portal invitation".into(),
///     text: "…".into(),
///     html: "<p>…</p>".into(),
/// };
/// transport.fail_next_transient(1);
/// assert!(matches!(transport.send(&email).await, Err(TransportError::Transient(_))));
/// assert!(transport.send(&email).await.is_ok());
/// assert_eq!(transport.sent(), vec![email]);
/// assert_eq!(transport.attempts(), 2);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingTransport {
    state: Arc<Mutex<TransportState>>,
}

impl RecordingTransport {
    /// A transport that delivers everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` sends fail with [`TransportError::Transient`] (after any failures already
    /// queued).
    pub fn fail_next_transient(&self, n: usize) {
        lock(&self.state).failures.extend(std::iter::repeat_n(Failure::Transient, n));
    }

    /// The next `n` sends fail with [`TransportError::Permanent`] (after any failures already
    /// queued).
    pub fn fail_next_permanent(&self, n: usize) {
        lock(&self.state).failures.extend(std::iter::repeat_n(Failure::Permanent, n));
    }

    /// Every email delivered so far, in order (failed attempts are not included).
    #[must_use]
    pub fn sent(&self) -> Vec<RenderedEmail> {
        lock(&self.state).sent.clone()
    }

    /// How many times [`MailTransport::send`] was called, failures included.
    #[must_use]
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }
}

#[async_trait]
impl MailTransport for RecordingTransport {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        let mut state = lock(&self.state);
        state.attempts += 1;
        match state.failures.pop_front() {
            Some(Failure::Transient) => Err(TransportError::Transient("simulated temporary failure".into())),
            Some(Failure::Permanent) => Err(TransportError::Permanent("simulated permanent failure".into())),
            None => {
                state.sent.push(email.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::{AccountState, InviteRedeemRefused, PortalStatus};
    use crate::hashing::PasswordHash;
    use crate::ports::PortalStore;
    use crate::records::{Actor, AuditAction, RequestContext};
    use crate::types::{Language, StaffId, TimeZoneName};

    type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

    const T0: Timestamp = Timestamp::constant(1_800_000_000, 0);

    fn at(secs: i64) -> Timestamp {
        T0 + SignedDuration::from_secs(secs)
    }

    fn change(account: PortalAccount, at: Timestamp) -> AccountCommit {
        AccountCommit { at, account, mail: vec![], audit: vec![], revoke_sessions: false, clear_throttle: false }
    }

    /// A store with one practice and one client, plus builders for the values tests commit.
    struct World {
        store: InMemoryStore,
        random: SeededRandom,
        practice: Practice,
        client: Client,
    }

    impl World {
        async fn new() -> TestResult<Self> {
            let store = InMemoryStore::new();
            let random = SeededRandom::new(42);
            let practice = Practice {
                id: PracticeId::generate(&random)?,
                slug: PracticeSlug::parse("sunrise")?,
                name: DisplayName::parse("name", "Sunrise Therapy")?,
                time_zone: TimeZoneName::utc(),
                discreet_mail: false,
                created_at: T0,
            };
            let client = Client {
                id: ClientId::generate(&random)?,
                practice_id: practice.id,
                name: DisplayName::parse("name", "Ada Lovelace")?,
                email: Some(EmailAddress::parse("ada@example.org")?),
                language: Language::En,
                email_consent: true,
                created_at: T0,
            };
            let world = Self { store, random, practice, client };
            world
                .store
                .create_practice(&world.practice, &world.staff(world.practice.id)?, &TokenHash::of(b"key-1"))
                .await?;
            world
                .store
                .create_client(&world.client, &world.event(&world.client, AuditAction::ClientCreated, T0)?)
                .await?;
            Ok(world)
        }

        fn staff(&self, practice: PracticeId) -> TestResult<StaffMember> {
            let label = DisplayName::parse("label", "Front desk")?;
            Ok(StaffMember { id: StaffId::generate(&self.random)?, practice_id: practice, label, created_at: T0 })
        }

        async fn other_practice(&self, slug: &str) -> TestResult<Practice> {
            let practice = Practice {
                id: PracticeId::generate(&self.random)?,
                slug: PracticeSlug::parse(slug)?,
                name: DisplayName::parse("name", "Other Practice")?,
                ..self.practice.clone()
            };
            self.store.create_practice(&practice, &self.staff(practice.id)?, &TokenHash::of(slug.as_bytes())).await?;
            Ok(practice)
        }

        async fn add_client(&self, practice: PracticeId, name: &str) -> TestResult<Client> {
            let client = Client {
                id: ClientId::generate(&self.random)?,
                practice_id: practice,
                name: DisplayName::parse("name", name)?,
                ..self.client.clone()
            };
            self.store.create_client(&client, &self.event(&client, AuditAction::ClientCreated, T0)?).await?;
            Ok(client)
        }

        fn event(&self, client: &Client, action: AuditAction, at: Timestamp) -> TestResult<AuditEvent> {
            Ok(AuditEvent {
                id: AuditId::generate(&self.random)?,
                at,
                practice_id: client.practice_id,
                client_id: Some(client.id),
                actor: Actor::System,
                action,
                failure: None,
                detail: None,
                context: RequestContext::default(),
            })
        }

        fn token(&self, purpose: TokenPurpose, at: Timestamp) -> TestResult<IssuedToken> {
            let id = TokenId::generate(&self.random)?;
            Ok(IssuedToken {
                id,
                purpose,
                hash: TokenHash::of(id.as_uuid().as_bytes()),
                issued_at: at,
                expires_at: at + SignedDuration::from_hours(48),
                state: TokenState::Live,
            })
        }

        fn mail(&self, client: &Client, token: &IssuedToken, at: Timestamp) -> TestResult<OutgoingMail> {
            let (token_id, expires_at) = (token.id, token.expires_at);
            Ok(OutgoingMail {
                id: MailId::generate(&self.random)?,
                practice_id: client.practice_id,
                client_id: client.id,
                to: EmailAddress::parse("ada@example.org")?,
                recipient_name: client.name.clone(),
                language: client.language,
                kind: match token.purpose {
                    TokenPurpose::Invite => MailKind::Invitation { token_id, expires_at },
                    TokenPurpose::Reset => MailKind::PasswordReset { token_id, expires_at },
                },
                created_at: at,
            })
        }

        /// Sends (or resends) an invitation with its mail and audit event.
        async fn invite(&self, client: &Client, at: Timestamp) -> TestResult<IssuedToken> {
            let mut account = self.store.account(client.practice_id, client.id).await?;
            let action = if account.invite().is_some() { AuditAction::InviteResent } else { AuditAction::InviteSent };
            let token = self.token(TokenPurpose::Invite, at)?;
            account.issue_invite(token.clone())?;
            let commit = AccountCommit {
                mail: vec![self.mail(client, &token, at)?],
                audit: vec![self.event(client, action, at)?],
                ..change(account, at)
            };
            self.store.commit(commit).await?;
            Ok(token)
        }

        /// The registration commit for `client`, built on its stored account.
        async fn registration(
            &self,
            client: &Client,
            invite: &IssuedToken,
            username: &str,
            at: Timestamp,
        ) -> TestResult<AccountCommit> {
            let mut account = self.store.account(client.practice_id, client.id).await?;
            let hash = PasswordHash::from_phc("$scrypt$ln=4,r=8,p=1$x$y".into());
            account.register(&invite.hash, Username::parse(username)?, hash, at)?;
            Ok(AccountCommit { audit: vec![self.event(client, AuditAction::Registered, at)?], ..change(account, at) })
        }

        /// Invites and registers `client`.
        async fn register(&self, client: &Client, username: &str) -> TestResult {
            let invite = self.invite(client, at(0)).await?;
            self.store.commit(self.registration(client, &invite, username, at(60)).await?).await?;
            Ok(())
        }

        /// Sends a password reset with its mail.
        async fn reset(&self, client: &Client, at: Timestamp) -> TestResult<IssuedToken> {
            let mut account = self.store.account(client.practice_id, client.id).await?;
            let token = self.token(TokenPurpose::Reset, at)?;
            account.issue_reset(token.clone())?;
            let commit = AccountCommit {
                mail: vec![self.mail(client, &token, at)?],
                audit: vec![self.event(client, AuditAction::ResetSent, at)?],
                ..change(account, at)
            };
            self.store.commit(commit).await?;
            Ok(token)
        }

        fn session(&self, client: &Client, secret: &[u8], at: Timestamp) -> TestResult<Session> {
            Ok(Session {
                id: SessionId::generate(&self.random)?,
                token_hash: TokenHash::of(secret),
                practice_id: client.practice_id,
                client_id: client.id,
                created_at: at,
                last_seen_at: at,
            })
        }
    }

    #[test]
    fn the_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new(T0);
        let shared = clock.clone();
        assert_eq!(Clock::now(&shared), T0);
        assert_eq!(clock.advance(SignedDuration::from_secs(90)), at(90));
        assert_eq!(shared.now(), at(90));
        shared.set(at(-5));
        assert_eq!(clock.now(), at(-5));
        assert_eq!(clock.advance(SignedDuration::from_secs(-5)), at(-10));
    }

    #[test]
    fn seeded_random_repeats_per_seed_and_clones_share_one_stream() -> TestResult {
        let draw = |random: &SeededRandom| -> TestResult<[u8; 13]> {
            let mut bytes = [0u8; 13];
            random.fill(&mut bytes)?;
            Ok(bytes)
        };
        let random = SeededRandom::new(1);
        let first = draw(&random)?;
        assert_eq!(draw(&SeededRandom::new(1))?, first);
        assert_ne!(draw(&SeededRandom::new(2))?, first);
        let clone = random.clone();
        let second = draw(&clone)?;
        assert_ne!(second, first);
        let replay = SeededRandom::new(1);
        draw(&replay)?;
        assert_eq!(draw(&replay)?, second);
        Ok(())
    }

    #[tokio::test]
    async fn the_store_is_a_portal_store_and_clones_share_it() -> TestResult {
        fn needs_portal_store<T: PortalStore>(_: &T) {}
        let world = World::new().await?;
        needs_portal_store(&world.store);
        let clone = world.store.clone();
        world.add_client(world.practice.id, "Grace Hopper").await?;
        assert_eq!(clone.list_clients(world.practice.id).await?.len(), 2);
        Ok(())
    }

    #[tokio::test]
    async fn a_taken_slug_is_a_duplicate_and_writes_nothing() -> TestResult {
        let world = World::new().await?;
        let copy = Practice { id: PracticeId::generate(&world.random)?, ..world.practice.clone() };
        let result = world.store.create_practice(&copy, &world.staff(copy.id)?, &TokenHash::of(b"key-2")).await;
        assert!(matches!(result, Err(StoreError::Duplicate("slug"))), "{result:?}");
        assert_eq!(world.store.practice_count().await?, 1);
        assert_eq!(world.store.practice(copy.id).await?, None);
        assert_eq!(world.store.staff_by_key_hash(&TokenHash::of(b"key-2")).await?, None);
        assert_eq!(world.store.practice_by_slug(&world.practice.slug).await?, Some(world.practice.clone()));
        assert_eq!(world.store.practice(world.practice.id).await?, Some(world.practice.clone()));
        Ok(())
    }

    #[tokio::test]
    async fn staff_keys_need_their_practice_and_are_found_by_hash() -> TestResult {
        let world = World::new().await?;
        let stray = world.staff(PracticeId::generate(&world.random)?)?;
        let result = world.store.add_staff_key(&stray, &TokenHash::of(b"stray")).await;
        assert!(matches!(result, Err(StoreError::NotFound("practice"))), "{result:?}");
        assert_eq!(world.store.staff_by_key_hash(&TokenHash::of(b"stray")).await?, None);

        let second = world.staff(world.practice.id)?;
        world.store.add_staff_key(&second, &TokenHash::of(b"key-2")).await?;
        assert_eq!(world.store.staff_by_key_hash(&TokenHash::of(b"key-2")).await?, Some(second));
        assert!(world.store.staff_by_key_hash(&TokenHash::of(b"key-1")).await?.is_some());
        Ok(())
    }

    #[tokio::test]
    async fn a_client_belongs_to_one_practice() -> TestResult {
        let world = World::new().await?;
        let nowhere = PracticeId::generate(&world.random)?;
        let result = world.add_client(nowhere, "Nobody").await;
        assert!(result.is_err_and(|e| matches!(e.downcast_ref(), Some(StoreError::NotFound("practice")))));

        let other = world.other_practice("elsewhere").await?;
        let id = world.client.id;
        assert_eq!(world.store.client(other.id, id).await?, None);
        assert_eq!(world.store.client(world.practice.id, id).await?, Some(world.client.clone()));
        let result = world.store.account(other.id, id).await;
        assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");

        let foreign =
            Client { practice_id: other.id, name: DisplayName::parse("name", "Hijack")?, ..world.client.clone() };
        let event = world.event(&foreign, AuditAction::ClientUpdated, at(1))?;
        let result = world.store.update_client(&foreign, &event).await;
        assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");
        assert_eq!(world.store.client(world.practice.id, id).await?, Some(world.client.clone()));
        assert!(world.store.audit_events().iter().all(|e| e.id != event.id));

        let renamed = Client { name: DisplayName::parse("name", "Ada King")?, email: None, ..world.client.clone() };
        world.store.update_client(&renamed, &world.event(&renamed, AuditAction::ClientUpdated, at(2))?).await?;
        assert_eq!(world.store.client(world.practice.id, id).await?, Some(renamed));
        Ok(())
    }

    #[tokio::test]
    async fn clients_are_listed_by_name_then_id_with_their_accounts() -> TestResult {
        let world = World::new().await?;
        let zoe = world.add_client(world.practice.id, "Zoe").await?;
        let bob_1 = world.add_client(world.practice.id, "Bob").await?;
        let bob_2 = world.add_client(world.practice.id, "Bob").await?;
        let other = world.other_practice("elsewhere").await?;
        world.add_client(other.id, "Abe").await?;
        world.invite(&bob_2, at(0)).await?;

        let listed = world.store.list_clients(world.practice.id).await?;
        let (mut bobs, rest): (Vec<ClientId>, Vec<ClientId>) = (vec![bob_1.id, bob_2.id], vec![world.client.id]);
        bobs.sort();
        let expected: Vec<ClientId> = rest.into_iter().chain(bobs).chain([zoe.id]).collect();
        assert_eq!(listed.iter().map(|(c, _)| c.id).collect::<Vec<_>>(), expected);
        for (client, account) in &listed {
            assert_eq!(account.client_id(), client.id);
            let invited = client.id == bob_2.id;
            assert_eq!(account.version(), u64::from(invited));
            assert_eq!(matches!(account.status(at(1)), PortalStatus::Invited { .. }), invited);
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_never_stored_account_is_new_at_version_zero() -> TestResult {
        let world = World::new().await?;
        let account = world.store.account(world.practice.id, world.client.id).await?;
        assert_eq!(account, PortalAccount::new(world.practice.id, world.client.id));
        let unknown = ClientId::generate(&world.random)?;
        let result = world.store.account(world.practice.id, unknown).await;
        assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");
        Ok(())
    }

    #[tokio::test]
    async fn a_stale_version_conflicts_and_changes_nothing() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        world.invite(client, at(0)).await?;
        let mut first = world.store.account(world.practice.id, client.id).await?;
        let mut second = first.clone();
        assert_eq!(first.version(), 1);

        let winner = world.token(TokenPurpose::Invite, at(10))?;
        first.issue_invite(winner.clone())?;
        world.store.commit(change(first, at(10))).await?;

        let loser = world.token(TokenPurpose::Invite, at(11))?;
        second.issue_invite(loser.clone())?;
        let (outbox, audit) = (world.store.outbox(), world.store.audit_events());
        let stale = AccountCommit {
            mail: vec![world.mail(client, &loser, at(11))?],
            audit: vec![world.event(client, AuditAction::InviteResent, at(11))?],
            revoke_sessions: true,
            ..change(second, at(11))
        };
        let result = world.store.commit(stale).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");

        let stored = world.store.account(world.practice.id, client.id).await?;
        assert_eq!(stored.version(), 2);
        assert_eq!(stored.invite(), Some(&winner));
        assert_eq!(world.store.outbox(), outbox);
        assert_eq!(world.store.audit_events(), audit);
        assert_eq!(world.store.live_tokens(client.id), vec![winner]);
        assert!(world.store.token_history(client.id).iter().all(|t| t.token.id != loser.id));
        assert_eq!(world.store.account_by_token(TokenPurpose::Invite, &loser.hash).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_first_commit_conflicts_once_an_account_exists() -> TestResult {
        let world = World::new().await?;
        world.invite(&world.client, at(0)).await?;
        let mut fresh = PortalAccount::new(world.practice.id, world.client.id);
        fresh.issue_invite(world.token(TokenPurpose::Invite, at(5))?)?;
        let result = world.store.commit(change(fresh, at(5))).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(world.store.account(world.practice.id, world.client.id).await?.version(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_commit_for_an_unknown_or_foreign_client_is_not_found_and_writes_nothing() -> TestResult {
        let world = World::new().await?;
        let other = world.other_practice("elsewhere").await?;
        let audit = world.store.audit_events();
        for (practice, client) in [(world.practice.id, ClientId::generate(&world.random)?), (other.id, world.client.id)]
        {
            let mut account = PortalAccount::new(practice, client);
            let token = world.token(TokenPurpose::Invite, at(0))?;
            account.issue_invite(token.clone())?;
            let commit = AccountCommit {
                mail: vec![world.mail(&world.client, &token, at(0))?],
                audit: vec![world.event(&world.client, AuditAction::InviteSent, at(0))?],
                ..change(account, at(0))
            };
            let result = world.store.commit(commit).await;
            assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");
            assert_eq!(world.store.account_by_token(TokenPurpose::Invite, &token.hash).await?, None);
        }
        assert!(world.store.outbox().is_empty());
        assert_eq!(world.store.audit_events(), audit);
        assert_eq!(world.store.account(world.practice.id, world.client.id).await?.version(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_taken_username_is_refused_and_writes_no_mail_or_audit() -> TestResult {
        let world = World::new().await?;
        world.register(&world.client, "ada").await?;
        let grace = world.add_client(world.practice.id, "Grace Hopper").await?;
        let invite = world.invite(&grace, at(0)).await?;
        let before = world.store.account(world.practice.id, grace.id).await?;
        let (outbox, audit) = (world.store.outbox(), world.store.audit_events());

        let mut commit = world.registration(&grace, &invite, "ADA", at(60)).await?;
        commit.mail.push(world.mail(&grace, &invite, at(60))?);
        commit.clear_throttle = true;
        let result = world.store.commit(commit).await;
        assert!(matches!(result, Err(StoreError::UsernameTaken)), "{result:?}");
        assert_eq!(world.store.account(world.practice.id, grace.id).await?, before);
        assert_eq!(world.store.outbox(), outbox);
        assert_eq!(world.store.audit_events(), audit);
        assert_eq!(world.store.live_tokens(grace.id), vec![invite.clone()]);

        // The same name in another practice is someone else's.
        let other = world.other_practice("elsewhere").await?;
        let stranger = world.add_client(other.id, "Ada Byron").await?;
        world.register(&stranger, "ada").await?;
        let found = world.store.account_by_username(world.practice.id, &Username::parse("Ada")?).await?;
        assert_eq!(found.map(|a| a.client_id()), Some(world.client.id));
        let found = world.store.account_by_username(other.id, &Username::parse("ada")?).await?;
        assert_eq!(found.map(|a| a.client_id()), Some(stranger.id));
        assert_eq!(world.store.account_by_username(world.practice.id, &Username::parse("grace")?).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_resend_voids_the_previous_invite() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        let old = world.invite(client, at(0)).await?;
        let new = world.invite(client, at(60)).await?;

        let history = world.store.token_history(client.id);
        assert_eq!(history.len(), 2);
        assert_eq!((history[0].token.id, history[0].voided_at), (old.id, Some(at(60))));
        assert_eq!((history[1].token.id, history[1].voided_at), (new.id, None));
        assert_eq!(world.store.live_tokens(client.id), vec![new.clone()]);

        // The old link still finds the account, whose current invite is the new one.
        let account = world.store.account_by_token(TokenPurpose::Invite, &old.hash).await?;
        let account = account.ok_or("the voided token's account")?;
        assert_eq!(account.invite(), Some(&new));
        assert_eq!(account.check_invite(&old.hash, at(61)).err(), Some(InviteRedeemRefused::InviteNotFound));
        assert!(account.check_invite(&new.hash, at(61)).is_ok());
        assert_eq!(world.store.account_by_token(TokenPurpose::Reset, &new.hash).await?, None);
        assert_eq!(world.store.account_by_token(TokenPurpose::Invite, &TokenHash::of(b"never")).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn registration_uses_the_invite_and_disable_voids_the_pending_reset() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        world.register(client, "ada").await?;
        let history = world.store.token_history(client.id);
        assert_eq!(history.len(), 1);
        assert_eq!((history[0].token.state, history[0].voided_at), (TokenState::Used { at: at(60) }, None));
        assert!(world.store.live_tokens(client.id).is_empty());

        let reset = world.reset(client, at(120)).await?;
        assert_eq!(world.store.live_tokens(client.id), vec![reset.clone()]);
        let mut account = world.store.account(world.practice.id, client.id).await?;
        account.disable(None, at(180))?;
        world.store.commit(change(account, at(180))).await?;

        let stored = world.store.account(world.practice.id, client.id).await?;
        assert!(matches!(stored.state(), AccountState::Disabled { .. }));
        assert_eq!(stored.reset(), None);
        assert!(world.store.live_tokens(client.id).is_empty());
        let voided = world.store.token_history(client.id).into_iter().find(|t| t.token.id == reset.id);
        assert_eq!(voided.and_then(|t| t.voided_at), Some(at(180)));
        let by_token = world.store.account_by_token(TokenPurpose::Reset, &reset.hash).await?;
        assert_eq!(by_token, Some(stored));
        Ok(())
    }

    #[tokio::test]
    async fn a_commit_queues_mail_and_audit_and_revokes_sessions_and_clears_the_throttle() -> TestResult {
        let world = World::new().await?;
        let (client, practice) = (&world.client, world.practice.id);
        world.register(client, "ada").await?;
        let grace = world.add_client(practice, "Grace Hopper").await?;
        let event = |who: &Client| world.event(who, AuditAction::SignInSucceeded, at(100));
        world.store.create_session(&world.session(client, b"s1", at(100))?, &event(client)?).await?;
        world.store.create_session(&world.session(client, b"s2", at(100))?, &event(client)?).await?;
        let kept = world.session(&grace, b"s3", at(100))?;
        world.store.create_session(&kept, &event(&grace)?).await?;
        world.store.record_failure(practice, "ada", at(110)).await?;
        world.store.record_failure(practice, "grace", at(110)).await?;

        let mut account = world.store.account(practice, client.id).await?;
        account.disable(None, at(200))?;
        let disabled = world.event(client, AuditAction::AccountDisabled, at(200))?;
        let commit = AccountCommit {
            audit: vec![disabled.clone()],
            revoke_sessions: true,
            clear_throttle: true,
            ..change(account, at(200))
        };
        world.store.commit(commit).await?;

        assert_eq!(world.store.sessions(), vec![kept]);
        assert_eq!(world.store.session_by_token(&TokenHash::of(b"s1")).await?, None);
        assert_eq!(world.store.throttle(practice, "ada").await?, ThrottleState::default());
        assert_eq!(world.store.throttle(practice, "grace").await?.failures, 1);
        assert_eq!(world.store.audit_events().last(), Some(&disabled));

        // The invitation's mail was still queued when registration used its link, so that
        // commit cancelled it: a dead link is never mailed.
        let outbox = world.store.outbox();
        assert_eq!(outbox.len(), 1);
        let (mail, delivery) = &outbox[0];
        assert_eq!(mail.client_id, client.id);
        assert!(
            matches!(delivery, DeliveryState::Failed { reason, .. } if reason == crate::MAIL_CANCELLED_SUPERSEDED),
            "{delivery:?}"
        );
        assert_eq!(world.store.pending_count().await?, 0);
        Ok(())
    }

    #[tokio::test]
    async fn reused_ids_are_duplicates_and_write_nothing() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        let invite = world.invite(client, at(0)).await?;
        let queued = world.store.outbox()[0].0.clone();
        let mut account = world.store.account(world.practice.id, client.id).await?;
        let resend = world.token(TokenPurpose::Invite, at(5))?;
        account.issue_invite(resend.clone())?;
        let commit = AccountCommit { mail: vec![queued], ..change(account, at(5)) };
        let result = world.store.commit(commit).await;
        assert!(matches!(result, Err(StoreError::Duplicate("mail"))), "{result:?}");
        assert_eq!(world.store.live_tokens(client.id), vec![invite]);

        let event = world.event(client, AuditAction::SignInFailed, at(6))?;
        let result = world.store.append(&[event.clone(), event.clone()]).await;
        assert!(matches!(result, Err(StoreError::Duplicate("audit event"))), "{result:?}");
        assert!(!world.store.audit_events().contains(&event));
        world.store.append(std::slice::from_ref(&event)).await?;
        let result = world.store.append(&[event]).await;
        assert!(matches!(result, Err(StoreError::Duplicate("audit event"))), "{result:?}");
        Ok(())
    }

    #[tokio::test]
    async fn sessions_are_found_by_token_hash_touched_and_revoked() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        let session = world.session(client, b"bearer", at(0))?;
        world.store.create_session(&session, &world.event(client, AuditAction::SignInSucceeded, at(0))?).await?;
        assert_eq!(world.store.session_by_token(&TokenHash::of(b"bearer")).await?, Some(session.clone()));
        assert_eq!(world.store.session_by_token(&TokenHash::of(b"other")).await?, None);

        world.store.touch_session(session.id, at(30)).await?;
        let touched = world.store.session_by_token(&session.token_hash).await?;
        assert_eq!(touched.map(|s| (s.created_at, s.last_seen_at)), Some((at(0), at(30))));

        let signed_out = world.event(client, AuditAction::SignedOut, at(40))?;
        world.store.revoke_session(session.id, &signed_out).await?;
        assert_eq!(world.store.session_by_token(&session.token_hash).await?, None);
        assert!(world.store.sessions().is_empty());
        assert_eq!(world.store.audit_events().last(), Some(&signed_out));
        // A vanished session is not an error.
        world.store.touch_session(session.id, at(50)).await?;
        world.store.revoke_session(session.id, &world.event(client, AuditAction::SignedOut, at(50))?).await?;

        let stray = Session { client_id: ClientId::generate(&world.random)?, ..world.session(client, b"x", at(0))? };
        let result =
            world.store.create_session(&stray, &world.event(client, AuditAction::SignInSucceeded, at(0))?).await;
        assert!(matches!(result, Err(StoreError::NotFound("client"))), "{result:?}");
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_failures_are_all_counted_per_key() -> TestResult {
        let world = World::new().await?;
        let practice = world.practice.id;
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = world.store.clone();
                tokio::spawn(async move { store.record_failure(practice, "ada", at(i)).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let state = world.store.throttle(practice, "ada").await?;
        assert_eq!(state.failures, 64);
        assert!(state.last_failure_at.is_some());
        assert_eq!(world.store.throttle(practice, "grace").await?, ThrottleState::default());
        let other = world.other_practice("elsewhere").await?;
        assert_eq!(world.store.throttle(other.id, "ada").await?, ThrottleState::default());

        let next = world.store.record_failure(practice, "ada", at(100)).await?;
        assert_eq!(next, ThrottleState { failures: 65, last_failure_at: Some(at(100)) });
        world.store.clear_throttle(practice, "ada").await?;
        assert_eq!(world.store.throttle(practice, "ada").await?, ThrottleState::default());
        Ok(())
    }

    #[tokio::test]
    async fn the_trail_is_one_clients_events_oldest_first() -> TestResult {
        let world = World::new().await?;
        let client = &world.client;
        let grace = world.add_client(world.practice.id, "Grace Hopper").await?;
        world.invite(&grace, at(5)).await?;
        world.invite(client, at(10)).await?;
        let session = world.session(client, b"bearer", at(20))?;
        world.store.create_session(&session, &world.event(client, AuditAction::SignInSucceeded, at(20))?).await?;
        world.store.revoke_session(session.id, &world.event(client, AuditAction::SignedOut, at(30))?).await?;
        // Written late, but happened earlier (e.g. a failed sign-in logged after a retry).
        world.store.append(&[world.event(client, AuditAction::SignInFailed, at(15))?]).await?;

        let trail = world.store.trail(world.practice.id, client.id).await?;
        let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                AuditAction::ClientCreated,
                AuditAction::InviteSent,
                AuditAction::SignInFailed,
                AuditAction::SignInSucceeded,
                AuditAction::SignedOut
            ]
        );
        let other = world.other_practice("elsewhere").await?;
        assert!(world.store.trail(other.id, client.id).await?.is_empty());
        Ok(())
    }

    /// Three clients, each invited (so each with one queued mail) at 0 s, 10 s and 20 s.
    async fn three_invitations(world: &World) -> TestResult<Vec<IssuedToken>> {
        let mut tokens = vec![world.invite(&world.client, at(0)).await?];
        for (name, secs) in [("Grace Hopper", 10), ("Alan Turing", 20)] {
            let client = world.add_client(world.practice.id, name).await?;
            tokens.push(world.invite(&client, at(secs)).await?);
        }
        Ok(tokens)
    }

    fn mail_ids(claimed: &[ClaimedMail]) -> Vec<TokenId> {
        claimed.iter().filter_map(|c| c.mail.kind.token_id()).collect()
    }

    #[tokio::test]
    async fn a_claim_leases_due_rows_until_the_lease_lapses() -> TestResult {
        let world = World::new().await?;
        let tokens = three_invitations(&world).await?;
        let ids: Vec<TokenId> = tokens.iter().map(|t| t.id).collect();
        let lease = SignedDuration::from_secs(60);

        let claimed = world.store.claim_due(at(5), lease, 10).await?;
        assert_eq!(mail_ids(&claimed), ids[..1]);
        assert_eq!((claimed[0].attempts, claimed[0].lease_until), (0, at(65)));
        // Leased rows are skipped; the limit is kept; the earliest due goes first.
        assert_eq!(mail_ids(&world.store.claim_due(at(30), lease, 1).await?), ids[1..2]);
        assert_eq!(mail_ids(&world.store.claim_due(at(30), lease, 10).await?), ids[2..]);
        assert!(world.store.claim_due(at(64), lease, 10).await?.is_empty());
        // A lapsed lease (lease_until <= now) frees the row for another dispatcher.
        let reclaimed = world.store.claim_due(at(65), lease, 10).await?;
        assert_eq!(mail_ids(&reclaimed), ids[..1]);
        assert_eq!(reclaimed[0].lease_until, at(125));
        assert_eq!(world.store.pending_count().await?, 3);
        Ok(())
    }

    #[tokio::test]
    async fn retry_later_counts_the_attempt_and_releases_the_lease() -> TestResult {
        let world = World::new().await?;
        let token = world.invite(&world.client, at(0)).await?;
        let lease = SignedDuration::from_secs(60);
        let claimed = world.store.claim_due(at(1), lease, 10).await?;
        let id = claimed[0].mail.id;
        world.store.retry_later(id, at(300), "connection refused").await?;

        let expected = DeliveryState::Pending {
            attempts: 1,
            next_attempt_at: at(300),
            last_error: Some("connection refused".into()),
        };
        assert_eq!(world.store.delivery_for_token(token.id).await?, Some(expected));
        assert!(world.store.claim_due(at(299), lease, 10).await?.is_empty());
        let again = world.store.claim_due(at(300), lease, 10).await?;
        assert_eq!((again[0].mail.id, again[0].attempts), (id, 1));
        Ok(())
    }

    #[tokio::test]
    async fn a_sent_mail_is_purged_and_never_claimed_again() -> TestResult {
        let world = World::new().await?;
        let token = world.invite(&world.client, at(0)).await?;
        let claimed = world.store.claim_due(at(1), SignedDuration::from_secs(60), 10).await?;
        let original = claimed[0].mail.clone();
        world.store.mark_sent(original.id, at(2)).await?;

        assert_eq!(world.store.delivery_for_token(token.id).await?, Some(DeliveryState::Sent { at: at(2) }));
        assert_eq!(world.store.pending_count().await?, 0);
        assert!(world.store.claim_due(at(10_000), SignedDuration::from_secs(60), 10).await?.is_empty());
        let (purged, _) = world.store.outbox().remove(0);
        assert_eq!(purged.to.as_str(), PURGED_ADDRESS);
        assert_eq!(purged.recipient_name.as_str(), PURGED_NAME);
        let nil = TokenId::from_uuid(uuid::Uuid::nil());
        assert_eq!(purged.kind, MailKind::Invitation { token_id: nil, expires_at: token.expires_at });
        assert_eq!(
            (purged.id, purged.practice_id, purged.client_id, purged.language, purged.created_at),
            (original.id, original.practice_id, original.client_id, original.language, original.created_at)
        );

        // Late reports about a finished row change nothing.
        world.store.retry_later(original.id, at(20), "late").await?;
        world.store.mark_failed(original.id, at(20), "late").await?;
        assert_eq!(world.store.delivery_for_token(token.id).await?, Some(DeliveryState::Sent { at: at(2) }));
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_mail_is_final() -> TestResult {
        let world = World::new().await?;
        let token = world.invite(&world.client, at(0)).await?;
        let claimed = world.store.claim_due(at(1), SignedDuration::from_secs(60), 10).await?;
        world.store.mark_failed(claimed[0].mail.id, at(2), "550 mailbox unavailable").await?;

        let failed = DeliveryState::Failed { at: at(2), reason: "550 mailbox unavailable".into() };
        assert_eq!(world.store.delivery_for_token(token.id).await?, Some(failed));
        assert_eq!(world.store.pending_count().await?, 0);
        assert!(world.store.claim_due(at(10_000), SignedDuration::from_secs(60), 10).await?.is_empty());
        assert_eq!(world.store.delivery_for_token(TokenId::generate(&world.random)?).await?, None);
        Ok(())
    }

    #[tokio::test]
    async fn the_recording_transport_records_and_fails_on_request() -> TestResult {
        let transport = RecordingTransport::new();
        let email = RenderedEmail {
            message_id: "1@portal".into(),
            from_name: "Sunrise Therapy".into(),
            from_address: "no-reply@example.org".into(),
            to: "ada@example.org".into(),
            subject: "Your invitation".into(),
            text: "secret link".into(),
            html: "<a>secret link</a>".into(),
        };
        transport.fail_next_permanent(1);
        transport.fail_next_transient(2);
        let shared = transport.clone();
        assert!(matches!(shared.send(&email).await, Err(TransportError::Permanent(_))));
        for _ in 0..2 {
            let error = shared.send(&email).await.err().ok_or("a transient failure")?;
            assert!(matches!(error, TransportError::Transient(_)));
            assert!(!error.to_string().contains("secret link"));
        }
        assert!(transport.sent().is_empty());
        shared.send(&email).await?;
        assert_eq!(transport.sent(), vec![email]);
        assert_eq!(transport.attempts(), 4);
        Ok(())
    }
}
