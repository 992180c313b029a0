//! Ports: what the core needs from the outside world. Adapters implement them; the service is
//! generic over them. Each method's `# Errors` section is a contract every adapter MUST keep;
//! `portal_core::testing` holds an in-memory implementation that keeps it, and the store crate's
//! contract tests hold real databases to the same rules.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::account::PortalAccount;
use crate::client_list::{ClientListQuery, ClientPage};
use crate::delivery::DeliveryProblem;
use crate::hashing::{HashError, PasswordHash, Verification};
use crate::records::{
    AccountPanel, AuditEvent, ClaimedMail, Client, DeliveryState, OutgoingMail, Practice, Session, StaffMember,
    ThrottleState,
};
use crate::token::{TokenHash, TokenPurpose};
use crate::types::{ClientId, MailId, Password, PracticeId, PracticeSlug, SessionId, TokenId, Username};

/// Boxed error source for adapter failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The current time. The only way the core learns it.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The OS random source was unavailable.
#[derive(Debug, thiserror::Error)]
#[error("the random source is unavailable")]
pub struct RandomnessError(#[source] pub BoxError);

/// Cryptographically secure randomness: token ids, session secrets, staff keys, record ids.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait Randomness: Send + Sync + 'static {
    /// Fills `dest` with random bytes.
    ///
    /// # Errors
    /// MUST fail rather than return predictable bytes when no secure source is available.
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError>;
}

/// Password hashing. Async so an adapter can run the CPU-heavy work on a bounded blocking pool.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    /// Hashes a new password with the current parameters.
    ///
    /// # Errors
    /// [`HashError::Saturated`] when the pool is full (callers answer "retry later"),
    /// [`HashError::Failed`] otherwise. Never includes the password in an error.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Checks a password against a stored hash, in constant time with respect to the password.
    ///
    /// # Errors
    /// [`HashError::ParametersOutOfBounds`] MUST be returned *before doing any work* when the
    /// stored parameters exceed the hasher's bounds; [`HashError::Malformed`] for an unreadable
    /// hash; `Saturated` / `Failed` as for [`PasswordHasher::hash`].
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<Verification, HashError>;

    /// Spends the same work as a real verification and discards the result, so an unknown
    /// username takes as long as a wrong password.
    ///
    /// # Errors
    /// `Saturated` / `Failed` as for [`PasswordHasher::hash`].
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError>;
}

/// Storage failures every store method may report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record changed since it was loaded (optimistic concurrency): reload and retry, or
    /// report a conflict. Never a silent overwrite.
    #[error("the record was changed concurrently")]
    Conflict,
    /// The username is taken within the practice (case-insensitive).
    #[error("the username is already taken in this practice")]
    UsernameTaken,
    /// A unique key other than the username already exists (e.g. a practice slug).
    #[error("a record with the same {0} already exists")]
    Duplicate(&'static str),
    /// A referenced record does not exist (e.g. the client of an account).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database could not be reached or failed.
    #[error("the store is unavailable")]
    Unavailable(#[source] BoxError),
    /// A stored row could not be turned back into a domain value.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

/// The host's client records, read-only (design §7: the host owns clients, the portal owns
/// credentials). An EHR implements it over its own patients; the bundled server's client table
/// is the embedded default. The portal reads a client when staff act on it and when its mail is
/// rendered, and never copies the name or the email into its own tables beyond the delivery of
/// one message.
///
/// Ids are the host's own ([`ClientId`]); a client of another practice MUST read as absent.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait ClientDirectory: Send + Sync + 'static {
    /// A client, only if it belongs to `practice` (another practice's client is `None`).
    ///
    /// # Errors
    /// Only infrastructure failures ([`StoreError::Unavailable`] when the host's records cannot
    /// be read); absence is `Ok(None)`.
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// The clients of `practice` among `ids`, in any order, each at most once; ids that are
    /// unknown or belong to another practice are left out. Callers pass at most a few hundred
    /// ids.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError>;
}

/// Practices, staff keys, and the bundled server's own client records (create, change, list).
/// A host that owns its clients uses only the practice and staff part; the portal reads clients
/// through [`ClientDirectory`].
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    /// Creates a practice with its first staff key.
    ///
    /// # Errors
    /// MUST return [`StoreError::Duplicate`]`("slug")` when the slug is taken, writing nothing.
    async fn create_practice(
        &self,
        practice: &Practice,
        first_staff: &StaffMember,
        key_hash: &TokenHash,
    ) -> Result<(), StoreError>;

    /// A practice by slug.
    ///
    /// # Errors
    /// Only infrastructure failures; absence is `Ok(None)`.
    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError>;

    /// A practice by id.
    ///
    /// # Errors
    /// Only infrastructure failures; absence is `Ok(None)`.
    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError>;

    /// Replaces a practice's name, time zone, mail discretion and settings, with the audit
    /// event recording the change, atomically. The slug and id never change.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]`("practice")` when no such practice exists, writing nothing.
    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError>;

    /// How many practices exist (the server bootstraps the first one on an empty database).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn practice_count(&self) -> Result<u64, StoreError>;

    /// Creates a client and its audit event atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]`("practice")` when the practice does not exist.
    async fn create_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Creates many bundled clients with their audit events (an import) in **one transaction**,
    /// all or none: at most a few thousand ([`IMPORT_BATCH`](crate::service::IMPORT_BATCH)).
    ///
    /// # Errors
    /// MUST return [`StoreError::Duplicate`]`("client")` when a client id is taken in its
    /// practice or repeated, and [`StoreError::NotFound`]`("practice")` when a practice does not
    /// exist, writing nothing either way.
    async fn import_clients(&self, clients: &[Client], audit: &[AuditEvent]) -> Result<(), StoreError>;

    /// Replaces a client's name, email, language and consent, with its audit event, atomically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]`("client")` when no such client exists in that practice.
    async fn update_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError>;

    /// One page of a practice's bundled clients, each with its portal account (a never-stored
    /// account is [`PortalAccount::new`]), in list order ([`ListPosition`](crate::ListPosition): the
    /// [`search_key`](crate::search_key) of the name, then the id, byte by byte).
    ///
    /// The rows are those of `practice` that match `query.search` (a prefix of the name key or
    /// the email key), whose [`PortalAccount::status`] at `now` is of the kind
    /// `query.status`, and that lie beyond `query.cursor`
    /// ([`ClientListQuery::is_beyond_cursor`]). An adapter fetches up to
    /// [`PageSize::fetch`](crate::PageSize::fetch) of them in the order of reading
    /// ([`ClientListQuery::direction`]) and hands them to [`ClientPage::from_fetched`], so every
    /// store builds pages alike. It SHOULD answer in one query that an index serves, filters
    /// included, however many clients the practice has.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn list_clients(
        &self,
        practice: PracticeId,
        query: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError>;

    /// One bundled client with its portal panel ([`AccountPanel`]): what the staff's client
    /// profile reads, for a server whose client records are in this store. `None` when the
    /// client is not in the practice's bundled records. An adapter SHOULD answer in one query.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn client_panel(
        &self,
        practice: PracticeId,
        id: &ClientId,
    ) -> Result<Option<(Client, AccountPanel)>, StoreError>;
}

