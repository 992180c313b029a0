//! The application service: every use case of design §2–3, generic over the ports.
//!
//! Each use case loads what it needs, asks the [`PortalAccount`] state machine whether the rule
//! allows the change, and commits the new state together with the mail and audit events it
//! causes in one [`AccountCommit`]. A version conflict (someone else changed the account in the
//! meantime) is retried from a fresh load a few times, so the loser of a race sees the winner's
//! result (e.g. "this link was already used") rather than an opaque conflict.

use jiff::{SignedDuration, Timestamp};

use crate::account::{
    InviteRedeemRefused, InviteRefused, PortalAccount, PortalStatus, ResetRedeemRefused, ResetRefused, SignInRefused,
    ToggleRefused, Toggled,
};
use crate::hashing::{HashError, Verification};
use crate::password_policy::{PasswordContext, WeakPassword, check_password};
use crate::policy::Policy;
use crate::ports::{AccountCommit, Clock, PasswordHasher, PortalStore, Randomness, RandomnessError, StoreError};
use crate::records::{
    Actor, AuditAction, AuditEvent, Client, DeliveryState, MailKind, OutgoingMail, Practice, RequestContext, Session,
    StaffMember, ThrottleDecision,
};
use crate::token::{BearerSecret, IssuedToken, LinkKey, TokenPurpose, TokenState, VerifiedToken};
use crate::types::{
    AuditId, ClientId, DisableReason, DisplayName, EmailAddress, InvalidInput, Language, MailId, Password, PracticeId,
    PracticeSlug, SessionId, StaffId, TimeZoneName, TokenId, Username,
};

/// How many times a use case reloads and retries after a version conflict.
const CONFLICT_ATTEMPTS: usize = 4;

/// Prefix of staff keys, so leaked keys are recognisable by secret scanners.
pub const STAFF_KEY_PREFIX: &str = "pst_";
/// Prefix of client session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "pcs_";

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
    /// The account kept changing under concurrent updates; the caller may retry.
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

/// Refusals of creating a practice or a staff key.
#[derive(Debug, thiserror::Error)]
pub enum PracticeError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The slug is taken.
    #[error("a practice with this slug already exists")]
    SlugTaken,
    /// No practice has this slug.
    #[error("no practice has this slug")]
    PracticeNotFound,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of client-record operations.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of sending or resending an invitation.
#[derive(Debug, thiserror::Error)]
pub enum SendInviteError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// The client registered already: send a password reset instead.
    #[error(transparent)]
    AccountExists(#[from] InviteRefused),
    /// No email address on file.
    #[error("the client has no email address on file")]
    NoEmailOnFile,
    /// The client asked not to be emailed.
    #[error("the client has asked not to be emailed")]
    EmailNotPermitted,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of checking an invitation link (never consumes it).
#[derive(Debug, thiserror::Error)]
pub enum VerifyInviteError {
    /// Unknown, voided or used; or expired.
    #[error(transparent)]
    Refused(#[from] InviteRedeemRefused),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of registration.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Unknown, voided or used; or expired.
    #[error(transparent)]
    Refused(#[from] InviteRedeemRefused),
    /// The username breaks the rules.
    #[error(transparent)]
    InvalidUsername(InvalidInput),
    /// Another account of the practice has this username.
    #[error("this username is already taken")]
    UsernameTaken,
    /// The password breaks the rules (every reason listed).
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of enabling or disabling.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// No account to toggle.
    #[error(transparent)]
    Refused(#[from] ToggleRefused),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of sending a password reset.
#[derive(Debug, thiserror::Error)]
pub enum SendResetError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// No account (send an invite), or disabled (enable first).
    #[error(transparent)]
    Refused(#[from] ResetRefused),
    /// No email address on file.
    #[error("the client has no email address on file")]
    NoEmailOnFile,
    /// The client asked not to be emailed.
    #[error("the client has asked not to be emailed")]
    EmailNotPermitted,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of checking or completing a reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, voided, used, expired, or the account is disabled.
    #[error(transparent)]
    Refused(#[from] ResetRedeemRefused),
    /// The new password breaks the rules.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of a sign-in.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password or locked: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// The right password for a disabled account.
    #[error("the portal account is disabled")]
    AccountDisabled,
    /// Too many recent failures: try again after `retry_after`.
    #[error("too many failed attempts; retry later")]
    Throttled {
        /// How long to wait.
        retry_after: SignedDuration,
    },
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

impl From<SignInRefused> for SignInError {
    fn from(refused: SignInRefused) -> Self {
        match refused {
            SignInRefused::InvalidCredentials => Self::InvalidCredentials,
            SignInRefused::AccountDisabled => Self::AccountDisabled,
        }
    }
}

/// Refusals of using a session.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, expired or revoked: sign in again.
    #[error("not signed in")]
    Unauthenticated,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
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
    ClientError,
    SendInviteError,
    VerifyInviteError,
    RegisterError,
    ToggleError,
    SendResetError,
    ResetError,
    SignInError,
    SessionError
);

/// A new client record, as typed by staff.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Full name.
    pub name: String,
    /// Email on file (`None` or empty: no email).
    pub email: Option<String>,
    /// `en` or `es` (default `en`).
    pub language: Option<String>,
    /// Whether the client agreed to receive email (default true when an email is given).
    pub email_consent: Option<bool>,
}

/// Changes to a client record; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// New name.
    pub name: Option<String>,
    /// New email: `Some(None)` or `Some(Some(""))` removes it.
    pub email: Option<Option<String>>,
    /// New language.
    pub language: Option<String>,
    /// New consent.
    pub email_consent: Option<bool>,
}

/// A client with its portal status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The record.
    pub client: Client,
    /// The status at the time of the request.
    pub portal: PortalStatus,
}

/// A token as staff see it: when it was sent, when it stops working, and its mail's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// When it was issued.
    pub sent_at: Timestamp,
    /// When it stops (or stopped) working.
    pub expires_at: Timestamp,
    /// True once redeemed.
    pub used: bool,
    /// Delivery of the email that carried it.
    pub delivery: Option<DeliveryState>,
}

/// The portal panel of a client's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalView {
    /// The status.
    pub status: PortalStatus,
    /// The latest invitation, while the client has no account.
    pub invite: Option<TokenView>,
    /// The latest reset, while the account is active.
    pub reset: Option<TokenView>,
}

/// A practice created with its first staff key (shown once).
#[derive(Debug)]
pub struct CreatedPractice {
    /// The practice.
    pub practice: Practice,
    /// The first staff member (key).
    pub staff: StaffMember,
    /// The key itself: show it once, it is not stored.
    pub staff_key: BearerSecret,
}

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
}

