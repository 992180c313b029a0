//! [`AuditLog`]: the append-only audit trail.

use async_trait::async_trait;
use portal_core::{AuditEvent, AuditLog, ClientId, PracticeId, StoreError};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::SeaOrmStore;
use crate::convert::{audit_from, audit_row};
use crate::entity::audit_event;
use crate::error::{unavailable, write_error};

/// Appends events in the caller's transaction (or alone, as one statement).
pub(super) async fn insert(db: &impl ConnectionTrait, events: &[AuditEvent]) -> Result<(), StoreError> {
    audit_event::Entity::insert_many(events.iter().map(audit_row))
        .exec_without_returning(db)
        .await
        .map_err(|e| write_error(e, |_| StoreError::Duplicate("audit event"), "practice of an audit event"))?;
    Ok(())
}

#[async_trait]
impl AuditLog for SeaOrmStore {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        // One multi-row INSERT: all of the events or none.
        let _turn = self.write_turn().await?;
        insert(&self.db, events).await
    }

    async fn trail(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<AuditEvent>, StoreError> {
        audit_event::Entity::find()
            .filter(audit_event::Column::PracticeId.eq(practice.as_uuid()))
            .filter(audit_event::Column::ClientId.eq(client.as_str()))
            .order_by_asc(audit_event::Column::At)
            .order_by_asc(audit_event::Column::Seq)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(audit_from)
            .collect()
    }
}
