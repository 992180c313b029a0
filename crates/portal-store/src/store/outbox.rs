//! [`MailOutbox`]: the durable mail queue as the dispatcher sees it.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use portal_core::{ClaimedMail, DeliveryProblem, DeliveryState, MailId, MailOutbox, StoreError, TokenId};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany};

use super::{SeaOrmStore, finish};
use crate::convert::{claimed_from, delivery_from, micros};
use crate::entity::mail_outbox::{self, Column, STATUS_FAILED, STATUS_PENDING, STATUS_SENT};
use crate::error::unavailable;
use crate::time::UnixMicros;

/// An update of one row that is still pending (sent and failed rows are final: late reports
/// from a dispatcher whose lease lapsed change nothing).
fn pending_row(id: MailId) -> UpdateMany<mail_outbox::Entity> {
    mail_outbox::Entity::update_many()
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::Status.eq(STATUS_PENDING))
        .col_expr(Column::LeaseUntil, Expr::value(Option::<UnixMicros>::None))
}

impl SeaOrmStore {
    async fn exec(&self, update: UpdateMany<mail_outbox::Entity>) -> Result<(), StoreError> {
        let _turn = self.write_turn().await?;
        update.exec(&self.db).await.map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl MailOutbox for SeaOrmStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.checked_add(lease).unwrap_or(Timestamp::MAX);
        let (txn, turn) = self.begin_write().await?;
        let outcome = async {
            // PostgreSQL: rows another claimer holds are skipped, not waited for. SQLite ignores
            // the lock clause; its IMMEDIATE transaction already excludes every other writer.
            let rows = mail_outbox::Entity::find()
                .filter(Column::Status.eq(STATUS_PENDING))
                .filter(Column::NextAttemptAt.lte(micros(now)))
                .filter(Condition::any().add(Column::LeaseUntil.is_null()).add(Column::LeaseUntil.lte(micros(now))))
                .order_by_asc(Column::NextAttemptAt)
                .order_by_asc(Column::CreatedAt)
                .order_by_asc(Column::Id)
                .limit(u64::from(limit))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .all(&txn)
                .await
                .map_err(unavailable)?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            mail_outbox::Entity::update_many()
                .col_expr(Column::LeaseUntil, Expr::value(micros(lease_until)))
                .filter(Column::Id.is_in(rows.iter().map(|row| row.id)))
                .exec(&txn)
                .await
                .map_err(unavailable)?;
            rows.into_iter().map(|row| claimed_from(row, lease_until)).collect()
        }
        .await;
        finish((txn, turn), outcome).await
    }

    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        // Purge the personal data needed only for delivery (the address); keep the metadata (and the token
        // id, which is useless without the link key) for the staff view.
        self.exec(
            pending_row(id)
                .col_expr(Column::Status, Expr::value(STATUS_SENT))
                .col_expr(Column::SentAt, Expr::value(micros(at)))
                .col_expr(Column::Recipient, Expr::value(Option::<String>::None)),
        )
        .await
    }

    async fn retry_later(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        problem: &DeliveryProblem,
    ) -> Result<(), StoreError> {
        self.exec(
            pending_row(id)
                .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
                .col_expr(Column::NextAttemptAt, Expr::value(micros(next_attempt_at)))
                .col_expr(Column::LastError, Expr::value(problem.detail.as_str()))
                .col_expr(Column::LastErrorCause, Expr::value(problem.cause.as_str())),
        )
        .await
    }

    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        // A failed row is never rendered again: purge its recipient as for a sent one.
        self.exec(
            pending_row(id)
                .col_expr(Column::Status, Expr::value(STATUS_FAILED))
                .col_expr(Column::FailedAt, Expr::value(micros(at)))
                .col_expr(Column::LastError, Expr::value(problem.detail.as_str()))
                .col_expr(Column::LastErrorCause, Expr::value(problem.cause.as_str()))
                .col_expr(Column::GaveUpAfter, Expr::value(gave_up_after.map(i64::from)))
                .col_expr(Column::Recipient, Expr::value(Option::<String>::None)),
        )
        .await
    }

    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        mail_outbox::Entity::find()
            .filter(Column::TokenId.eq(token.as_uuid()))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .one(&self.db)
            .await
            .map_err(unavailable)?
            .map(delivery_from)
            .transpose()
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        mail_outbox::Entity::find().filter(Column::Status.eq(STATUS_PENDING)).count(&self.db).await.map_err(unavailable)
    }
}
