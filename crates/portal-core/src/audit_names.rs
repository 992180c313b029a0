//! The names of the audit trail: what happened ([`AuditAction`]) and why an attempt was refused
//! ([`AuditFailure`]), each stored and shown by a stable name.

/// What happened. Names are stable: they are stored and shown to staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A client record was created.
    ClientCreated,
    /// A client record was changed.
    ClientUpdated,
    /// An invitation was sent (first time).
    InviteSent,
    /// An invitation was sent again, voiding the previous link.
    InviteResent,
    /// The client registered a username and password.
    Registered,
    /// Staff turned the account off.
    AccountDisabled,
    /// Staff turned the account on.
    AccountEnabled,
    /// A password-reset link was sent.
    ResetSent,
    /// The client set a new password from a reset link.
    ResetCompleted,
    /// A sign-in succeeded.
    SignInSucceeded,
    /// A sign-in failed (wrong password, unknown user, locked, disabled, throttled).
    SignInFailed,
    /// The throttle reached its hard lock.
    SignInLocked,
    /// The client signed out.
    SignedOut,
    /// Sessions were revoked (by disable or reset).
    SessionsRevoked,
    /// A stored hash was upgraded to the current parameters.
    PasswordHashUpgraded,
    /// A staff key was created (by the command line).
    StaffKeyCreated,
    /// A staff key was revoked; its staff sessions ended with it.
    StaffKeyRevoked,
    /// A staff member signed in to the staff pages with a key.
    StaffSignedIn,
    /// A staff sign-in with a key of the practice was refused (revoked or expired key).
    StaffSignInFailed,
    /// A staff member signed out of the staff pages.
    StaffSignedOut,
    /// Staff changed the practice's name, zone, mail discretion or portal settings (the detail
    /// names the settings changed).
    PracticeUpdated,
    /// A wrong date of birth was given on an emailed link.
    DateOfBirthRefused,
    /// An emailed link was voided after too many wrong dates of birth.
    LinkVoided,
    /// A client asked for a password reset from the sign-in page (refused with a failure when
    /// no mail was sent; the client is told the same either way).
    ResetRequested,
    /// The reminder of an unused invitation was queued.
    InviteReminderQueued,
    /// The client enrolled a second factor (the detail names its kind).
    SecondFactorEnrolled,
    /// A second factor was removed, by the client or by staff (the detail names its kind).
    SecondFactorRemoved,
    /// A second factor was accepted at sign-in (the detail names its kind).
    SecondFactorUsed,
    /// A second step of sign-in was refused (wrong or replayed code, throttled, disabled).
    SecondFactorRefused,
    /// The client's recovery codes were made anew, voiding the old ones.
    RecoveryCodesRegenerated,
}

impl AuditAction {
    /// Every action, for adapters that map names back.
    pub const ALL: [Self; 30] = [
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::InviteSent,
        Self::InviteResent,
        Self::Registered,
        Self::AccountDisabled,
        Self::AccountEnabled,
        Self::ResetSent,
        Self::ResetCompleted,
        Self::SignInSucceeded,
        Self::SignInFailed,
        Self::SignInLocked,
        Self::SignedOut,
        Self::SessionsRevoked,
        Self::PasswordHashUpgraded,
        Self::StaffKeyCreated,
        Self::StaffKeyRevoked,
        Self::StaffSignedIn,
        Self::StaffSignInFailed,
        Self::StaffSignedOut,
        Self::PracticeUpdated,
        Self::DateOfBirthRefused,
        Self::LinkVoided,
        Self::ResetRequested,
        Self::InviteReminderQueued,
        Self::SecondFactorEnrolled,
        Self::SecondFactorRemoved,
        Self::SecondFactorUsed,
        Self::SecondFactorRefused,
        Self::RecoveryCodesRegenerated,
    ];

