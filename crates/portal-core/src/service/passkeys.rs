//! Passkeys (WebAuthn) as a client's factor: registering one after signing in (or while
//! enrolling the factor a practice requires), the second step of sign-in with one, and
//! passkey-first sign-in with a discoverable passkey and no password.
//!
//! Every ceremony has two requests. The start asks the [`PasskeyRelyingParty`] for the
//! browser's options and keeps its state server-side as a [`PasskeyCeremony`], found by the
//! hash of a bearer id ([`CEREMONY_PREFIX`]) that the caller holds; the finish *takes* that
//! ceremony (deleted whatever the outcome, so an answer is checked once at most) and hands the
//! browser's answer to the relying party. A credential id already registered to any account is
//! refused, and a use stores the updated signature counter.

use jiff::Timestamp;

use crate::account::PortalAccount;
use crate::ports::passkeys::{
    DiscoverableAuthenticationState, PasskeyAuthenticationState, PasskeyChallenge, PasskeyCredentialId, PasskeyError,
    PasskeyRegistrationState, PasskeyRelyingParty, PasskeyResponse, PasskeyUserHandle, StoredPasskey,
};
use crate::ports::{ClientDirectory, Clock, FactorCommit, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, AuditFailure, MailKind, RequestContext};
use crate::second_factor::{
    CEREMONY_LIFETIME, CEREMONY_PREFIX, CeremonyPurpose, ChallengePurpose, FactorSecret, MAX_FACTORS, PasskeyCeremony,
    SecondFactor, SecondFactorKind, recovery_code_hashes,
};
use crate::token::BearerSecret;
use crate::types::{ClientId, DisplayName, FactorId, PracticeId};

use super::factor_sign_in::SecondStepError;
use super::second_factors::{FactorEnrolled, FactorError, FactorOwner, view};
use super::sessions::{SignInError, SignedIn};
use super::{Infrastructure, PortalService};

/// The name a passkey gets when the client gives none.
pub const DEFAULT_PASSKEY_NAME: &str = "Passkey";

/// A started passkey ceremony: what the browser needs, and the id to finish it with.
#[derive(Debug)]
pub struct PasskeyCeremonyStarted {
    /// The ceremony's id: send it back with the browser's answer. Single use.
    pub ceremony: BearerSecret,
    /// The options for `navigator.credentials.create()` or `.get()`, as JSON.
    pub options: PasskeyChallenge,
    /// When the ceremony stops waiting for the answer.
    pub expires_at: Timestamp,
}

