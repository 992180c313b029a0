//! Ordinary concurrency on one client never surfaces as a conflict: `update_account` queues
//! the changes of one client (a row lock on PostgreSQL, the write turn on SQLite), each sees its
//! predecessor's result, and a never-stored account queues too.

use std::sync::Arc;

use jiff::Timestamp;
use portal_core::testing::ManualClock;
use portal_core::{AccountDecision, AccountStore, AuditAction, DeliveryState, MailOutbox, TokenPurpose, TokenState};

use crate::fixtures::{World, at, change, event, token};
use crate::harness::TestDb;
use crate::service::setup;

/// As many as a double-clicking, multi-tab front desk could plausibly send at once, and more
/// than the pool's connections, so some callers wait for a connection as well as for the lock.
const RESENDS: usize = 32;

pub async fn thirty_two_concurrent_resends_all_succeed_and_leave_one_live_link(db: &TestDb) {
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
    let (service, staff, client, _) = setup(db, &clock).await;
    let service = Arc::new(service);
    let tasks: Vec<_> = (0..RESENDS)
        .map(|_| {
            let (service, staff, client) = (Arc::clone(&service), staff.clone(), client.clone());
            tokio::spawn(async move { service.send_invite(&staff, &client).await })
        })
        .collect();
    let mut replaced = 0;
    for task in tasks {
        let sent = task.await.unwrap().expect("every resend succeeds");
        replaced += usize::from(sent.replaced_previous);
    }
    assert_eq!(replaced, RESENDS - 1, "each resend saw the one before it");

    let account = service.store().account(staff.staff.practice_id, &client).await.unwrap();
    assert_eq!(account.version(), u64::try_from(RESENDS).unwrap());
    let live = account.invite().expect("an invitation");
    assert_eq!(live.state, TokenState::Live);
    assert_eq!(db.count("tokens", "purpose = 'invite'").await, i64::try_from(RESENDS).unwrap());
    assert_eq!(db.count("tokens", "purpose = 'invite' AND used_at IS NULL AND voided_at IS NULL").await, 1);

    assert_eq!(db.count("audit_events", "action = 'invite_sent'").await, 1);
    assert_eq!(db.count("audit_events", "action = 'invite_resent'").await, i64::try_from(RESENDS - 1).unwrap());

    // One mail per send; only the one with the live link may still go out.
    assert_eq!(db.count("mail_outbox", "").await, i64::try_from(RESENDS).unwrap());
    assert_eq!(db.count("mail_outbox", "status = 'pending'").await, 1);
    let superseded = "status = 'failed' AND last_error_cause = 'cancelled_link_superseded'";
    assert_eq!(db.count("mail_outbox", superseded).await, i64::try_from(RESENDS - 1).unwrap());
    let delivery = service.store().delivery_for_token(live.id).await.unwrap();
    assert!(matches!(delivery, Some(DeliveryState::Pending { .. })), "{delivery:?}");
}

/// The store alone, without the service's safety-net retry: every serialised change of a
/// never-stored account commits, none is a conflict, and each decides on the one before.
pub async fn serialised_changes_of_a_never_stored_account_all_commit_in_turn(db: &TestDb) {
    let world = World::new(db).await;
    let client = world.add_client(db, "Grace").await;
    let tasks: Vec<_> = (0..RESENDS)
        .map(|i| {
            let (store, practice, client) = (db.store.clone(), world.practice.id, client.id.clone());
            tokio::spawn(async move {
                let mut seen = None;
                store
                    .update_account(practice, &client, &mut |mut account| {
                        seen = Some(account.version());
                        let invite = token(TokenPurpose::Invite, &format!("link-{i}"), at(1));
                        account.issue_invite(invite).unwrap();
                        let mut commit = change(account, at(1));
                        commit.audit.push(event(practice, Some(&client), AuditAction::InviteSent, at(1)));
                        AccountDecision::Commit(Box::new(commit))
                    })
                    .await
                    .map(|()| seen)
            })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().expect("no serialised change conflicts").expect("decided"));
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (0..u64::try_from(RESENDS).unwrap()).collect();
    assert_eq!(versions, expected, "each change saw its predecessor's version exactly once");
    let stored = db.store.account(world.practice.id, &client.id).await.unwrap();
    assert_eq!(stored.version(), u64::try_from(RESENDS).unwrap());
    assert_eq!(db.count("tokens", "used_at IS NULL AND voided_at IS NULL").await, 1);
    assert_eq!(db.count("audit_events", "action = 'invite_sent'").await, i64::try_from(RESENDS).unwrap());
}

/// A refusal writes nothing and ends the turn: the next change still runs.
pub async fn a_serialised_change_that_leaves_the_account_writes_nothing(db: &TestDb) {
    let world = World::new(db).await;
    let client = world.add_client(db, "Hedy").await;
    let mut calls = 0;
    db.store
        .update_account(world.practice.id, &client.id, &mut |account| {
            calls += 1;
            assert_eq!(account.version(), 0);
            AccountDecision::Leave
        })
        .await
        .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(db.count("portal_accounts", "").await, 0);
    db.store
        .update_account(world.practice.id, &client.id, &mut |mut account| {
            account.issue_invite(token(TokenPurpose::Invite, "after-leave", at(2))).unwrap();
            AccountDecision::Commit(Box::new(change(account, at(2))))
        })
        .await
        .unwrap();
    assert_eq!(db.store.account(world.practice.id, &client.id).await.unwrap().version(), 1);
}

/// `tokens.date_of_birth_failures`: wrong dates of birth counted through serialised changes,
/// concurrent ones each counted, read back on the account and closing the link at five; the
/// mail still queued with a closed link is cancelled.
pub async fn concurrent_date_of_birth_failures_are_each_counted_and_close_the_link_at_five(db: &TestDb) {
    let world = World::new(db).await;
    let client = world.add_client(db, "Grete").await;
    let invite = world.invite(db, &client, "dob-link", at(1)).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, practice, client, hash) = (db.store.clone(), world.practice.id, client.id.clone(), invite.hash);
            tokio::spawn(async move {
                let mut left = None;
                store
                    .update_account(practice, &client, &mut |mut account| {
                        left = account.count_date_of_birth_failure(TokenPurpose::Invite, &hash);
                        match left {
                            Some(_) => AccountDecision::Commit(Box::new(change(account, at(2)))),
                            None => AccountDecision::Leave,
                        }
                    })
                    .await
                    .map(|()| left)
            })
        })
        .collect();
    let mut counted = Vec::new();
    for task in tasks {
        counted.extend(task.await.unwrap().expect("no serialised change conflicts"));
    }
    counted.sort_unstable();
    assert_eq!(counted, [0, 1, 2, 3, 4], "five counted one by one; the rest found the link closed");
    let stored = db.store.account(world.practice.id, &client.id).await.unwrap();
    let held = stored.invite().unwrap();
    assert_eq!(held.date_of_birth_failures, 5);
    assert!(held.is_closed() && !held.is_live_at(at(3)));
    assert_eq!(db.count("tokens", "date_of_birth_failures = 5").await, 1);
    let by_link = db.store.account_by_token(TokenPurpose::Invite, &invite.hash).await.unwrap().unwrap();
    assert_eq!(by_link.invite().unwrap().date_of_birth_failures, 5);
    let delivery = db.store.delivery_for_token(invite.id).await.unwrap();
    assert!(
        matches!(delivery, Some(DeliveryState::Failed { .. })),
        "the closed link's mail is cancelled: {delivery:?}"
    );
}
