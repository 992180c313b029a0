//! The application service: every use case of design §2–3, generic over the ports.
//!
//! Each use case loads what it needs, asks the [`PortalAccount`] state machine whether the rule
//! allows the change, and commits the new state together with the mail and audit events it
//! causes in one [`crate::AccountCommit`]. Every change that people can race
//! (staff sending, resending, enabling or disabling; a client registering or completing a reset)
//! runs through [`AccountStore::update_account`](crate::AccountStore::update_account): the
//! store loads the account under that client's lock and commits the decision before releasing
//! it, so concurrent actions on one client queue, and the loser of a race sees the winner's
//! result (e.g. "this link was already used") rather than a conflict. The store's version
//! check stays as a safety net; a conflict that still gets through is retried from a fresh load
//! a few times before it is reported.
//!
//! One file per concern, each with its use cases, their errors and their views: `practices`,
//! `clients`, `invitations`, `bulk_invitations` (many clients in one action), `imports` (client
//! records from a file), `reminders` (invitation reminders), `registration`, `access`, `resets`,
//! `reset_requests` (client-started resets), `sessions`, `second_factors` (a client's factors,
//! what staff see of them) and `factor_sign_in` (the second step), `staff` (staff keys
//! and the staff sessions of the bundled server's pages) with `staff_key_cache` (the short
//! memory of active keys that saves the staff API a read per request). This file holds the
//! service itself, the infrastructure error they share and the helpers every use case uses.

mod access;
mod bulk_invitations;
mod clients;
mod date_of_birth;
mod factor_sign_in;
mod imports;
mod invitations;
mod passkeys;
mod practices;
mod registration;
mod reminders;
mod reset_requests;
mod resets;
mod second_factors;
mod sessions;
mod staff;
mod staff_key_cache;

use jiff::{SignedDuration, Timestamp};

use crate::account::PortalAccount;
use crate::hashing::HashError;
use crate::policy::Policy;
use crate::ports::{
    AccountCommit, AccountDecision, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, RandomnessError,
    SecretSealer, StoreError,
};
use crate::practice_settings::PracticeSettings;
use crate::records::{
    Actor, AuditAction, AuditEvent, Client, MailKind, OutgoingMail, Practice, RequestContext, StaffMember,
};
use crate::token::{IssuedToken, LinkKey, TokenPurpose, TokenState, VerifiedToken};
use crate::types::{AuditId, ClientId, EmailAddress, Language, MailId, PracticeId, TokenId};

pub use access::ToggleError;
pub use bulk_invitations::{
    BulkInviteError, BulkInviteResult, BulkInvites, BulkOutcome, BulkSelection, MAX_INVITES_PER_CALL, SkipReason,
};
pub use clients::{
    ClientError, ClientPatch, ClientView, MAX_STATES_PER_CALL, NewClient, PortalStatesError, PortalView, TokenView,
};
pub use date_of_birth::DateOfBirthMismatch;
pub use factor_sign_in::{FactorAnswer, SecondStep, SecondStepError};
pub use imports::{IMPORT_BATCH, ImportError, ImportPlan, ImportRow, ImportSkip, ImportWarning, RowError};
pub use invitations::{SendInviteError, VerifyInviteError};
pub use passkeys::{DEFAULT_PASSKEY_NAME, PasskeyCeremonyStarted, PasskeySignInError};
pub use practices::{CreatedPractice, PracticeChange, PracticeError, UpdatePracticeError};
pub use registration::{RegisterError, Registered};
pub use reminders::RemindersQueued;
pub use reset_requests::{ResetRequestError, ResetRequested};
pub use resets::{ResetError, SendResetError};
pub use second_factors::{
    DEFAULT_TOTP_NAME, FactorEnrolled, FactorError, FactorOwner, FactorView, FactorsView, TotpEnrolment,
};
pub use sessions::{ClientSession, SessionError, SignInError, SignedIn};
pub use staff::{CreatedStaffKey, StaffKeyError, StaffSignInError, StaffSignedIn};
use staff_key_cache::StaffKeyCache;
pub use staff_key_cache::{DEFAULT_STAFF_KEY_RECHECK, STAFF_KEY_CACHE_CAPACITY};

/// How many times a use case reloads and retries after a version conflict. Serialised changes
/// ([`PortalService::serialised`]) meet one only when a plain commit (a hash upgrade at sign-in)
/// got in first or the database broke a deadlock, so this is a safety net, not a queue.
const CONFLICT_ATTEMPTS: usize = 4;

