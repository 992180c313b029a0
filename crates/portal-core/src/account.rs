//! The portal account of one client: the lifecycle state machine of design §2.
//!
//! Every transition takes `now` and returns a typed error instead of changing anything when the
//! rule forbids it. Nothing here reads a clock, draws randomness or does IO.

use jiff::Timestamp;

use crate::hashing::PasswordHash;
use crate::reset_requests::ResetRequestHistory;
use crate::token::{InviteReminder, IssuedToken, TokenHash, TokenPurpose, TokenState};
use crate::types::{ClientId, DisableReason, PracticeId, Username};

mod refusals;
mod status;

pub use refusals::{
    InviteRedeemRefused, InviteRefused, ReminderNotDue, ResetRedeemRefused, ResetRefused, ResetRequestRefused,
    SignInRefused, ToggleRefused, Toggled,
};
pub use status::{PortalStatus, PortalStatusKind};

/// The credentials of a registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Chosen at registration; never changed afterwards.
    pub username: Username,
    /// Current password hash.
    pub password_hash: PasswordHash,
    /// When the client registered.
    pub registered_at: Timestamp,
    /// When the password was last set.
    pub password_changed_at: Timestamp,
}

/// The account's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountState {
    /// No username or password yet (perhaps invited).
    NoAccount,
    /// Registered and allowed in.
    Active(Credentials),
    /// Registered but turned off by staff: no sign-in, no reset, no mail.
    Disabled {
        /// The credentials, kept for when staff turn the account back on.
        credentials: Credentials,
        /// Staff's optional note.
        reason: Option<DisableReason>,
        /// When it was turned off.
        since: Timestamp,
    },
}

/// One client's portal account in one practice: state, the current invite and reset tokens, and
/// the version used for optimistic concurrency.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::account::{InviteRedeemRefused, PortalAccount, PortalStatus};
/// use portal_core::{ClientId, IssuedToken, PracticeId, TokenHash, TokenId, TokenPurpose, TokenState};
///
/// let now = Timestamp::from_second(1_800_000_000).unwrap();
/// let mut account = PortalAccount::new(PracticeId::from_uuid(uuid::Uuid::from_u128(1)), ClientId::parse("MRN-0042")?);
/// let invite = IssuedToken {
///     id: TokenId::from_uuid(uuid::Uuid::from_u128(3)),
///     purpose: TokenPurpose::Invite,
///     hash: TokenHash::of(b"secret"),
///     issued_at: now,
///     expires_at: now + SignedDuration::from_hours(48),
///     state: TokenState::Live,
///     date_of_birth_failures: 0,
///     reminder: None,
/// };
/// account.issue_invite(invite)?;
/// assert!(matches!(account.status(now), PortalStatus::Invited { .. }));
/// let later = now + SignedDuration::from_hours(48);
/// assert_eq!(account.check_invite(&TokenHash::of(b"secret"), later), Err(InviteRedeemRefused::InviteExpired));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalAccount {
    practice_id: PracticeId,
    client_id: ClientId,
    version: u64,
    state: AccountState,
    invite: Option<IssuedToken>,
    reset: Option<IssuedToken>,
    reset_requests: ResetRequestHistory,
}

impl PortalAccount {
    /// A client's account before anything happened: no account, no invitation, version 0.
    #[must_use]
    pub fn new(practice_id: PracticeId, client_id: ClientId) -> Self {
        Self {
            practice_id,
            client_id,
            version: 0,
            state: AccountState::NoAccount,
            invite: None,
            reset: None,
            reset_requests: ResetRequestHistory::default(),
        }
    }

    /// Rebuilds an account from storage. Adapters only.
    #[must_use]
    pub fn restore(
        practice_id: PracticeId,
        client_id: ClientId,
        version: u64,
        state: AccountState,
        invite: Option<IssuedToken>,
        reset: Option<IssuedToken>,
    ) -> Self {
        Self { practice_id, client_id, version, state, invite, reset, reset_requests: ResetRequestHistory::default() }
    }

    /// Adds the stored history of client-started reset mails to an account rebuilt with
    /// [`PortalAccount::restore`]. Adapters only.
    #[must_use]
    pub fn with_reset_requests(mut self, history: ResetRequestHistory) -> Self {
        self.reset_requests = history;
        self
    }

    /// What the account remembers of the reset mails its client asked for (the per-account
    /// limit of client-started resets).
    #[must_use]
    pub fn reset_requests(&self) -> &ResetRequestHistory {
        &self.reset_requests
    }

