//! The ports of second factors: [`SecretSealer`] (TOTP secrets encrypted at rest with a key
//! kept outside the database) and [`FactorStore`] (factors, recovery codes, second-step
//! challenges and passkey ceremonies).

use async_trait::async_trait;
use jiff::Timestamp;
use secrecy::SecretSlice;

use super::{BoxError, StoreError};
use crate::ports::passkeys::{PasskeyCredentialId, StoredPasskey};
use crate::records::{AuditEvent, OutgoingMail};
use crate::second_factor::{FactorChallenge, PasskeyCeremony, SealedSecret, SecondFactor};
use crate::token::TokenHash;
use crate::types::{ClientId, FactorId, PracticeId};

/// A secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The sealed bytes do not open with this key and context: another key, another factor's
    /// context, or tampered data.
    #[error("the sealed secret does not open with this key")]
    Rejected,
    /// Sealing failed (no randomness for the nonce).
    #[error("sealing failed")]
    Failed(#[source] BoxError),
}

/// Authenticated encryption of small secrets (TOTP secrets) under a key the database never
/// holds. `context` is associated data: a secret sealed with one context MUST NOT open with
/// another, so a sealed value copied to another factor or client is useless.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait SecretSealer: Send + Sync + 'static {
    /// Seals `secret`, bound to `context`. Two seals of one secret differ (a fresh nonce).
    ///
    /// # Errors
    /// [`SealError::Failed`] when no nonce can be drawn. Never includes the secret.
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<SealedSecret, SealError>;

    /// Opens what [`SecretSealer::seal`] sealed with the same key and `context`.
    ///
    /// # Errors
    /// [`SealError::Rejected`] for any other key, context or bytes.
    fn open(&self, sealed: &SealedSecret, context: &[u8]) -> Result<SecretSlice<u8>, SealError>;
}

/// A change of a client's factors, written in **one transaction** with its audit events and
/// mail.
#[derive(Debug, Clone)]
pub struct FactorCommit {
    /// The practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_id: ClientId,
    /// When the change happened (the recovery codes' creation time).
    pub at: Timestamp,
    /// Factors to insert, or to replace whole when their id exists (of this client). A passkey
    /// whose credential id another factor has (of any client) is refused.
    pub put: Vec<SecondFactor>,
    /// Factors of this client to delete; an id that is gone is not an error.
    pub remove: Vec<FactorId>,
    /// `Some`: the client's recovery codes become exactly these hashes (an empty list deletes
    /// them all); `None` leaves them.
    pub recovery_codes: Option<Vec<TokenHash>>,
    /// Audit events, in the same transaction.
    pub audit: Vec<AuditEvent>,
    /// Mail (the notices), in the same transaction.
    pub mail: Vec<OutgoingMail>,
}

