//! # portal-core
//!
//! The pure domain of client-portal credentials for clinical practice software: validated
//! types, the account lifecycle as a state machine with token-expiry rules, policies, the ports
//! (traits) adapters implement, and the application service (use cases) generic over them.
//!
//! Nothing here does network or file IO or reads the wall clock: time arrives through
//! [`Clock`], randomness through [`Randomness`]. See `docs/ARCHITECTURE.md` and
//! `docs/lifecycle.md` in the repository.

pub mod account;
mod client_list;
mod date_of_birth;
mod delivery;
mod hashing;
mod mail_kind;
pub mod password_policy;
mod policy;
pub mod ports;
mod practice_settings;
mod records;
mod reset_requests;
pub mod retention;
pub mod scrypt_hasher;
mod sealer;
pub mod second_factor;
pub mod service;
mod staff;
mod system;
#[cfg(feature = "testing")]
pub mod testing;
mod token;
mod types;
pub mod wording;

pub use account::{AccountState, Credentials, PortalAccount, PortalStatus, PortalStatusKind};
pub use client_list::{
    ClientCursor, ClientListQuery, ClientPage, ClientSearch, CursorError, ListPosition, PageDirection, PageSize,
    prefix_end, search_key,
};
pub use date_of_birth::DateOfBirth;
pub use delivery::{DeliveryCause, DeliveryProblem};
pub use hashing::{HashError, PasswordHash, Verification};
pub use policy::{
    MAX_LINK_TTL, MIN_LINK_TTL, PasswordRules, Policy, PolicyError, PolicySettings, RetentionRules, ThrottleRules,
};
pub use ports::passkeys::{
    DiscoverableAuthenticationState, DiscoverableClaim, DiscoverableSignIn, PasskeyAuthenticationState,
    PasskeyChallenge, PasskeyCredentialId, PasskeyError, PasskeyRegistrationState, PasskeyRelyingParty,
    PasskeyResponse, PasskeyUse, PasskeyUserHandle, RegisteredPasskey, StoredPasskey,
};
pub use ports::{
    AccountCommit, AccountDecision, AccountStore, AuditLog, BoxError, ClientDirectory, Clock, Directory, DueReminder,
    DynPortalService, FactorCommit, FactorStore, MAIL_CANCELLED_DISABLED, MAIL_CANCELLED_SUPERSEDED, MailOutbox,
    MailTransport, PasswordHasher, PortalStore, Randomness, RandomnessError, RenderedEmail, Retention, SealError,
    SecretSealer, SessionStore, StaffAccess, StoreError, ThrottleStore, TransportError,
};
pub use practice_settings::{
    LinkLifetime, PracticeSettingError, PracticeSettings, PracticeSettingsInput, ReminderLead,
};
pub use records::{
    AccountPanel, Actor, AuditAction, AuditEvent, AuditFailure, ClaimedMail, Client, DeliveryState, MailKind,
    OutgoingMail, Practice, RequestContext, Session, StaffMember, ThrottleDecision, ThrottleState, UnrecognisedFailure,
};
pub use reset_requests::{RESET_REQUEST_DAY, RESET_REQUEST_SPACING, RESET_REQUESTS_PER_DAY, ResetRequestHistory};
pub use retention::{DEFAULT_PRUNE_BATCH, PruneCutoffs, PruneKind, PruneReport, prune};
pub use scrypt_hasher::{ScryptHasher, ScryptParams};
pub use sealer::LinkKeySealer;
pub use second_factor::{
    CEREMONY_LIFETIME, CeremonyPurpose, ChallengePurpose, FactorChallenge, FactorSecret, PasskeyCeremony, RecoveryCode,
    SealedSecret, SecondFactor, SecondFactorKind, SecondFactorPolicy, TotpSecret,
};
pub use staff::{STAFF_KEY_USE_GRANULARITY, StaffKeyRecord, StaffKeyState, StaffSession};
pub use system::{OsRandom, SystemClock};
pub use token::{
    BearerSecret, DATE_OF_BIRTH_TRIES, InviteReminder, IssuedToken, LinkKey, LinkToken, MalformedToken, TokenHash,
    TokenPurpose, TokenState, VerifiedToken,
};
pub use types::{
    AuditId, ClientId, DisableReason, DisplayName, EmailAddress, FactorId, InvalidId, InvalidInput, Language, MailId,
    Password, PracticeId, PracticeSlug, SessionId, StaffId, StaffSessionId, TimeZoneName, TokenId, Username,
};