/// Everything one account change writes, committed atomically.
#[derive(Debug, Clone)]
pub struct AccountCommit {
    /// When the change happened (used to stamp voided tokens and revoked sessions).
    pub at: Timestamp,
    /// The new account value; `account.version()` is the version it was loaded at.
    pub account: PortalAccount,
    /// Mail caused by the change, queued in the same transaction.
    pub mail: Vec<OutgoingMail>,
    /// Audit events, in the same transaction.
    pub audit: Vec<AuditEvent>,
    /// Revoke every session of the client (disable, reset) in the same transaction.
    pub revoke_sessions: bool,
    /// Clear the sign-in throttle for the account's username (staff acted, or a reset).
    pub clear_throttle: bool,
}

/// What a serialised change ([`AccountStore::update_account`]) decided, given the account as
/// stored.
#[derive(Debug, Clone)]
pub enum AccountDecision {
    /// Commit this change (as [`AccountStore::commit`] would) before the account is unlocked.
    /// Boxed: a change is large and `Leave` is empty.
    Commit(Box<AccountCommit>),
    /// Write nothing: the rules refused the change, or there is nothing to do.
    Leave,
}

/// The detail of a queued mail cancelled because its account was disabled (design §2: a
/// disabled account receives no portal mail at all); its cause is
/// [`DeliveryCause::CancelledAccountDisabled`].
///
/// [`DeliveryCause::CancelledAccountDisabled`]: crate::DeliveryCause::CancelledAccountDisabled
pub const MAIL_CANCELLED_DISABLED: &str = "cancelled: the portal account was disabled";
/// The detail of a queued mail cancelled because its link was replaced (resend, new reset) or
/// used; its cause is [`DeliveryCause::CancelledLinkSuperseded`].
///
/// [`DeliveryCause::CancelledLinkSuperseded`]: crate::DeliveryCause::CancelledLinkSuperseded
pub const MAIL_CANCELLED_SUPERSEDED: &str = "cancelled: the link it carried was replaced or used";

/// An invitation whose reminder is due, as [`AccountStore::due_invitation_reminders`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueReminder {
    /// The practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_id: ClientId,
    /// The invitation's token.
    pub token_id: TokenId,
}

