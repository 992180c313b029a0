//! The client-side bound on every database round trip: [`BoundedDb`] and [`BoundedTxn`] stand
//! where the store used sea-orm's `DatabaseConnection` and `DatabaseTransaction`, so every
//! statement, `BEGIN`, `COMMIT`, `ROLLBACK` and ping of every port method goes through one
//! choke point, and a query written tomorrow cannot forget it.
//!
//! Why a client-side bound: a PostgreSQL server that stops answering without closing its
//! connections (a network partition, a firewall that lost its state, a frozen host) never
//! receives the query, so its own `statement_timeout` cannot fire; the client would wait for the
//! operating system's TCP timeouts, many minutes. Past the bound the caller gets an error (the
//! store turns it into [`portal_core::StoreError::Unavailable`], the HTTP layer into 503 with
//! `Retry-After`).
//!
//! What happens to the connection whose query was abandoned: it is not trusted again blindly.
//! Dropping the query's future drops its pooled connection (a transaction queues its `ROLLBACK`
//! first), and sqlx checks a released connection with a ping before it returns to the pool,
//! which drains the abandoned query's answer and runs the queued `ROLLBACK`. That ping has no
//! bound of its own, so while a round trip was abandoned recently ([`Abandoned`]), the pool's
//! release hook (see `connect.rs`) pings first within the bound and closes the connection when
//! it stays silent: it never returns to the pool in an unknown state, and a pool whose
//! connections were all blackholed recovers as soon as new connections work. On the server,
//! `idle_in_transaction_session_timeout` ends a transaction whose client went silent, so its
//! locks do not outlive the bound either.
//!
//! SQLite has no bound here (`None`): a local file has no network to lose, its waits are bounded
//! already (the busy timeout, this process's turn to write), and a SQLite statement cannot be
//! interrupted from outside: abandoning it would free nothing while its connection kept working.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement, TransactionOptions, TransactionTrait,
};

/// How long after an abandoned round trip released connections are checked within the bound.
/// The abandoned connection itself is released milliseconds after its query was given up; the
/// margin covers a loaded machine, and checks cost one ping per release only while it lasts.
pub(crate) const RELEASE_CHECK_WINDOW: Duration = Duration::from_secs(30);

/// When a round trip was last abandoned, shared by the store and its pool's release hook.
#[derive(Debug, Default)]
pub(crate) struct Abandoned(Mutex<Option<Instant>>);

impl Abandoned {
    /// Records that a round trip was abandoned now.
    pub(crate) fn note(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }

    /// Whether a round trip was abandoned within the last [`RELEASE_CHECK_WINDOW`].
    pub(crate) fn recently(&self) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).is_some_and(|at| at.elapsed() < RELEASE_CHECK_WINDOW)
    }
}

/// The error of a round trip that got no answer within `limit`.
fn no_answer(limit: Duration) -> DbErr {
    DbErr::Conn(RuntimeErr::Internal(format!("the database did not answer within {limit:?}")))
}

/// A bound on round trips (`None`: none) and the record of abandoned ones.
#[derive(Debug, Clone)]
pub(crate) struct Bound {
    limit: Option<Duration>,
    abandoned: Arc<Abandoned>,
}

impl Bound {
    pub(crate) fn new(limit: Option<Duration>, abandoned: Arc<Abandoned>) -> Self {
        Self { limit, abandoned }
    }

    /// The limit, if any.
    pub(crate) fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// The record of abandoned round trips (for the pool's release check).
    pub(crate) fn abandoned(&self) -> Arc<Abandoned> {
        Arc::clone(&self.abandoned)
    }

    /// Runs one round trip within the limit. On timeout the abandonment is noted *before* the
    /// round trip's future (and the pooled connection it may hold) is dropped, so the release
    /// hook of that connection already sees it.
    async fn run<T>(&self, round_trip: impl Future<Output = Result<T, DbErr>>) -> Result<T, Abandon> {
        let Some(limit) = self.limit else { return round_trip.await.map_err(Abandon::Failed) };
        let mut round_trip = std::pin::pin!(round_trip);
        match tokio::time::timeout(limit, &mut round_trip).await {
            Ok(result) => result.map_err(Abandon::Failed),
            Err(_) => {
                self.abandoned.note();
                Err(Abandon::TimedOut(limit))
            }
        }
    }
}

/// Why a bounded round trip failed.
enum Abandon {
    /// The database answered with an error.
    Failed(DbErr),
    /// No answer within the limit; the round trip was abandoned.
    TimedOut(Duration),
}

impl From<Abandon> for DbErr {
    fn from(abandon: Abandon) -> Self {
        match abandon {
            Abandon::Failed(err) => err,
            Abandon::TimedOut(limit) => no_answer(limit),
        }
    }
}

/// The store's connection pool with every round trip bounded.
#[derive(Debug, Clone)]
pub(crate) struct BoundedDb {
    db: DatabaseConnection,
    bound: Bound,
}

impl BoundedDb {
    pub(crate) fn new(db: DatabaseConnection, bound: Bound) -> Self {
        Self { db, bound }
    }

