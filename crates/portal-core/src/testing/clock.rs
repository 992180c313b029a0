//! A clock that moves only when told to.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

use crate::ports::Clock;

use super::lock;

/// A [`Clock`] whose time is set and advanced by the test. Clones share the same time.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::testing::ManualClock;
///
/// let clock = ManualClock::new(Timestamp::from_second(1_800_000_000)?);
/// let shared = clock.clone();
/// clock.advance(SignedDuration::from_hours(48));
/// assert_eq!(shared.now(), Timestamp::from_second(1_800_000_000 + 48 * 3600)?);
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> Self {
        Self { now: Arc::new(Mutex::new(start)) }
    }

    /// The current (manual) time.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        *lock(&self.now)
    }

    /// Sets the time (it may move backwards, to test a store against a skewed clock).
    pub fn set(&self, at: Timestamp) {
        *lock(&self.now) = at;
    }

    /// Moves the time by `by` (negative moves it back) and returns the new time.
    ///
    /// # Panics
    /// When the result lies outside the range of [`Timestamp`]: a test bug, not a condition to
    /// handle.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = lock(&self.now);
        *now = now.checked_add(by).expect("ManualClock advanced beyond the range of Timestamp");
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Self::now(self)
    }
}