/// Refusals of a passkey-first sign-in.
#[derive(Debug, thiserror::Error)]
pub enum PasskeySignInError {
    /// The practice does not use second factors (or is unknown), or this server has no
    /// passkeys: sign in with the password.
    #[error("passkey sign-in is not available here")]
    Unavailable,
    /// The ceremony is unknown, expired or finished: start again.
    #[error("the passkey sign-in expired; start again")]
    CeremonyInvalid,
    /// The passkey did not verify, or is not one of this practice's clients'.
    #[error("the passkey was not accepted")]
    Rejected,
    /// The passkey's account is disabled.
    #[error("the portal account is disabled")]
    AccountDisabled,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// How a failed ceremony reads: the client's (a refused answer) or the server's.
enum Failed {
    /// The answer did not verify.
    Refused,
    /// The relying party or its stored data failed.
    Broken(Infrastructure),
}

fn failed(error: PasskeyError) -> Failed {
    match error {
        PasskeyError::StoredDataUnreadable | PasskeyError::Unavailable(_) => {
            Failed::Broken(Infrastructure::Passkeys(error))
        }
        _ => Failed::Refused,
    }
}

/// The passkey factors of a client: each with its credential id and stored credential.
fn passkeys_of(factors: &[SecondFactor]) -> Vec<(&SecondFactor, &PasskeyCredentialId, &StoredPasskey)> {
    factors
        .iter()
        .filter(|f| f.is_confirmed())
        .filter_map(|f| match &f.secret {
            FactorSecret::Passkey { credential_id, passkey, .. } => Some((f, credential_id, passkey)),
            FactorSecret::Totp { .. } => None,
        })
        .collect()
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Whether this service can use passkeys (a relying party was wired).
    #[must_use]
    pub fn passkeys_available(&self) -> bool {
        self.passkeys.is_some()
    }

    /// Starts registering a passkey for the signed-in client: the options for
    /// `navigator.credentials.create()` (the client's passkeys already registered excluded)
    /// and the ceremony to finish with.
    ///
    /// # Errors
    /// `PasskeysUnavailable`, `EnrolmentOff`, `TooManyFactors`, or infrastructure.
    pub async fn start_passkey_registration(&self, owner: &FactorOwner) -> Result<PasskeyCeremonyStarted, FactorError> {
        let passkeys = self.passkeys.as_ref().ok_or(FactorError::PasskeysUnavailable)?;
        if !owner.practice.settings.second_factor_policy().allows_enrolment() {
            return Err(FactorError::EnrolmentOff);
        }
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        if factors.iter().filter(|f| f.is_confirmed()).count() >= MAX_FACTORS {
            return Err(FactorError::TooManyFactors);
        }
        // One user handle per account: the one its passkeys already carry, or a new one.
        let existing_handle = factors.iter().find_map(|f| match &f.secret {
            FactorSecret::Passkey { user_handle, .. } => Some(*user_handle),
            FactorSecret::Totp { .. } => None,
        });
        let handle = match existing_handle {
            Some(handle) => handle,
            None => PasskeyUserHandle::generate(&self.random).map_err(Infrastructure::from)?,
        };
        let exclude: Vec<PasskeyCredentialId> =
            passkeys_of(&factors).into_iter().map(|(_, id, _)| id.clone()).collect();
        let (options, state) = passkeys
            .start_registration(handle, &owner.username, owner.practice.name.as_str(), &exclude)
            .map_err(Infrastructure::Passkeys)?;
        let started = self
            .store_ceremony(
                practice,
                Some(client),
                CeremonyPurpose::Registration,
                Some(handle),
                state.into_json(),
                options,
            )
            .await?;
        Ok(started)
    }

    /// Finishes registering a passkey with the browser's answer: the passkey counts from now,
    /// audited and mailed; the client's first factor also gets ten recovery codes, shown once.
    ///
    /// # Errors
    /// `CeremonyInvalid` (unknown, expired, finished, or another client's), `PasskeyRejected`,
    /// `PasskeyInUse` (the authenticator's credential is registered already), `Invalid` (name),
    /// `EnrolmentOff`, `TooManyFactors`, `PasskeysUnavailable`, or infrastructure.
    pub async fn finish_passkey_registration(
        &self,
        owner: &FactorOwner,
        ceremony: &str,
        response: &PasskeyResponse,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<FactorEnrolled, FactorError> {
        let passkeys = self.passkeys.as_ref().ok_or(FactorError::PasskeysUnavailable)?;
        if !owner.practice.settings.second_factor_policy().allows_enrolment() {
            return Err(FactorError::EnrolmentOff);
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| DisplayName::parse("name", n)).transpose()?;
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let now = self.clock.now();
        let taken = self
            .take_ceremony(ceremony, CeremonyPurpose::Registration, practice, Some(client), now)
            .await
            .map_err(Infrastructure::from)?
            .ok_or(FactorError::CeremonyInvalid)?;
        let handle = taken.user_handle.ok_or(FactorError::CeremonyInvalid)?;
        let registered = match passkeys.finish_registration(&PasskeyRegistrationState::from_json(taken.state), response)
        {
            Ok(registered) => registered,
            Err(error) => {
                return Err(match failed(error) {
                    Failed::Refused => FactorError::PasskeyRejected,
                    Failed::Broken(error) => FactorError::Infrastructure(error),
                });
            }
        };
        if self.store.passkey_factor(&registered.credential_id).await.map_err(Infrastructure::from)?.is_some() {
            return Err(FactorError::PasskeyInUse);
        }
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        if factors.iter().filter(|f| f.is_confirmed()).count() >= MAX_FACTORS {
            return Err(FactorError::TooManyFactors);
        }
        let factor = SecondFactor {
            id: FactorId::generate(&self.random).map_err(Infrastructure::from)?,
            practice_id: practice,
            client_id: client.clone(),
            name: match name {
                Some(name) => name,
                None => DisplayName::parse("name", DEFAULT_PASSKEY_NAME)?,
            },
            created_at: now,
            confirmed_at: Some(now),
            last_used_at: None,
            secret: FactorSecret::Passkey {
                credential_id: registered.credential_id,
                user_handle: handle,
                passkey: registered.passkey,
            },
        };
        let first = !factors.iter().any(SecondFactor::is_confirmed);
        let codes = if first { Some(self.new_recovery_codes()?) } else { None };
        let mut event = self.factor_audit(owner, Actor::Client, AuditAction::SecondFactorEnrolled, context, now)?;
        event.detail = Some(SecondFactorKind::Passkey.name().to_owned());
        let change = FactorCommit {
            practice_id: practice,
            client_id: client.clone(),
            at: now,
            put: vec![factor.clone()],
            remove: vec![],
            recovery_codes: codes.as_ref().map(|codes| recovery_code_hashes(&self.link_key, practice, client, codes)),
            audit: vec![event],
            mail: self.factor_notice(practice, client, MailKind::SecondFactorAdded, now).await?,
        };
        match self.store.commit_factors(change).await {
            // Registered meanwhile (a double click on two tabs): the same passkey, once.
            Err(StoreError::Duplicate("passkey")) => return Err(FactorError::PasskeyInUse),
            other => other.map_err(Infrastructure::from)?,
        }
        Ok(FactorEnrolled { factor: view(&factor), recovery_codes: codes })
    }

    /// Starts the second step with one of the account's passkeys: the options for
    /// `navigator.credentials.get()` (only its passkeys may answer) and the ceremony to
    /// answer [`PortalService::complete_second_step`] with.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `AccountDisabled`, `Throttled`, `Enrolment` (`PasskeysUnavailable`,
    /// or `FactorNotFound` when the account has no passkey), or infrastructure.
    pub async fn challenge_start_passkey(
        &self,
        challenge: &str,
        context: &RequestContext,
    ) -> Result<PasskeyCeremonyStarted, SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Verify, now, context).await?;
        let passkeys = self.passkeys.as_ref().ok_or(SecondStepError::Enrolment(FactorError::PasskeysUnavailable))?;
        let (practice, client) = (found.owner.practice.id, &found.owner.client_id);
        let factors = self.store.factors(practice, client).await?;
        let stored: Vec<StoredPasskey> = passkeys_of(&factors).into_iter().map(|(_, _, p)| p.clone()).collect();
        let (options, state) = match passkeys.start_authentication(&stored) {
            Ok(started) => started,
            Err(PasskeyError::NoPasskeys) => return Err(SecondStepError::Enrolment(FactorError::FactorNotFound)),
            Err(error) => return Err(SecondStepError::Infrastructure(Infrastructure::Passkeys(error))),
        };
        Ok(self
            .store_ceremony(practice, Some(client), CeremonyPurpose::SecondStep, None, state.into_json(), options)
            .await?)
    }

