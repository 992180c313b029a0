//! [`BlockingHasher`]: scrypt on a bounded pool of dedicated, low-priority threads.
//!
//! Design §3: hashing runs off the async runtime, at most `permits` at once (about one per core);
//! at most `queue` more requests wait for a permit; beyond that the answer is
//! [`HashError::Saturated`] at once (the HTTP layer says 503 + `Retry-After`) instead of growing
//! memory. The permit is moved *into* the job, so a request that is abandoned while its hash
//! runs (the client hung up) cannot free the slot before the CPU work actually ends.
//!
//! The jobs run on the pool's own threads, one per permit, at nice [`HASH_THREAD_NICENESS`]
//! (Linux): a hash is ~0.3 s of pure CPU, and at the runtime workers' priority a burst of
//! sign-ins on a machine with few cores made cheap requests (a staff lookup) wait behind it.
//! With the hashing threads at a weaker priority the scheduler runs request handling first and
//! hashes with whatever CPU is left; a machine that is not busy hashes exactly as fast.

mod threads;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use portal_core::{HashError, Password, PasswordHash, PasswordHasher, ScryptHasher, Verification};
use tokio::sync::{Semaphore, oneshot};

use threads::{HashThreads, Job};

/// The nice value of the hashing threads (0 is the default, 19 the weakest). At 10 a hashing
/// thread gets about a tenth of the CPU a busy request-handling thread gets on a shared core
/// (Linux's weights: 1024 at nice 0, 110 at nice 10): requests come first, yet a steady stream
/// of them does not stop sign-ins altogether, as nice 19 (weight 15) nearly would.
pub const HASH_THREAD_NICENESS: i32 = 10;

/// Most hashing threads (and so permits) a pool starts.
const MAX_THREADS: usize = 1024;

/// A bounded pool of low-priority threads for password hashing around a [`ScryptHasher`].
///
/// Cheap to clone: clones share the pool.
///
/// ```
/// use portal_core::{HashError, Password, PasswordHasher, ScryptHasher, ScryptParams};
/// use portal_http::BlockingHasher;
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let pool = BlockingHasher::new(ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS)?, 2, 4);
/// let hash = pool.hash(&Password::new("violet kettles hum at dawn")).await?;
/// assert!(hash.as_phc().starts_with("$scrypt$"));
/// assert_eq!((pool.in_flight(), pool.queue_depth()), (0, 0));
/// # Ok::<(), HashError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct BlockingHasher {
    inner: ScryptHasher,
    pool: Arc<Pool>,
}

struct Pool {
    semaphore: Arc<Semaphore>,
    permits: usize,
    queue: usize,
    waiting: AtomicUsize,
    threads: HashThreads,
}

/// Counts a waiter for as long as it waits, including when its future is dropped mid-wait.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BlockingHasher {
    /// A pool running at most `permits` hashes at once (at least one) with at most `queue`
    /// further callers waiting. Starts `permits` threads at nice [`HASH_THREAD_NICENESS`];
    /// they end when the last clone of the pool is dropped.
    #[must_use]
    pub fn new(inner: ScryptHasher, permits: usize, queue: usize) -> Self {
        // One thread per permit: more would idle, and a hash needs its thread for ~0.3 s.
        let permits = permits.clamp(1, MAX_THREADS);
        Self {
            inner,
            pool: Arc::new(Pool {
                semaphore: Arc::new(Semaphore::new(permits)),
                permits,
                queue,
                waiting: AtomicUsize::new(0),
                threads: HashThreads::start(permits, HASH_THREAD_NICENESS),
            }),
        }
    }

    /// The wrapped hasher.
    #[must_use]
    pub fn inner(&self) -> &ScryptHasher {
        &self.inner
    }

    /// How many jobs hold a permit right now (running, or about to run, on a blocking thread).
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.pool.permits.saturating_sub(self.pool.semaphore.available_permits())
    }

    /// How many callers wait for a permit right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.pool.waiting.load(Ordering::Acquire)
    }

    /// Whether a new caller would be refused right now: every permit is taken and the queue is
    /// full. The HTTP layer asks this before a request that hashes does any other work, so a
    /// flood of sign-ins is refused without touching the database; [`BlockingHasher::run`]
    /// still enforces the bound (this is a snapshot, and a slot may free up a moment later).
    #[must_use]
    pub fn is_saturated(&self) -> bool {
        self.pool.semaphore.available_permits() == 0 && self.queue_depth() >= self.pool.queue
    }

    /// The most jobs that run at once.
    #[must_use]
    pub fn permits(&self) -> usize {
        self.pool.permits
    }

    /// The most callers that wait for a permit.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.pool.queue
    }

    /// Runs a CPU-heavy job on the pool: takes a permit (waiting in the bounded queue if none is
    /// free), then runs `job` on one of the pool's low-priority threads, which owns the permit
    /// until `job` returns. The hashing methods use it; it is public so the bounds can be tested
    /// and reused.
    ///
    /// # Errors
    /// [`HashError::Saturated`] at once when every permit is taken and the queue is full;
    /// [`HashError::Failed`] when `job` panicked or no hashing thread could be started;
    /// otherwise whatever `job` returns.
    pub async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, HashError> + Send + 'static,
    {
        let pool = &self.pool;
        let permit = match Arc::clone(&pool.semaphore).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // Join the queue only while it has room.
                let joined = pool.waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |waiting| {
                    (waiting < pool.queue).then_some(waiting + 1)
                });
                if joined.is_err() {
                    return Err(HashError::Saturated);
                }
                let _waiting = Waiting(&pool.waiting);
                Arc::clone(&pool.semaphore)
                    .acquire_owned()
                    .await
                    .map_err(|closed| HashError::Failed(Box::new(closed)))?
            }
        };
        let (answer, answered) = oneshot::channel();
        let work: Job = Box::new(move || {
            // The permit lives (and the slot stays taken) until the work is done, even if the
            // awaiting request is dropped meanwhile; it is released before the answer goes out,
            // so a caller that has its answer sees the slot free again.
            let outcome = job();
            drop(permit);
            // Nobody listens when the request was abandoned: the result is simply dropped.
            let _ = answer.send(outcome);
        });
        if pool.threads.submit(work).is_err() {
            return Err(HashError::Failed("no password hashing thread is running".into()));
        }
        // The sender is dropped unanswered only when `job` panicked.
        answered.await.map_err(|_| HashError::Failed("the password hashing job panicked".into()))?
    }
}

impl std::fmt::Debug for BlockingHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingHasher")
            .field("inner", &self.inner)
            .field("permits", &self.pool.permits)
            .field("queue", &self.pool.queue)
            .field("in_flight", &self.in_flight())
            .field("queue_depth", &self.queue_depth())
            .finish()
    }
}

#[async_trait]
impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let (hasher, password) = (self.inner.clone(), password.clone());
        self.run(move || hasher.hash_blocking(&password)).await
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<Verification, HashError> {
        // Refuse a memory or CPU bomb before queueing anything.
        ScryptHasher::stored_params(hash)?;
        let (hasher, password, hash) = (self.inner.clone(), password.clone(), hash.clone());
        self.run(move || hasher.verify_blocking(&password, &hash)).await
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        let (hasher, password) = (self.inner.clone(), password.clone());
        self.run(move || hasher.verify_dummy_blocking(&password)).await
    }
}
