//! [`FactorStore`] for [`InMemoryStore`].

use async_trait::async_trait;
use jiff::Timestamp;

use crate::ports::passkeys::{PasskeyCredentialId, StoredPasskey};
use crate::ports::{FactorCommit, FactorStore, StoreError};
use crate::records::{AuditEvent, OutgoingMail};
use crate::second_factor::{FactorChallenge, FactorSecret, PasskeyCeremony, SecondFactor};
use crate::token::TokenHash;
use crate::types::{ClientId, FactorId, PracticeId};

use super::{InMemoryStore, OutboxRow};

/// A stored recovery code.
#[derive(Debug, Clone)]
pub(super) struct StoredCode {
    practice_id: PracticeId,
    client_id: ClientId,
    used_at: Option<Timestamp>,
}

#[async_trait]
impl FactorStore for InMemoryStore {
    async fn factors(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<SecondFactor>, StoreError> {
        Ok(self.with(|s| {
            s.factors.iter().filter(|f| f.practice_id == practice && f.client_id == *client).cloned().collect()
        }))
    }

    async fn recovery_codes_left(&self, practice: PracticeId, client: &ClientId) -> Result<u32, StoreError> {
        let left = self.with(|s| {
            s.recovery_codes
                .values()
                .filter(|c| c.practice_id == practice && c.client_id == *client && c.used_at.is_none())
                .count()
        });
        u32::try_from(left).map_err(|_| StoreError::Corrupt("too many recovery codes".into()))
    }

    async fn commit_factors(&self, change: FactorCommit) -> Result<(), StoreError> {
        let FactorCommit { practice_id, client_id, at: _, put, remove, recovery_codes, audit, mail } = change;
        self.with(|s| {
            let foreign = |id: FactorId| {
                s.factors.iter().any(|f| f.id == id && (f.practice_id != practice_id || f.client_id != client_id))
            };
            if put.iter().any(|f| foreign(f.id) || f.practice_id != practice_id || f.client_id != client_id) {
                return Err(StoreError::Duplicate("second factor"));
            }
            let credential_taken = |factor: &SecondFactor| {
                credential_of(factor).is_some_and(|id| {
                    s.factors.iter().any(|other| other.id != factor.id && credential_of(other) == Some(id))
                        || put.iter().any(|other| other.id != factor.id && credential_of(other) == Some(id))
                })
            };
            if put.iter().any(credential_taken) {
                return Err(StoreError::Duplicate("passkey"));
            }
            if let Some(codes) = &recovery_codes
                && codes.iter().any(|hash| {
                    s.recovery_codes.get(hash).is_some_and(|c| c.practice_id != practice_id || c.client_id != client_id)
                })
            {
                return Err(StoreError::Duplicate("recovery code"));
            }
            s.check_new_audit(&audit)?;
            s.check_new_mail(&mail)?;
            s.factors.retain(|f| !remove.contains(&f.id));
            for factor in put {
                match s.factors.iter_mut().find(|f| f.id == factor.id) {
                    Some(stored) => *stored = factor,
                    None => s.factors.push(factor),
                }
            }
            if let Some(codes) = recovery_codes {
                s.recovery_codes.retain(|_, c| !(c.practice_id == practice_id && c.client_id == client_id));
                for hash in codes {
                    let code = StoredCode { practice_id, client_id: client_id.clone(), used_at: None };
                    s.recovery_codes.insert(hash, code);
                }
            }
            s.outbox.extend(mail.into_iter().map(OutboxRow::queued));
            s.push_audit(audit);
            Ok(())
        })
    }

    async fn use_totp_step(
        &self,
        factor: FactorId,
        step: u64,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            s.check_new_audit(audit)?;
            let Some(stored) = s.factors.iter_mut().find(|f| f.id == factor && f.is_confirmed()) else {
                return Ok(false);
            };
            let FactorSecret::Totp { last_step, .. } = &mut stored.secret else { return Ok(false) };
            if last_step.is_some_and(|last| step <= last) {
                return Ok(false);
            }
            *last_step = Some(step);
            stored.last_used_at = Some(at);
            s.push_audit(audit.iter().cloned());
            Ok(true)
        })
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
        self.with(|s| {
            s.check_new_audit(audit)?;
            s.check_new_mail(mail)?;
            let Some(code) = s.recovery_codes.get_mut(hash) else { return Ok(false) };
            if code.practice_id != practice || code.client_id != *client || code.used_at.is_some() {
                return Ok(false);
            }
            code.used_at = Some(at);
            s.outbox.extend(mail.iter().cloned().map(OutboxRow::queued));
            s.push_audit(audit.iter().cloned());
            Ok(true)
        })
    }

    async fn create_challenge(&self, challenge: &FactorChallenge) -> Result<(), StoreError> {
        self.with(|s| {
            s.challenges.retain(|_, c| c.expires_at > challenge.created_at);
            if s.challenges.contains_key(&challenge.hash) {
                return Err(StoreError::Duplicate("challenge"));
            }
            s.challenges.insert(challenge.hash, challenge.clone());
            Ok(())
        })
    }

    async fn challenge(&self, hash: &TokenHash) -> Result<Option<FactorChallenge>, StoreError> {
        Ok(self.with(|s| s.challenges.get(hash).cloned()))
    }

    async fn consume_challenge(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.with(|s| s.challenges.remove(hash).is_some()))
    }

    async fn passkey_factor(&self, credential: &PasskeyCredentialId) -> Result<Option<SecondFactor>, StoreError> {
        Ok(self.with(|s| s.factors.iter().find(|f| credential_of(f) == Some(credential)).cloned()))
    }

    async fn use_passkey(
        &self,
        factor: FactorId,
        updated: Option<StoredPasskey>,
        at: Timestamp,
        audit: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            s.check_new_audit(audit)?;
            let Some(stored) = s.factors.iter_mut().find(|f| f.id == factor) else { return Ok(false) };
            let FactorSecret::Passkey { passkey, .. } = &mut stored.secret else { return Ok(false) };
            if let Some(updated) = updated {
                *passkey = updated;
            }
            stored.last_used_at = Some(at);
            s.push_audit(audit.iter().cloned());
            Ok(true)
        })
    }

    async fn create_ceremony(&self, ceremony: &PasskeyCeremony) -> Result<(), StoreError> {
        self.with(|s| {
            s.ceremonies.retain(|_, c| c.expires_at > ceremony.created_at);
            if s.ceremonies.contains_key(&ceremony.hash) {
                return Err(StoreError::Duplicate("passkey ceremony"));
            }
            s.ceremonies.insert(ceremony.hash, ceremony.clone());
            Ok(())
        })
    }

    async fn take_ceremony(&self, hash: &TokenHash) -> Result<Option<PasskeyCeremony>, StoreError> {
        Ok(self.with(|s| s.ceremonies.remove(hash)))
    }
}

fn credential_of(factor: &SecondFactor) -> Option<&PasskeyCredentialId> {
    match &factor.secret {
        FactorSecret::Passkey { credential_id, .. } => Some(credential_id),
        FactorSecret::Totp { .. } => None,
    }
}
