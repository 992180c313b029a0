//! Second factors a signed-in client manages (list, enrol TOTP, remove, new recovery codes) and
//! what staff see and do of them (kinds, names and dates; remove all). The second step of
//! sign-in is in `factor_sign_in`.

use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};

use crate::ports::{ClientDirectory, Clock, FactorCommit, PasswordHasher, PortalStore, Randomness, SealError};
use crate::records::{Actor, AuditAction, AuditEvent, MailKind, OutgoingMail, Practice, RequestContext};
use crate::second_factor::{
    ENROLMENT_LIFETIME, FactorSecret, MAX_FACTORS, RECOVERY_CODE_COUNT, RecoveryCode, SecondFactor, SecondFactorKind,
    SecondFactorPolicy, TotpSecret, recovery_code_hashes, seal_context,
};
use crate::types::{ClientId, DisplayName, FactorId, InvalidInput, Username};

use super::{ClientError, ClientSession, Infrastructure, PortalService, StaffContext};

/// The name a TOTP factor gets when the client gives none.
pub const DEFAULT_TOTP_NAME: &str = "Authenticator app";

/// Refusals of managing second factors.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// The practice has second factors off: no enrolment.
    #[error("the practice does not use second factors")]
    EnrolmentOff,
    /// No such factor (or pending enrolment) of this client, or the enrolment lapsed.
    #[error("no such second factor")]
    FactorNotFound,
    /// The confirming code is wrong.
    #[error("the code is not right")]
    InvalidCode,
    /// The practice requires a second factor and this is the client's last one.
    #[error("the practice requires a second factor")]
    FactorRequired,
    /// The client has no confirmed factor (recovery codes need one).
    #[error("no second factor is enrolled")]
    NoFactor,
    /// The client holds as many factors as allowed.
    #[error("too many second factors")]
    TooManyFactors,
    /// The name is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// This server cannot keep TOTP secrets (no sealer was wired).
    #[error("authenticator apps are not available on this server")]
    TotpUnavailable,
    /// This server has no passkey relying party wired.
    #[error("passkeys are not available on this server")]
    PasskeysUnavailable,
    /// The passkey ceremony is unknown, expired, finished, or another client's: start again.
    #[error("the passkey registration expired; start again")]
    CeremonyInvalid,
    /// The browser's passkey answer did not verify (another site, another challenge, no user
    /// verification, an excluded credential).
    #[error("the passkey was not accepted")]
    PasskeyRejected,
    /// The authenticator's credential is registered to an account already.
    #[error("this passkey is registered already")]
    PasskeyInUse,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

impl From<SealError> for FactorError {
    fn from(_: SealError) -> Self {
        // A secret that does not open is a broken key or corrupt data, not the client's fault.
        Self::Infrastructure(Infrastructure::Store(crate::StoreError::Corrupt("a sealed secret did not open".into())))
    }
}

/// A factor as the client and staff see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorView {
    /// Id (to remove it).
    pub id: FactorId,
    /// Kind.
    pub kind: SecondFactorKind,
    /// The client's name for it.
    pub name: DisplayName,
    /// When it was confirmed.
    pub created_at: Timestamp,
    /// When a code of it was last accepted.
    pub last_used_at: Option<Timestamp>,
}

/// A client's second factors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorsView {
    /// The practice's policy.
    pub policy: SecondFactorPolicy,
    /// The confirmed factors, oldest first.
    pub factors: Vec<FactorView>,
    /// Unused recovery codes.
    pub recovery_codes_left: u32,
}

/// A started TOTP enrolment: what the client's app needs, shown once.
#[derive(Debug)]
pub struct TotpEnrolment {
    /// The pending factor (confirm it with a code).
    pub factor_id: FactorId,
    /// The secret in base32, for entering by hand.
    pub secret: SecretString,
    /// The `otpauth://` URI the QR code carries.
    pub otpauth_url: SecretString,
    /// When the enrolment lapses unconfirmed.
    pub expires_at: Timestamp,
}

/// A confirmed enrolment.
#[derive(Debug)]
pub struct FactorEnrolled {
    /// The factor.
    pub factor: FactorView,
    /// The recovery codes, shown once, when this was the client's first factor.
    pub recovery_codes: Option<Vec<RecoveryCode>>,
}

/// Whose factors: a practice's client with its username (the label in the app).
#[derive(Debug, Clone)]
pub struct FactorOwner {
    /// The practice.
    pub practice: Practice,
    /// The client.
    pub client_id: ClientId,
    /// The client's username.
    pub username: Username,
}

impl ClientSession {
    /// The owner of the signed-in client's factors.
    #[must_use]
    pub fn factor_owner(&self) -> FactorOwner {
        FactorOwner {
            practice: self.practice.clone(),
            client_id: self.session.client_id.clone(),
            username: self.username.clone(),
        }
    }
}