/// Portal accounts and their tokens.
///
/// Not mocked (mockall cannot mock the closure [`AccountStore::update_account`] takes): tests
/// use `portal_core::testing::InMemoryStore`, which keeps the whole contract.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account of a client; [`PortalAccount::new`] (version 0) when none was stored. The
    /// store does not know the host's clients: whether the client exists is the
    /// [`ClientDirectory`]'s answer.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn account(&self, practice: PracticeId, client: &ClientId) -> Result<PortalAccount, StoreError>;

    /// The stored accounts of `practice` among `clients`, each with its current tokens, in any
    /// order, each at most once; a client with no stored account is left out (its state is
    /// [`PortalAccount::new`]).
    /// For a host's client lists: callers pass at most 500 ids, and an adapter SHOULD answer
    /// in one query.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn accounts(&self, practice: PracticeId, clients: &[ClientId]) -> Result<Vec<PortalAccount>, StoreError>;

    /// A client's account with the delivery of the latest mail that carried each of its
    /// current links ([`AccountPanel`]): the portal panel of a client whose record the host
    /// keeps. A client with no stored account has [`PortalAccount::new`] and no deliveries. An
    /// adapter SHOULD answer in one query.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn account_panel(&self, practice: PracticeId, client: &ClientId) -> Result<AccountPanel, StoreError>;

    /// The registered account with this username in the practice (case-insensitive).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError>;

    /// The account that was ever issued a token of this purpose with this hash (live, used or
    /// voided: the domain decides what that means).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn account_by_token(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<PortalAccount>, StoreError>;

    /// Saves an account change: the account (as `version + 1`), every token it holds, the
    /// mail, the audit events, and the session revocation, in **one transaction**. Any token of
    /// the same account and purpose that is live in storage but is not the account's current
    /// token is marked voided at `at`.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] and write nothing when the stored version is not
    /// `account.version()` (or, for version 0, when an account row already exists).
    /// MUST return [`StoreError::UsernameTaken`] and write nothing when another account of the
    /// practice has the same username. A failure midway MUST leave nothing written.
    ///
    /// In the same transaction, pending mail of the client that must no longer go out is marked
    /// failed (and purged of its recipient): every pending mail when the committed account is
    /// disabled, as [`DeliveryCause::CancelledAccountDisabled`] with the detail
    /// [`MAIL_CANCELLED_DISABLED`]; otherwise every pending mail that carries a token other than
    /// the account's live tokens, as [`DeliveryCause::CancelledLinkSuperseded`] with the detail
    /// [`MAIL_CANCELLED_SUPERSEDED`].
    ///
    /// A token's `reminder` is written when the stored token has none yet, and never changed
    /// afterwards.
    ///
    /// [`DeliveryCause::CancelledAccountDisabled`]: crate::DeliveryCause::CancelledAccountDisabled
    /// [`DeliveryCause::CancelledLinkSuperseded`]: crate::DeliveryCause::CancelledLinkSuperseded
    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError>;

    /// Up to `limit` invitations due their reminder at `now`, soonest expiry first: live invite
    /// tokens (unused, not voided) that their account still holds as its invitation, the
    /// account without credentials (no account yet), the token without a reminder
    /// ([`IssuedToken::reminder`](crate::IssuedToken) is `None`), its practice with a reminder
    /// lead ([`PracticeSettings::invitation_reminder`](crate::PracticeSettings::invitation_reminder)),
    /// and `expires_at - lead <= now < expires_at`. A candidate list only: the service checks
    /// each again on the account under its lock before it queues anything. It SHOULD be one
    /// query that an index serves, however many tokens are stored.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn due_invitation_reminders(&self, now: Timestamp, limit: u32) -> Result<Vec<DueReminder>, StoreError>;

    /// Runs one change of a client's account *serialised* with every other `update_account` of
    /// the same client: loads the account ([`PortalAccount::new`] when none was stored) while
    /// holding the client's lock, passes it to `decide`, and commits what it decides (with
    /// everything [`AccountStore::commit`] promises) before releasing the lock. So concurrent
    /// staff actions on one client queue instead of failing, and each sees its predecessor's
    /// result; a never-stored account serialises too.
    ///
    /// `decide` is synchronous and pure: it runs while the client is locked, so it must not
    /// wait on anything, least of all on the store. It is called once per attempt; an adapter MAY call it again (with a fresh load)
    /// when an attempt fails before committing, so it must keep only its latest outcome.
    ///
    /// # Errors
    /// As for [`AccountStore::commit`]. [`StoreError::Conflict`] is only a safety net (a writer
    /// that used plain `commit` got in first, or the database aborted a deadlock): callers may
    /// retry it.
    async fn update_account(
        &self,
        practice: PracticeId,
        client: &ClientId,
        decide: &mut (dyn FnMut(PortalAccount) -> AccountDecision + Send),
    ) -> Result<(), StoreError>;
}