    /// Checks a passkey answer of the second step: `Ok(Ok(()))` when one of the client's
    /// passkeys signed the ceremony's challenge (its use recorded with `used`), `Ok(Err(_))`
    /// with the refusal to audit otherwise. An unknown or lapsed ceremony is refused without
    /// counting against the username (nothing was tried).
    pub(super) async fn second_step_passkey(
        &self,
        practice: PracticeId,
        client: &ClientId,
        ceremony: &str,
        response: &PasskeyResponse,
        used: crate::AuditEvent,
        now: Timestamp,
    ) -> Result<Result<(), AuditFailure>, SecondStepError> {
        let passkeys = self.passkeys.as_ref().ok_or(SecondStepError::PasskeyRejected)?;
        let taken = self
            .take_ceremony(ceremony, CeremonyPurpose::SecondStep, practice, Some(client), now)
            .await?
            .ok_or(SecondStepError::PasskeyRejected)?;
        let factors = self.store.factors(practice, client).await?;
        let mine = passkeys_of(&factors);
        let stored: Vec<StoredPasskey> = mine.iter().map(|(_, _, p)| (*p).clone()).collect();
        let state = PasskeyAuthenticationState::from_json(taken.state);
        let used_passkey = match passkeys.finish_authentication(&state, response, &stored) {
            Ok(used_passkey) => used_passkey,
            Err(error) => {
                return match failed(error) {
                    Failed::Refused => Ok(Err(AuditFailure::InvalidPasskey)),
                    Failed::Broken(error) => Err(SecondStepError::Infrastructure(error)),
                };
            }
        };
        let Some((factor, _, _)) = mine.iter().find(|(_, id, _)| **id == used_passkey.credential_id) else {
            return Ok(Err(AuditFailure::InvalidPasskey));
        };
        let mut event = used;
        event.detail = Some(SecondFactorKind::Passkey.name().to_owned());
        if self.store.use_passkey(factor.id, used_passkey.updated, now, &[event]).await? {
            Ok(Ok(()))
        } else {
            // Removed between the start and the answer.
            Ok(Err(AuditFailure::InvalidPasskey))
        }
    }