pub(super) fn view(factor: &SecondFactor) -> FactorView {
    FactorView {
        id: factor.id,
        kind: factor.kind(),
        name: factor.name.clone(),
        created_at: factor.confirmed_at.unwrap_or(factor.created_at),
        last_used_at: factor.last_used_at,
    }
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// The signed-in client's confirmed factors and recovery codes left.
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn factors(&self, owner: &FactorOwner) -> Result<FactorsView, Infrastructure> {
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        let left = self.store.recovery_codes_left(practice, client).await.map_err(Infrastructure::from)?;
        Ok(FactorsView {
            policy: owner.practice.settings.second_factor_policy(),
            factors: factors.iter().filter(|f| f.is_confirmed()).map(view).collect(),
            recovery_codes_left: left,
        })
    }

    /// Starts a TOTP enrolment: a new secret, sealed and stored as a pending factor (replacing
    /// an earlier pending one), and what the app needs to take it. Nothing counts until
    /// [`PortalService::confirm_totp`].
    ///
    /// # Errors
    /// `EnrolmentOff`, `TooManyFactors`, `TotpUnavailable`, or infrastructure.
    pub async fn start_totp(&self, owner: &FactorOwner) -> Result<TotpEnrolment, FactorError> {
        let sealer = self.sealer.as_ref().ok_or(FactorError::TotpUnavailable)?;
        if !owner.practice.settings.second_factor_policy().allows_enrolment() {
            return Err(FactorError::EnrolmentOff);
        }
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let now = self.clock.now();
        let existing = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        if existing.iter().filter(|f| f.is_confirmed()).count() >= MAX_FACTORS {
            return Err(FactorError::TooManyFactors);
        }
        let id = FactorId::generate(&self.random).map_err(Infrastructure::from)?;
        let secret = TotpSecret::generate(&self.random).map_err(Infrastructure::from)?;
        let sealed = sealer.seal(secret.expose(), &seal_context(id, practice, client))?;
        let otpauth_url = secret
            .otpauth_url(owner.practice.name.as_str(), owner.username.as_str())
            .ok_or_else(|| Infrastructure::Store(crate::StoreError::Corrupt("a TOTP secret was refused".into())))?;
        let pending = SecondFactor {
            id,
            practice_id: practice,
            client_id: client.clone(),
            name: DisplayName::parse("name", DEFAULT_TOTP_NAME)?,
            created_at: now,
            confirmed_at: None,
            last_used_at: None,
            secret: FactorSecret::Totp { sealed, last_step: None },
        };
        let change = FactorCommit {
            practice_id: practice,
            client_id: client.clone(),
            at: now,
            put: vec![pending],
            remove: existing.iter().filter(|f| !f.is_confirmed()).map(|f| f.id).collect(),
            recovery_codes: None,
            audit: vec![],
            mail: vec![],
        };
        self.store.commit_factors(change).await.map_err(Infrastructure::from)?;
        Ok(TotpEnrolment {
            factor_id: id,
            secret: secret.base32(),
            otpauth_url,
            expires_at: now.saturating_add(ENROLMENT_LIFETIME).unwrap_or(now),
        })
    }

    /// A pending TOTP enrolment again (a page shown anew after a wrong confirming code): the
    /// same secret, opened from storage.
    ///
    /// # Errors
    /// `FactorNotFound` (unknown, confirmed, or lapsed), `TotpUnavailable`, or infrastructure.
    pub async fn pending_totp(&self, owner: &FactorOwner, factor_id: FactorId) -> Result<TotpEnrolment, FactorError> {
        let sealer = self.sealer.as_ref().ok_or(FactorError::TotpUnavailable)?;
        let now = self.clock.now();
        let factors = self.store.factors(owner.practice.id, &owner.client_id).await.map_err(Infrastructure::from)?;
        let pending = factors
            .iter()
            .find(|f| f.id == factor_id && !f.is_confirmed())
            .filter(|f| now < f.created_at.saturating_add(ENROLMENT_LIFETIME).unwrap_or(f.created_at))
            .ok_or(FactorError::FactorNotFound)?;
        let FactorSecret::Totp { sealed, .. } = &pending.secret else { return Err(FactorError::FactorNotFound) };
        let secret = TotpSecret::from_bytes(sealer.open(sealed, &pending.seal_context())?.expose_secret().to_vec());
        let otpauth_url = secret
            .otpauth_url(owner.practice.name.as_str(), owner.username.as_str())
            .ok_or_else(|| Infrastructure::Store(crate::StoreError::Corrupt("a TOTP secret was refused".into())))?;
        Ok(TotpEnrolment {
            factor_id,
            secret: secret.base32(),
            otpauth_url,
            expires_at: pending.created_at.saturating_add(ENROLMENT_LIFETIME).unwrap_or(pending.created_at),
        })
    }

    /// Confirms a pending TOTP enrolment with a code of the app: the factor counts from now
    /// (the code's step is its last used), audited and mailed; the client's first factor
    /// also gets ten recovery codes, shown once.
    ///
    /// # Errors
    /// `FactorNotFound` (unknown, or lapsed after [`ENROLMENT_LIFETIME`]), `InvalidCode`,
    /// `Invalid` (name), `EnrolmentOff`, `TotpUnavailable`, or infrastructure.
    pub async fn confirm_totp(
        &self,
        owner: &FactorOwner,
        factor_id: FactorId,
        code: &str,
        name: Option<&str>,
        context: &RequestContext,
    ) -> Result<FactorEnrolled, FactorError> {
        let sealer = self.sealer.as_ref().ok_or(FactorError::TotpUnavailable)?;
        if !owner.practice.settings.second_factor_policy().allows_enrolment() {
            return Err(FactorError::EnrolmentOff);
        }
        let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| DisplayName::parse("name", n)).transpose()?;
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let now = self.clock.now();
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        let pending = factors
            .iter()
            .find(|f| f.id == factor_id && !f.is_confirmed())
            .filter(|f| now < f.created_at.saturating_add(ENROLMENT_LIFETIME).unwrap_or(f.created_at))
            .ok_or(FactorError::FactorNotFound)?;
        let FactorSecret::Totp { sealed, .. } = &pending.secret else { return Err(FactorError::FactorNotFound) };
        let secret = TotpSecret::from_bytes(sealer.open(sealed, &pending.seal_context())?.expose_secret().to_vec());
        let step = secret.matching_step(code, now).ok_or(FactorError::InvalidCode)?;
        let first = !factors.iter().any(SecondFactor::is_confirmed);
        let confirmed = SecondFactor {
            name: name.unwrap_or_else(|| pending.name.clone()),
            confirmed_at: Some(now),
            secret: FactorSecret::Totp { sealed: sealed.clone(), last_step: Some(step) },
            ..pending.clone()
        };
        let codes = if first { Some(self.new_recovery_codes()?) } else { None };
        let mut audit =
            vec![self.factor_audit(owner, Actor::Client, AuditAction::SecondFactorEnrolled, context, now)?];
        audit[0].detail = Some(SecondFactorKind::Totp.name().to_owned());
        let change = FactorCommit {
            practice_id: practice,
            client_id: client.clone(),
            at: now,
            put: vec![confirmed.clone()],
            remove: vec![],
            recovery_codes: codes.as_ref().map(|codes| recovery_code_hashes(&self.link_key, practice, client, codes)),
            audit,
            mail: self.factor_notice(practice, client, MailKind::SecondFactorAdded, now).await?,
        };
        self.store.commit_factors(change).await.map_err(Infrastructure::from)?;
        Ok(FactorEnrolled { factor: view(&confirmed), recovery_codes: codes })
    }

    /// Removes one of the client's factors, audited and mailed. Removing the last one also
    /// voids the recovery codes; under a practice that requires a factor the last one stays.
    ///
    /// # Errors
    /// `FactorNotFound`, `FactorRequired`, or infrastructure.
    pub async fn remove_factor(
        &self,
        owner: &FactorOwner,
        factor_id: FactorId,
        context: &RequestContext,
    ) -> Result<(), FactorError> {
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let now = self.clock.now();
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        let factor =
            factors.iter().find(|f| f.id == factor_id && f.is_confirmed()).ok_or(FactorError::FactorNotFound)?;
        let last = factors.iter().filter(|f| f.is_confirmed()).count() == 1;
        if last && owner.practice.settings.second_factor_policy() == SecondFactorPolicy::Required {
            return Err(FactorError::FactorRequired);
        }
        let mut event = self.factor_audit(owner, Actor::Client, AuditAction::SecondFactorRemoved, context, now)?;
        event.detail = Some(factor.kind().name().to_owned());
        let change = FactorCommit {
            practice_id: practice,
            client_id: client.clone(),
            at: now,
            put: vec![],
            remove: vec![factor.id],
            recovery_codes: last.then(Vec::new),
            audit: vec![event],
            mail: self.factor_notice(practice, client, MailKind::SecondFactorRemoved, now).await?,
        };
        self.store.commit_factors(change).await.map_err(Infrastructure::from)?;
        Ok(())
    }

    /// Makes ten new recovery codes, voiding the old ones, audited; shown once.
    ///
    /// # Errors
    /// `NoFactor` (codes only stand beside a factor), or infrastructure.
    pub async fn regenerate_recovery_codes(
        &self,
        owner: &FactorOwner,
        context: &RequestContext,
    ) -> Result<Vec<RecoveryCode>, FactorError> {
        let (practice, client) = (owner.practice.id, &owner.client_id);
        let now = self.clock.now();
        let factors = self.store.factors(practice, client).await.map_err(Infrastructure::from)?;
        if !factors.iter().any(SecondFactor::is_confirmed) {
            return Err(FactorError::NoFactor);
        }
        let codes = self.new_recovery_codes()?;
        let change = FactorCommit {
            practice_id: practice,
            client_id: client.clone(),
            at: now,
            put: vec![],
            remove: vec![],
            recovery_codes: Some(recovery_code_hashes(&self.link_key, practice, client, &codes)),
            audit: vec![self.factor_audit(
                owner,
                Actor::Client,
                AuditAction::RecoveryCodesRegenerated,
                context,
                now,
            )?],
            mail: vec![],
        };
        self.store.commit_factors(change).await.map_err(Infrastructure::from)?;
        Ok(codes)
    }

    /// A client's factors as staff see them: kinds, names and dates, never a secret.
    ///
    /// # Errors
    /// `ClientNotFound` (not in the staff member's practice), or infrastructure.
    pub async fn client_factors(&self, staff: &StaffContext, id: &ClientId) -> Result<FactorsView, ClientError> {
        let practice = self.staff_client_practice(staff, id).await?;
        let factors = self.store.factors(practice.id, id).await?;
        Ok(FactorsView {
            policy: practice.settings.second_factor_policy(),
            factors: factors.iter().filter(|f| f.is_confirmed()).map(view).collect(),
            recovery_codes_left: self.store.recovery_codes_left(practice.id, id).await?,
        })
    }

    /// Staff remove every second factor of a client (a lost phone) and its recovery codes,
    /// audited and mailed to the client. Returns how many factors were removed; none is not
    /// an error (and writes nothing).
    ///
    /// # Errors
    /// `ClientNotFound`, or infrastructure.
    pub async fn remove_client_factors(&self, staff: &StaffContext, id: &ClientId) -> Result<usize, ClientError> {
        let practice = self.staff_client_practice(staff, id).await?;
        let now = self.clock.now();
        let factors = self.store.factors(practice.id, id).await?;
        let left = self.store.recovery_codes_left(practice.id, id).await?;
        let confirmed: Vec<&SecondFactor> = factors.iter().filter(|f| f.is_confirmed()).collect();
        if factors.is_empty() && left == 0 {
            return Ok(0);
        }
        let mut audit = Vec::new();
        for factor in &confirmed {
            let mut event = self.audit(
                now,
                practice.id,
                Some(id.clone()),
                staff.actor(),
                AuditAction::SecondFactorRemoved,
                &staff.request,
            )?;
            event.detail = Some(factor.kind().name().to_owned());
            audit.push(event);
        }
        let mail = if confirmed.is_empty() {
            vec![]
        } else {
            self.factor_notice(practice.id, id, MailKind::SecondFactorRemoved, now).await?
        };
        let change = FactorCommit {
            practice_id: practice.id,
            client_id: id.clone(),
            at: now,
            put: vec![],
            remove: factors.iter().map(|f| f.id).collect(),
            recovery_codes: Some(vec![]),
            audit,
            mail,
        };
        self.store.commit_factors(change).await?;
        Ok(confirmed.len())
    }

    /// The staff member's practice, once the client is known in it.
    async fn staff_client_practice(&self, staff: &StaffContext, id: &ClientId) -> Result<Practice, ClientError> {
        let practice = self.store.practice(staff.practice()).await?.ok_or(crate::StoreError::NotFound("practice"))?;
        self.client_of(practice.id, id).await?.ok_or(ClientError::ClientNotFound)?;
        Ok(practice)
    }

    pub(super) fn new_recovery_codes(&self) -> Result<Vec<RecoveryCode>, Infrastructure> {
        (0..RECOVERY_CODE_COUNT).map(|_| RecoveryCode::generate(&self.random).map_err(Infrastructure::from)).collect()
    }

    pub(super) fn factor_audit(
        &self,
        owner: &FactorOwner,
        actor: Actor,
        action: AuditAction,
        context: &RequestContext,
        now: Timestamp,
    ) -> Result<AuditEvent, Infrastructure> {
        Ok(self.audit(now, owner.practice.id, Some(owner.client_id.clone()), actor, action, context)?)
    }

    /// The notice mail about a factor change, when the client may be emailed (design §2: no
    /// mail to a client who asked for none or has no address).
    pub(super) async fn factor_notice(
        &self,
        practice: crate::PracticeId,
        client: &ClientId,
        kind: MailKind,
        now: Timestamp,
    ) -> Result<Vec<OutgoingMail>, Infrastructure> {
        let Some(record) = self.client_of(practice, client).await? else { return Ok(vec![]) };
        match (&record.email, record.email_consent) {
            (Some(email), true) => Ok(vec![self.mail(&record, email, kind, now)?]),
            _ => Ok(vec![]),
        }
    }
}
