//! Deterministic randomness for tests. **Not secure.**

use std::sync::{Arc, Mutex};

use crate::ports::{Randomness, RandomnessError};

use super::lock;

/// A deterministic [`Randomness`]: a SplitMix64 generator from a seed, so ids and secrets are the
/// same on every run. Clones share (and advance) one generator.
///
/// **NOT SECURE.** Its output is predictable by design. Use it only in tests and demos; a real
/// deployment uses [`OsRandom`](crate::OsRandom).
///
/// Each [`Randomness::fill`] call draws its bytes under one lock, so the sequence is
/// reproducible as long as the calls happen in the same order.
///
/// ```
/// use portal_core::Randomness;
/// use portal_core::testing::SeededRandom;
///
/// let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
/// SeededRandom::new(7).fill(&mut a)?;
/// SeededRandom::new(7).fill(&mut b)?;
/// assert_eq!(a, b);
/// # Ok::<(), portal_core::RandomnessError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SeededRandom {
    state: Arc<Mutex<u64>>,
}

impl SeededRandom {
    /// A generator started from `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: Arc::new(Mutex::new(seed)) }
    }

    /// SplitMix64 (Steele, Lea and Flood, 2014): a full-period 64-bit generator with good
    /// statistical quality and no cryptographic strength whatsoever.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Randomness for SeededRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError> {
        let mut state = lock(&self.state);
        for chunk in dest.chunks_mut(8) {
            let bytes = Self::next(&mut state).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}