    /// The practice.
    #[must_use]
    pub fn practice_id(&self) -> PracticeId {
        self.practice_id
    }
    /// The client.
    #[must_use]
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }
    /// The version this value was loaded at (0: never stored). Storage saves it as
    /// `version + 1` only if the stored version is still `version`.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }
    /// The state.
    #[must_use]
    pub fn state(&self) -> &AccountState {
        &self.state
    }
    /// The latest invitation token (live, expired or used), if any.
    #[must_use]
    pub fn invite(&self) -> Option<&IssuedToken> {
        self.invite.as_ref()
    }
    /// The latest reset token (live, expired or used), if any.
    #[must_use]
    pub fn reset(&self) -> Option<&IssuedToken> {
        self.reset.as_ref()
    }
    /// The token of a purpose.
    #[must_use]
    pub fn token(&self, purpose: TokenPurpose) -> Option<&IssuedToken> {
        match purpose {
            TokenPurpose::Invite => self.invite.as_ref(),
            TokenPurpose::Reset => self.reset.as_ref(),
        }
    }
    /// The credentials, when registered (active or disabled).
    #[must_use]
    pub fn credentials(&self) -> Option<&Credentials> {
        match &self.state {
            AccountState::NoAccount => None,
            AccountState::Active(credentials) | AccountState::Disabled { credentials, .. } => Some(credentials),
        }
    }
    /// The username, once registered.
    #[must_use]
    pub fn username(&self) -> Option<&Username> {
        self.credentials().map(|c| &c.username)
    }
    /// True when registered and enabled.
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(self.state, AccountState::Active(_))
    }

    /// The account's current token of `purpose` when `presented` is its hash and it is unused
    /// (it may still be expired or closed by wrong dates of birth: callers decide what that
    /// means).
    fn unused_token(&self, purpose: TokenPurpose, presented: &TokenHash) -> Option<&IssuedToken> {
        self.token(purpose).filter(|t| t.state == TokenState::Live && t.hash.matches(presented))
    }

    /// Counts a wrong date of birth answered on the link `presented`, the account's current
    /// unused token of `purpose`, and answers the tries left (0: the link is now closed and
    /// reads as voided). `None`, counting nothing, when `presented` is not that token (check it
    /// first with [`PortalAccount::check_invite`] or [`PortalAccount::check_reset`]).
    pub fn count_date_of_birth_failure(&mut self, purpose: TokenPurpose, presented: &TokenHash) -> Option<u8> {
        self.unused_token(purpose, presented).filter(|t| !t.is_closed())?;
        let token = match purpose {
            TokenPurpose::Invite => self.invite.as_mut(),
            TokenPurpose::Reset => self.reset.as_mut(),
        }?;
        token.date_of_birth_failures = token.date_of_birth_failures.saturating_add(1);
        Some(token.date_of_birth_tries_left())
    }

    /// What staff see at `now`.
    #[must_use]
    pub fn status(&self, now: Timestamp) -> PortalStatus {
        match &self.state {
            AccountState::Active(credentials) => PortalStatus::Active { username: credentials.username.clone() },
            AccountState::Disabled { credentials, reason, .. } => {
                PortalStatus::Disabled { username: credentials.username.clone(), reason: reason.clone() }
            }
            AccountState::NoAccount => match &self.invite {
                Some(invite) if invite.is_live_at(now) => {
                    PortalStatus::Invited { sent_at: invite.issued_at, expires_at: invite.expires_at }
                }
                Some(invite) if invite.is_expired_at(now) => {
                    PortalStatus::InviteExpired { sent_at: invite.issued_at, expired_at: invite.expires_at }
                }
                _ => PortalStatus::NotInvited,
            },
        }
    }

    /// Sends (or resends) an invitation: the new token replaces, and so voids, any earlier one.
    ///
    /// # Errors
    /// [`InviteRefused::AccountExists`] once the client has registered.
    pub fn issue_invite(&mut self, token: IssuedToken) -> Result<(), InviteRefused> {
        debug_assert_eq!(token.purpose, TokenPurpose::Invite);
        if !matches!(self.state, AccountState::NoAccount) {
            return Err(InviteRefused::AccountExists);
        }
        self.invite = Some(token);
        Ok(())
    }

    /// Checks, without consuming it, that `presented` is this account's live invitation.
    ///
    /// # Errors
    /// [`InviteRedeemRefused::InviteNotFound`] for a voided, used or foreign token (or once
    /// registered); [`InviteRedeemRefused::InviteClosed`] after too many wrong dates of birth;
    /// [`InviteRedeemRefused::InviteExpired`] when `now >= expires_at`.
    pub fn check_invite(&self, presented: &TokenHash, now: Timestamp) -> Result<&IssuedToken, InviteRedeemRefused> {
        match self.unused_token(TokenPurpose::Invite, presented) {
            Some(_) if !matches!(self.state, AccountState::NoAccount) => Err(InviteRedeemRefused::InviteNotFound),
            Some(invite) if invite.is_closed() => Err(InviteRedeemRefused::InviteClosed),
            Some(invite) if invite.is_expired_at(now) => Err(InviteRedeemRefused::InviteExpired),
            Some(invite) => Ok(invite),
            None => Err(InviteRedeemRefused::InviteNotFound),
        }
    }

    /// Checks that invitation `token` is due its one reminder at `now`, given the practice's
    /// `lead`: it is the account's current invitation, the client has not registered, it is
    /// unused and unexpired, it had no reminder yet, and `expires_at - lead <= now`. A lead
    /// longer than the link's lifetime (a practice setting kept across a shorter server
    /// lifetime) makes it due at once.
    ///
    /// # Errors
    /// The [`ReminderNotDue`] reason, changing nothing.
    pub fn reminder_due(
        &self,
        token: crate::types::TokenId,
        lead: jiff::SignedDuration,
        now: Timestamp,
    ) -> Result<&IssuedToken, ReminderNotDue> {
        let invite = self.invite.as_ref().filter(|invite| invite.id == token).ok_or(ReminderNotDue::NotCurrent)?;
        if !matches!(self.state, AccountState::NoAccount) {
            return Err(ReminderNotDue::AccountExists);
        }
        if !invite.is_live_at(now) {
            return Err(ReminderNotDue::LinkNotLive);
        }
        if invite.reminder.is_some() {
            return Err(ReminderNotDue::AlreadyReminded);
        }
        // A lead beyond the representable range means "due at once".
        let due_at = invite.expires_at.checked_sub(lead).unwrap_or(Timestamp::MIN);
        if now < due_at {
            return Err(ReminderNotDue::NotYet);
        }
        Ok(invite)
    }

    /// Records what became of invitation `token`'s reminder, after
    /// [`PortalAccount::reminder_due`] said it was due.
    ///
    /// # Errors
    /// As [`PortalAccount::reminder_due`].
    pub fn record_reminder(
        &mut self,
        token: crate::types::TokenId,
        lead: jiff::SignedDuration,
        outcome: InviteReminder,
    ) -> Result<(), ReminderNotDue> {
        self.reminder_due(token, lead, outcome.at())?;
        if let Some(invite) = self.invite.as_mut() {
            invite.reminder = Some(outcome);
        }
        Ok(())
    }

    /// Registers: consumes the invitation and sets the credentials. Username uniqueness within
    /// the practice is the store's to enforce.
    ///
    /// # Errors
    /// As [`PortalAccount::check_invite`].
    pub fn register(
        &mut self,
        presented: &TokenHash,
        username: Username,
        password_hash: PasswordHash,
        now: Timestamp,
    ) -> Result<(), InviteRedeemRefused> {
        self.check_invite(presented, now)?;
        if let Some(invite) = self.invite.as_mut() {
            invite.state = TokenState::Used { at: now };
        }
        self.state =
            AccountState::Active(Credentials { username, password_hash, registered_at: now, password_changed_at: now });
        Ok(())
    }

    /// Turns the account off: voids any pending reset (sessions are revoked by the service).
    ///
    /// # Errors
    /// [`ToggleRefused::NoAccount`] before registration.
    pub fn disable(&mut self, reason: Option<DisableReason>, now: Timestamp) -> Result<Toggled, ToggleRefused> {
        match std::mem::replace(&mut self.state, AccountState::NoAccount) {
            AccountState::NoAccount => Err(ToggleRefused::NoAccount),
            AccountState::Disabled { credentials, reason: old, since } => {
                self.state = AccountState::Disabled { credentials, reason: old, since };
                Ok(Toggled::Unchanged)
            }
            AccountState::Active(credentials) => {
                self.state = AccountState::Disabled { credentials, reason, since: now };
                self.reset = self.reset.take().filter(|t| t.state != TokenState::Live);
                Ok(Toggled::Changed)
            }
        }
    }

    /// Turns the account back on. Brings back neither the voided reset nor any session.
    ///
    /// # Errors
    /// [`ToggleRefused::NoAccount`] before registration.
    pub fn enable(&mut self) -> Result<Toggled, ToggleRefused> {
        match std::mem::replace(&mut self.state, AccountState::NoAccount) {
            AccountState::NoAccount => Err(ToggleRefused::NoAccount),
            AccountState::Active(credentials) => {
                self.state = AccountState::Active(credentials);
                Ok(Toggled::Unchanged)
            }
            AccountState::Disabled { credentials, .. } => {
                self.state = AccountState::Active(credentials);
                Ok(Toggled::Changed)
            }
        }
    }

    /// Sends a password reset: the new token voids any earlier one.
    ///
    /// # Errors
    /// [`ResetRefused::NoAccount`] before registration, [`ResetRefused::AccountDisabled`] when
    /// disabled.
    pub fn issue_reset(&mut self, token: IssuedToken) -> Result<(), ResetRefused> {
        debug_assert_eq!(token.purpose, TokenPurpose::Reset);
        match self.state {
            AccountState::NoAccount => Err(ResetRefused::NoAccount),
            AccountState::Disabled { .. } => Err(ResetRefused::AccountDisabled),
            AccountState::Active(_) => {
                self.reset = Some(token);
                Ok(())
            }
        }
    }

    /// A reset the client asked for (from the sign-in page, not staff): as
    /// [`PortalAccount::issue_reset`], within the per-account limit of
    /// [`ResetRequestHistory`], which counts the mail.
    ///
    /// # Errors
    /// [`ResetRequestRefused::NoAccount`] before registration,
    /// [`ResetRequestRefused::AccountDisabled`] when disabled (a disabled account gets no
    /// mail), [`ResetRequestRefused::Throttled`] when the limit holds; nothing changes.
    pub fn request_reset(&mut self, token: IssuedToken, now: Timestamp) -> Result<(), ResetRequestRefused> {
        match self.state {
            AccountState::NoAccount => return Err(ResetRequestRefused::NoAccount),
            AccountState::Disabled { .. } => return Err(ResetRequestRefused::AccountDisabled),
            AccountState::Active(_) => {}
        }
        if let Some(until) = self.reset_requests.next_allowed_at(now) {
            return Err(ResetRequestRefused::Throttled { until });
        }
        self.issue_reset(token).map_err(|refused| match refused {
            ResetRefused::NoAccount => ResetRequestRefused::NoAccount,
            ResetRefused::AccountDisabled => ResetRequestRefused::AccountDisabled,
        })?;
        self.reset_requests.record(now);
        Ok(())
    }

    /// Checks, without consuming it, that `presented` is this account's live reset token.
    ///
    /// # Errors
    /// [`ResetRedeemRefused::AccountDisabled`] when disabled (checked first, so a disabled
    /// client is told why), else `ResetNotFound`, `ResetClosed` (too many wrong dates of birth)
    /// or `ResetExpired`.
    pub fn check_reset(&self, presented: &TokenHash, now: Timestamp) -> Result<&IssuedToken, ResetRedeemRefused> {
        if matches!(self.state, AccountState::Disabled { .. }) {
            return Err(ResetRedeemRefused::AccountDisabled);
        }
        match self.unused_token(TokenPurpose::Reset, presented) {
            Some(_) if !self.is_active() => Err(ResetRedeemRefused::ResetNotFound),
            Some(reset) if reset.is_closed() => Err(ResetRedeemRefused::ResetClosed),
            Some(reset) if reset.is_expired_at(now) => Err(ResetRedeemRefused::ResetExpired),
            Some(reset) => Ok(reset),
            None => Err(ResetRedeemRefused::ResetNotFound),
        }
    }

    /// Completes a reset: consumes the token and replaces the password hash.
    ///
    /// # Errors
    /// As [`PortalAccount::check_reset`].
    pub fn complete_reset(
        &mut self,
        presented: &TokenHash,
        password_hash: PasswordHash,
        now: Timestamp,
    ) -> Result<(), ResetRedeemRefused> {
        self.check_reset(presented, now)?;
        if let Some(reset) = self.reset.as_mut() {
            reset.state = TokenState::Used { at: now };
        }
        if let AccountState::Active(credentials) = &mut self.state {
            credentials.password_hash = password_hash;
            credentials.password_changed_at = now;
        }
        Ok(())
    }

    /// Replaces the hash with an upgraded one of the same password (after a sign-in that
    /// reported `needs_upgrade`). Does nothing unless active.
    pub fn upgrade_hash(&mut self, password_hash: PasswordHash) {
        if let AccountState::Active(credentials) = &mut self.state {
            credentials.password_hash = password_hash;
        }
    }

    /// Decides a sign-in once the password was checked against [`PortalAccount::credentials`].
    ///
    /// # Errors
    /// [`SignInRefused::InvalidCredentials`] when the password did not match or there is no
    /// account; [`SignInRefused::AccountDisabled`] for the right password on a disabled account.
    pub fn sign_in(&self, password_matched: bool) -> Result<&Credentials, SignInRefused> {
        match (&self.state, password_matched) {
            (_, false) | (AccountState::NoAccount, true) => Err(SignInRefused::InvalidCredentials),
            (AccountState::Disabled { .. }, true) => Err(SignInRefused::AccountDisabled),
            (AccountState::Active(credentials), true) => Ok(credentials),
        }
    }
}

#[cfg(test)]
#[path = "account_tests.rs"]
mod tests;
