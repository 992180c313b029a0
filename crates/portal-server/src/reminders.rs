//! The invitation reminder job of `serve`: every `--reminder-interval` it runs
//! [`PortalService::queue_due_reminders`](portal_core::service::PortalService::queue_due_reminders)
//! until no due reminder is left, wakes the mail dispatcher when it queued mail, counts what it
//! did on `/metrics` and logs counts (never an address). Several servers sharing one database
//! may all run it: each reminder is decided under its account's lock, so it is queued once.

use std::sync::Arc;
use std::time::Duration;

use portal_core::DynPortalService;
use portal_http::ReminderCounters;
use portal_mail::MailWaker;

use crate::periodic::PeriodicJob;

/// How many due invitations one batch handles (a run repeats batches while they come full).
pub const REMINDER_BATCH: u32 = 200;

/// The background reminder job of `serve`.
pub struct ReminderJob(PeriodicJob);

impl ReminderJob {
    /// Starts the job: a run at once, then one every `interval`. Stopping abandons a run between
    /// or inside one reminder's transaction, which commits whole or not at all.
    #[must_use]
    pub fn spawn(
        service: Arc<DynPortalService>,
        waker: MailWaker,
        interval: Duration,
        counters: ReminderCounters,
    ) -> Self {
        Self(PeriodicJob::spawn(interval, move || {
            let (service, waker, counters) = (Arc::clone(&service), waker.clone(), counters.clone());
            async move { run(&service, &waker, &counters).await }
        }))
    }

    /// Stops the job (a reminder being committed is abandoned whole) and waits for it.
    pub async fn shutdown(self) {
        self.0.shutdown().await;
    }
}

/// One run: batches until one comes back short, so a backlog drains in one run.
async fn run(service: &DynPortalService, waker: &MailWaker, counters: &ReminderCounters) {
    let (mut queued, mut skipped) = (0, 0);
    loop {
        match service.queue_due_reminders(REMINDER_BATCH).await {
            Ok(batch) => {
                counters.add(batch.queued, batch.skipped);
                if batch.queued > 0 {
                    waker.wake();
                }
                queued += batch.queued;
                skipped += batch.skipped;
                // A batch that made no progress (every candidate passed over) must not spin.
                if batch.considered() < u64::from(REMINDER_BATCH) || batch.queued + batch.skipped == 0 {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "queueing invitation reminders failed; the next run carries on");
                break;
            }
        }
    }
    if queued + skipped > 0 {
        tracing::info!(queued, skipped, "invitation reminders due: queued, or skipped (the client cannot be emailed)");
    } else {
        tracing::debug!("invitation reminders: none due");
    }
}
