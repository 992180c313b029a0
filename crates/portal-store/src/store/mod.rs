//! [`SeaOrmStore`]: every storage port of `portal-core` over one sea-orm connection pool, with
//! one code path for SQLite and PostgreSQL.

mod accounts;
mod audit;
mod directory;
mod outbox;
mod sessions;
mod throttle;

use portal_core::StoreError;
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::error::unavailable;

/// The options every write transaction starts with. On SQLite the transaction takes the write
/// lock at `BEGIN IMMEDIATE`, so a writer waits (up to the busy timeout) instead of failing
/// with "database is locked" when it later tries to upgrade a read lock. PostgreSQL ignores
/// the SQLite mode and runs at its default `READ COMMITTED`; the store's concurrency control
/// there is row locks plus compare-and-set on versions and unique indexes.
pub(crate) fn write_options() -> TransactionOptions {
    TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() }
}

/// The sea-orm implementation of [`portal_core::PortalStore`] (all six storage ports), for
/// SQLite and PostgreSQL. Cheap to clone: clones share the connection pool.
///
/// Build it with [`crate::connect`], which also applies migrations.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
}

impl SeaOrmStore {
    /// Wraps a connection whose schema is already migrated (see [`crate::Migrator`]). SQLite
    /// connections should carry the pragmas [`crate::connect`] sets.
    #[must_use]
    pub fn from_migrated(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The underlying connection pool, for diagnostics and tests.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Readiness: succeeds when the database answers.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(unavailable)
    }

    /// Closes the pool, waiting for connections in use to be returned.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when closing fails.
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.map_err(unavailable)
    }

    /// Starts a write transaction (see [`write_options`]).
    async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        self.db.begin_with_options(write_options()).await.map_err(unavailable)
    }
}

/// Commits `txn` when `outcome` is `Ok`, rolls it back otherwise.
async fn finish<T>(txn: DatabaseTransaction, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
    match outcome {
        Ok(value) => {
            txn.commit().await.map_err(unavailable)?;
            Ok(value)
        }
        Err(err) => {
            // The original error is what matters; a failed rollback ends the transaction anyway
            // (the connection discards it).
            let _ = txn.rollback().await;
            Err(err)
        }
    }
}
