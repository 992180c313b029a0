//! Migrations: up, down, up again.

use portal_core::Directory;

use crate::fixtures::{World, at};
use crate::harness::TestDb;

const TABLES: [&str; 10] = [
    "audit_events",
    "clients",
    "mail_outbox",
    "portal_accounts",
    "practices",
    "sessions",
    "sign_in_throttle",
    "staff_keys",
    "staff_sessions",
    "tokens",
];

pub async fn migrations_round_trip_up_down_up(db: &TestDb) {
    let tables = db.tables().await;
    for table in TABLES {
        assert!(tables.iter().any(|t| t == table), "{table} missing after connect: {tables:?}");
    }
    World::new(db).await;
    assert_eq!(db.store.practice_count().await.unwrap(), 1);

    portal_store::rollback(&db.url, None).await.unwrap();
    let tables = db.tables().await;
    for table in TABLES {
        assert!(!tables.iter().any(|t| t == table), "{table} left after rolling back: {tables:?}");
    }
    assert!(db.store.practice_count().await.is_err());

    portal_store::migrate(&db.url).await.unwrap();
    // Migrating again is a no-op.
    portal_store::migrate(&db.url).await.unwrap();
    assert_eq!(db.store.practice_count().await.unwrap(), 0);
    World::new(db).await;
    assert_eq!(db.store.practice_count().await.unwrap(), 1);
}

pub async fn the_delivery_cause_migration_backfills_cancellations_and_rolls_back(db: &TestDb) {
    use portal_core::{DeliveryProblem, DeliveryState, MailOutbox};

    let world = World::new(db).await;
    // A resend cancels the first invitation's queued mail.
    let first = world.invite(db, &world.client, "first-link", at(0)).await;
    world.invite(db, &world.client, "second-link", at(60)).await;

    // Back to the schema before the cause column: the cancellation keeps only its text.
    let steps = crate::host_migration::steps_back_to_before("m20261201_000001_mail_delivery_cause");
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    assert_eq!(db.count("mail_outbox", "status = 'failed' AND last_error IS NOT NULL").await, 1);
    assert!(db.store.delivery_for_token(first.id).await.is_err(), "the entity needs the new columns");

    // Up again: the old cancellation reads as one, from its fixed text.
    portal_store::migrate(&db.url).await.unwrap();
    assert!(matches!(
        db.store.delivery_for_token(first.id).await.unwrap(),
        Some(DeliveryState::Failed { problem, gave_up_after: None, .. }) if problem == DeliveryProblem::link_superseded()
    ));
    assert_eq!(db.count("mail_outbox", "last_error_cause IS NULL").await, 1, "the pending mail has no cause");
}

pub async fn the_reset_request_migration_starts_existing_accounts_with_none_and_rolls_back(db: &TestDb) {
    use portal_core::{AccountStore, ResetRequestHistory};

    let world = World::new(db).await;
    let steps = crate::host_migration::steps_back_to_before("m20261201_000010_reset_requests");
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    assert!(db.store.account(world.practice.id, &world.client.id).await.is_err(), "the entity needs the columns");
    portal_store::migrate(&db.url).await.unwrap();
    let account = world.register(db, &world.client, "ada", at(1)).await;
    assert_eq!(*account.reset_requests(), ResetRequestHistory::default());
}
