//! `ThrottleStore`: failure counters.

use portal_core::{ThrottleState, ThrottleStore};

use crate::fixtures::{World, at};
use crate::harness::TestDb;

pub async fn failures_are_counted_per_key_and_cleared(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    let practice = world.practice.id;
    assert_eq!(db.store.throttle(practice, "ada").await.unwrap(), ThrottleState::default());

    for (n, second) in (1..=3).zip([10, 20, 30]) {
        let state = db.store.record_failure(practice, "ada", at(second)).await.unwrap();
        assert_eq!(state, ThrottleState { failures: n, last_failure_at: Some(at(second)) });
    }
    db.store.record_failure(practice, "someone-who-does-not-exist", at(31)).await.unwrap();
    db.store.record_failure(other.practice.id, "ada", at(32)).await.unwrap();
    assert_eq!(db.store.throttle(practice, "ada").await.unwrap().failures, 3);

    db.store.clear_throttle(practice, "ada").await.unwrap();
    assert_eq!(db.store.throttle(practice, "ada").await.unwrap(), ThrottleState::default());
    assert_eq!(db.store.throttle(practice, "someone-who-does-not-exist").await.unwrap().failures, 1);
    assert_eq!(db.store.throttle(other.practice.id, "ada").await.unwrap().failures, 1);
    db.store.clear_throttle(practice, "never-failed").await.unwrap();

    let again = db.store.record_failure(practice, "ada", at(40)).await.unwrap();
    assert_eq!(again.failures, 1, "counting restarts after a clear");
}

pub async fn concurrent_failures_are_all_counted(db: &TestDb) {
    let world = World::new(db).await;
    let practice = world.practice.id;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = db.store.clone();
            tokio::spawn(async move { store.record_failure(practice, "ada", at(i)).await })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.unwrap().unwrap().failures);
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<u32>>(), "every failure saw a distinct count");
    assert_eq!(db.store.throttle(practice, "ada").await.unwrap().failures, 50);
}
