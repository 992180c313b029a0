//! Retention in the bundled server: `portal-server prune` (one run, JSON counts on stdout) and
//! the background job `serve` runs every `--prune-interval`. What is deleted, and what is
//! always kept, is `portal_core::retention`'s; each batch is a short write of its own, so
//! requests are served between batches.

use std::sync::Arc;
use std::time::Duration;

use portal_core::{Clock, DEFAULT_PRUNE_BATCH, Policy, PruneKind, PruneReport, Retention, SystemClock, prune};
use portal_http::PruneCounters;
use portal_store::StoreConfig;
use serde_json::{Map, Value};

use crate::commands::CommandError;
use crate::periodic::PeriodicJob;

/// The counts of a run as a JSON object, one member per kind (`sessions`, `staff_sessions`,
/// `throttle`, `outbox`, `tokens`, `audit`, `sign_in_steps`).
#[must_use]
pub fn report_json(report: &PruneReport) -> Value {
    let counts: Map<String, Value> =
        report.iter().map(|(kind, n)| (kind.as_str().to_owned(), Value::from(n))).collect();
    Value::Object(counts)
}

/// `portal-server prune`: opens (and migrates) the database with the given waits, runs one prune,
/// returns the counts.
///
/// # Errors
/// [`CommandError::Database`] when the database cannot be opened; [`CommandError::Refused`]
/// when a batch fails (earlier batches stay deleted).
pub async fn prune_once(database_url: &str, policy: &Policy, store: StoreConfig) -> Result<Value, CommandError> {
    let store = portal_store::connect_with(database_url, store).await?;
    let outcome = prune(&store, policy, &SystemClock, DEFAULT_PRUNE_BATCH, |_, _| {}).await;
    let _ = store.close().await;
    let report = outcome.map_err(|error| CommandError::Refused(format!("pruning failed: {error}")))?;
    tracing::info!(deleted = report.total(), "prune finished");
    Ok(report_json(&report))
}

/// The background retention job of `serve`.
pub struct PruneJob(PeriodicJob);

impl PruneJob {
    /// Starts the job: a run at once, then one every `interval`. Every deleted batch is counted
    /// in `counters`. Stopping drops the run between or inside a batch: a batch is one
    /// statement, deleted whole or not at all.
    #[must_use]
    pub fn spawn(
        store: Arc<dyn Retention>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        interval: Duration,
        counters: PruneCounters,
    ) -> Self {
        Self(PeriodicJob::spawn(interval, move || {
            let (store, policy, clock, counters) =
                (Arc::clone(&store), policy.clone(), Arc::clone(&clock), counters.clone());
            async move {
                let counted = |kind: PruneKind, n| counters.add(kind, n);
                match prune(&*store, &policy, &*clock, DEFAULT_PRUNE_BATCH, counted).await {
                    Ok(report) if report.total() > 0 => {
                        tracing::info!(counts = %report_json(&report), "pruned rows the retention settings no longer keep");
                    }
                    Ok(_) => tracing::debug!("prune: nothing to delete"),
                    Err(error) => tracing::warn!(error = %error, "prune failed; the next run carries on"),
                }
            }
        }))
    }

    /// Stops the job (a batch in progress is abandoned whole) and waits for it.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};
    use portal_core::testing::{InMemoryStore, ManualClock};
    use portal_core::{PracticeId, ThrottleStore as _};

    use super::*;

    #[tokio::test]
    async fn the_job_prunes_at_start_and_every_interval_counts_and_stops() -> Result<(), Box<dyn std::error::Error>> {
        let store = InMemoryStore::new();
        let now = Timestamp::from_second(1_800_000_000)?;
        let clock = Arc::new(ManualClock::new(now));
        let practice = PracticeId::from_uuid(uuid::Uuid::new_v4());
        store.record_failure(practice, "gone", now - SignedDuration::from_hours(25)).await?;
        let counters = PruneCounters::default();
        let job = PruneJob::spawn(
            Arc::new(store.clone()),
            Policy::default(),
            Arc::clone(&clock) as Arc<dyn Clock>,
            Duration::from_millis(20),
            counters.clone(),
        );
        let counted = |n| async move {
            for _ in 0..200 {
                if counters.get(PruneKind::Throttle) == n {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        };
        assert!(counted.clone()(1).await, "the first run deletes the idle counter");
        // A counter that goes idle later is deleted by a later run.
        store.record_failure(practice, "later", now).await?;
        clock.set(now + SignedDuration::from_hours(25));
        assert!(counted(2).await, "a later run deletes it too");
        job.shutdown().await;
        Ok(())
    }
}
