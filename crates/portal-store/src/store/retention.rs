//! [`Retention`]: deleting finished rows one bounded batch at a time.
//!
//! Each batch is one statement, `DELETE FROM t WHERE pk IN (SELECT pk FROM t WHERE … LIMIT n)
//! AND …`, so it is its own short transaction: on SQLite it takes this process's turn to write
//! for one batch only (requests queued for the turn go first before the next batch), and on
//! PostgreSQL it locks only the rows it deletes. The condition is repeated outside the
//! subquery: on PostgreSQL a row changed while the delete waited for it (a new failure on a
//! throttle counter) is checked again and kept.

use async_trait::async_trait;
use portal_core::{PruneCutoffs, PruneKind, Retention, StoreError};
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, QueryTrait};

use super::SeaOrmStore;
use crate::convert::micros;
use crate::entity::mail_outbox::{STATUS_FAILED, STATUS_SENT};
use crate::entity::{
    audit_event, factor_challenge, mail_outbox, passkey_ceremony, portal_account, session, sign_in_throttle,
    staff_session, token,
};
use crate::error::unavailable;

/// `NOT EXISTS (SELECT 1 FROM portal_accounts WHERE <column> = <token id>)` for both of an
/// account's token columns: the token is no account's current invite or reset token.
fn no_account_points_at(token_id: Expr) -> Condition {
    let points = |column: portal_account::Column| {
        Expr::not_exists(
            Query::select()
                .expr(Expr::val(1))
                .from(portal_account::Entity)
                .and_where(Expr::col((portal_account::Entity, column)).eq(token_id.clone()))
                .to_owned(),
        )
    };
    Condition::all()
        .add(points(portal_account::Column::InviteTokenId))
        .add(points(portal_account::Column::ResetTokenId))
}

fn sessions_over(cutoffs: &PruneCutoffs) -> Condition {
    Condition::any()
        .add(session::Column::LastSeenAt.lte(micros(cutoffs.sessions_seen_before)))
        .add(session::Column::CreatedAt.lte(micros(cutoffs.sessions_started_before)))
}

fn staff_sessions_over(cutoffs: &PruneCutoffs) -> Condition {
    Condition::any()
        .add(staff_session::Column::LastSeenAt.lte(micros(cutoffs.sessions_seen_before)))
        .add(staff_session::Column::CreatedAt.lte(micros(cutoffs.sessions_started_before)))
}

fn outbox_done(cutoffs: &PruneCutoffs) -> Condition {
    use mail_outbox::Column;
    let before = micros(cutoffs.outbox_done_before);
    Condition::all()
        .add(
            Condition::any()
                .add(Condition::all().add(Column::Status.eq(STATUS_SENT)).add(Column::SentAt.lte(before)))
                .add(Condition::all().add(Column::Status.eq(STATUS_FAILED)).add(Column::FailedAt.lte(before))),
        )
        .add(
            Condition::any()
                .add(Column::TokenId.is_null())
                .add(no_account_points_at(Expr::col((mail_outbox::Entity, Column::TokenId)))),
        )
}

fn tokens_done(cutoffs: &PruneCutoffs) -> Condition {
    let id = Expr::col((token::Entity, token::Column::Id));
    Condition::all()
        .add(token::Column::ExpiresAt.lte(micros(cutoffs.tokens_done_before)))
        .add(no_account_points_at(id.clone()))
        .add(Expr::not_exists(
            Query::select()
                .expr(Expr::val(1))
                .from(mail_outbox::Entity)
                .and_where(Expr::col((mail_outbox::Entity, mail_outbox::Column::TokenId)).eq(id))
                .to_owned(),
        ))
}

/// The primary keys of at most `limit` rows of `E` matching `condition`.
fn keys<E: EntityTrait>(
    columns: impl IntoIterator<Item = E::Column>,
    condition: Condition,
    limit: u32,
) -> SelectStatement {
    let mut select = E::find().select_only();
    for column in columns {
        select = select.column(column);
    }
    select.filter(condition).limit(u64::from(limit)).into_query()
}

impl SeaOrmStore {
    /// Runs one batch delete in this process's turn to write.
    async fn delete_batch<E: EntityTrait>(&self, delete: sea_orm::DeleteMany<E>) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await?;
        Ok(delete.exec(&self.db).await.map_err(unavailable)?.rows_affected)
    }
}

