//! The threads [`BlockingHasher`](super::BlockingHasher) hashes on: a fixed set of dedicated
//! threads, each lowered to a weaker scheduling priority when it starts.
//!
//! Not tokio's blocking pool: its threads run at the runtime workers' priority, and the pool
//! also serves file IO (the mail's `.eml` writer), so neither its size nor its priority can
//! be the hashing's own. The bound on concurrent hashes stays the semaphore's; these threads
//! only give the admitted jobs somewhere to run, one per permit, so an admitted job never
//! waits for a thread.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

/// A job for a hashing thread: it owns everything it needs, its permit included.
pub(super) type Job = Box<dyn FnOnce() + Send>;

/// The sending side of the threads' shared job queue. When the last clone of the pool is
/// dropped the queue closes and every thread ends.
pub(super) struct HashThreads {
    jobs: Sender<Job>,
}

impl HashThreads {
    /// Starts `count` threads named `portal-hash-N`, each at `niceness` (see [`lower_priority`]).
    /// A thread the OS refuses to start is logged; the jobs then share the ones that started
    /// (and [`HashThreads::submit`] fails when none did).
    pub(super) fn start(count: usize, niceness: i32) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for number in 0..count {
            let queue = Arc::clone(&queue);
            let started =
                std::thread::Builder::new().name(format!("portal-hash-{number}")).spawn(move || work(&queue, niceness));
            if let Err(error) = started {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        Self { jobs }
    }

    /// Hands `job` to the next free thread.
    ///
    /// # Errors
    /// The job back when no hashing thread is running (none could be started).
    pub(super) fn submit(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).map_err(|refused| refused.0)
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the queue closes.
fn work(queue: &Mutex<Receiver<Job>>, niceness: i32) {
    lower_priority(niceness);
    loop {
        // The lock is held only while waiting for the next job; `recv` cannot panic, so the
        // lock is never poisoned in practice (and a poisoned one still holds a usable queue).
        let next = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else { return };
        // A panicking job must not take the thread with it: its caller sees the answer channel
        // close (a `Failed` hash) and the pool keeps all its threads.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
    }
}

/// Lowers the calling thread's scheduling priority to `niceness` (Linux keeps a nice value
/// per thread, so `setpriority(PRIO_PROCESS, 0, …)` changes this thread only). Raising a nice
/// value needs no privilege; if the OS refuses anyway, the thread hashes at normal priority
/// and the server says so once per thread.
#[cfg(target_os = "linux")]
fn lower_priority(niceness: i32) {
    if let Err(error) = rustix::process::setpriority_process(None, niceness) {
        tracing::warn!(%error, niceness, "could not lower the priority of a password hashing thread");
    }
}

/// Elsewhere the priority is left alone: outside Linux `setpriority` would renice the whole
/// process, request handling included.
#[cfg(not(target_os = "linux"))]
fn lower_priority(_niceness: i32) {}
