//! Many writers at once: exactly one winner where there must be one, and no "database is
//! locked" on SQLite.

use portal_core::{
    AccountStore, AuditAction, AuditLog, Client, Directory, SessionStore, StoreError, ThrottleStore, TokenPurpose,
};

use crate::fixtures::{self, World, at, change, event, password_hash, session, username};
use crate::harness::TestDb;

const TASKS: usize = 50;

/// Tallies results: (successes, conflicts, usernames taken); any other error fails the test.
fn tally(results: Vec<Result<(), StoreError>>) -> (usize, usize, usize) {
    results.into_iter().fold((0, 0, 0), |(ok, conflict, taken), result| match result {
        Ok(()) => (ok + 1, conflict, taken),
        Err(StoreError::Conflict) => (ok, conflict + 1, taken),
        Err(StoreError::UsernameTaken) => (ok, conflict, taken + 1),
        Err(other) => panic!("unexpected error under contention: {other:?}"),
    })
}

pub async fn of_fifty_commits_from_one_loaded_version_exactly_one_wins(db: &TestDb) {
    let world = World::new(db).await;
    let invite = world.invite(db, &world.client, "invite-link", at(1)).await;
    let loaded = db.store.account(world.practice.id, &world.client.id).await.unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let (store, mut account) = (db.store.clone(), loaded.clone());
            let (practice, client, hash) = (world.practice.id, world.client.id.clone(), invite.hash);
            tokio::spawn(async move {
                account.register(&hash, username(&format!("user{i}")), password_hash("c2FsdA"), at(20)).unwrap();
                let mut commit = change(account, at(20));
                commit.audit.push(event(practice, Some(&client), AuditAction::Registered, at(20)));
                store.commit(commit).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(tally(results), (1, TASKS - 1, 0), "exactly one redemption wins");

    let stored = db.store.account(world.practice.id, &world.client.id).await.unwrap();
    assert_eq!(stored.version(), 2);
    assert!(stored.is_active());
    assert_eq!(stored.invite().map(|t| t.state), Some(portal_core::TokenState::Used { at: at(20) }));
    let registered = db
        .store
        .trail(world.practice.id, &world.client.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::Registered)
        .count();
    assert_eq!(registered, 1);
    assert_eq!(db.count("portal_accounts", "username_lower IS NOT NULL").await, 1);
}

/// Creates and invites `TASKS` clients concurrently; every write must succeed.
async fn invite_many(db: &TestDb, world: &World) -> Vec<(Client, portal_core::IssuedToken)> {
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = db.store.clone();
            let client = fixtures::client(&world.practice, &format!("Client {i:02}"));
            tokio::spawn(async move {
                store
                    .create_client(
                        &client,
                        &event(client.practice_id, Some(&client.id), AuditAction::ClientCreated, at(0)),
                    )
                    .await?;
                let mut account = store.account(client.practice_id, &client.id).await?;
                let invite = fixtures::token(TokenPurpose::Invite, &format!("link-{}", client.id), at(1));
                account.issue_invite(invite.clone()).unwrap();
                let mut commit = change(account, at(1));
                commit.mail.push(fixtures::invitation(&client, &invite));
                store.commit(commit).await?;
                Ok::<_, StoreError>((client, invite))
            })
        })
        .collect();
    let mut invited = Vec::new();
    for task in tasks {
        invited.push(task.await.unwrap().expect("a concurrent writer failed"));
    }
    invited
}

pub async fn of_fifty_clients_registering_one_username_exactly_one_wins(db: &TestDb) {
    let world = World::new(db).await;
    let invited = invite_many(db, &world).await;

    let tasks: Vec<_> = invited
        .into_iter()
        .map(|(client, invite)| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut account = store.account(client.practice_id, &client.id).await?;
                account.register(&invite.hash, username("Popular"), password_hash("c2FsdA"), at(2)).unwrap();
                store.commit(change(account, at(2))).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(tally(results), (1, 0, TASKS - 1), "exactly one client gets the name");
    assert!(db.store.account_by_username(world.practice.id, &username("popular")).await.unwrap().is_some());
    assert_eq!(db.count("portal_accounts", "username_lower = 'popular'").await, 1);
    assert_eq!(db.count("portal_accounts", "state = 'no_account'").await, i64::try_from(TASKS - 1).unwrap());
}

pub async fn fifty_concurrent_writers_all_succeed(db: &TestDb) {
    let world = World::new(db).await;
    let invited = invite_many(db, &world).await;
    assert_eq!(db.count("mail_outbox", "").await, i64::try_from(TASKS).unwrap());

    // A mix of every kind of write at once.
    let tasks: Vec<_> = invited
        .into_iter()
        .enumerate()
        .map(|(i, (client, _))| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let practice = client.practice_id;
                let signed_in = session(&client, &format!("session-{i}"), at(3));
                store
                    .create_session(&signed_in, &event(practice, Some(&client.id), AuditAction::SignInSucceeded, at(3)))
                    .await?;
                store.touch_session(signed_in.id, at(4)).await?;
                store.record_failure(practice, "shared-key", at(5)).await?;
                store.append(&[event(practice, None, AuditAction::SignInFailed, at(5))]).await?;
                let mut updated = client.clone();
                updated.email_consent = false;
                store
                    .update_client(&updated, &event(practice, Some(&client.id), AuditAction::ClientUpdated, at(6)))
                    .await?;
                let account = store.account(practice, &client.id).await?;
                let mut commit = change(account, at(7));
                commit.revoke_sessions = true;
                store.commit(commit).await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("a concurrent writer failed");
    }
    assert_eq!(db.store.throttle(world.practice.id, "shared-key").await.unwrap().failures, 50);
    assert_eq!(db.count("sessions", "").await, 0);
    assert_eq!(db.count("portal_accounts", "version = 2").await, i64::try_from(TASKS).unwrap());
    assert_eq!(db.count("clients", "email_consent = false").await, i64::try_from(TASKS).unwrap());
}