#[async_trait]
impl Retention for SeaOrmStore {
    async fn prune_batch(&self, kind: PruneKind, cutoffs: &PruneCutoffs, limit: u32) -> Result<u64, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        match kind {
            PruneKind::Sessions => {
                let over = sessions_over(cutoffs);
                let ids = keys::<session::Entity>([session::Column::Id], over.clone(), limit);
                self.delete_batch(
                    session::Entity::delete_many().filter(session::Column::Id.in_subquery(ids)).filter(over),
                )
                .await
            }
            PruneKind::StaffSessions => {
                let over = staff_sessions_over(cutoffs);
                let ids = keys::<staff_session::Entity>([staff_session::Column::Id], over.clone(), limit);
                self.delete_batch(
                    staff_session::Entity::delete_many()
                        .filter(staff_session::Column::Id.in_subquery(ids))
                        .filter(over),
                )
                .await
            }
            PruneKind::Throttle => {
                use sign_in_throttle::Column;
                let idle = Condition::all().add(Column::LastFailureAt.lte(micros(cutoffs.throttle_idle_since)));
                let pks = keys::<sign_in_throttle::Entity>([Column::PracticeId, Column::Key], idle.clone(), limit);
                let pk = Expr::tuple([Expr::col(Column::PracticeId), Expr::col(Column::Key)]);
                self.delete_batch(sign_in_throttle::Entity::delete_many().filter(pk.in_subquery(pks)).filter(idle))
                    .await
            }
            PruneKind::Outbox => {
                let done = outbox_done(cutoffs);
                let ids = keys::<mail_outbox::Entity>([mail_outbox::Column::Id], done.clone(), limit);
                self.delete_batch(
                    mail_outbox::Entity::delete_many().filter(mail_outbox::Column::Id.in_subquery(ids)).filter(done),
                )
                .await
            }
            PruneKind::Tokens => {
                // The condition is not repeated outside: it names `tokens` inside correlated
                // subqueries, and nothing a request does makes an expired token current again.
                let ids = keys::<token::Entity>([token::Column::Id], tokens_done(cutoffs), limit);
                self.delete_batch(token::Entity::delete_many().filter(token::Column::Id.in_subquery(ids))).await
            }
            PruneKind::SignInSteps => {
                use factor_challenge::Column as Challenge;
                use passkey_ceremony::Column as Ceremony;
                let now = micros(cutoffs.now);
                let expired = Condition::all().add(Challenge::ExpiresAt.lte(now));
                let hashes = keys::<factor_challenge::Entity>([Challenge::TokenHash], expired.clone(), limit);
                let challenges = self
                    .delete_batch(
                        factor_challenge::Entity::delete_many()
                            .filter(Challenge::TokenHash.in_subquery(hashes))
                            .filter(expired),
                    )
                    .await?;
                // What the challenges left of the batch goes to the ceremonies.
                let rest = limit.saturating_sub(u32::try_from(challenges).unwrap_or(limit));
                if rest == 0 {
                    return Ok(challenges);
                }
                let expired = Condition::all().add(Ceremony::ExpiresAt.lte(now));
                let hashes = keys::<passkey_ceremony::Entity>([Ceremony::TokenHash], expired.clone(), rest);
                let ceremonies = self
                    .delete_batch(
                        passkey_ceremony::Entity::delete_many()
                            .filter(Ceremony::TokenHash.in_subquery(hashes))
                            .filter(expired),
                    )
                    .await?;
                Ok(challenges + ceremonies)
            }
            PruneKind::Audit => {
                let old = Condition::all().add(audit_event::Column::At.lte(micros(cutoffs.audit_before)));
                let seqs = keys::<audit_event::Entity>([audit_event::Column::Seq], old.clone(), limit);
                self.delete_batch(
                    audit_event::Entity::delete_many().filter(audit_event::Column::Seq.in_subquery(seqs)).filter(old),
                )
                .await
            }
        }
    }

    /// `ANALYZE`. SQLite keeps no statistics until it is asked to, and without them it plans a
    /// million-row table as if it were small (`sqlite_stat1`); `analysis_limit` makes it sample
    /// each index instead of reading it whole, so a run takes milliseconds in this process's
    /// turn to write. PostgreSQL's autovacuum analyses on its own, but only once enough rows
    /// changed and some time after: analysing the portal's tables here, one statement each,
    /// gives the planner the new sizes at once (after a bulk load, a large prune).
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        match self.backend() {
            DbBackend::Sqlite => {
                let _turn = self.write_turn().await?;
                self.db.execute_unprepared("PRAGMA analysis_limit = 1000; ANALYZE;").await.map_err(unavailable)?;
            }
            _ => {
                for table in analysed_tables() {
                    self.db.execute_unprepared(&format!("ANALYZE {table}")).await.map_err(unavailable)?;
                }
            }
        }
        Ok(())
    }
}

/// The tables whose size changes with use, by bulk loads or by pruning (PostgreSQL).
fn analysed_tables() -> [&'static str; 7] {
    use sea_orm::EntityName as _;
    [
        crate::entity::client::Entity.table_name(),
        portal_account::Entity.table_name(),
        token::Entity.table_name(),
        mail_outbox::Entity.table_name(),
        audit_event::Entity.table_name(),
        session::Entity.table_name(),
        sign_in_throttle::Entity.table_name(),
    ]
}