/// Prefix of staff keys, so leaked keys are recognisable by secret scanners.
pub const STAFF_KEY_PREFIX: &str = "pst_";
/// Prefix of client session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "pcs_";
/// Prefix of staff session tokens (the staff pages' cookie).
pub const STAFF_SESSION_TOKEN_PREFIX: &str = "pss_";

/// Failures outside the domain's rules: storage, hashing, randomness.
#[derive(Debug, thiserror::Error)]
pub enum Infrastructure {
    /// Storage failed.
    #[error("storage failed")]
    Store(#[source] StoreError),
    /// The password-hashing pool is saturated: answer "busy, retry later".
    #[error("password hashing is saturated")]
    Busy,
    /// Hashing failed for another reason (including a refused stored hash).
    #[error("password hashing failed")]
    Hashing(#[source] HashError),
    /// No secure randomness.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The passkey relying party failed: a stored passkey or ceremony it cannot read, or no
    /// challenge could be made. Never the client's answer (that is a refusal).
    #[error("the passkey relying party failed")]
    Passkeys(#[source] crate::PasskeyError),
    /// The account kept changing under concurrent updates; the caller may retry. Ordinary
    /// concurrency never gets here (changes of one client queue in the store); only a change
    /// that lost its version check to a writer outside the queue four times running does.
    #[error("the account is being changed concurrently; retry")]
    Contended,
}

impl From<StoreError> for Infrastructure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict => Self::Contended,
            other => Self::Store(other),
        }
    }
}

impl From<HashError> for Infrastructure {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Saturated => Self::Busy,
            other => Self::Hashing(other),
        }
    }
}

/// Where the client records the service reads are kept, which decides how a client is read
/// together with its portal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRecords {
    /// In a host's own [`ClientDirectory`] (an EHR's patients): a client is one directory call,
    /// its portal state one read of the portal's tables. The default of [`PortalService::new`].
    Host,
    /// In the store's own client table, which is also the directory
    /// ([`PortalService::with_bundled_records`]): a client and its portal state are one read.
    Bundled,
}

/// A staff member acting through a request.
#[derive(Debug, Clone)]
pub struct StaffContext {
    /// Who (already authenticated by their key).
    pub staff: StaffMember,
    /// Request id and source IP for the audit trail.
    pub request: RequestContext,
}

impl StaffContext {
    fn actor(&self) -> Actor {
        Actor::Staff { id: self.staff.id, label: self.staff.label.clone() }
    }
    fn practice(&self) -> PracticeId {
        self.staff.practice_id
    }
}

macro_rules! infra_from {
    ($($error:ty),*) => {$(
        impl From<StoreError> for $error {
            fn from(error: StoreError) -> Self {
                Self::Infrastructure(error.into())
            }
        }
        impl From<RandomnessError> for $error {
            fn from(error: RandomnessError) -> Self {
                Self::Infrastructure(error.into())
            }
        }
        impl From<HashError> for $error {
            fn from(error: HashError) -> Self {
                Self::Infrastructure(error.into())
            }
        }
    )*};
}
infra_from!(
    PracticeError,
    UpdatePracticeError,
    ClientError,
    SendInviteError,
    VerifyInviteError,
    RegisterError,
    ToggleError,
    SendResetError,
    ResetError,
    ResetRequestError,
    SignInError,
    SessionError,
    StaffKeyError,
    StaffSignInError,
    PasskeySignInError
);

/// The outcome of sending an invitation or reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSent {
    /// The token id (its link is derived when the mail is sent).
    pub token_id: TokenId,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// True when it replaced (voided) an earlier one.
    pub replaced_previous: bool,
}

/// What an invitation or reset link opens (shown on the page before the form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// The practice.
    pub practice: Practice,
    /// When the link stops working.
    pub expires_at: Timestamp,
    /// True when the link opens only with the client's date of birth (the practice has the
    /// check on and the record holds one).
    pub date_of_birth_required: bool,
    /// The language of the client's record: the link's mail was in it, so its pages are too.
    pub language: Language,
}

