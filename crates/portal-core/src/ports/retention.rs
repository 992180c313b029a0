//! [`Retention`]: deleting finished records in bounded batches (see [`crate::retention`]).

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::retention::{PruneCutoffs, PruneKind};

/// Deletes records the retention policy no longer keeps, one bounded batch at a time.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait Retention: Send + Sync + 'static {
    /// Deletes at most `limit` rows of `kind` that are finished by `cutoffs`, and returns how
    /// many it deleted; fewer than `limit` means none is left. Every cutoff is inclusive.
    ///
    /// What each kind deletes, and what it MUST keep:
    /// - [`PruneKind::Sessions`], [`PruneKind::StaffSessions`]: sessions last used at or before
    ///   `sessions_seen_before` or started at or before `sessions_started_before`.
    /// - [`PruneKind::Throttle`]: counters whose last failure is at or before
    ///   `throttle_idle_since`. A counter with a later failure MUST be kept, also when the
    ///   failure is recorded while the batch runs.
    /// - [`PruneKind::Outbox`]: sent or failed mail whose outcome is at or before
    ///   `outbox_done_before`, except mail carrying a token that is an account's current invite
    ///   or reset token. Pending mail MUST be kept.
    /// - [`PruneKind::Tokens`]: tokens that expired at or before `tokens_done_before` (a used
    ///   or voided link is finished by its expiry at the latest), except a token an account
    ///   still points at or a kept mail row carries.
    /// - [`PruneKind::Audit`]: audit events at or before `audit_before`.
    /// - [`PruneKind::SignInSteps`]: second-step challenges and passkey ceremonies that expired
    ///   at or before `now`. A live one MUST be kept.
    ///
    /// # Errors
    /// Only infrastructure failures. A batch is deleted whole or not at all, and SHOULD be a
    /// short write of its own, so writers of requests wait for at most one batch.
    async fn prune_batch(&self, kind: PruneKind, cutoffs: &PruneCutoffs, limit: u32) -> Result<u64, StoreError>;

    /// Refreshes what the database's query planner knows of the tables (row counts, how
    /// selective each index is), after a prune or a bulk load changed them. Called at the end of
    /// every [`prune`](crate::prune) run. A store without a planner does nothing (the default).
    ///
    /// # Errors
    /// Only infrastructure failures; the rows already pruned stay pruned.
    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl<T: Retention + ?Sized> Retention for Arc<T> {
    async fn prune_batch(&self, kind: PruneKind, cutoffs: &PruneCutoffs, limit: u32) -> Result<u64, StoreError> {
        (**self).prune_batch(kind, cutoffs, limit).await
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        (**self).refresh_statistics().await
    }
}