/// Client sessions (stored by hash).
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session with its audit event.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn create_session(&self, session: &Session, audit: &AuditEvent) -> Result<(), StoreError>;

    /// The session whose bearer secret hashes to `hash`.
    ///
    /// # Errors
    /// Only infrastructure failures; unknown or revoked is `Ok(None)`.
    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError>;

    /// Records use of a session at `at`.
    ///
    /// # Errors
    /// Only infrastructure failures; a vanished session is not an error.
    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError>;

    /// Deletes one session (sign-out) with its audit event.
    ///
    /// # Errors
    /// Only infrastructure failures; a vanished session is not an error.
    async fn revoke_session(&self, id: SessionId, audit: &AuditEvent) -> Result<(), StoreError>;
}

/// Sign-in throttle counters, keyed by practice and the username *as typed* (normalised),
/// whether or not such an account exists.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait ThrottleStore: Send + Sync + 'static {
    /// The counter for a key (zero when none).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn throttle(&self, practice: PracticeId, key: &str) -> Result<ThrottleState, StoreError>;

    /// Atomically adds one failure at `at` and returns the new counter. Concurrent failures
    /// MUST all be counted.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn record_failure(&self, practice: PracticeId, key: &str, at: Timestamp)
    -> Result<ThrottleState, StoreError>;

    /// Resets a counter (a success).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn clear_throttle(&self, practice: PracticeId, key: &str) -> Result<(), StoreError>;
}

/// The audit trail.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends events not tied to an account change (e.g. failed sign-ins).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError>;

    /// A client's trail, oldest first.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn trail(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<AuditEvent>, StoreError>;
}

/// The durable mail outbox, as the dispatcher sees it.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait MailOutbox: Send + Sync + 'static {
    /// Claims up to `limit` pending rows whose next attempt is due at `now` (or whose previous
    /// claim lapsed), leasing them until `now + lease`.
    ///
    /// # Errors
    /// Only infrastructure failures. Two concurrent callers MUST never receive the same row
    /// while its lease holds (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError>;

    /// Marks a row delivered at `at` and purges the personal data it needed for delivery (the
    /// recipient's address). The delivery metadata and the token id stay, so staff can
    /// see the delivery state of a link; a token id is not secret without the link key, which
    /// never enters the database.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError>;

    /// Releases a row for another attempt at `next_attempt_at`, counting the attempt and
    /// keeping the `problem` for staff: its cause and its detail (which MUST hold no secret)
    /// read back unchanged as [`DeliveryState::Pending`]'s `last_problem`.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn retry_later(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        problem: &DeliveryProblem,
    ) -> Result<(), StoreError>;

    /// Marks a row permanently failed; it is never tried again, and its recipient is purged as
    /// for a sent row. The `problem` and `gave_up_after` (the attempts made, when the
    /// dispatcher gave up on temporary failures) read back unchanged as
    /// [`DeliveryState::Failed`]. A stored cause code this version does not know reads back as
    /// [`DeliveryCause::Other`] with its detail.
    ///
    /// # Errors
    /// Only infrastructure failures.
    ///
    /// [`DeliveryCause::Other`]: crate::DeliveryCause::Other
    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError>;

    /// The delivery state of the mail that carried a token (for the staff view).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError>;

    /// How many rows are pending (for metrics).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn pending_count(&self) -> Result<u64, StoreError>;
}

/// Everything the service needs from storage. Implemented automatically for any type that
/// implements each part.
pub trait PortalStore:
    Directory + AccountStore + SessionStore + ThrottleStore + AuditLog + MailOutbox + StaffAccess + FactorStore
{
}

impl<T: Directory + AccountStore + SessionStore + ThrottleStore + AuditLog + MailOutbox + StaffAccess + FactorStore>
    PortalStore for T
{
}

mod mail;
pub mod passkeys;
mod retention;
mod second_factors;
mod shared;
mod staff;

#[cfg(any(test, feature = "testing"))]
pub use retention::MockRetention;
pub use retention::Retention;

#[cfg(any(test, feature = "testing"))]
pub use mail::MockMailTransport;
pub use mail::{MailTransport, RenderedEmail, TransportError};

pub use second_factors::{FactorCommit, FactorStore, SealError, SecretSealer};
#[cfg(any(test, feature = "testing"))]
pub use second_factors::{MockFactorStore, MockSecretSealer};

#[cfg(any(test, feature = "testing"))]
pub use staff::MockStaffAccess;
pub use staff::StaffAccess;

/// A type-erased service: every port behind an `Arc<dyn …>`. What an HTTP layer or another
/// embedder that must not name the adapters' types holds.
pub type DynPortalService = crate::service::PortalService<
    std::sync::Arc<dyn PortalStore>,
    std::sync::Arc<dyn PasswordHasher>,
    std::sync::Arc<dyn Clock>,
    std::sync::Arc<dyn Randomness>,
    std::sync::Arc<dyn ClientDirectory>,
>;
