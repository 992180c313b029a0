//! Client sign-in, sessions and sign-out.

use jiff::{SignedDuration, Timestamp};

use crate::account::{PortalAccount, SignInRefused};
use crate::hashing::Verification;
use crate::ports::{
    AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, RandomnessError, StoreError,
};
use crate::records::{
    Actor, AuditAction, AuditEvent, AuditFailure, Practice, RequestContext, Session, ThrottleDecision,
};
use crate::token::BearerSecret;
use crate::types::{DisplayName, Language, Password, SessionId, Username};

use super::factor_sign_in::SecondStep;
use super::{Infrastructure, PortalService, SESSION_TOKEN_PREFIX};

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
    /// The password was right, and a second step must follow before there is a session: the
    /// account has a second factor, or the practice requires one
    /// ([`PortalService::complete_second_step`], [`PortalService::challenge_confirm_totp`]).
    /// Not a refusal, but never a session: a caller that does not know second factors cannot
    /// open one by mistake.
    #[error("a second sign-in step is needed")]
    SecondFactor(SecondStep),
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
    /// The language of the client's record, for the signed-in pages.
    pub language: Language,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
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
        let failure_audit =
            |account: Option<&PortalAccount>, reason: AuditFailure| -> Result<AuditEvent, RandomnessError> {
                let mut event = self.audit(
                    now,
                    practice.id,
                    account.map(|a| a.client_id().clone()),
                    Actor::Anonymous,
                    AuditAction::SignInFailed,
                    context,
                )?;
                event.failure = Some(reason);
                Ok(event)
            };
        match throttle.decide(now, rules) {
            ThrottleDecision::Allow => {}
            ThrottleDecision::Wait { retry_after } => {
                self.store.append(&[failure_audit(None, AuditFailure::Throttled)?]).await?;
                return Err(SignInError::Throttled { retry_after });
            }
            ThrottleDecision::Locked { .. } => {
                self.hasher.verify_dummy(password).await?;
                self.store.append(&[failure_audit(None, AuditFailure::Locked)?]).await?;
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
                let mut events = vec![failure_audit(account.as_ref(), AuditFailure::InvalidCredentials)?];
                if state.failures == rules.hard_lock_after {
                    let mut locked = failure_audit(account.as_ref(), AuditFailure::Locked)?;
                    locked.action = AuditAction::SignInLocked;
                    events.push(locked);
                }
                self.store.append(&events).await?;
                Err(SignInError::InvalidCredentials)
            }
            Err(SignInRefused::AccountDisabled) => {
                self.store.append(&[failure_audit(account.as_ref(), AuditFailure::AccountDisabled)?]).await?;
                Err(SignInError::AccountDisabled)
            }
            Ok(()) => {
                let Some(account) = account else { return Err(SignInError::InvalidCredentials) };
                if matches!(verification, Verification::Match { needs_upgrade: true }) {
                    self.upgrade_hash(account.clone(), password, context).await?;
                }
                // The throttle is cleared only when the session opens: a right password alone
                // must not reset the count of wrong second-step codes.
                if let Some(step) = self.second_step_for(&practice, &account, now).await? {
                    return Err(SignInError::SecondFactor(step));
                }
                self.store.clear_throttle(practice.id, &key).await?;
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
            Some(account.client_id().clone()),
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

    pub(super) async fn open_session(
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
            client_id: account.client_id().clone(),
            created_at: now,
            last_seen_at: now,
        };
        let audit = self.audit(
            now,
            account.practice_id(),
            Some(account.client_id().clone()),
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
        let account = self.store.account(session.practice_id, &session.client_id).await?;
        let username = match account.state() {
            crate::AccountState::Active(credentials) => credentials.username.clone(),
            _ => return Err(SessionError::Unauthenticated),
        };
        let practice = self.store.practice(session.practice_id).await?.ok_or(SessionError::Unauthenticated)?;
        let client = self
            .directory
            .client(session.practice_id, &session.client_id)
            .await?
            .ok_or(SessionError::Unauthenticated)?;
        self.store.touch_session(session.id, now).await?;
        let session = Session { last_seen_at: now, ..session };
        Ok(ClientSession { session, username, practice, client_name: client.name, language: client.language })
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
