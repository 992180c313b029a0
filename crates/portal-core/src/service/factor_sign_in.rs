//! The second step of sign-in: after a right password, an account with a factor (or a client
//! of a practice that requires one) gets a short-lived, single-use challenge instead of a
//! session ([`SignInError::SecondFactor`]); the challenge and a TOTP or recovery code then open
//! the session, or, when the practice requires a factor the account lacks, the challenge allows
//! only enrolling one (then the session). The sign-in throttle of the username covers every
//! attempt, and a disabled account is refused at every step.

use jiff::{SignedDuration, Timestamp};

use crate::account::PortalAccount;
use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, RandomnessError};
use crate::records::{
    Actor, AuditAction, AuditEvent, AuditFailure, MailKind, Practice, RequestContext, ThrottleDecision,
};
use crate::second_factor::{
    CHALLENGE_LIFETIME, CHALLENGE_PREFIX, ChallengePurpose, FactorChallenge, FactorSecret, RecoveryCode,
    SecondFactorKind, SecondFactorPolicy, TotpSecret, recovery_code_hash,
};
use crate::token::BearerSecret;
use crate::types::{FactorId, Username};

use super::second_factors::{FactorEnrolled, FactorError, FactorOwner, TotpEnrolment};
use super::sessions::{SignInError, SignedIn};
use super::{Infrastructure, PortalService};

/// What a right password answers when a second step must follow: the challenge (shown to the
/// client once, stored hashed) and what it allows.
#[derive(Debug)]
pub struct SecondStep {
    /// The challenge's bearer secret.
    pub challenge: BearerSecret,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The kinds of factor it accepts (or, when `enrolment_required`, that may be enrolled).
    pub factors: Vec<SecondFactorKind>,
    /// The practice requires a factor and the account has none: enrol one first.
    pub enrolment_required: bool,
}

