//! [`StaffAccess`] for [`InMemoryStore`]: staff keys' lifetime and staff sessions.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::ports::{StaffAccess, StoreError};
use crate::records::{AuditEvent, StaffMember};
use crate::staff::{StaffKeyRecord, StaffSession};
use crate::token::TokenHash;
use crate::types::{PracticeId, StaffId, StaffSessionId};

use super::{InMemoryStore, State};

/// What the store keeps of a key beyond its [`StaffMember`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct KeyLife {
    expires_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
}

impl State {
    fn key_record(&self, staff: &StaffMember) -> StaffKeyRecord {
        let life = self.staff_key_life.get(&staff.id).copied().unwrap_or_default();
        StaffKeyRecord {
            staff: staff.clone(),
            expires_at: life.expires_at,
            revoked_at: life.revoked_at,
            last_used_at: life.last_used_at,
        }
    }

    fn key_by_id(&self, id: StaffId) -> Option<StaffKeyRecord> {
        self.staff_keys.values().find(|staff| staff.id == id).map(|staff| self.key_record(staff))
    }
}

#[async_trait]
impl StaffAccess for InMemoryStore {
    async fn insert_staff_key(
        &self,
        key: &StaffKeyRecord,
        key_hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if !s.practices.contains_key(&key.staff.practice_id) {
                return Err(StoreError::NotFound("practice"));
            }
            if s.staff_keys.contains_key(key_hash) {
                return Err(StoreError::Duplicate("staff key"));
            }
            if s.staff_keys.values().any(|staff| staff.id == key.staff.id) {
                return Err(StoreError::Duplicate("staff member"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.staff_keys.insert(*key_hash, key.staff.clone());
            let life =
                KeyLife { expires_at: key.expires_at, revoked_at: key.revoked_at, last_used_at: key.last_used_at };
            s.staff_key_life.insert(key.staff.id, life);
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn staff_key_by_hash(&self, key_hash: &TokenHash) -> Result<Option<StaffKeyRecord>, StoreError> {
        Ok(self.with(|s| {
            s.staff_key_reads += 1;
            s.staff_keys.get(key_hash).map(|staff| s.key_record(staff))
        }))
    }

    async fn staff_keys(&self, practice: PracticeId) -> Result<Vec<StaffKeyRecord>, StoreError> {
        Ok(self.with(|s| {
            let mut keys: Vec<StaffKeyRecord> = s
                .staff_keys
                .values()
                .filter(|staff| staff.practice_id == practice)
                .map(|staff| s.key_record(staff))
                .collect();
            keys.sort_by(|a, b| {
                (a.staff.created_at, a.staff.id.as_uuid()).cmp(&(b.staff.created_at, b.staff.id.as_uuid()))
            });
            keys
        }))
    }

    async fn revoke_staff_key(
        &self,
        practice: PracticeId,
        id: StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<StaffKeyRecord, StoreError> {
        self.with(|s| {
            let key = s.key_by_id(id).filter(|key| key.staff.practice_id == practice);
            let Some(key) = key else { return Err(StoreError::NotFound("staff key")) };
            if key.revoked_at.is_some() {
                return Ok(key);
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.staff_key_life.entry(id).or_default().revoked_at = Some(at);
            s.staff_sessions.retain(|_, session| session.staff_id != id);
            s.push_audit([audit.clone()]);
            Ok(StaffKeyRecord { revoked_at: Some(at), ..key })
        })
    }

    async fn record_staff_key_use(&self, id: StaffId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if s.staff_keys.values().any(|staff| staff.id == id) {
                let life = s.staff_key_life.entry(id).or_default();
                if life.last_used_at.is_none_or(|last| last < at) {
                    life.last_used_at = Some(at);
                }
            }
        });
        Ok(())
    }

    async fn create_staff_session(&self, session: &StaffSession, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if s.key_by_id(session.staff_id).is_none() {
                return Err(StoreError::NotFound("staff key"));
            }
            let taken = s.staff_sessions.contains_key(&session.id)
                || s.staff_sessions.values().any(|other| other.token_hash.matches(&session.token_hash));
            if taken {
                return Err(StoreError::Duplicate("staff session"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.staff_sessions.insert(session.id, session.clone());
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(StaffSession, StaffKeyRecord)>, StoreError> {
        Ok(self.with(|s| {
            let session = s.staff_sessions.values().find(|session| session.token_hash.matches(hash))?;
            let key = s.key_by_id(session.staff_id)?;
            Some((session.clone(), key))
        }))
    }

    async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(session) = s.staff_sessions.get_mut(&id) {
                session.last_seen_at = session.last_seen_at.max(at);
            }
        });
        Ok(())
    }

    async fn end_staff_session(&self, id: StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_audit(audit)?;
            s.staff_sessions.remove(&id);
            s.push_audit(audit.iter().cloned());
            Ok(())
        })
    }
}

impl InMemoryStore {
    /// How many staff sessions are open (for tests that check that revocation ends them).
    #[must_use]
    pub fn staff_session_count(&self) -> usize {
        self.with(|s| s.staff_sessions.len())
    }

    /// How many times a staff key has been read by its hash
    /// ([`StaffAccess::staff_key_by_hash`]), for tests that check when a key check reads the
    /// store and when it answers from memory.
    #[must_use]
    pub fn staff_key_reads(&self) -> usize {
        self.with(|s| s.staff_key_reads)
    }
}