/// A successful registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The practice.
    pub practice: Practice,
    /// The client.
    pub client_id: ClientId,
    /// The chosen username.
    pub username: Username,
}

/// A successful sign-in. The token is shown to the client once and never stored.
#[derive(Debug)]
pub struct SignedIn {
    /// The bearer secret.
    pub token: BearerSecret,
    /// The session as stored.
    pub session: Session,
    /// When the session ends if unused (the idle deadline; absolute applies too).
    pub expires_at: Timestamp,
}

/// The signed-in client behind a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSession {
    /// The session.
    pub session: Session,
    /// The client's username.
    pub username: Username,
    /// The practice.
    pub practice: Practice,
    /// The client's name.
    pub client_name: DisplayName,
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
/// let service = PortalService::new(
///     InMemoryStore::new(),
///     ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS)?, // ScryptParams::OWASP in production
///     ManualClock::new(Timestamp::from_second(1_800_000_000)?),
///     SeededRandom::new(7),
///     Policy::default(),
///     LinkKey::from_bytes([1; 32]),
/// );
/// let practice = service.create_practice("Sunrise Therapy", None, TimeZoneName::utc()).await?;
/// let staff = StaffContext { staff: practice.staff, request: Default::default() };
/// let new = NewClient { name: "Ada".into(), email: Some("ada@example.org".into()), ..Default::default() };
/// let client = service.create_client(&staff, new).await?.client;
/// let sent = service.send_invite(&staff, client.id).await?;
/// assert_eq!(service.client(&staff, client.id).await?.portal,
///            PortalStatus::Invited { sent_at: sent.sent_at, expires_at: sent.expires_at });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct PortalService<S, H, C, R> {
    store: S,
    hasher: H,
    clock: C,
    random: R,
    policy: Policy,
    link_key: LinkKey,
}

