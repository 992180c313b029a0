//! [`PeriodicJob`]: a background job of `serve` that runs on a fixed period (the retention job,
//! the reminder job) and stops with the server.

use std::future::Future;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// A task that runs `run` at once, then once every `interval`. A run that overruns delays the
/// next one, never overlaps it. Stopping drops a run in progress at its next await point, so a
/// job's run must be made of steps that each commit whole or not at all.
pub struct PeriodicJob {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl PeriodicJob {
    /// Starts the job; `run` makes each run's future.
    #[must_use]
    pub fn spawn<F, Fut>(interval: Duration, mut run: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {}
                }
                tokio::select! {
                    _ = &mut stopped => return,
                    () = run() => {}
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the job (a run in progress is abandoned at its next await point) and waits for it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
