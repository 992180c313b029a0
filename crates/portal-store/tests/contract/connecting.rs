//! Connecting: URL handling, errors that never repeat a password, and the SQLite connection
//! set-up of every pooled connection.

use portal_core::Directory;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::fixtures::World;
use crate::harness::{TestDb, run_sqlite};

async fn pragma(txn: &impl ConnectionTrait, name: &str) -> String {
    let row =
        txn.query_one_raw(Statement::from_string(DbBackend::Sqlite, format!("PRAGMA {name}"))).await.unwrap().unwrap();
    row.try_get_by_index::<String>(0).or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string())).unwrap()
}

#[tokio::test]
async fn every_pooled_sqlite_connection_has_the_pragmas() {
    run_sqlite(|db: TestDb| async move {
        // Hold eight transactions at once: each holds its own pooled connection.
        let mut open = Vec::new();
        for _ in 0..8 {
            open.push(db.store.connection().begin().await.unwrap());
        }
        for txn in &open {
            assert_eq!(pragma(txn, "journal_mode").await, "wal");
            assert_eq!(pragma(txn, "foreign_keys").await, "1");
            assert_eq!(pragma(txn, "secure_delete").await, "1");
            assert_eq!(pragma(txn, "busy_timeout").await, "5000");
            assert_eq!(pragma(txn, "synchronous").await, "1", "NORMAL");
        }
        for txn in open {
            txn.rollback().await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn an_in_memory_database_keeps_its_data_between_calls() {
    let store = portal_store::connect("sqlite::memory:").await.unwrap();
    let db = TestDb { store, url: "sqlite::memory:".into(), sqlite_path: None };
    World::new(&db).await;
    for _ in 0..3 {
        assert_eq!(db.store.practice_count().await.unwrap(), 1);
    }
    db.store.ping().await.unwrap();
}

#[tokio::test]
async fn an_unsupported_url_is_refused_without_repeating_it() {
    let err = portal_store::connect("mysql://root:hunter2@localhost/portal").await.unwrap_err();
    assert!(matches!(err, portal_store::ConnectError::UnsupportedUrl));
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn an_unparsable_url_is_reported_without_its_password() {
    let err = portal_store::connect("postgres://portal:s3cret-pw@db.internal:notaport/portal").await.unwrap_err();
    assert!(matches!(err, portal_store::ConnectError::Connect(_)), "{err:?}");
    let mut chain = format!("{err} {err:?}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(" <- {cause} {cause:?}"));
        source = cause.source();
    }
    assert!(!chain.contains("s3cret-pw"), "{chain}");
}

#[tokio::test]
async fn a_store_answers_its_readiness_check() {
    run_sqlite(|db: TestDb| async move {
        db.store.ping().await.unwrap();
        db.store.close().await.unwrap();
    })
    .await;
}