impl<S, H, C, R> PortalService<S, H, C, R>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
{
    /// Wires the ports together.
    pub fn new(store: S, hasher: H, clock: C, random: R, policy: Policy, link_key: LinkKey) -> Self {
        Self { store, hasher, clock, random, policy, link_key }
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

    fn issue_token(&self, purpose: TokenPurpose, now: Timestamp) -> Result<IssuedToken, RandomnessError> {
        let id = TokenId::generate(&self.random)?;
        let ttl = match purpose {
            TokenPurpose::Invite => self.policy.invite_ttl(),
            TokenPurpose::Reset => self.policy.reset_ttl(),
        };
        Ok(IssuedToken {
            id,
            purpose,
            hash: self.link_key.token_hash(purpose, id),
            issued_at: now,
            // `Policy` bounds the ttl to seven days, so this cannot overflow for any real clock.
            expires_at: now.saturating_add(ttl).unwrap_or(now),
            state: TokenState::Live,
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
            client_id: client.id,
            to: to.clone(),
            recipient_name: client.name.clone(),
            language: client.language,
            kind,
            created_at: now,
        })
    }

    // ---------------------------------------------------------------- practices and staff

    /// Creates a practice with a first staff key (CLI and first-run bootstrap).
    ///
    /// # Errors
    /// `Invalid` for a bad name or slug, `SlugTaken`, or infrastructure.
    pub async fn create_practice(
        &self,
        name: &str,
        slug: Option<&str>,
        time_zone: TimeZoneName,
    ) -> Result<CreatedPractice, PracticeError> {
        let now = self.clock.now();
        let name = DisplayName::parse("name", name)?;
        let slug = match slug {
            Some(slug) => PracticeSlug::parse(slug)?,
            None => PracticeSlug::from_name(name.as_str())?,
        };
        let practice = Practice {
            id: PracticeId::generate(&self.random)?,
            slug,
            name,
            time_zone,
            discreet_mail: true,
            created_at: now,
        };
        let staff = StaffMember {
            id: StaffId::generate(&self.random)?,
            practice_id: practice.id,
            label: DisplayName::parse("label", "First administrator key")?,
            created_at: now,
        };
        let staff_key = BearerSecret::generate(STAFF_KEY_PREFIX, &self.random)?;
        match self.store.create_practice(&practice, &staff, &staff_key.hash()).await {
            Err(StoreError::Duplicate(_)) => Err(PracticeError::SlugTaken),
            other => other.map_err(PracticeError::from),
        }?;
        Ok(CreatedPractice { practice, staff, staff_key })
    }

    /// Creates another staff key for a practice.
    ///
    /// # Errors
    /// `PracticeNotFound`, `Invalid` label, or infrastructure.
    pub async fn create_staff_key(
        &self,
        slug: &str,
        label: &str,
    ) -> Result<(StaffMember, BearerSecret), PracticeError> {
        let slug = PracticeSlug::parse(slug)?;
        let label = DisplayName::parse("label", label)?;
        let practice = self.store.practice_by_slug(&slug).await?.ok_or(PracticeError::PracticeNotFound)?;
        let staff = StaffMember {
            id: StaffId::generate(&self.random)?,
            practice_id: practice.id,
            label,
            created_at: self.clock.now(),
        };
        let key = BearerSecret::generate(STAFF_KEY_PREFIX, &self.random)?;
        self.store.add_staff_key(&staff, &key.hash()).await?;
        Ok((staff, key))
    }

    /// The staff member a presented key belongs to.
    ///
    /// # Errors
    /// Infrastructure only; an unknown key is `Ok(None)`.
    pub async fn authenticate_staff(&self, presented_key: &str) -> Result<Option<StaffMember>, Infrastructure> {
        let key = BearerSecret::presented(presented_key);
        Ok(self.store.staff_by_key_hash(&key.hash()).await?)
    }

    /// The practice a staff member works for (its name and time zone, for staff pages that state
    /// times in the practice's zone).
    ///
    /// # Errors
    /// Infrastructure only; a practice that is gone (its key outlived it) is `Ok(None)`.
    pub async fn staff_practice(&self, staff: &StaffContext) -> Result<Option<Practice>, Infrastructure> {
        Ok(self.store.practice(staff.practice()).await?)
    }

    /// A practice by slug (for pages).
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn practice_by_slug(&self, slug: &str) -> Result<Option<Practice>, Infrastructure> {
        match PracticeSlug::parse(slug) {
            Ok(slug) => Ok(self.store.practice_by_slug(&slug).await?),
            Err(_) => Ok(None),
        }
    }

    // ---------------------------------------------------------------- clients (staff)

    async fn client_of(&self, practice: PracticeId, id: ClientId) -> Result<Option<Client>, StoreError> {
        self.store.client(practice, id).await
    }

    fn parse_email(raw: Option<&str>) -> Result<Option<EmailAddress>, InvalidInput> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(email) => EmailAddress::parse(email).map(Some),
        }
    }

    /// Creates a client record. Needs no portal set-up.
    ///
    /// # Errors
    /// `Invalid` for a bad field, or infrastructure.
    pub async fn create_client(&self, staff: &StaffContext, new: NewClient) -> Result<ClientView, ClientError> {
        let now = self.clock.now();
        let email = Self::parse_email(new.email.as_deref())?;
        let client = Client {
            id: ClientId::generate(&self.random)?,
            practice_id: staff.practice(),
            name: DisplayName::parse("name", &new.name)?,
            email_consent: new.email_consent.unwrap_or(true),
            email,
            language: new.language.as_deref().map(Language::parse).transpose()?.unwrap_or_default(),
            created_at: now,
        };
        let audit = self.audit(
            now,
            client.practice_id,
            Some(client.id),
            staff.actor(),
            AuditAction::ClientCreated,
            &staff.request,
        )?;
        self.store.create_client(&client, &audit).await?;
        Ok(ClientView { client, portal: PortalStatus::NotInvited })
    }

    /// Changes a client's name, email, language or consent.
    ///
    /// # Errors
    /// `ClientNotFound` (also for another practice's client), `Invalid`, or infrastructure.
    pub async fn update_client(
        &self,
        staff: &StaffContext,
        id: ClientId,
        patch: ClientPatch,
    ) -> Result<ClientView, ClientError> {
        let now = self.clock.now();
        let mut client = self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
        if let Some(name) = patch.name {
            client.name = DisplayName::parse("name", &name)?;
        }
        if let Some(email) = patch.email {
            client.email = Self::parse_email(email.as_deref())?;
        }
        if let Some(language) = patch.language {
            client.language = Language::parse(&language)?;
        }
        if let Some(consent) = patch.email_consent {
            client.email_consent = consent;
        }
        let audit = self.audit(
            now,
            client.practice_id,
            Some(client.id),
            staff.actor(),
            AuditAction::ClientUpdated,
            &staff.request,
        )?;
        match self.store.update_client(&client, &audit).await {
            Err(StoreError::NotFound(_)) => return Err(ClientError::ClientNotFound),
            other => other?,
        }
        let account = self.store.account(staff.practice(), id).await?;
        Ok(ClientView { client, portal: account.status(now) })
    }

    /// One client with its portal status.
    ///
    /// # Errors
    /// `ClientNotFound` (also for another practice's client), or infrastructure.
    pub async fn client(&self, staff: &StaffContext, id: ClientId) -> Result<ClientView, ClientError> {
        let client = self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
        let account = self.store.account(staff.practice(), id).await?;
        Ok(ClientView { client, portal: account.status(self.clock.now()) })
    }

    /// Every client of the staff member's practice, optionally only those whose status has the
    /// given filter name (`no_account`, `invited`, `invite_expired`, `active`, `disabled`).
    ///
    /// # Errors
    /// `Invalid` for an unknown filter, or infrastructure.
    pub async fn list_clients(
        &self,
        staff: &StaffContext,
        filter: Option<&str>,
    ) -> Result<Vec<ClientView>, ClientError> {
        const FILTERS: [&str; 5] = ["no_account", "invited", "invite_expired", "active", "disabled"];
        if let Some(filter) = filter
            && !FILTERS.contains(&filter)
        {
            return Err(ClientError::Invalid(InvalidInput::Malformed {
                field: "portal",
                why: "expected one of no_account, invited, invite_expired, active, disabled",
            }));
        }
        let now = self.clock.now();
        let rows = self.store.list_clients(staff.practice()).await?;
        Ok(rows
            .into_iter()
            .map(|(client, account)| ClientView { client, portal: account.status(now) })
            .filter(|view| filter.is_none_or(|f| view.portal.filter_name() == f))
            .collect())
    }

    /// The portal panel: status plus the latest invite or reset and its mail's delivery.
    ///
    /// # Errors
    /// `ClientNotFound`, or infrastructure.
    pub async fn portal(&self, staff: &StaffContext, id: ClientId) -> Result<PortalView, ClientError> {
        // The account read checks that the client is in the practice (the port's contract), so
        // the hottest staff read does not fetch the client record first.
        let account = match self.store.account(staff.practice(), id).await {
            Ok(account) => account,
            Err(StoreError::NotFound("client")) => return Err(ClientError::ClientNotFound),
            Err(error) => return Err(error.into()),
        };
        let now = self.clock.now();
        let status = account.status(now);
        let invite = match (account.state(), account.invite()) {
            (crate::AccountState::NoAccount, Some(token)) => Some(self.token_view(token).await?),
            _ => None,
        };
        let reset = match (account.is_active(), account.reset()) {
            (true, Some(token)) => Some(self.token_view(token).await?),
            _ => None,
        };
        Ok(PortalView { status, invite, reset })
    }

    async fn token_view(&self, token: &IssuedToken) -> Result<TokenView, StoreError> {
        Ok(TokenView {
            sent_at: token.issued_at,
            expires_at: token.expires_at,
            used: matches!(token.state, TokenState::Used { .. }),
            delivery: self.store.delivery_for_token(token.id).await?,
        })
    }

    /// The client's audit trail, oldest first.
    ///
    /// # Errors
    /// `ClientNotFound`, or infrastructure.
    pub async fn audit_trail(&self, staff: &StaffContext, id: ClientId) -> Result<Vec<AuditEvent>, ClientError> {
        self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
        Ok(self.store.trail(staff.practice(), id).await?)
    }

    // ---------------------------------------------------------------- invitations (staff)

    /// Sends the portal invitation, or resends it (voiding the previous link).
    ///
    /// # Errors
    /// `ClientNotFound`, `AccountExists` (send a reset instead), `NoEmailOnFile`,
    /// `EmailNotPermitted`, or infrastructure.
    pub async fn send_invite(&self, staff: &StaffContext, id: ClientId) -> Result<LinkSent, SendInviteError> {
        let client = self.client_of(staff.practice(), id).await?.ok_or(SendInviteError::ClientNotFound)?;
        let email = client.email.clone().ok_or(SendInviteError::NoEmailOnFile)?;
        if !client.email_consent {
            return Err(SendInviteError::EmailNotPermitted);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            let mut account = self.store.account(staff.practice(), id).await?;
            let replaced_previous = account.invite().is_some();
            let token = self.issue_token(TokenPurpose::Invite, now)?;
            let sent = LinkSent { token_id: token.id, sent_at: now, expires_at: token.expires_at, replaced_previous };
            account.issue_invite(token)?;
            let action = if replaced_previous { AuditAction::InviteResent } else { AuditAction::InviteSent };
            let change = AccountCommit {
                at: now,
                mail: vec![self.mail(
                    &client,
                    &email,
                    MailKind::Invitation { token_id: sent.token_id, expires_at: sent.expires_at },
                    now,
                )?],
                audit: vec![self.audit(now, client.practice_id, Some(id), staff.actor(), action, &staff.request)?],
                account,
                revoke_sessions: false,
                clear_throttle: false,
            };
            match self.store.commit(change).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => continue,
                other => other?,
            }
            return Ok(sent);
        }
    }

    // ---------------------------------------------------------------- registration (client)

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

    async fn practice_of(&self, account: &PortalAccount) -> Result<Practice, StoreError> {
        self.store.practice(account.practice_id()).await?.ok_or(StoreError::NotFound("practice"))
    }

    /// Checks an invitation link without consuming it (page loads, link previews).
    ///
    /// # Errors
    /// `InviteNotFound`, `InviteExpired`, or infrastructure.
    pub async fn verify_invite(&self, token: &str) -> Result<LinkInfo, VerifyInviteError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Invite, token).await?.ok_or(InviteRedeemRefused::InviteNotFound)?;
        let expires_at = account.check_invite(&verified.hash(), self.clock.now())?.expires_at;
        Ok(LinkInfo { practice: self.practice_of(&account).await?, expires_at })
    }

    /// Registers a username and password from an invitation link (consumes it).
    ///
    /// # Errors
    /// `Refused` (not found / expired), `InvalidUsername`, `UsernameTaken`, `WeakPassword`, or
    /// infrastructure (`Busy` when the hashing pool is saturated).
    pub async fn register(
        &self,
        token: &str,
        username: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<Registered, RegisterError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Invite, token).await?.ok_or(InviteRedeemRefused::InviteNotFound)?;
        account.check_invite(&verified.hash(), self.clock.now())?;
        let username = Username::parse(username).map_err(RegisterError::InvalidUsername)?;
        let practice = self.practice_of(&account).await?;
        check_password(
            password,
            self.policy.password(),
            &PasswordContext { username: Some(&username), practice_name: practice.name.as_str() },
        )?;
        // Fail fast before the expensive hash; the unique index decides races at commit.
        if self.store.account_by_username(practice.id, &username).await?.is_some() {
            return Err(RegisterError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let mut account = account;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            account.register(&verified.hash(), username.clone(), password_hash.clone(), now)?;
            let mut audit = self.audit(
                now,
                practice.id,
                Some(account.client_id()),
                Actor::Client,
                AuditAction::Registered,
                context,
            )?;
            audit.detail = Some(format!("username {username}"));
            let client_id = account.client_id();
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit: vec![audit],
                revoke_sessions: false,
                clear_throttle: true,
            };
            match self.store.commit(change).await {
                Err(StoreError::UsernameTaken) => return Err(RegisterError::UsernameTaken),
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    account = self
                        .store
                        .account_by_token(TokenPurpose::Invite, &verified.hash())
                        .await?
                        .ok_or(InviteRedeemRefused::InviteNotFound)?;
                    continue;
                }
                other => other?,
            }
            return Ok(Registered { practice, client_id, username });
        }
    }

    // ---------------------------------------------------------------- enable / disable (staff)

    /// Turns an account on or off. Disabling voids a pending reset and revokes every session;
    /// enabling clears the sign-in lock. Repeating a toggle changes nothing.
    ///
    /// # Errors
    /// `ClientNotFound`, `NoAccount`, or infrastructure.
    pub async fn set_enabled(
        &self,
        staff: &StaffContext,
        id: ClientId,
        enabled: bool,
        reason: Option<DisableReason>,
    ) -> Result<PortalStatus, ToggleError> {
        self.client_of(staff.practice(), id).await?.ok_or(ToggleError::ClientNotFound)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            let mut account = self.store.account(staff.practice(), id).await?;
            let toggled = if enabled { account.enable()? } else { account.disable(reason.clone(), now)? };
            let status = account.status(now);
            if toggled == Toggled::Unchanged {
                return Ok(status);
            }
            let mut audit = Vec::new();
            if enabled {
                audit.push(self.audit(
                    now,
                    staff.practice(),
                    Some(id),
                    staff.actor(),
                    AuditAction::AccountEnabled,
                    &staff.request,
                )?);
            } else {
                let mut disabled = self.audit(
                    now,
                    staff.practice(),
                    Some(id),
                    staff.actor(),
                    AuditAction::AccountDisabled,
                    &staff.request,
                )?;
                disabled.detail = reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty());
                audit.push(disabled);
                audit.push(self.audit(
                    now,
                    staff.practice(),
                    Some(id),
                    staff.actor(),
                    AuditAction::SessionsRevoked,
                    &staff.request,
                )?);
            }
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit,
                revoke_sessions: !enabled,
                clear_throttle: true,
            };
            match self.store.commit(change).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => continue,
                other => other?,
            }
            return Ok(status);
        }
    }

    // ---------------------------------------------------------------- password reset

    /// Sends a password-reset link (voiding any earlier one). The mail never shows the username.
    ///
    /// # Errors
    /// `ClientNotFound`, `NoAccount`, `AccountDisabled`, `NoEmailOnFile`, `EmailNotPermitted`,
    /// or infrastructure.
    pub async fn send_reset(&self, staff: &StaffContext, id: ClientId) -> Result<LinkSent, SendResetError> {
        let client = self.client_of(staff.practice(), id).await?.ok_or(SendResetError::ClientNotFound)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            let mut account = self.store.account(staff.practice(), id).await?;
            let replaced_previous = account.reset().is_some_and(|t| t.is_live_at(now));
            let token = self.issue_token(TokenPurpose::Reset, now)?;
            let sent = LinkSent { token_id: token.id, sent_at: now, expires_at: token.expires_at, replaced_previous };
            // The account's state decides first: "no account" must win over "no email".
            account.issue_reset(token)?;
            let email = client.email.clone().ok_or(SendResetError::NoEmailOnFile)?;
            if !client.email_consent {
                return Err(SendResetError::EmailNotPermitted);
            }
            let change = AccountCommit {
                at: now,
                mail: vec![self.mail(
                    &client,
                    &email,
                    MailKind::PasswordReset { token_id: sent.token_id, expires_at: sent.expires_at },
                    now,
                )?],
                audit: vec![self.audit(
                    now,
                    client.practice_id,
                    Some(id),
                    staff.actor(),
                    AuditAction::ResetSent,
                    &staff.request,
                )?],
                account,
                revoke_sessions: false,
                clear_throttle: false,
            };
            match self.store.commit(change).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => continue,
                other => other?,
            }
            return Ok(sent);
        }
    }

    /// Checks a reset link without consuming it.
    ///
    /// # Errors
    /// `ResetNotFound`, `ResetExpired`, `AccountDisabled`, or infrastructure.
    pub async fn verify_reset(&self, token: &str) -> Result<LinkInfo, ResetError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Reset, token).await?.ok_or(ResetRedeemRefused::ResetNotFound)?;
        let expires_at = account.check_reset(&verified.hash(), self.clock.now())?.expires_at;
        Ok(LinkInfo { practice: self.practice_of(&account).await?, expires_at })
    }

    /// Sets a new password from a reset link: consumes the link, revokes every session (the
    /// client is not signed in), clears the sign-in throttle and mails a "password changed"
    /// notice.
    ///
    /// # Errors
    /// `ResetNotFound`, `ResetExpired`, `AccountDisabled`, `WeakPassword`, or infrastructure.
    pub async fn complete_reset(
        &self,
        token: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), ResetError> {
        let (verified, mut account) =
            self.account_for_link(TokenPurpose::Reset, token).await?.ok_or(ResetRedeemRefused::ResetNotFound)?;
        account.check_reset(&verified.hash(), self.clock.now())?;
        let practice = self.practice_of(&account).await?;
        check_password(
            password,
            self.policy.password(),
            &PasswordContext { username: account.username(), practice_name: practice.name.as_str() },
        )?;
        let password_hash = self.hasher.hash(password).await?;
        let client = self.store.client(practice.id, account.client_id()).await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            account.complete_reset(&verified.hash(), password_hash.clone(), now)?;
            let client_id = account.client_id();
            let mut mail = Vec::new();
            if let Some(client) = client.as_ref().filter(|c| c.email_consent)
                && let Some(email) = &client.email
            {
                mail.push(self.mail(client, email, MailKind::PasswordChanged, now)?);
            }
            let audit = vec![
                self.audit(now, practice.id, Some(client_id), Actor::Client, AuditAction::ResetCompleted, context)?,
                self.audit(now, practice.id, Some(client_id), Actor::Client, AuditAction::SessionsRevoked, context)?,
            ];
            let change = AccountCommit { at: now, account, mail, audit, revoke_sessions: true, clear_throttle: true };
            match self.store.commit(change).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    account = self
                        .store
                        .account_by_token(TokenPurpose::Reset, &verified.hash())
                        .await?
                        .ok_or(ResetRedeemRefused::ResetNotFound)?;
                    continue;
                }
                other => other?,
            }
            return Ok(());
        }
    }

    // ---------------------------------------------------------------- sign-in and sessions

    /// Signs a client in. Unknown practice, unknown user, wrong password and a locked key all
    /// answer `InvalidCredentials` after the same hashing work; a disabled account with the
    /// right password answers `AccountDisabled`; an attempt inside the throttle delay answers
    /// `Throttled` without hashing.
    ///
    /// # Errors
    /// As above, or infrastructure (`Busy` when the hashing pool is saturated).
    pub async fn sign_in(
        &self,
        practice_slug: &str,
        username: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<SignedIn, SignInError> {
        let now = self.clock.now();
        let Some(practice) = self.practice_by_slug(practice_slug).await? else {
            self.hasher.verify_dummy(password).await?;
            return Err(SignInError::InvalidCredentials);
        };
        let key = Username::normalise(username);
        let rules = self.policy.throttle();
        let throttle = self.store.throttle(practice.id, &key).await?;
        let failure_audit = |account: Option<&PortalAccount>, reason: &str| -> Result<AuditEvent, RandomnessError> {
            let mut event = self.audit(
                now,
                practice.id,
                account.map(PortalAccount::client_id),
                Actor::Anonymous,
                AuditAction::SignInFailed,
                context,
            )?;
            event.failure = Some(reason.to_owned());
            Ok(event)
        };
        match throttle.decide(now, rules) {
            ThrottleDecision::Allow => {}
            ThrottleDecision::Wait { retry_after } => {
                self.store.append(&[failure_audit(None, "throttled")?]).await?;
                return Err(SignInError::Throttled { retry_after });
            }
            ThrottleDecision::Locked { .. } => {
                self.hasher.verify_dummy(password).await?;
                self.store.append(&[failure_audit(None, "locked")?]).await?;
                return Err(SignInError::InvalidCredentials);
            }
        }
        let account = match Username::parse(&key) {
            Ok(name) => self.store.account_by_username(practice.id, &name).await?,
            Err(_) => None,
        };
        let verification = match account.as_ref().and_then(PortalAccount::credentials) {
            Some(credentials) => self.hasher.verify(password, &credentials.password_hash).await?,
            None => {
                self.hasher.verify_dummy(password).await?;
                Verification::Mismatch
            }
        };
        let matched = matches!(verification, Verification::Match { .. });
        let decision = match &account {
            Some(account) => account.sign_in(matched).map(|_| ()),
            None => Err(SignInRefused::InvalidCredentials),
        };
        match decision {
            Err(SignInRefused::InvalidCredentials) => {
                let state = self.store.record_failure(practice.id, &key, now).await?;
                let mut events = vec![failure_audit(account.as_ref(), "invalid_credentials")?];
                if state.failures == rules.hard_lock_after {
                    let mut locked = failure_audit(account.as_ref(), "locked")?;
                    locked.action = AuditAction::SignInLocked;
                    events.push(locked);
                }
                self.store.append(&events).await?;
                Err(SignInError::InvalidCredentials)
            }
            Err(SignInRefused::AccountDisabled) => {
                self.store.append(&[failure_audit(account.as_ref(), "account_disabled")?]).await?;
                Err(SignInError::AccountDisabled)
            }
            Ok(()) => {
                let Some(account) = account else { return Err(SignInError::InvalidCredentials) };
                self.store.clear_throttle(practice.id, &key).await?;
                if matches!(verification, Verification::Match { needs_upgrade: true }) {
                    self.upgrade_hash(account.clone(), password, context).await?;
                }
                self.open_session(&account, now, context).await
            }
        }
    }

    async fn upgrade_hash(
        &self,
        mut account: PortalAccount,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), SignInError> {
        let upgraded = self.hasher.hash(password).await?;
        let now = self.clock.now();
        account.upgrade_hash(upgraded);
        let audit = self.audit(
            now,
            account.practice_id(),
            Some(account.client_id()),
            Actor::System,
            AuditAction::PasswordHashUpgraded,
            context,
        )?;
        let change = AccountCommit {
            at: now,
            account,
            mail: vec![],
            audit: vec![audit],
            revoke_sessions: false,
            clear_throttle: false,
        };
        match self.store.commit(change).await {
            // Someone changed the account meanwhile (e.g. a reset): the next sign-in upgrades.
            Err(StoreError::Conflict) => Ok(()),
            other => Ok(other?),
        }
    }

    async fn open_session(
        &self,
        account: &PortalAccount,
        now: Timestamp,
        context: &RequestContext,
    ) -> Result<SignedIn, SignInError> {
        let token = BearerSecret::generate(SESSION_TOKEN_PREFIX, &self.random)?;
        let session = Session {
            id: SessionId::generate(&self.random)?,
            token_hash: token.hash(),
            practice_id: account.practice_id(),
            client_id: account.client_id(),
            created_at: now,
            last_seen_at: now,
        };
        let audit = self.audit(
            now,
            account.practice_id(),
            Some(account.client_id()),
            Actor::Client,
            AuditAction::SignInSucceeded,
            context,
        )?;
        self.store.create_session(&session, &audit).await?;
        let expires_at = session.expires_at(&self.policy);
        Ok(SignedIn { token, session, expires_at })
    }

    /// The signed-in client behind a session token; records the use (idle timeout restarts).
    ///
    /// # Errors
    /// `Unauthenticated` for an unknown, expired or revoked session, or one whose account is no
    /// longer active; or infrastructure.
    pub async fn authenticate_session(&self, token: &str) -> Result<ClientSession, SessionError> {
        let now = self.clock.now();
        let hash = BearerSecret::presented(token).hash();
        let session = self.store.session_by_token(&hash).await?.ok_or(SessionError::Unauthenticated)?;
        if !session.is_valid_at(now, &self.policy) {
            return Err(SessionError::Unauthenticated);
        }
        let account = self.store.account(session.practice_id, session.client_id).await?;
        let username = match account.state() {
            crate::AccountState::Active(credentials) => credentials.username.clone(),
            _ => return Err(SessionError::Unauthenticated),
        };
        let practice = self.store.practice(session.practice_id).await?.ok_or(SessionError::Unauthenticated)?;
        let client =
            self.store.client(session.practice_id, session.client_id).await?.ok_or(SessionError::Unauthenticated)?;
        self.store.touch_session(session.id, now).await?;
        let session = Session { last_seen_at: now, ..session };
        Ok(ClientSession { session, username, practice, client_name: client.name })
    }

    /// Signs out: deletes the session. Unknown tokens are accepted silently (idempotent).
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn sign_out(&self, token: &str, context: &RequestContext) -> Result<(), SessionError> {
        let hash = BearerSecret::presented(token).hash();
        if let Some(session) = self.store.session_by_token(&hash).await? {
            let audit = self.audit(
                self.clock.now(),
                session.practice_id,
                Some(session.client_id),
                Actor::Client,
                AuditAction::SignedOut,
                context,
            )?;
            self.store.revoke_session(session.id, &audit).await?;
        }
        Ok(())
    }
}
