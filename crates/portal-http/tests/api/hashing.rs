//! The bounded hashing pool, tested directly.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use portal_core::{HashError, Password, PasswordHash, PasswordHasher, ScryptHasher, ScryptParams, Verification};
use portal_http::BlockingHasher;

fn pool(permits: usize, queue: usize) -> BlockingHasher {
    BlockingHasher::new(ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(), permits, queue)
}

/// Occupies one permit until the returned sender is used (or dropped).
pub(crate) async fn occupy_one_permit(
    pool: &BlockingHasher,
) -> (mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), HashError>>) {
    let (release, wait) = mpsc::channel::<()>();
    let before = pool.in_flight();
    let pool_clone = pool.clone();
    let task = tokio::spawn(async move {
        pool_clone
            .run(move || {
                let _ = wait.recv_timeout(Duration::from_secs(30));
                Ok(())
            })
            .await
    });
    while pool.in_flight() == before {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (release, task)
}

#[tokio::test]
async fn a_full_pool_with_no_queue_refuses_at_once() {
    let pool = pool(1, 0);
    let (release, task) = occupy_one_permit(&pool).await;
    assert_eq!(pool.in_flight(), 1);

    let started = Instant::now();
    let refused = pool.hash(&Password::new("violet kettles hum at dawn")).await;
    assert!(matches!(refused, Err(HashError::Saturated)), "{refused:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "it must fail fast, not wait");
    assert!(matches!(pool.verify_dummy(&Password::new("x")).await, Err(HashError::Saturated)));

    release.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert_eq!(pool.in_flight(), 0);
    assert!(pool.hash(&Password::new("violet kettles hum at dawn")).await.is_ok());
}

#[tokio::test]
async fn callers_wait_in_a_bounded_queue() {
    let pool = pool(1, 1);
    let (release, task) = occupy_one_permit(&pool).await;

    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.hash(&Password::new("violet kettles hum at dawn")).await })
    };
    while pool.queue_depth() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(pool.queue_depth(), 1);
    // The queue is full: the next caller is refused.
    assert!(matches!(pool.verify_dummy(&Password::new("x")).await, Err(HashError::Saturated)));

    release.send(()).unwrap();
    task.await.unwrap().unwrap();
    assert!(waiter.await.unwrap().is_ok());
    assert_eq!((pool.in_flight(), pool.queue_depth()), (0, 0));
}

#[tokio::test]
async fn an_abandoned_request_keeps_its_slot_until_the_work_ends() {
    let pool = pool(1, 0);
    let (release, task) = occupy_one_permit(&pool).await;
    // The request awaiting the job goes away (a client hung up)...
    task.abort();
    let _ = task.await;
    // ...but the hash still runs, so the slot is still taken.
    assert_eq!(pool.in_flight(), 1);
    assert!(matches!(pool.verify_dummy(&Password::new("x")).await, Err(HashError::Saturated)));
    release.send(()).unwrap();
    while pool.in_flight() == 1 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(pool.verify_dummy(&Password::new("x")).await.is_ok());
}

#[tokio::test]
async fn a_cancelled_waiter_leaves_the_queue() {
    let pool = pool(1, 1);
    let (release, task) = occupy_one_permit(&pool).await;
    let waiter = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.verify_dummy(&Password::new("x")).await })
    };
    while pool.queue_depth() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    waiter.abort();
    let _ = waiter.await;
    assert_eq!(pool.queue_depth(), 0);
    release.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn hashes_verify_and_a_memory_bomb_is_refused_before_queueing() {
    let pool = pool(1, 0);
    let password = Password::new("violet kettles hum at dawn");
    let hash = pool.hash(&password).await.unwrap();
    assert_eq!(pool.verify(&password, &hash).await.unwrap(), Verification::Match { needs_upgrade: false });
    assert_eq!(pool.verify(&Password::new("wrong"), &hash).await.unwrap(), Verification::Mismatch);

    // Even with the pool saturated, an out-of-bounds stored hash is refused without waiting.
    let (release, task) = occupy_one_permit(&pool).await;
    let bomb = PasswordHash::from_phc("$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo".to_owned());
    assert!(matches!(pool.verify(&password, &bomb).await, Err(HashError::ParametersOutOfBounds(_))));
    release.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_panicking_job_fails_and_the_pool_keeps_its_thread() {
    let pool = pool(1, 0);
    let panicked = pool.run(|| -> Result<(), HashError> { panic!("a bug in a job") }).await;
    assert!(matches!(panicked, Err(HashError::Failed(_))), "{panicked:?}");
    // The permit came back and the only thread still runs jobs.
    assert_eq!(pool.in_flight(), 0);
    assert!(pool.hash(&Password::new("violet kettles hum at dawn")).await.is_ok());
}

/// The nice value of the calling thread: field 19 of `/proc/thread-self/stat` (counted after
/// the command name, which may hold spaces and ends at the last `)`).
#[cfg(target_os = "linux")]
fn own_niceness() -> i32 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name.split_whitespace().nth(16).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_runs_on_threads_of_weaker_priority_than_request_handling() {
    let pool = pool(2, 0);
    // Where requests are handled: a runtime worker, at the process's priority.
    let handling = tokio::spawn(async { own_niceness() }).await.unwrap();
    let (hashing, thread) =
        pool.run(|| Ok((own_niceness(), std::thread::current().name().map(str::to_owned)))).await.unwrap();
    assert_eq!(hashing, portal_http::HASH_THREAD_NICENESS);
    assert!(hashing > handling, "hashing at nice {hashing}, requests at nice {handling}");
    assert!(thread.is_some_and(|name| name.starts_with("portal-hash-")));

    // Every thread of the pool, not just the first: two jobs held at once run on both.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let held = {
        let pool = pool.clone();
        tokio::spawn(async move {
            pool.run(move || {
                let _ = wait.recv_timeout(Duration::from_secs(30));
                Ok(own_niceness())
            })
            .await
        })
    };
    while pool.in_flight() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let second = pool.run(|| Ok(own_niceness())).await.unwrap();
    release.send(()).unwrap();
    assert_eq!((second, held.await.unwrap().unwrap()), (hashing, hashing));
}
