//! The hash ceiling: how many production-strength password hashes this machine can compute per
//! second, measured in this process with the portal's own hasher, so the HTTP figures can be
//! read against it.

use std::time::Instant;

use portal_core::{Password, ScryptHasher, ScryptParams};

use crate::Result;

/// The ceiling, measured in the same run as the load.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashCeiling {
    /// The setting measured (the production default).
    pub(crate) params: ScryptParams,
    /// Logical cores (what the server sizes its hashing pool by).
    pub(crate) cores: usize,
    /// Median time of one hash, alone on the machine.
    pub(crate) one_hash_seconds: f64,
    /// Hashes per second with one thread per core, all at once.
    pub(crate) parallel_per_second: f64,
}

impl HashCeiling {
    /// The ceiling the issue defines: cores ÷ one hash's time.
    pub(crate) fn nominal_per_second(&self) -> f64 {
        self.cores as f64 / self.one_hash_seconds
    }
}

/// Times `samples` hashes one after another, then `cores` threads hashing at once.
pub(crate) fn measure(samples: usize) -> Result<HashCeiling> {
    let params = ScryptParams::default();
    let hasher = ScryptHasher::new(params).map_err(|error| format!("scrypt: {error}"))?;
    let password = Password::new("violet kettles hum at dawn");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);

    // One warm-up hash: the first touches fresh pages.
    hasher.hash_blocking(&password).map_err(|error| format!("scrypt: {error}"))?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        hasher.hash_blocking(&password).map_err(|error| format!("scrypt: {error}"))?;
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let one_hash_seconds = times[times.len() / 2];

    let per_thread = samples.div_ceil(cores).max(2);
    let started = Instant::now();
    let outcomes: Vec<Result> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..per_thread {
                        hasher.hash_blocking(&password).map_err(|error| format!("scrypt: {error}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_else(|_| Err("a hashing thread panicked".into())))
            .collect()
    });
    outcomes.into_iter().collect::<Result<Vec<()>>>()?;
    let parallel_per_second = (cores * per_thread) as f64 / started.elapsed().as_secs_f64();

    Ok(HashCeiling { params, cores, one_hash_seconds, parallel_per_second })
}
