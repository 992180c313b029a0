//! Waiting for a condition in a test, with a bound.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it holds, for at most `limit`; returns how long it took.
///
/// # Panics
/// When `check` still fails after `limit`, naming `what`.
pub async fn poll_until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.elapsed()
}
