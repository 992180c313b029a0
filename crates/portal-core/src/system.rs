//! The production implementations of the clock and randomness ports. The only place in the
//! crate allowed to read the wall clock (see `clippy.toml`).

use jiff::Timestamp;

use crate::ports::{Clock, Randomness, RandomnessError};

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the clock adapter
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The operating system's secure random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Randomness for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError> {
        getrandom::fill(dest).map_err(|e| RandomnessError(Box::new(e)))
    }
}
