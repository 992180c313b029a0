//! [`ThrottleStore`]: sign-in failure counters.

use async_trait::async_trait;
use jiff::Timestamp;
use portal_core::{PracticeId, StoreError, ThrottleState, ThrottleStore};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::SeaOrmStore;
use crate::convert::micros;
use crate::entity::sign_in_throttle::{self, Column};
use crate::error::{unavailable, write_error};

fn state_from(row: sign_in_throttle::Model) -> ThrottleState {
    ThrottleState {
        // A counter beyond u32 is still "locked"; saturate rather than fail a sign-in.
        failures: u32::try_from(Ord::max(row.failures, 0)).unwrap_or(u32::MAX),
        last_failure_at: Some(row.last_failure_at.into()),
    }
}

#[async_trait]
impl ThrottleStore for SeaOrmStore {
    async fn throttle(&self, practice: PracticeId, key: &str) -> Result<ThrottleState, StoreError> {
        let row = sign_in_throttle::Entity::find_by_id((practice.as_uuid(), key.to_owned()))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.map(state_from).unwrap_or_default())
    }

    async fn record_failure(
        &self,
        practice: PracticeId,
        key: &str,
        at: Timestamp,
    ) -> Result<ThrottleState, StoreError> {
        // One atomic statement on both backends:
        // INSERT … ON CONFLICT (practice_id, key) DO UPDATE SET failures = failures + 1 … RETURNING *
        let _turn = self.write_turn().await?;
        let row = sign_in_throttle::Entity::insert(sign_in_throttle::ActiveModel {
            practice_id: Set(practice.as_uuid()),
            key: Set(key.to_owned()),
            failures: Set(1),
            last_failure_at: Set(micros(at)),
        })
        .on_conflict(
            OnConflict::columns([Column::PracticeId, Column::Key])
                .value(Column::Failures, Expr::col((sign_in_throttle::Entity, Column::Failures)).add(1))
                .update_column(Column::LastFailureAt)
                .to_owned(),
        )
        .exec_with_returning(&self.db)
        .await
        .map_err(|e| write_error(e, |_| StoreError::Duplicate("throttle counter"), "practice"))?;
        Ok(state_from(row))
    }

    async fn clear_throttle(&self, practice: PracticeId, key: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        sign_in_throttle::Entity::delete_many()
            .filter(Column::PracticeId.eq(practice.as_uuid()))
            .filter(Column::Key.eq(key))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