/// Second factors, recovery codes and second-step challenges.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait FactorStore: Send + Sync + 'static {
    /// Every factor of a client, confirmed or pending, oldest first.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn factors(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<SecondFactor>, StoreError>;

    /// How many of the client's recovery codes are unused.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn recovery_codes_left(&self, practice: PracticeId, client: &ClientId) -> Result<u32, StoreError>;

    /// Writes a [`FactorCommit`] atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when a put factor's id belongs to another client, or a put
    /// passkey's credential id to another factor, writing nothing. A failure midway MUST leave
    /// nothing written.
    async fn commit_factors(&self, change: FactorCommit) -> Result<(), StoreError>;

    /// Records that the code of time step `step` of a confirmed TOTP factor was accepted at
    /// `at`, with its audit events, **only if** no code of that step or a later one was
    /// accepted before (compare and set on the stored last step), so of two uses of one code,
    /// even concurrent ones, exactly one wins. Returns whether this one did; the audit is
    /// written only then.
    ///
    /// # Errors
    /// Only infrastructure failures; an unknown factor answers `Ok(false)`.
    async fn use_totp_step(
        &self,
        factor: FactorId,
        step: u64,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// Marks the client's unused recovery code with this hash used at `at`, with its audit
    /// events and mail, **only if** it is unused (so each code works once, even under
    /// concurrent use). Returns whether it was; nothing is written otherwise.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn use_recovery_code(
        &self,
        practice: PracticeId,
        client: &ClientId,
        hash: &TokenHash,
        at: Timestamp,
        audit: &[AuditEvent],
        mail: &[OutgoingMail],
    ) -> Result<bool, StoreError>;

    /// Stores a new challenge, deleting every challenge that expired before its creation.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError>;

    /// The challenge with this hash, live or expired (the service decides), unless consumed.
    ///
    /// # Errors
    /// Only infrastructure failures; unknown or consumed is `Ok(None)`.
    async fn challenge(&self, hash: &TokenHash) -> Result<Option<FactorChallenge>, StoreError>;

    /// Consumes (deletes) a challenge. Returns whether this call did: of two concurrent
    /// consumptions exactly one answers `true`.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, StoreError>;

    /// The passkey factor with this credential id, of whichever client and practice holds it
    /// (credential ids are unique across all of them).
    ///
    /// # Errors
    /// Only infrastructure failures; an unknown id is `Ok(None)`.
    async fn passkey_factor(&self, credential: &PasskeyCredentialId) -> Result<Option<SecondFactor>, StoreError>;

    /// Records a use of a passkey factor at `at`, with its audit events: its last use, and
    /// `updated` in place of the stored credential when the relying party reported a change
    /// (a new signature counter, new backup flags). Returns whether the factor still exists
    /// (removed meanwhile: `false`, nothing written).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn use_passkey(
        &self,
        factor: FactorId,
        updated: Option<StoredPasskey>,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError>;

    /// Stores a passkey ceremony's state, deleting every ceremony that expired before its
    /// creation.
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn create_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<(), StoreError>;

    /// Takes (deletes and returns) the ceremony with this hash, live or expired (the service
    /// decides). Of two concurrent takes exactly one gets it, so a browser's answer is
    /// checked against its challenge once at most.
    ///
    /// # Errors
    /// Only infrastructure failures; unknown or taken is `Ok(None)`.
    async fn take_ceremony(&self, hash: &TokenHash) -> Result<Option<PasskeyCeremony>, StoreError>;
}

impl<T: SecretSealer + ?Sized> SecretSealer for std::sync::Arc<T> {
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<SealedSecret, SealError> {
        (**self).seal(secret, context)
    }
    fn open(&self, sealed: &SealedSecret, context: &[u8]) -> Result<SecretSlice<u8>, SealError> {
        (**self).open(sealed, context)
    }
}

#[async_trait]
impl<T: FactorStore + ?Sized> FactorStore for std::sync::Arc<T> {
    async fn factors(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<SecondFactor>, StoreError> {
        (**self).factors(practice, client).await
    }
    async fn recovery_codes_left(&self, practice: PracticeId, client: &ClientId) -> Result<u32, StoreError> {
        (**self).recovery_codes_left(practice, client).await
    }
    async fn commit_factors(&self, change: FactorCommit) -> Result<(), StoreError> {
        (**self).commit_factors(change).await
    }
    async fn use_totp_step(
        &self,
        factor: FactorId,
        step: u64,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        (**self).use_totp_step(factor, step, at, audit).await
    }
    async fn use_recovery_code(
        &self,
        practice: PracticeId,
        client: &ClientId,
        hash: &TokenHash,
        at: Timestamp,
        audit: &[AuditEvent],
        mail: &[OutgoingMail],
    ) -> Result<bool, StoreError> {
        (**self).use_recovery_code(practice, client, hash, at, audit, mail).await
    }
    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError> {
        (**self).create_challenge(challenge).await
    }
    async fn challenge(&self, hash: &TokenHash) -> Result<Option<FactorChallenge>, StoreError> {
        (**self).challenge(hash).await
    }
    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        (**self).consume_challenge(hash).await
    }
    async fn passkey_factor(&self, credential: &PasskeyCredentialId) -> Result<Option<SecondFactor>, StoreError> {
        (**self).passkey_factor(credential).await
    }
    async fn use_passkey(
        &self,
        factor: FactorId,
        updated: Option<StoredPasskey>,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        (**self).use_passkey(factor, updated, at, audit).await
    }
    async fn create_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<(), StoreError> {
        (**self).create_ceremony(ceremony).await
    }
    async fn take_ceremony(&self, hash: &TokenHash) -> Result<Option<PasskeyCeremony>, StoreError> {
        (**self).take_ceremony(hash).await
    }
}
