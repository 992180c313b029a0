//! [`StaffAccess`]: staff keys' lifetime (expiry, revocation, last use) and the staff sessions
//! of the staff pages, by hash of their bearer secret.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{
    AuditEvent, PracticeId, StaffAccess, StaffId, StaffKeyRecord, StaffSession, StaffSessionId, StoreError, TokenHash,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{SeaOrmStore, audit, finish};
use crate::convert::{hash_bytes, micros, staff_from, staff_row, token_hash};
use crate::entity::{staff_key, staff_session};
use crate::error::{unavailable, write_error};

fn key_from(row: staff_key::Model) -> Result<StaffKeyRecord, StoreError> {
    let (expires_at, revoked_at, last_used_at) = (row.expires_at, row.revoked_at, row.last_used_at);
    Ok(StaffKeyRecord {
        staff: staff_from(row)?,
        expires_at: expires_at.map(Into::into),
        revoked_at: revoked_at.map(Into::into),
        last_used_at: last_used_at.map(Into::into),
    })
}

fn session_row(session: &StaffSession) -> staff_session::ActiveModel {
    staff_session::ActiveModel {
        id: Set(session.id.as_uuid()),
        token_hash: Set(hash_bytes(&session.token_hash)),
        staff_id: Set(session.staff_id.as_uuid()),
        practice_id: Set(session.practice_id.as_uuid()),
        created_at: Set(micros(session.created_at)),
        last_seen_at: Set(micros(session.last_seen_at)),
    }
}

fn session_from(row: staff_session::Model) -> Result<StaffSession, StoreError> {
    Ok(StaffSession {
        id: StaffSessionId::from_uuid(row.id),
        token_hash: token_hash("staff_sessions.token_hash", row.token_hash)?,
        staff_id: StaffId::from_uuid(row.staff_id),
        practice_id: PracticeId::from_uuid(row.practice_id),
        created_at: row.created_at.into(),
        last_seen_at: row.last_seen_at.into(),
    })
}

/// Names the unique key a staff-key insert collided with.
fn duplicate_key(what: &str) -> StoreError {
    if what.contains("key_hash") { StoreError::Duplicate("staff key") } else { StoreError::Duplicate("staff member") }
}

async fn key_by_id(db: &impl ConnectionTrait, id: StaffId) -> Result<Option<StaffKeyRecord>, StoreError> {
    staff_key::Entity::find_by_id(id.as_uuid()).one(db).await.map_err(unavailable)?.map(key_from).transpose()
}

#[async_trait]
impl StaffAccess for SeaOrmStore {
    async fn insert_staff_key(
        &self,
        key: &StaffKeyRecord,
        key_hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut row = staff_row(&key.staff, key_hash);
        row.expires_at = Set(key.expires_at.map(micros));
        row.revoked_at = Set(key.revoked_at.map(micros));
        row.last_used_at = Set(key.last_used_at.map(micros));
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            staff_key::Entity::insert(row)
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, duplicate_key, "practice"))?;
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn staff_key_by_hash(&self, key_hash: &TokenHash) -> Result<Option<StaffKeyRecord>, StoreError> {
        staff_key::Entity::find()
            .filter(staff_key::Column::KeyHash.eq(hash_bytes(key_hash)))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(key_from)
            .transpose()
    }

    async fn staff_keys(&self, practice: PracticeId) -> Result<Vec<StaffKeyRecord>, StoreError> {
        staff_key::Entity::find()
            .filter(staff_key::Column::PracticeId.eq(practice.as_uuid()))
            .order_by_asc(staff_key::Column::CreatedAt)
            .order_by_asc(staff_key::Column::Id)
            .all(&self.db)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(key_from)
            .collect()
    }

    async fn revoke_staff_key(
        &self,
        practice: PracticeId,
        id: StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<StaffKeyRecord, StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            let key = key_by_id(&txn, id)
                .await?
                .filter(|key| key.staff.practice_id == practice)
                .ok_or(StoreError::NotFound("staff key"))?;
            if key.revoked_at.is_some() {
                return Ok(key);
            }
            // Guarded by `revoked_at IS NULL`: two revocations racing on PostgreSQL keep the
            // first time, and only the one that changed the row writes its event.
            let changed = staff_key::Entity::update_many()
                .col_expr(staff_key::Column::RevokedAt, Expr::value(micros(at)))
                .filter(staff_key::Column::Id.eq(id.as_uuid()))
                .filter(staff_key::Column::RevokedAt.is_null())
                .exec(&txn)
                .await
                .map_err(unavailable)?
                .rows_affected;
            staff_session::Entity::delete_many()
                .filter(staff_session::Column::StaffId.eq(id.as_uuid()))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            if changed == 0 {
                return key_by_id(&txn, id).await?.ok_or(StoreError::NotFound("staff key"));
            }
            audit::insert(&txn, std::slice::from_ref(audit)).await?;
            Ok(StaffKeyRecord { revoked_at: Some(at), ..key })
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn record_staff_key_use(&self, id: StaffId, at: Timestamp) -> Result<(), StoreError> {
        // Only ever forwards: a slow request finishing late cannot move the last use back.
        let _turn = self.write_turn().await?;
        staff_key::Entity::update_many()
            .col_expr(staff_key::Column::LastUsedAt, Expr::value(micros(at)))
            .filter(staff_key::Column::Id.eq(id.as_uuid()))
            .filter(
                Condition::any()
                    .add(staff_key::Column::LastUsedAt.is_null())
                    .add(staff_key::Column::LastUsedAt.lt(micros(at))),
            )
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn create_staff_session(&self, session: &StaffSession, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            staff_session::Entity::insert(session_row(session))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("staff session"), "staff key"))?;
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(StaffSession, StaffKeyRecord)>, StoreError> {
        let Some(row) = staff_session::Entity::find()
            .filter(staff_session::Column::TokenHash.eq(hash_bytes(hash)))
            .one(&self.db)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let session = session_from(row)?;
        Ok(key_by_id(&self.db, session.staff_id).await?.map(|key| (session, key)))
    }

    async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        staff_session::Entity::update_many()
            .col_expr(staff_session::Column::LastSeenAt, Expr::value(micros(at)))
            .filter(staff_session::Column::Id.eq(id.as_uuid()))
            .filter(staff_session::Column::LastSeenAt.lt(micros(at)))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn end_staff_session(&self, id: StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            staff_session::Entity::delete_by_id(id.as_uuid()).exec(&txn).await.map_err(unavailable)?;
            if !audit.is_empty() {
                audit::insert(&txn, audit).await?;
            }
            Ok(())
        }
        .await;
        finish((txn, turn), outcome).await
    }
}
