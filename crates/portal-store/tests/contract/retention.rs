//! `Retention`: one bounded batch at a time, finished rows go and live ones stay.

use jiff::{SignedDuration, Timestamp};
use portal_core::testing::ManualClock;
use portal_core::{
    AccountStore, AuditAction, AuditLog, MailOutbox, Policy, PruneCutoffs, PruneKind, PruneReport, Retention,
    SessionStore, StaffAccess, StaffSession, StaffSessionId, ThrottleState, ThrottleStore, TokenHash, prune,
};

use crate::fixtures::{World, at, event, id, session};
use crate::harness::TestDb;

const DAY: SignedDuration = SignedDuration::from_hours(24);

fn staff_session(world: &World, secret: &str, when: Timestamp) -> StaffSession {
    StaffSession {
        id: StaffSessionId::from_uuid(id()),
        token_hash: TokenHash::of(secret.as_bytes()),
        staff_id: world.staff.id,
        practice_id: world.practice.id,
        created_at: when,
        last_seen_at: when,
    }
}

pub async fn a_prune_run_keeps_live_rows_and_deletes_finished_ones(db: &TestDb) {
    let world = World::new(db).await;
    let (store, client, practice) = (&db.store, &world.client, world.practice.id);
    let policy = Policy::default();
    let signed_in = |when| event(practice, Some(&client.id), AuditAction::SignInSucceeded, when);

    // An invitation, resent: the first link is voided, both mails go out.
    let first = world.invite(db, client, "first", at(0)).await;
    let second = world.invite(db, client, "second", at(60)).await;
    for row in store.claim_due(at(60), SignedDuration::from_mins(5), 10).await.unwrap() {
        store.mark_sent(row.mail.id, at(120)).await.unwrap();
    }
    // A client session and a staff session long over; guesses at usernames long ago.
    store.create_session(&session(client, "old", at(0)), &signed_in(at(0))).await.unwrap();
    store.create_staff_session(&staff_session(&world, "staff-old", at(0)), &signed_in(at(0))).await.unwrap();
    for i in 0..30 {
        store.record_failure(practice, &format!("guess-{i}"), at(i)).await.unwrap();
    }

    let now = at(0) + DAY * 400;
    let fresh = session(client, "fresh", now - SignedDuration::from_mins(1));
    store.create_session(&fresh, &signed_in(fresh.created_at)).await.unwrap();
    let staff_fresh = staff_session(&world, "staff-fresh", now - SignedDuration::from_mins(1));
    store.create_staff_session(&staff_fresh, &signed_in(staff_fresh.created_at)).await.unwrap();
    for _ in 0..policy.throttle().hard_lock_after {
        store.record_failure(practice, "locked", now - SignedDuration::from_hours(1)).await.unwrap();
    }
    let audit_rows = db.count("audit_events", "").await;

    let clock = ManualClock::new(now);
    let mut batches = Vec::new();
    let report = prune(store, &policy, &clock, 7, |kind, n| batches.push((kind, n))).await.unwrap();
    assert_eq!(
        report,
        PruneReport { sessions: 1, staff_sessions: 1, throttle: 30, outbox: 1, tokens: 1, audit: 0, sign_in_steps: 0 },
        "batches: {batches:?}"
    );
    assert!(batches.iter().all(|(_, n)| *n <= 7), "every batch is bounded: {batches:?}");

    assert_eq!(db.count("sessions", "").await, 1);
    assert!(store.session_by_token(&fresh.token_hash).await.unwrap().is_some());
    assert_eq!(db.count("staff_sessions", "").await, 1);
    assert!(store.staff_session_by_token(&staff_fresh.token_hash).await.unwrap().is_some());
    assert_eq!(db.count("sign_in_throttle", "").await, 1);
    assert_eq!(store.throttle(practice, "locked").await.unwrap().failures, policy.throttle().hard_lock_after);
    // The voided link and its mail went; the current link (long expired) and its mail stay, so
    // the staff view still shows how the current link's mail fared.
    assert_eq!(db.count("tokens", "").await, 1);
    assert!(store.account_by_token(portal_core::TokenPurpose::Invite, &first.hash).await.unwrap().is_none());
    assert!(store.account_by_token(portal_core::TokenPurpose::Invite, &second.hash).await.unwrap().is_some());
    assert_eq!(store.delivery_for_token(first.id).await.unwrap(), None);
    assert!(store.delivery_for_token(second.id).await.unwrap().is_some());
    assert_eq!(db.count("audit_events", "").await, audit_rows, "audit events are kept six years");

    // Nothing is left for a second run.
    assert_eq!(prune(store, &policy, &clock, 7, |_, _| {}).await.unwrap().total(), 0);

    // Six years and a day on: the first day's audit events go, the later ones stay.
    clock.set(at(0) + DAY * 2193);
    let report = prune(store, &policy, &clock, 7, |_, _| {}).await.unwrap();
    assert_eq!(db.count("audit_events", "").await, 2, "the two sign-ins of day 400");
    assert_eq!(report.audit, u64::try_from(audit_rows - 2).unwrap());
    assert_eq!(store.trail(practice, &client.id).await.unwrap().len(), 2);
}