    /// The pool itself (diagnostics and tests; its round trips are not bounded).
    pub(crate) fn inner(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The bound on round trips.
    pub(crate) fn bound(&self) -> &Bound {
        &self.bound
    }

    /// Checks that the database answers (a pooled connection and a ping).
    pub(crate) async fn ping(&self) -> Result<(), DbErr> {
        Ok(self.bound.run(self.db.ping()).await?)
    }

    /// Closes the pool (not bounded: it only waits for connections to come back, and an
    /// abandoned one comes back, or is closed, within the bound).
    pub(crate) async fn close(self) -> Result<(), DbErr> {
        self.db.close().await
    }

    /// Takes a pooled connection and starts a transaction on it, within the bound.
    pub(crate) async fn begin_with_options(&self, options: TransactionOptions) -> Result<BoundedTxn, DbErr> {
        let txn = self.bound.run(self.db.begin_with_options(options)).await?;
        Ok(BoundedTxn { txn, bound: self.bound.clone(), abandoned: AtomicBool::new(false) })
    }
}

#[async_trait]
impl ConnectionTrait for BoundedDb {
    fn get_database_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        Ok(self.bound.run(self.db.execute_raw(stmt)).await?)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        Ok(self.bound.run(self.db.execute_unprepared(sql)).await?)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        Ok(self.bound.run(self.db.query_one_raw(stmt)).await?)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        Ok(self.bound.run(self.db.query_all_raw(stmt)).await?)
    }
}

/// A transaction with every round trip bounded. Once one of its round trips was abandoned, the
/// connection may still be busy with it, so the transaction is never used again: later
/// statements and `COMMIT` fail at once, and `ROLLBACK` is left to the drop (queued on the
/// connection, run by the pool's release check), so an error path never waits a second bound.
#[derive(Debug)]
pub(crate) struct BoundedTxn {
    txn: DatabaseTransaction,
    bound: Bound,
    /// Set when a round trip of this transaction was abandoned.
    abandoned: AtomicBool,
}

impl BoundedTxn {
    /// The error of any use after an abandoned round trip.
    fn unusable(&self) -> Result<(), DbErr> {
        if self.abandoned.load(Ordering::SeqCst) {
            return Err(DbErr::Conn(RuntimeErr::Internal(
                "the transaction was abandoned: an earlier statement got no answer".into(),
            )));
        }
        Ok(())
    }

    async fn run<T>(&self, round_trip: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        self.unusable()?;
        self.bound.run(round_trip).await.map_err(|abandon| {
            if matches!(abandon, Abandon::TimedOut(_)) {
                self.abandoned.store(true, Ordering::SeqCst);
            }
            abandon.into()
        })
    }

    /// Commits within the bound. On timeout the outcome is unknown (the `COMMIT` may have
    /// reached the server): the caller reports the store unavailable.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.unusable()?;
        Ok(self.bound.run(self.txn.commit()).await?)
    }

    /// Rolls back within the bound; after an abandoned round trip, only drops the transaction
    /// (its `ROLLBACK` is queued and runs when the pool checks the connection).
    pub(crate) async fn rollback(self) -> Result<(), DbErr> {
        if self.unusable().is_err() {
            return Ok(());
        }
        Ok(self.bound.run(self.txn.rollback()).await?)
    }
}

#[async_trait]
impl ConnectionTrait for BoundedTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.run(self.txn.execute_raw(stmt)).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.run(self.txn.execute_unprepared(sql)).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.run(self.txn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.run(self.txn.query_all_raw(stmt)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(200);

    #[tokio::test]
    async fn a_round_trip_past_the_limit_is_abandoned_and_noted() {
        let abandoned = Arc::new(Abandoned::default());
        let bound = Bound::new(Some(LIMIT), Arc::clone(&abandoned));
        assert!(!abandoned.recently());
        let started = Instant::now();
        let outcome = bound.run(std::future::pending::<Result<(), DbErr>>()).await;
        assert!(matches!(outcome, Err(Abandon::TimedOut(limit)) if limit == LIMIT));
        let took = started.elapsed();
        assert!(took >= LIMIT && took < LIMIT * 10, "gave up after {took:?}");
        assert!(abandoned.recently());
        let message = DbErr::from(Abandon::TimedOut(Duration::from_secs(3))).to_string();
        assert!(message.contains("did not answer within 3s"), "{message}");
    }

    #[tokio::test]
    async fn a_quick_answer_or_an_error_passes_through_and_without_a_limit_nothing_is_cut() {
        let abandoned = Arc::new(Abandoned::default());
        let bound = Bound::new(Some(LIMIT), Arc::clone(&abandoned));
        assert!(matches!(bound.run(async { Ok::<_, DbErr>(7) }).await, Ok(7)));
        let failed = bound.run(async { Err::<(), _>(DbErr::Custom("refused".into())) }).await;
        assert!(matches!(failed, Err(Abandon::Failed(DbErr::Custom(_)))));
        let unbounded = Bound::new(None, Arc::clone(&abandoned));
        let slow = async {
            tokio::time::sleep(LIMIT * 2).await;
            Ok::<_, DbErr>("late")
        };
        assert!(matches!(unbounded.run(slow).await, Ok("late")));
        assert!(!abandoned.recently(), "nothing was abandoned");
    }
}
