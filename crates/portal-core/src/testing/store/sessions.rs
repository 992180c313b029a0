//! [`SessionStore`] for [`InMemoryStore`].

use async_trait::async_trait;
use jiff::Timestamp;

use crate::ports::{SessionStore, StoreError};
use crate::records::{AuditEvent, Session};
use crate::token::TokenHash;
use crate::types::SessionId;

use super::InMemoryStore;

#[async_trait]
impl SessionStore for InMemoryStore {
    async fn create_session(&self, session: &Session, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            let taken = s.sessions.contains_key(&session.id)
                || s.sessions.values().any(|other| other.token_hash.matches(&session.token_hash));
            if taken {
                return Err(StoreError::Duplicate("session"));
            }
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.sessions.insert(session.id, session.clone());
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }

    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        Ok(self.with(|s| s.sessions.values().find(|session| session.token_hash.matches(hash)).cloned()))
    }

    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(session) = s.sessions.get_mut(&id) {
                session.last_seen_at = at;
            }
        });
        Ok(())
    }

    async fn revoke_session(&self, id: SessionId, audit: &AuditEvent) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_audit(std::slice::from_ref(audit))?;
            s.sessions.remove(&id);
            s.push_audit([audit.clone()]);
            Ok(())
        })
    }
}