    /// Starts enrolling a passkey with an enrolment challenge (the practice requires a factor
    /// the account lacks). The challenge stays valid for the finish.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `AccountDisabled`, `Throttled`, `Enrolment`, or infrastructure.
    pub async fn challenge_start_passkey_registration(
        &self,
        challenge: &str,
        context: &RequestContext,
    ) -> Result<PasskeyCeremonyStarted, SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Enrol, now, context).await?;
        self.start_passkey_registration(&found.owner).await.map_err(super::factor_sign_in::enrolment_error)
    }

    /// Finishes enrolling a passkey with an enrolment challenge, then opens the session (the
    /// challenge is used up). A refused answer counts as a failed sign-in of the username.
    ///
    /// # Errors
    /// `ChallengeInvalid`, `PasskeyRejected`, `AccountDisabled`, `Throttled`, `Enrolment`, or
    /// infrastructure.
    pub async fn challenge_finish_passkey_registration(
        &self,
        challenge: &str,
        ceremony: &str,
        response: &PasskeyResponse,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<(SignedIn, FactorEnrolled), SecondStepError> {
        let now = self.clock.now();
        let found = self.challenged(challenge, ChallengePurpose::Enrol, now, context).await?;
        let enrolled = match self.finish_passkey_registration(&found.owner, ceremony, response, name, context).await {
            Ok(enrolled) => enrolled,
            Err(FactorError::PasskeyRejected) => {
                return Err(self.refuse_code(&found, AuditFailure::InvalidPasskey, context, now).await);
            }
            Err(other) => return Err(super::factor_sign_in::enrolment_error(other)),
        };
        Ok((self.finish_second_step(&found, now, context).await?, enrolled))
    }

    /// Starts a passkey-first sign-in on a practice's sign-in page: the options for
    /// `navigator.credentials.get()` that any discoverable passkey of this site may answer.
    /// Offered when the practice lets its clients use second factors (a passkey that verifies
    /// its user, by PIN or biometrics, is two factors in one).
    ///
    /// # Errors
    /// `Unavailable` (unknown practice, second factors off, no passkeys on this server), or
    /// infrastructure.
    pub async fn start_passkey_sign_in(
        &self,
        practice_slug: &str,
    ) -> Result<PasskeyCeremonyStarted, PasskeySignInError> {
        let passkeys = self.passkeys.as_ref().ok_or(PasskeySignInError::Unavailable)?;
        let practice = self.practice_by_slug(practice_slug).await?;
        let practice = practice.ok_or(PasskeySignInError::Unavailable)?;
        if !practice.settings.second_factor_policy().allows_enrolment() {
            return Err(PasskeySignInError::Unavailable);
        }
        let (options, state) = passkeys
            .start_discoverable_authentication()
            .map_err(|e| PasskeySignInError::Infrastructure(Infrastructure::Passkeys(e)))?;
        Ok(self.store_ceremony(practice.id, None, CeremonyPurpose::SignIn, None, state.into_json(), options).await?)
    }

    /// Finishes a passkey-first sign-in: the passkey that answered must be a confirmed passkey
    /// of a client of the ceremony's practice, and verify against the challenge; the account
    /// must be active. Opens the session; a refusal is audited.
    ///
    /// # Errors
    /// `CeremonyInvalid`, `Rejected`, `AccountDisabled`, `Unavailable`, or infrastructure.
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        response: &PasskeyResponse,
        context: &RequestContext,
    ) -> Result<SignedIn, PasskeySignInError> {
        let passkeys = self.passkeys.as_ref().ok_or(PasskeySignInError::Unavailable)?;
        let now = self.clock.now();
        let hash = BearerSecret::presented(ceremony).hash();
        let taken = self
            .store
            .take_ceremony(&hash)
            .await?
            .filter(|c| c.is_live_at(now) && c.purpose == CeremonyPurpose::SignIn)
            .ok_or(PasskeySignInError::CeremonyInvalid)?;
        let practice = self.store.practice(taken.practice_id).await?.ok_or(PasskeySignInError::CeremonyInvalid)?;
        if !practice.settings.second_factor_policy().allows_enrolment() {
            return Err(PasskeySignInError::Unavailable);
        }
        let refuse = |client: Option<ClientId>, failure: AuditFailure| async move {
            let mut event =
                self.audit(now, practice.id, client, Actor::Anonymous, AuditAction::SignInFailed, context)?;
            event.failure = Some(failure);
            self.store.append(&[event]).await?;
            Ok::<(), PasskeySignInError>(())
        };
        // The passkey the answer claims: a confirmed passkey of a client of this practice.
        let claimed = match passkeys.identify_discoverable(response) {
            Ok(claim) => self.store.passkey_factor(&claim.credential_id).await?,
            Err(_) => None,
        };
        let found = claimed.filter(|f| f.practice_id == practice.id && f.is_confirmed());
        let Some((factor, user_handle, passkey)) = found.as_ref().and_then(|f| match &f.secret {
            FactorSecret::Passkey { user_handle, passkey, .. } => Some((f, user_handle, passkey)),
            FactorSecret::Totp { .. } => None,
        }) else {
            refuse(None, AuditFailure::InvalidPasskey).await?;
            return Err(PasskeySignInError::Rejected);
        };
        let state = DiscoverableAuthenticationState::from_json(taken.state);
        let signed = match passkeys.finish_discoverable_authentication(&state, response, *user_handle, passkey) {
            Ok(signed) => signed,
            Err(error) => {
                return match failed(error) {
                    Failed::Refused => {
                        refuse(Some(factor.client_id.clone()), AuditFailure::InvalidPasskey).await?;
                        Err(PasskeySignInError::Rejected)
                    }
                    Failed::Broken(error) => Err(PasskeySignInError::Infrastructure(error)),
                };
            }
        };
        let account: PortalAccount = self.store.account(practice.id, &factor.client_id).await?;
        if !matches!(account.state(), crate::AccountState::Active(_)) {
            refuse(Some(factor.client_id.clone()), AuditFailure::AccountDisabled).await?;
            return Err(PasskeySignInError::AccountDisabled);
        }
        let mut used = self.audit(
            now,
            practice.id,
            Some(factor.client_id.clone()),
            Actor::Client,
            AuditAction::SecondFactorUsed,
            context,
        )?;
        used.detail = Some(SecondFactorKind::Passkey.name().to_owned());
        if !self.store.use_passkey(factor.id, signed.used.updated, now, &[used]).await? {
            refuse(Some(factor.client_id.clone()), AuditFailure::InvalidPasskey).await?;
            return Err(PasskeySignInError::Rejected);
        }
        self.open_session(&account, now, context).await.map_err(passkey_sign_in_error)
    }

    /// Stores a started ceremony and names it with a new bearer id.
    async fn store_ceremony(
        &self,
        practice: PracticeId,
        client: Option<&ClientId>,
        purpose: CeremonyPurpose,
        user_handle: Option<PasskeyUserHandle>,
        state: String,
        options: PasskeyChallenge,
    ) -> Result<PasskeyCeremonyStarted, Infrastructure> {
        let now = self.clock.now();
        let id = BearerSecret::generate(CEREMONY_PREFIX, &self.random)?;
        let expires_at = now.saturating_add(CEREMONY_LIFETIME).unwrap_or(now);
        let ceremony = PasskeyCeremony {
            hash: id.hash(),
            practice_id: practice,
            client_id: client.cloned(),
            purpose,
            user_handle,
            state,
            created_at: now,
            expires_at,
        };
        self.store.create_ceremony(&ceremony).await?;
        Ok(PasskeyCeremonyStarted { ceremony: id, options, expires_at })
    }

    /// Takes the ceremony behind `presented`; `None` unless it is live, for `purpose`, and of
    /// this practice and client. Taken whatever the answer: it works once.
    async fn take_ceremony(
        &self,
        presented: &str,
        purpose: CeremonyPurpose,
        practice: PracticeId,
        client: Option<&ClientId>,
        now: Timestamp,
    ) -> Result<Option<PasskeyCeremony>, StoreError> {
        let hash = BearerSecret::presented(presented).hash();
        Ok(self.store.take_ceremony(&hash).await?.filter(|c| {
            c.is_live_at(now) && c.purpose == purpose && c.practice_id == practice && c.client_id.as_ref() == client
        }))
    }
}

fn passkey_sign_in_error(error: SignInError) -> PasskeySignInError {
    match error {
        SignInError::Infrastructure(error) => PasskeySignInError::Infrastructure(error),
        SignInError::AccountDisabled => PasskeySignInError::AccountDisabled,
        _ => PasskeySignInError::Rejected,
    }
}
