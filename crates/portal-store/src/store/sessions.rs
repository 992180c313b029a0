//! [`SessionStore`]: client sessions, by hash of the bearer secret.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{AuditEvent, Session, SessionId, SessionStore, StoreError, TokenHash};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{SeaOrmStore, audit, finish};
use crate::convert::{hash_bytes, micros, session_from, session_row};
use crate::entity::session;
use crate::error::{unavailable, write_error};

#[async_trait]
impl SessionStore for SeaOrmStore {
    async fn create_session(&self, session: &Session, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            session::Entity::insert(session_row(session))
                .exec_without_returning(&txn)
                .await
                .map_err(|e| write_error(e, |_| StoreError::Duplicate("session"), "practice"))?;
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash_bytes(hash)))
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(session_from)
            .transpose()
    }

    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        // Only ever forwards: a slow request finishing late cannot move the idle clock back.
        let _turn = self.write_turn().await?;
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(micros(at)))
            .filter(session::Column::Id.eq(id.as_uuid()))
            .filter(session::Column::LastSeenAt.lt(micros(at)))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn revoke_session(&self, id: SessionId, audit: &AuditEvent) -> Result<(), StoreError> {
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            session::Entity::delete_by_id(id.as_uuid()).exec(&txn).await.map_err(unavailable)?;
            audit::insert(&txn, std::slice::from_ref(audit)).await
        }
        .await;
        finish((txn, turn), outcome).await
    }
}
