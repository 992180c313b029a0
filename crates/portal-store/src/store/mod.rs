//! [`SeaOrmStore`]: every storage port of `portal-core` over one sea-orm connection pool, with
//! one code path for SQLite and PostgreSQL.

mod accounts;
mod audit;
mod bulk;
mod client_list;
mod directory;
mod factors;
mod outbox;
mod retention;
mod sessions;
mod staff;
mod throttle;

use std::sync::Arc;
use std::time::Duration;

use portal_core::StoreError;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, SqliteTransactionMode, TransactionOptions};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::bounded::{Abandoned, Bound, BoundedDb, BoundedTxn};
use crate::connect::{SQLITE_BUSY_TIMEOUT, StoreConfig};
use crate::error::unavailable;

/// This process's turn to write to SQLite (`None` on PostgreSQL), held until the write commits.
pub(crate) type WriteTurn = Option<OwnedMutexGuard<()>>;

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
/// Build it with [`crate::connect`] or [`crate::connect_with`], which also apply migrations.
/// On PostgreSQL every round trip of every method is bounded by the database timeout
/// ([`StoreConfig`]): past it the method returns [`StoreError::Unavailable`].
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    /// The pool, every round trip bounded (`bounded.rs`).
    db: BoundedDb,
    /// SQLite has one writer at a time. Writers that contend inside SQLite wait in its busy
    /// handler, which polls with sleeps of up to 100 ms: fine for throughput, bad for the tail
    /// (a bench saw p99 ~0.8 s for invitations at 16 connections). This process's writers take
    /// turns here first, first come first served, so they meet in SQLite only writers of other
    /// processes. `None` on PostgreSQL, whose row locks queue writers fairly already.
    writers: Option<Arc<Mutex<()>>>,
}

impl SeaOrmStore {
    /// Wraps a connection whose schema is already migrated (see [`crate::Migrator`]). SQLite
    /// connections should carry the pragmas [`crate::connect`] sets. On PostgreSQL the store's
    /// round trips are bounded by the default database timeout; the session timeouts and the
    /// pool's release check that [`crate::connect_with`] adds are the caller's to set.
    #[must_use]
    pub fn from_migrated(db: DatabaseConnection) -> Self {
        let limit =
            (db.get_database_backend() == DbBackend::Postgres).then_some(StoreConfig::default().database_timeout);
        Self::with_bound(db, Bound::new(limit, Arc::new(Abandoned::default())))
    }

    pub(crate) fn with_bound(db: DatabaseConnection, bound: Bound) -> Self {
        let writers = (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Self { db: BoundedDb::new(db, bound), writers }
    }

    /// The underlying connection pool, for diagnostics and tests. Its round trips are not
    /// bounded by the database timeout.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        self.db.inner()
    }

    /// The longest wait for one database round trip (`None` on SQLite, whose waits the busy
    /// timeout bounds).
    #[must_use]
    pub fn database_timeout(&self) -> Option<Duration> {
        self.db.bound().limit()
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Readiness: succeeds when the database answers (on PostgreSQL, within the database
    /// timeout).
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

    /// Waits for this process's turn to write (SQLite only; see `writers`). A writer that
    /// holds the turn waits at most the busy timeout for SQLite's lock, so a turn is not held
    /// forever when another process keeps the database locked; waiting longer than that for the
    /// turn is answered like a busy database.
    async fn write_turn(&self) -> Result<WriteTurn, StoreError> {
        let Some(writers) = &self.writers else { return Ok(None) };
        match tokio::time::timeout(SQLITE_BUSY_TIMEOUT, Arc::clone(writers).lock_owned()).await {
            Ok(turn) => Ok(Some(turn)),
            Err(_) => Err(StoreError::Unavailable("the database stayed locked for writing".into())),
        }
    }

    /// Starts a write transaction (see [`write_options`]) in this process's turn to write.
    async fn begin_write(&self) -> Result<(BoundedTxn, WriteTurn), StoreError> {
        let turn = self.write_turn().await?;
        let txn = self.db.begin_with_options(write_options()).await.map_err(unavailable)?;
        Ok((txn, turn))
    }
}

/// Commits `txn` when `outcome` is `Ok`, rolls it back otherwise; the turn to write ends after.
async fn finish<T>((txn, turn): (BoundedTxn, WriteTurn), outcome: Result<T, StoreError>) -> Result<T, StoreError> {
    let result = finish_transaction(txn, outcome).await;
    drop(turn);
    result
}

async fn finish_transaction<T>(txn: BoundedTxn, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
    match outcome {
        Ok(value) => {
            txn.commit().await.map_err(unavailable)?;
            Ok(value)
        }
        Err(err) => {
            // The original error is what matters; a failed rollback ends the transaction anyway
            // (the connection discards it). After an abandoned round trip this only drops it.
            let _ = txn.rollback().await;
            Err(err)
        }
    }
}
