//! Retention over the in-memory store: what a prune run deletes, and what it keeps.

use super::*;
use crate::policy::Policy;
use crate::ports::Retention as _;
use crate::retention::{PruneCutoffs, PruneKind, PruneReport, prune};

const DAY: SignedDuration = SignedDuration::from_hours(24);

#[test]
fn cutoffs_follow_the_policy() {
    let policy = Policy::default();
    let now = at(0);
    let cutoffs = PruneCutoffs::at(now, &policy);
    assert_eq!(cutoffs.sessions_seen_before, now - SignedDuration::from_mins(30));
    assert_eq!(cutoffs.sessions_started_before, now - SignedDuration::from_hours(12));
    assert_eq!(cutoffs.throttle_idle_since, now - SignedDuration::from_hours(24));
    assert_eq!(cutoffs.tokens_done_before, now - DAY * 30);
    assert_eq!(cutoffs.outbox_done_before, now - DAY * 30);
    assert_eq!(cutoffs.audit_before, now - DAY * 2192);
    // Far in the past the cutoffs saturate rather than fail.
    let early = PruneCutoffs::at(Timestamp::MIN, &policy);
    assert_eq!(early.audit_before, Timestamp::MIN);
}

#[tokio::test]
async fn a_prune_run_keeps_live_records_and_deletes_finished_ones() -> TestResult {
    let world = World::new().await?;
    let (store, client, practice) = (&world.store, &world.client, world.practice.id);
    let policy = Policy::default();

    // An invitation, resent: the first link is voided, its mail delivered.
    let first = world.invite(client, at(0)).await?;
    let second = world.invite(client, at(60)).await?;
    let mails: Vec<MailId> = store.outbox().iter().map(|(mail, _)| mail.id).collect();
    for id in &mails {
        store.mark_sent(*id, at(120)).await?;
    }
    // A session long over; guesses at many usernames a year ago.
    store
        .create_session(
            &world.session(client, b"old", at(0))?,
            &world.event(client, AuditAction::SignInSucceeded, at(0))?,
        )
        .await?;
    for i in 0..200 {
        store.record_failure(practice, &format!("guess-{i}"), at(i)).await?;
    }

    let now = at(0) + DAY * 400;
    // A fresh session and a lock in force now.
    let fresh = world.session(client, b"fresh", now - SignedDuration::from_mins(1))?;
    store.create_session(&fresh, &world.event(client, AuditAction::SignInSucceeded, fresh.created_at)?).await?;
    for _ in 0..policy.throttle().hard_lock_after {
        store.record_failure(practice, "locked", now - SignedDuration::from_hours(1)).await?;
    }
    let audit_before = store.audit_events().len();

    let clock = ManualClock::new(now);
    let mut seen = Vec::new();
    let report = prune(store, &policy, &clock, 64, |kind, n| seen.push((kind, n))).await?;
    assert_eq!(
        report,
        PruneReport { sessions: 1, staff_sessions: 0, throttle: 200, outbox: 1, tokens: 1, audit: 0, sign_in_steps: 0 },
        "batches: {seen:?}"
    );
    assert_eq!(report.total(), 203);
    assert!(seen.iter().all(|(_, n)| *n <= 64), "every batch is bounded");

    assert_eq!(store.sessions(), vec![fresh]);
    assert_eq!(store.throttle(practice, "guess-0").await?, ThrottleState::default());
    assert_eq!(store.throttle(practice, "locked").await?.failures, policy.throttle().hard_lock_after);
    // The voided link and its mail went; the current link (expired long ago) and its mail stay.
    let history: Vec<TokenId> = store.token_history(&client.id).iter().map(|t| t.token.id).collect();
    assert_eq!(history, vec![second.id]);
    assert_ne!(first.id, second.id);
    assert_eq!(store.delivery_for_token(first.id).await?, None);
    assert!(matches!(store.delivery_for_token(second.id).await?, Some(DeliveryState::Sent { .. })));
    // Audit events are years inside their six.
    assert_eq!(store.audit_events().len(), audit_before);

    // A second run finds nothing.
    assert_eq!(prune(store, &policy, &clock, 64, |_, _| {}).await?.total(), 0);

    // Six years and a day on, the trail of the first day goes (not the fresh sign-in of day
    // 400), and the lock has long lifted.
    clock.set(at(0) + DAY * 2193);
    let report = prune(store, &policy, &clock, 64, |_, _| {}).await?;
    assert_eq!(report.audit as usize, audit_before - 1);
    assert_eq!(report.throttle, 1);
    let left: Vec<Timestamp> = store.audit_events().iter().map(|e| e.at).collect();
    assert_eq!(left, vec![now - SignedDuration::from_mins(1)]);
    Ok(())
}

