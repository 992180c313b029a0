//! Migrations: up, down, up again.

use portal_core::Directory;

use crate::fixtures::World;
use crate::harness::TestDb;

const TABLES: [&str; 9] = [
    "audit_events",
    "clients",
    "mail_outbox",
    "portal_accounts",
    "practices",
    "sessions",
    "sign_in_throttle",
    "staff_keys",
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
