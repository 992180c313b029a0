//! [`AuditLog`] for [`InMemoryStore`].

use async_trait::async_trait;

use crate::ports::{AuditLog, StoreError};
use crate::records::AuditEvent;
use crate::types::{ClientId, PracticeId};

use super::InMemoryStore;

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_audit(events)?;
            s.push_audit(events.iter().cloned());
            Ok(())
        })
    }

    async fn trail(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<AuditEvent>, StoreError> {
        let mut trail: Vec<AuditEvent> = self.with(|s| {
            s.audit
                .iter()
                .filter(|e| e.practice_id == practice && e.client_id.as_ref() == Some(client))
                .cloned()
                .collect()
        });
        // Stable: events with the same time keep the order they were written in.
        trail.sort_by_key(|e| e.at);
        Ok(trail)
    }
}