    /// Stable snake-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ClientCreated => "client_created",
            Self::ClientUpdated => "client_updated",
            Self::InviteSent => "invite_sent",
            Self::InviteResent => "invite_resent",
            Self::Registered => "registered",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::ResetSent => "reset_sent",
            Self::ResetCompleted => "reset_completed",
            Self::SignInSucceeded => "sign_in_succeeded",
            Self::SignInFailed => "sign_in_failed",
            Self::SignInLocked => "sign_in_locked",
            Self::SignedOut => "signed_out",
            Self::SessionsRevoked => "sessions_revoked",
            Self::PasswordHashUpgraded => "password_hash_upgraded",
            Self::StaffKeyCreated => "staff_key_created",
            Self::StaffKeyRevoked => "staff_key_revoked",
            Self::StaffSignedIn => "staff_signed_in",
            Self::StaffSignInFailed => "staff_sign_in_failed",
            Self::StaffSignedOut => "staff_signed_out",
            Self::PracticeUpdated => "practice_updated",
            Self::DateOfBirthRefused => "date_of_birth_refused",
            Self::LinkVoided => "link_voided",
            Self::ResetRequested => "reset_requested",
            Self::InviteReminderQueued => "invite_reminder_queued",
            Self::SecondFactorEnrolled => "second_factor_enrolled",
            Self::SecondFactorRemoved => "second_factor_removed",
            Self::SecondFactorUsed => "second_factor_used",
            Self::SecondFactorRefused => "second_factor_refused",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        }
    }

    /// Inverse of [`AuditAction::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }
}

/// Why an audited attempt was refused: one variant per refusal the use cases record. Stored and
/// shown to API callers as its [`code`](AuditFailure::as_str), which never changes for a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditFailure {
    /// Wrong password, or a username with no registered account.
    InvalidCredentials,
    /// The account is turned off.
    AccountDisabled,
    /// Too soon after the last failure (answered 429 without checking the password).
    Throttled,
    /// The username is locked after too many failures (written when the lock starts, and for
    /// each attempt while it holds).
    Locked,
    /// A staff key that was revoked was presented.
    KeyRevoked,
    /// A staff key past its expiry was presented.
    KeyExpired,
    /// A client-started reset named a username and email that match no active account.
    NoMatch,
    /// A client-started reset named the client's username and email, or an invitation was due
    /// its reminder, but the client asked not to be emailed, so nothing was sent.
    EmailNotPermitted,
    /// An invitation was due its reminder, but the client's record no longer holds an email
    /// address, so nothing was sent.
    NoEmailOnFile,
    /// A second-step code (TOTP or recovery code) that is wrong.
    InvalidCode,
    /// A TOTP code whose time step was already used (a replay).
    ReplayedCode,
    /// A passkey answer that did not verify: another site's, another challenge's, an unknown
    /// or removed passkey, a cloned authenticator's, or no user verification.
    InvalidPasskey,
    /// A stored code this version does not know (written by another version of the portal):
    /// kept as stored so the trail still reads. Only [`AuditFailure::parse`] makes one.
    Unrecognised(UnrecognisedFailure),
}

/// A stored refusal code that is none of [`AuditFailure`]'s known ones. Its field is private so
/// a use case cannot record free text, and a known code never hides in here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrecognisedFailure(pub(super) String);

impl UnrecognisedFailure {
    /// The code as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AuditFailure {
    /// Every refusal this version records.
    pub const KNOWN: [Self; 12] = [
        Self::InvalidCredentials,
        Self::AccountDisabled,
        Self::Throttled,
        Self::Locked,
        Self::KeyRevoked,
        Self::KeyExpired,
        Self::NoMatch,
        Self::EmailNotPermitted,
        Self::NoEmailOnFile,
        Self::InvalidCode,
        Self::ReplayedCode,
        Self::InvalidPasskey,
    ];

    /// The stable snake-case code, as stored and as the staff API shows it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "account_disabled",
            Self::Throttled => "throttled",
            Self::Locked => "locked",
            Self::KeyRevoked => "key_revoked",
            Self::KeyExpired => "key_expired",
            Self::NoMatch => "no_match",
            Self::EmailNotPermitted => "email_not_permitted",
            Self::NoEmailOnFile => "no_email",
            Self::InvalidCode => "invalid_code",
            Self::ReplayedCode => "replayed_code",
            Self::InvalidPasskey => "invalid_passkey",
            Self::Unrecognised(code) => code.as_str(),
        }
    }

    /// The failure a stored code names; a code no variant has reads as
    /// [`AuditFailure::Unrecognised`] rather than failing the whole trail.
    ///
    /// ```
    /// use portal_core::AuditFailure;
    /// assert_eq!(AuditFailure::parse("throttled"), AuditFailure::Throttled);
    /// assert_eq!(AuditFailure::parse("from_a_later_version").as_str(), "from_a_later_version");
    /// ```
    #[must_use]
    pub fn parse(code: &str) -> Self {
        Self::KNOWN
            .into_iter()
            .find(|failure| failure.as_str() == code)
            .unwrap_or_else(|| Self::Unrecognised(UnrecognisedFailure(code.to_owned())))
    }
}