/// A second-step answer.
#[derive(Debug, Clone, Copy)]
pub enum FactorAnswer<'a> {
    /// A code of an authenticator app.
    Totp(&'a str),
    /// One of the recovery codes.
    RecoveryCode(&'a str),
    /// A passkey's answer to the ceremony [`PortalService::challenge_start_passkey`] started.
    Passkey {
        /// The ceremony's id.
        ceremony: &'a str,
        /// The browser's answer.
        response: &'a crate::PasskeyResponse,
    },
}

/// Refusals of the second step.
#[derive(Debug, thiserror::Error)]
pub enum SecondStepError {
    /// Unknown, expired or used challenge, or one for the other purpose: sign in again.
    #[error("the sign-in step expired; sign in again")]
    ChallengeInvalid,
    /// The code is wrong or was used before.
    #[error("the code is not right")]
    InvalidCode,
    /// The passkey's answer did not verify, or its ceremony is unknown, lapsed or finished:
    /// start the passkey again.
    #[error("the passkey was not accepted")]
    PasskeyRejected,
    /// The account was disabled meanwhile.
    #[error("the portal account is disabled")]
    AccountDisabled,
    /// Too many recent failures: try again after `retry_after`.
    #[error("too many failed attempts; retry later")]
    Throttled {
        /// How long to wait.
        retry_after: SignedDuration,
    },
    /// An enrolment refusal (a bad name, no TOTP on this server).
    #[error(transparent)]
    Enrolment(FactorError),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

impl From<crate::StoreError> for SecondStepError {
    fn from(error: crate::StoreError) -> Self {
        Self::Infrastructure(error.into())
    }
}

impl From<RandomnessError> for SecondStepError {
    fn from(error: RandomnessError) -> Self {
        Self::Infrastructure(error.into())
    }
}

/// What a live challenge stands for.
pub(super) struct Challenged {
    challenge: FactorChallenge,
    pub(super) owner: FactorOwner,
    account: PortalAccount,
    throttle_key: String,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// The second step a right password leads to, if any: a challenge when the account has a
    /// confirmed factor (whatever the policy: turning factors off never weakens an account
    /// silently), or when the practice requires one.
    pub(super) async fn second_step_for(
        &self,
        practice: &Practice,
        account: &PortalAccount,
        now: Timestamp,
    ) -> Result<Option<SecondStep>, SignInError> {
        let client = account.client_id();
        let factors = self.store.factors(practice.id, client).await?;
        // A passkey needs the relying party to be checked: without one, it is not offered.
        let usable = |kind: &SecondFactorKind| *kind != SecondFactorKind::Passkey || self.passkeys.is_some();
        let mut kinds: Vec<SecondFactorKind> =
            factors.iter().filter(|f| f.is_confirmed()).map(|f| f.kind()).filter(usable).collect();
        kinds.sort();
        kinds.dedup();
        let purpose = if factors.iter().any(|f| f.is_confirmed()) {
            if self.store.recovery_codes_left(practice.id, client).await? > 0 {
                kinds.push(SecondFactorKind::RecoveryCode);
            }
            ChallengePurpose::Verify
        } else if practice.settings.second_factor_policy() == SecondFactorPolicy::Required {
            if self.sealer.is_some() {
                kinds.push(SecondFactorKind::Totp);
            }
            if self.passkeys.is_some() {
                kinds.push(SecondFactorKind::Passkey);
            }
            kinds.sort();
            ChallengePurpose::Enrol
        } else {
            return Ok(None);
        };
        let token = BearerSecret::generate(CHALLENGE_PREFIX, &self.random)?;
        let expires_at = now.saturating_add(CHALLENGE_LIFETIME).unwrap_or(now);
        let challenge = FactorChallenge {
            hash: token.hash(),
            practice_id: practice.id,
            client_id: client.clone(),
            purpose,
            created_at: now,
            expires_at,
        };
        self.store.create_challenge(&challenge).await?;
        Ok(Some(SecondStep {
            challenge: token,
            expires_at,
            factors: kinds,
            enrolment_required: purpose == ChallengePurpose::Enrol,
        }))
    }

    /// Completes a sign-in with the challenge and a code: a TOTP code of one of the account's
    /// apps (±1 step, each step once) or an unused recovery code (used up, and mailed). A
    /// wrong code counts as a failed sign-in of the username.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `InvalidCode`, `AccountDisabled`, `Throttled`, or infrastructure.
    pub async fn complete_second_step(
        &self,
        challenge: &str,
        answer: FactorAnswer<'_>,
        context: &RequestContext,
    ) -> Result<SignedIn, SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Verify, now, context).await?;
        let (practice, client) = (found.owner.practice.id, &found.owner.client_id);
        let used = self.audit_for(&found, Actor::Client, AuditAction::SecondFactorUsed, context, now)?;
        let accepted = match answer {
            FactorAnswer::Totp(code) => {
                let Some(sealer) = self.sealer.as_ref() else { return Err(SecondStepError::InvalidCode) };
                let mut outcome = Err(AuditFailure::InvalidCode);
                for factor in self.store.factors(practice, client).await?.iter().filter(|f| f.is_confirmed()) {
                    let FactorSecret::Totp { sealed, last_step } = &factor.secret else { continue };
                    let opened = sealer.open(sealed, &factor.seal_context()).map_err(|_| {
                        // A secret that does not open is a broken key or corrupt data.
                        crate::StoreError::Corrupt("a sealed secret did not open".into())
                    })?;
                    let secret = TotpSecret::from_bytes(secrecy::ExposeSecret::expose_secret(&opened).to_vec());
                    let Some(step) = secret.matching_step(code, now) else { continue };
                    let mut event = used.clone();
                    event.detail = Some(SecondFactorKind::Totp.name().to_owned());
                    outcome = if last_step.is_some_and(|last| step <= last) {
                        Err(AuditFailure::ReplayedCode)
                    } else if self.store.use_totp_step(factor.id, step, now, &[event]).await? {
                        Ok(())
                    } else {
                        Err(AuditFailure::ReplayedCode)
                    };
                    break;
                }
                outcome
            }
            FactorAnswer::RecoveryCode(code) => match RecoveryCode::normalise(code) {
                Some(normalised) => {
                    let hash = recovery_code_hash(&self.link_key, practice, client, &normalised);
                    let mut event = used.clone();
                    event.detail = Some(SecondFactorKind::RecoveryCode.name().to_owned());
                    let mail = self.factor_notice(practice, client, MailKind::RecoveryCodeUsed, now).await?;
                    if self.store.use_recovery_code(practice, client, &hash, now, &[event], &mail).await? {
                        Ok(())
                    } else {
                        Err(AuditFailure::InvalidCode)
                    }
                }
                None => Err(AuditFailure::InvalidCode),
            },
            FactorAnswer::Passkey { ceremony, response } => {
                self.second_step_passkey(practice, client, ceremony, response, used, now).await?
            }
        };
        if let Err(failure) = accepted {
            return Err(self.refuse_code(&found, failure, context, now).await);
        }
        self.finish_second_step(&found, now, context).await
    }

    /// Starts enrolling an authenticator app with an enrolment challenge (the practice requires
    /// a factor the account lacks). The challenge stays valid for the confirmation.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `AccountDisabled`, `Enrolment`, or infrastructure.
    pub async fn challenge_start_totp(
        &self,
        challenge: &str,
        context: &RequestContext,
    ) -> Result<TotpEnrolment, SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Enrol, now, context).await?;
        self.start_totp(&found.owner).await.map_err(enrolment_error)
    }

    /// The enrolment an enrolment challenge started, shown again (after a wrong code).
    ///
    /// # Errors
    /// `ChallengeInvalid`, `AccountDisabled`, `Enrolment` (`FactorNotFound`: lapsed), or
    /// infrastructure.
    pub async fn challenge_pending_totp(
        &self,
        challenge: &str,
        factor_id: FactorId,
        context: &RequestContext,
    ) -> Result<TotpEnrolment, SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Enrol, now, context).await?;
        self.pending_totp(&found.owner, factor_id).await.map_err(enrolment_error)
    }

    /// The practice of a live challenge (for a page shown again), without using it.
    ///
    /// # Errors
    /// Infrastructure only; an unknown or expired challenge is `Ok(None)`.
    pub async fn challenge_practice(&self, challenge: &str) -> Result<Option<Practice>, Infrastructure> {
        let hash = BearerSecret::presented(challenge).hash();
        let Some(found) = self.store.challenge(&hash).await?.filter(|c| c.is_live_at(self.clock.now())) else {
            return Ok(None);
        };
        Ok(self.store.practice(found.practice_id).await?)
    }

    /// Confirms the enrolment an enrolment challenge started, then opens the session (the
    /// challenge is used up). A wrong code counts as a failed sign-in of the username.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `InvalidCode`, `AccountDisabled`, `Throttled`, `Enrolment`, or
    /// infrastructure.
    pub async fn challenge_confirm_totp(
        &self,
        challenge: &str,
        factor_id: FactorId,
        code: &str,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<(SignedIn, FactorEnrolled), SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Enrol, now, context).await?;
        let enrolled = match self.confirm_totp(&found.owner, factor_id, code, name, context).await {
            Ok(enrolled) => enrolled,
            Err(FactorError::InvalidCode) => {
                return Err(self.refuse_code(&found, AuditFailure::InvalidCode, context, now).await);
            }
            Err(other) => return Err(enrolment_error(other)),
        };
        Ok((self.finish_second_step(&found, now, context).await?, enrolled))
    }

    /// The live challenge of `purpose` behind `presented`, its client active and its username
    /// not throttled.
    pub(super) async fn challenged(
        &self,
        presented: &str,
        purpose: ChallengePurpose,
        now: Timestamp,
        context: &RequestContext,
    ) -> Result<Challenged, SecondStepError> {
        let hash = BearerSecret::presented(presented).hash();
        let challenge = self
            .store
            .challenge(&hash)
            .await?
            .filter(|c| c.is_live_at(now) && c.purpose == purpose)
            .ok_or(SecondStepError::ChallengeInvalid)?;
        let practice = self.store.practice(challenge.practice_id).await?.ok_or(SecondStepError::ChallengeInvalid)?;
        let account = self.store.account(practice.id, &challenge.client_id).await?;
        let Some(username) = account.username().cloned() else { return Err(SecondStepError::ChallengeInvalid) };
        let found = Challenged {
            throttle_key: Username::normalise(username.as_str()),
            owner: FactorOwner { practice, client_id: challenge.client_id.clone(), username },
            challenge,
            account,
        };
        if !matches!(found.account.state(), crate::AccountState::Active(_)) {
            let mut event = self.audit_for(&found, Actor::Anonymous, AuditAction::SecondFactorRefused, context, now)?;
            event.failure = Some(AuditFailure::AccountDisabled);
            self.store.append(&[event]).await?;
            return Err(SecondStepError::AccountDisabled);
        }
        let throttle = self.store.throttle(found.owner.practice.id, &found.throttle_key).await?;
        let refused = match throttle.decide(now, self.policy.throttle()) {
            ThrottleDecision::Allow => return Ok(found),
            ThrottleDecision::Wait { retry_after } => {
                (AuditFailure::Throttled, SecondStepError::Throttled { retry_after })
            }
            ThrottleDecision::Locked { .. } => (AuditFailure::Locked, SecondStepError::InvalidCode),
        };
        let mut event = self.audit_for(&found, Actor::Anonymous, AuditAction::SecondFactorRefused, context, now)?;
        event.failure = Some(refused.0);
        self.store.append(&[event]).await?;
        Err(refused.1)
    }

    /// Counts a wrong code (or passkey answer) as a failed sign-in of the username and audits
    /// it.
    pub(super) async fn refuse_code(
        &self,
        found: &Challenged,
        failure: AuditFailure,
        context: &RequestContext,
        now: Timestamp,
    ) -> SecondStepError {
        let refused = match failure {
            AuditFailure::InvalidPasskey => SecondStepError::PasskeyRejected,
            _ => SecondStepError::InvalidCode,
        };
        let outcome: Result<(), SecondStepError> = async {
            let practice = found.owner.practice.id;
            let state = self.store.record_failure(practice, &found.throttle_key, now).await?;
            let mut event = self.audit_for(found, Actor::Anonymous, AuditAction::SecondFactorRefused, context, now)?;
            event.failure = Some(failure);
            let mut events = vec![event];
            if state.failures == self.policy.throttle().hard_lock_after {
                let mut locked = self.audit_for(found, Actor::Anonymous, AuditAction::SignInLocked, context, now)?;
                locked.failure = Some(AuditFailure::Locked);
                events.push(locked);
            }
            self.store.append(&events).await?;
            Ok(())
        }
        .await;
        outcome.err().unwrap_or(refused)
    }

    /// Uses the challenge up and opens the session.
    pub(super) async fn finish_second_step(
        &self,
        found: &Challenged,
        now: Timestamp,
        context: &RequestContext,
    ) -> Result<SignedIn, SecondStepError> {
        if !self.store.consume_challenge(&found.challenge.hash).await? {
            return Err(SecondStepError::ChallengeInvalid);
        }
        self.store.clear_throttle(found.owner.practice.id, &found.throttle_key).await?;
        self.open_session(&found.account, now, context).await.map_err(|e| match e {
            SignInError::Infrastructure(e) => SecondStepError::Infrastructure(e),
            _ => SecondStepError::ChallengeInvalid,
        })
    }

    fn audit_for(
        &self,
        found: &Challenged,
        actor: Actor,
        action: AuditAction,
        context: &RequestContext,
        now: Timestamp,
    ) -> Result<AuditEvent, RandomnessError> {
        self.audit(now, found.owner.practice.id, Some(found.owner.client_id.clone()), actor, action, context)
    }
}

pub(super) fn enrolment_error(error: FactorError) -> SecondStepError {
    match error {
        FactorError::Infrastructure(e) => SecondStepError::Infrastructure(e),
        FactorError::InvalidCode => SecondStepError::InvalidCode,
        FactorError::PasskeyRejected | FactorError::CeremonyInvalid => SecondStepError::PasskeyRejected,
        other => SecondStepError::Enrolment(other),
    }
}