pub async fn pending_mail_and_the_token_it_carries_are_kept(db: &TestDb) {
    let world = World::new(db).await;
    let (store, client) = (&db.store, &world.client);
    let first = world.invite(db, client, "first", at(0)).await;
    // The resend cancels the first mail (failed at 60 s); the second stays pending.
    world.invite(db, client, "second", at(60)).await;
    let cutoffs = PruneCutoffs::at(at(0) + DAY * 33, &Policy::default());
    assert_eq!(store.prune_batch(PruneKind::Tokens, &cutoffs, 10).await.unwrap(), 0, "mail still carries it");
    assert_eq!(store.prune_batch(PruneKind::Outbox, &cutoffs, 10).await.unwrap(), 1);
    assert_eq!(store.prune_batch(PruneKind::Tokens, &cutoffs, 10).await.unwrap(), 1);
    assert_eq!(store.delivery_for_token(first.id).await.unwrap(), None);
    assert_eq!(db.count("mail_outbox", "status = 'pending'").await, 1);
    assert_eq!(db.count("tokens", "").await, 1);
    let account = store.account(world.practice.id, &client.id).await.unwrap();
    assert!(account.invite().is_some());
}

/// The test: a distributed guesser's 10,000 failed sign-ins with random unknown
/// usernames, then a prune: only the locks still in force remain.
pub async fn ten_thousand_random_failed_sign_ins_then_prune_leave_only_live_locks(db: &TestDb) {
    let world = World::new(db).await;
    let (store, practice) = (&db.store, world.practice.id);
    let policy = Policy::default();
    let start = at(0);
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..1250_i64 {
                    let guess = format!("{}-{w}", uuid::Uuid::new_v4().simple());
                    store.record_failure(practice, &guess, start + SignedDuration::from_millis(i)).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(db.count("sign_in_throttle", "").await, 10_000);

    // Three real usernames under attack a day later: two locked an hour ago, one locked long
    // enough ago that its lock has lifted.
    let now = start + DAY * 2;
    let hard = policy.throttle().hard_lock_after;
    for (key, when) in [("ada", now - SignedDuration::from_hours(1)), ("grace", now - SignedDuration::from_mins(5))] {
        for _ in 0..hard {
            store.record_failure(practice, key, when).await.unwrap();
        }
    }
    for _ in 0..hard {
        store.record_failure(practice, "lifted", now - DAY - SignedDuration::from_secs(1)).await.unwrap();
    }

    let report = prune(store, &policy, &ManualClock::new(now), 1000, |_, _| {}).await.unwrap();
    assert_eq!(report.throttle, 10_001);
    assert_eq!(db.count("sign_in_throttle", "").await, 2);
    for key in ["ada", "grace"] {
        let state = store.throttle(practice, key).await.unwrap();
        assert_eq!(state.failures, hard, "{key} is still locked");
    }
    assert_eq!(store.throttle(practice, "lifted").await.unwrap(), ThrottleState::default());
}

/// After a prune run the planner knows the tables: SQLite has `sqlite_stat1` rows for the client
/// table's indexes, PostgreSQL a `last_analyze` for the client table.
pub async fn a_prune_run_leaves_the_planner_statistics_fresh(db: &TestDb) {
    use sea_orm::{ConnectionTrait as _, DbBackend, Statement};

    let world = World::new(db).await;
    let clients = (0..50).map(|n| crate::fixtures::client(&world.practice, &format!("Client {n}"))).collect::<Vec<_>>();
    db.store.insert_clients(&clients).await.unwrap();
    let clock = ManualClock::new(at(0));
    prune(&db.store, &Policy::default(), &clock, 100, |_, _| {}).await.unwrap();

    let sql = match db.backend() {
        DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stat_user_tables WHERE relname = 'clients' AND last_analyze IS NOT NULL"
        }
        _ => "SELECT COUNT(*) AS n FROM sqlite_stat1 WHERE tbl = 'clients'",
    };
    let row =
        db.store.connection().query_one_raw(Statement::from_string(db.backend(), sql)).await.unwrap().expect("a count");
    let analysed: i64 = row.try_get("", "n").unwrap();
    assert!(analysed >= 1, "no statistics for clients after a prune");
}