#[tokio::test]
async fn pending_mail_and_its_token_are_kept_however_old() -> TestResult {
    let world = World::new().await?;
    let (store, client) = (&world.store, &world.client);
    let first = world.invite(client, at(0)).await?;
    // Resending fails the first mail (superseded) but its row is finished only at(60).
    world.invite(client, at(60)).await?;
    // 33 days on: the first mail finished 33 days ago, the first link expired 31 days ago.
    let clock = ManualClock::new(at(0) + DAY * 33);
    let report = prune(store, &Policy::default(), &clock, 1, |_, _| {}).await?;
    // The superseded mail failed long enough ago: it goes, then its token.
    assert_eq!((report.outbox, report.tokens), (1, 1));
    assert_eq!(store.delivery_for_token(first.id).await?, None);
    // The current link's mail is still pending: kept, and its token with it.
    assert_eq!(store.outbox().len(), 1);
    assert_eq!(store.token_history(&client.id).len(), 1);
    Ok(())
}

#[tokio::test]
async fn expired_sign_in_steps_go_in_batches_and_live_ones_stay() -> TestResult {
    use crate::ports::FactorStore;
    use crate::second_factor::{CeremonyPurpose, ChallengePurpose, FactorChallenge, PasskeyCeremony};
    let world = World::new().await?;
    let (store, client, practice) = (&world.store, &world.client, world.practice.id);
    let challenge = |name: &str, created: i64| FactorChallenge {
        hash: TokenHash::of(name.as_bytes()),
        practice_id: practice,
        client_id: client.id.clone(),
        purpose: ChallengePurpose::Verify,
        created_at: at(created),
        expires_at: at(created + 300),
    };
    let ceremony = |name: &str, created: i64| PasskeyCeremony {
        hash: TokenHash::of(name.as_bytes()),
        practice_id: practice,
        client_id: None,
        purpose: CeremonyPurpose::SignIn,
        user_handle: None,
        state: "{}".to_owned(),
        created_at: at(created),
        expires_at: at(created + 300),
    };
    // The live ones first, so that making the old ones sweeps nothing.
    store.create_challenge(&challenge("live challenge", 1000)).await?;
    store.create_ceremony(&ceremony("live ceremony", 1000)).await?;
    for (name, created) in [("a", 0), ("b", 10)] {
        store.create_challenge(&challenge(name, created)).await?;
        store.create_ceremony(&ceremony(name, created)).await?;
    }
    let cutoffs = PruneCutoffs::at(at(1000), &Policy::default());
    assert_eq!(store.prune_batch(PruneKind::SignInSteps, &cutoffs, 3).await?, 3);
    assert_eq!(store.prune_batch(PruneKind::SignInSteps, &cutoffs, 3).await?, 1);
    assert_eq!(store.prune_batch(PruneKind::SignInSteps, &cutoffs, 3).await?, 0);
    assert!(store.challenge(&TokenHash::of(b"live challenge")).await?.is_some());
    assert!(store.take_ceremony(&TokenHash::of(b"live ceremony")).await?.is_some());
    Ok(())
}