/// The use cases, generic over storage, hashing, time and randomness.
///
/// ```
/// use jiff::Timestamp;
/// use portal_core::service::{NewClient, PortalService, StaffContext};
/// use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
/// use portal_core::{LinkKey, Policy, PortalStatus, ScryptHasher, ScryptParams, TimeZoneName};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // The in-memory store is also a client directory: the bundled server's arrangement, where
/// // the portal keeps the client records too (so a client and its portal state are one read).
/// // An EHR passes its own `ClientDirectory` and leaves out `with_bundled_records`.
/// let store = InMemoryStore::new();
/// let service = PortalService::new(
///     store.clone(),
///     store,
///     ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS)?, // ScryptParams::OWASP in production
///     ManualClock::new(Timestamp::from_second(1_800_000_000)?),
///     SeededRandom::new(7),
///     Policy::default(),
///     LinkKey::from_bytes([1; 32]),
/// )
/// .with_bundled_records();
/// let practice = service.create_practice("Sunrise Therapy", None, TimeZoneName::utc()).await?;
/// let staff = StaffContext { staff: practice.staff, request: Default::default() };
/// let new = NewClient { name: "Ada".into(), email: Some("ada@example.org".into()), ..Default::default() };
/// let client = service.create_client(&staff, new).await?.client;
/// let sent = service.send_invite(&staff, &client.id).await?;
/// assert_eq!(service.client(&staff, &client.id).await?.portal,
///            PortalStatus::Invited { sent_at: sent.sent_at, expires_at: sent.expires_at });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct PortalService<S, H, C, R, D> {
    store: S,
    directory: D,
    records: ClientRecords,
    hasher: H,
    clock: C,
    random: R,
    policy: Policy,
    link_key: LinkKey,
    /// Seals TOTP secrets at rest; without one, authenticator apps cannot be enrolled.
    sealer: Option<std::sync::Arc<dyn SecretSealer>>,
    /// The WebAuthn relying party; without one, passkeys cannot be registered or used.
    passkeys: Option<std::sync::Arc<dyn crate::PasskeyRelyingParty>>,
    /// Active staff keys recently read, so a staff API request is not two store reads.
    staff_keys: StaffKeyCache,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Wires the ports together: `store` holds what the portal owns (accounts, links,
    /// sessions, throttle, audit, outbox), `directory` reads the host's clients.
    pub fn new(store: S, directory: D, hasher: H, clock: C, random: R, policy: Policy, link_key: LinkKey) -> Self {
        Self {
            store,
            directory,
            records: ClientRecords::Host,
            hasher,
            clock,
            random,
            policy,
            link_key,
            sealer: None,
            passkeys: None,
            staff_keys: StaffKeyCache::new(DEFAULT_STAFF_KEY_RECHECK, STAFF_KEY_CACHE_CAPACITY),
        }
    }

    /// Gives the service the sealer of TOTP secrets (a key kept outside the database), which
    /// authenticator apps need: without one, enrolling an app is refused
    /// ([`FactorError::TotpUnavailable`]).
    #[must_use]
    pub fn with_secret_sealer(mut self, sealer: std::sync::Arc<dyn SecretSealer>) -> Self {
        self.sealer = Some(sealer);
        self
    }

    /// Gives the service the WebAuthn relying party of the portal's public URL (the
    /// `portal-passkeys` adapter), which passkeys need: without one, registering a passkey is
    /// refused ([`FactorError::PasskeysUnavailable`]), passkeys are not offered at sign-in and
    /// passkey-first sign-in is unavailable.
    #[must_use]
    pub fn with_passkeys(mut self, passkeys: std::sync::Arc<dyn crate::PasskeyRelyingParty>) -> Self {
        self.passkeys = Some(passkeys);
        self
    }

    /// How long an active staff key read from the store answers for itself before
    /// [`authenticate_staff`](Self::authenticate_staff) reads it again
    /// ([`DEFAULT_STAFF_KEY_RECHECK`], one second, unless set here); zero (or less) reads the
    /// store on every request. A staff API request is otherwise two reads (the key, then what
    /// the request asks for); remembering the key makes it one.
    ///
    /// The price is plain: a key revoked by *another* process (the `staff-key revoke` command,
    /// a second server on the same database) keeps working here for up to this long. Revoking
    /// through this service forgets the key at once, and a key's expiry is checked on every
    /// request whatever this says. At most [`STAFF_KEY_CACHE_CAPACITY`] keys are remembered.
    #[must_use]
    pub fn with_staff_key_recheck(mut self, recheck: SignedDuration) -> Self {
        self.staff_keys = StaffKeyCache::new(recheck, STAFF_KEY_CACHE_CAPACITY);
        self
    }

    /// Says that the client directory is this store's own client records (the bundled
    /// server's arrangement: the store implements [`ClientDirectory`] over its client table).
    /// A client and its portal state are then read together, in one query of the store
    /// ([`Directory::client_panel`](crate::Directory::client_panel)), instead of a directory
    /// call followed by a read of the portal's tables.
    ///
    /// Only for a directory that reads the store's own records: with a host's directory the
    /// store holds no client records, and every client would read as missing.
    #[must_use]
    pub fn with_bundled_records(mut self) -> Self {
        self.records = ClientRecords::Bundled;
        self
    }

    /// Where the client records this service reads are kept.
    #[must_use]
    pub fn client_records(&self) -> ClientRecords {
        self.records
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// The store (for adapters that need read access, e.g. readiness checks).
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The link key (the mail dispatcher derives links with it).
    pub fn link_key(&self) -> &LinkKey {
        &self.link_key
    }
    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }
    /// The host's client directory (the mail dispatcher renders from it).
    pub fn directory(&self) -> &D {
        &self.directory
    }

    fn audit(
        &self,
        at: Timestamp,
        practice_id: PracticeId,
        client_id: Option<ClientId>,
        actor: Actor,
        action: AuditAction,
        context: &RequestContext,
    ) -> Result<AuditEvent, RandomnessError> {
        Ok(AuditEvent {
            id: AuditId::generate(&self.random)?,
            at,
            practice_id,
            client_id,
            actor,
            action,
            failure: None,
            detail: None,
            context: context.clone(),
        })
    }

    fn issue_token(
        &self,
        purpose: TokenPurpose,
        settings: &PracticeSettings,
        now: Timestamp,
    ) -> Result<IssuedToken, RandomnessError> {
        let id = TokenId::generate(&self.random)?;
        let ttl = settings.link_lifetime(purpose, &self.policy);
        Ok(IssuedToken {
            id,
            purpose,
            hash: self.link_key.token_hash(purpose, id),
            issued_at: now,
            // Link lifetimes are bounded to seven days, so this cannot overflow for any real clock.
            expires_at: now.saturating_add(ttl).unwrap_or(now),
            state: TokenState::Live,
            date_of_birth_failures: 0,
            reminder: None,
        })
    }

    fn mail(
        &self,
        client: &Client,
        to: &EmailAddress,
        kind: MailKind,
        now: Timestamp,
    ) -> Result<OutgoingMail, RandomnessError> {
        Ok(OutgoingMail {
            id: MailId::generate(&self.random)?,
            practice_id: client.practice_id,
            client_id: client.id.clone(),
            to: to.clone(),
            kind,
            created_at: now,
        })
    }

    /// Runs `decide` on the account of `(practice, client)` as stored, under the store's lock
    /// for that client ([`AccountStore::update_account`]), committing the change it returns
    /// (none: nothing to write); a refusal (`Ok(Err(_))`) writes nothing. The outer error is the store's, after
    /// retrying the rare safety-net conflict.
    ///
    /// [`AccountStore::update_account`]: crate::AccountStore::update_account
    async fn serialised<T, E>(
        &self,
        practice: PracticeId,
        client: &ClientId,
        mut decide: impl FnMut(PortalAccount) -> Result<(Option<AccountCommit>, T), E> + Send,
    ) -> Result<Result<T, E>, StoreError>
    where
        T: Send,
        E: Send,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut outcome = None;
            let stored = self
                .store
                .update_account(practice, client, &mut |account| match decide(account) {
                    Ok((change, value)) => {
                        outcome = Some(Ok(value));
                        change.map_or(AccountDecision::Leave, |change| AccountDecision::Commit(Box::new(change)))
                    }
                    Err(refused) => {
                        outcome = Some(Err(refused));
                        AccountDecision::Leave
                    }
                })
                .await;
            match stored {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => continue,
                Err(error) => return Err(error),
                // The port promises to call `decide` before answering `Ok`; an adapter that
                // did not is broken, which is what `Corrupt` says.
                Ok(()) => {
                    return outcome.ok_or_else(|| StoreError::Corrupt("the store skipped a serialised change".into()));
                }
            }
        }
    }

    async fn client_of(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.directory.client(practice, id).await
    }

    async fn account_for_link(
        &self,
        purpose: TokenPurpose,
        presented: &str,
    ) -> Result<Option<(VerifiedToken, PortalAccount)>, StoreError> {
        let Ok(verified) = self.link_key.verify(purpose, presented) else {
            return Ok(None);
        };
        Ok(self.store.account_by_token(purpose, &verified.hash()).await?.map(|account| (verified, account)))
    }

    /// The settings of a practice staff act in (its link lifetimes, its checks).
    async fn settings_of(&self, practice: PracticeId) -> Result<PracticeSettings, StoreError> {
        Ok(self.store.practice(practice).await?.ok_or(StoreError::NotFound("practice"))?.settings)
    }

    async fn practice_of(&self, account: &PortalAccount) -> Result<Practice, StoreError> {
        self.store.practice(account.practice_id()).await?.ok_or(StoreError::NotFound("practice"))
    }
}
