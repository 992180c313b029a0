//! Sessions, the sign-in throttle and the audit trail.

use super::*;

#[tokio::test]
async fn sessions_are_found_by_token_hash_touched_and_revoked() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    let session = world.session(client, b"bearer", at(0))?;
    world.store.create_session(&session, &world.event(client, AuditAction::SignInSucceeded, at(0))?).await?;
    assert_eq!(world.store.session_by_token(&TokenHash::of(b"bearer")).await?, Some(session.clone()));
    assert_eq!(world.store.session_by_token(&TokenHash::of(b"other")).await?, None);

    world.store.touch_session(session.id, at(30)).await?;
    let touched = world.store.session_by_token(&session.token_hash).await?;
    assert_eq!(touched.map(|s| (s.created_at, s.last_seen_at)), Some((at(0), at(30))));

    let signed_out = world.event(client, AuditAction::SignedOut, at(40))?;
    world.store.revoke_session(session.id, &signed_out).await?;
    assert_eq!(world.store.session_by_token(&session.token_hash).await?, None);
    assert!(world.store.sessions().is_empty());
    assert_eq!(world.store.audit_events().last(), Some(&signed_out));
    // A vanished session is not an error.
    world.store.touch_session(session.id, at(50)).await?;
    world.store.revoke_session(session.id, &world.event(client, AuditAction::SignedOut, at(50))?).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_are_all_counted_per_key() -> TestResult {
    let world = World::new().await?;
    let practice = world.practice.id;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = world.store.clone();
            tokio::spawn(async move { store.record_failure(practice, "ada", at(i)).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let state = world.store.throttle(practice, "ada").await?;
    assert_eq!(state.failures, 64);
    assert!(state.last_failure_at.is_some());
    assert_eq!(world.store.throttle(practice, "grace").await?, ThrottleState::default());
    let other = world.other_practice("elsewhere").await?;
    assert_eq!(world.store.throttle(other.id, "ada").await?, ThrottleState::default());

    let next = world.store.record_failure(practice, "ada", at(100)).await?;
    assert_eq!(next, ThrottleState { failures: 65, last_failure_at: Some(at(100)) });
    world.store.clear_throttle(practice, "ada").await?;
    assert_eq!(world.store.throttle(practice, "ada").await?, ThrottleState::default());
    Ok(())
}

#[tokio::test]
async fn the_trail_is_one_clients_events_oldest_first() -> TestResult {
    let world = World::new().await?;
    let client = &world.client;
    let grace = world.add_client(world.practice.id, "Grace Hopper").await?;
    world.invite(&grace, at(5)).await?;
    world.invite(client, at(10)).await?;
    let session = world.session(client, b"bearer", at(20))?;
    world.store.create_session(&session, &world.event(client, AuditAction::SignInSucceeded, at(20))?).await?;
    world.store.revoke_session(session.id, &world.event(client, AuditAction::SignedOut, at(30))?).await?;
    // Written late, but happened earlier (e.g. a failed sign-in logged after a retry).
    world.store.append(&[world.event(client, AuditAction::SignInFailed, at(15))?]).await?;

    let trail = world.store.trail(world.practice.id, &client.id).await?;
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::ClientCreated,
            AuditAction::InviteSent,
            AuditAction::SignInFailed,
            AuditAction::SignInSucceeded,
            AuditAction::SignedOut
        ]
    );
    let other = world.other_practice("elsewhere").await?;
    assert!(world.store.trail(other.id, &client.id).await?.is_empty());
    Ok(())
}
