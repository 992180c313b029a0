//! Opening a database from a URL, the per-connection set-up (SQLite pragmas, PostgreSQL
//! timeouts and the release check of the pool), and running migrations.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::pool::PoolConnectionMetadata;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::bounded::{Abandoned, Bound};
use crate::migration::Migrator;
use crate::store::{SeaOrmStore, write_options};

/// How long a SQLite connection waits for another writer before giving up with "database is
/// locked". Write transactions start `IMMEDIATE`, so waiting is the only way to contend.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest wait for a pooled connection, including opening a new one. sqlx's default (30 s)
/// keeps retrying a refused PostgreSQL connection for that long, so a request would hang half
/// a minute while the database is down; a few seconds is enough for a healthy pool under load,
/// and the HTTP layer then answers 503 `unavailable` with `Retry-After`.
pub const POOL_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The default of [`StoreConfig::database_timeout`]: a healthy PostgreSQL answers in
/// milliseconds, and a request that meets a silent one is answered 503 within about this long
/// (the promise is 5 s; the rest is slack for a loaded machine).
pub const DEFAULT_DATABASE_TIMEOUT: Duration = Duration::from_secs(3);

/// How the store waits for its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// PostgreSQL: the longest wait for one round trip (a pooled connection, a statement,
    /// `BEGIN`, `COMMIT`, a ping). Past it the store gives up with
    /// [`portal_core::StoreError::Unavailable`] and the connection is not reused until it has
    /// answered (it is closed when it stays silent). The same value is the server's own
    /// `statement_timeout` and `idle_in_transaction_session_timeout` for the store's sessions,
    /// so the server also stops work, and releases locks, that nobody waits for. Migrations run
    /// without either limit. SQLite ignores it (see `SQLITE_BUSY_TIMEOUT`).
    pub database_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { database_timeout: DEFAULT_DATABASE_TIMEOUT }
    }
}

/// Connections per pool for a SQLite file (WAL: readers run beside the one writer).
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// How much of a SQLite file each connection reads through a memory map (256 MiB) rather than
/// `read` calls into its own page cache. The mapped pages are the operating system's file cache,
/// shared by every connection, so a large database (a million clients is ~0.5 GiB) is read at
/// memory speed once warm, by whichever connection the pool hands out. Writes still go through
/// the WAL; the map only serves reads.
const SQLITE_MMAP_BYTES: u64 = 256 * 1024 * 1024;

/// Rows a SQLite connection's thread may read ahead of the task taking them.
const SQLITE_ROW_CHANNEL: usize = 256;

/// Connections per pool for PostgreSQL.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

/// A pooled PostgreSQL connection idle this long is pinged before it is handed out.
const POSTGRES_PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// Key of the PostgreSQL advisory lock that serialises migrations across server processes
/// (ASCII "portal\0m").
const MIGRATION_LOCK_KEY: i64 = 0x706f_7274_616c_006d;

/// Why the store could not be opened or migrated. The URL is never part of the message: it may
/// hold a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL names no supported database.
    #[error("unsupported database URL: expected `sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://…`")]
    UnsupportedUrl,
    /// The database could not be reached or opened.
    #[error("could not connect to the database")]
    Connect(#[source] DatabaseError),
    /// Applying or rolling back migrations failed; nothing of the failed migration remains.
    #[error("database migration failed")]
    Migrate(#[source] DatabaseError),
}

impl ConnectError {
    /// Whether trying again later may succeed: the database did not answer in time, refused or
    /// dropped the connection, is starting up or has no free connection slot, or (SQLite) was
    /// busy. A wrong password, a missing database, a file that cannot be opened or a bad URL
    /// stay as they are.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect(error) if error.transient)
    }
}

/// The database's own error text, with the connection URL and any password in it removed
/// (sqlx repeats an unparsable URL verbatim).
#[derive(Debug)]
pub struct DatabaseError {
    text: String,
    transient: bool,
}

impl DatabaseError {
    fn redacted(err: &DbErr, url: &str) -> Self {
        let url = url.trim();
        let mut text = err.to_string();
        if !url.is_empty() {
            text = text.replace(url, "[database URL]");
        }
        if let Some(password) = password_of(url).filter(|p| !p.is_empty()) {
            text = text.replace(password, "[password]");
        }
        Self { text, transient: is_transient(err) }
    }
}

/// See [`ConnectError::is_transient`].
fn is_transient(err: &DbErr) -> bool {
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(error)) | DbErr::Exec(RuntimeErr::SqlxError(error)) => error,
        _ => return false,
    };
    match &**sqlx_error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(database) => match database.code().as_deref() {
            // PostgreSQL: cannot_connect_now (starting up), too_many_connections.
            Some("57P03" | "53300") => true,
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED and their extended codes (the low byte).
            Some(code) => code.parse::<u32>().is_ok_and(|code| matches!(code & 0xff, 5 | 6)),
            None => false,
        },
        _ => false,
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DatabaseError {}

/// The password in `scheme://user:password@host…`, if any.
fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let userinfo = &authority[..authority.rfind('@')?];
    userinfo.split_once(':').map(|(_, password)| password)
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

impl Target {
    fn of(url: &str) -> Result<Self, ConnectError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            Ok(if memory { Self::SqliteMemory } else { Self::SqliteFile })
        } else {
            Err(ConnectError::UnsupportedUrl)
        }
    }
}

/// Pool and per-connection settings for a URL.
///
/// SQLite pragmas are set by sqlx on **every** connection the pool opens: `journal_mode=WAL`
/// (readers do not block the writer), `busy_timeout` ([`SQLITE_BUSY_TIMEOUT`]),
/// `foreign_keys=ON` (SQLite's default is off), `secure_delete=ON` (purged mail bodies and
/// deleted sessions are overwritten, not left in free pages), `synchronous=NORMAL` (durable
/// in WAL mode except for the last transactions on power loss; never corrupt), and reads that
/// stay fast on a large file: `mmap_size` ([`SQLITE_MMAP_BYTES`]).
///
/// PostgreSQL sessions start with `statement_timeout` and `idle_in_transaction_session_timeout`
/// at the database timeout (a query stuck on a lock, or a transaction whose client went silent,
/// ends on the server too), and the pool checks a released connection within the timeout
/// while round trips are being abandoned ([`release_check`]).
fn options(url: &str, target: Target, bound: &Bound) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.trim());
    options.sqlx_logging(false).acquire_timeout(POOL_ACQUIRE_TIMEOUT);
    match target {
        Target::Postgres => {
            // sqlx pings every connection it hands out by default: a second round trip for
            // every query. A connection in steady use has just answered; one left idle may have
            // been cut by the server, a proxy or a firewall, so only those are pinged.
            options
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .test_before_acquire_if_idle_for(POSTGRES_PING_IF_IDLE_FOR);
            if let Some(limit) = bound.limit() {
                // Whole milliseconds, at least 1: 0 would mean "no limit" to PostgreSQL.
                let millis = limit.as_millis().clamp(1, i32::MAX as u128).to_string();
                options.map_sqlx_postgres_opts(move |postgres| {
                    postgres.options([
                        ("statement_timeout", millis.as_str()),
                        ("idle_in_transaction_session_timeout", millis.as_str()),
                    ])
                });
                let abandoned = bound.abandoned();
                options.map_sqlx_postgres_pool_opts(move |pool| {
                    pool.after_release(release_check(limit, Arc::clone(&abandoned)))
                });
            }
        }
        Target::SqliteFile | Target::SqliteMemory => {
            options.map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("secure_delete", "ON")
                    .pragma("mmap_size", SQLITE_MMAP_BYTES.to_string())
                    // Rows come from the connection's thread through a channel of this size: room
                    // for a whole client-list page (at most 201 rows), so that thread never waits
                    // for the request's task to take a row before it reads the next.
                    .row_buffer_size(SQLITE_ROW_CHANNEL)
            });
            if target == Target::SqliteMemory {
                // An in-memory database lives as long as its connection: keep exactly one, forever.
                // Every caller queues for it, so the wait is sqlx's default, not the short one.
                options
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(Duration::from_secs(30));
            } else {
                options.max_connections(SQLITE_MAX_CONNECTIONS);
            }
            // sqlx pings every connection it hands out by default. A SQLite connection is a file
            // handle on a thread of its own, which no peer can close under it: the ping would
            // be one more trip to that thread for every query, and could never fail.
            options.test_before_acquire(false);
        }
    }
    options
}

/// The boxed future a pool hook returns.
type HookFuture<'c> = Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>>;

/// The pool's check of a released PostgreSQL connection (sqlx's `after_release`). While round
/// trips are being abandoned (see `bounded.rs`), a released connection may still owe the answer
/// to an abandoned query: it must answer a ping within `limit`, which also drains that answer
/// and runs a queued `ROLLBACK`, or it is closed instead of returning to the pool. sqlx's own
/// release ping, which follows, has no bound. Otherwise the connection goes on to that ping
/// directly, so a healthy pool pays nothing extra.
fn release_check(
    limit: Duration,
    abandoned: Arc<Abandoned>,
) -> impl for<'c> Fn(&'c mut PgConnection, PoolConnectionMetadata) -> HookFuture<'c> + Send + Sync + 'static {
    move |connection, _| {
        let check = abandoned.recently();
        Box::pin(async move {
            if !check {
                return Ok(true);
            }
            match tokio::time::timeout(limit, connection.ping()).await {
                Ok(answered) => answered.map(|()| true),
                Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "a released connection did not answer within the database timeout; closing it",
                ))),
            }
        })
    }
}

/// The bound on round trips for a database: the configured timeout on PostgreSQL, none on
/// SQLite (see `bounded.rs`).
fn bound_for(target: Target, config: StoreConfig) -> Bound {
    let limit = (target == Target::Postgres).then_some(config.database_timeout);
    Bound::new(limit, Arc::new(Abandoned::default()))
}

/// No session timeouts: for migrations, which may run longer than a request may.
fn unbounded() -> Bound {
    Bound::new(None, Arc::new(Abandoned::default()))
}

async fn open(url: &str, bound: &Bound) -> Result<DatabaseConnection, ConnectError> {
    let target = Target::of(url)?;
    Database::connect(options(url, target, bound))
        .await
        .map_err(|e| ConnectError::Connect(DatabaseError::redacted(&e, url)))
}

/// Migrates `db` (opened from `url`), reporting errors without the URL.
async fn migrate_with(db: &DatabaseConnection, url: &str, direction: Direction) -> Result<(), ConnectError> {
    run_migrations(db, direction).await.map_err(|e| ConnectError::Migrate(DatabaseError::redacted(&e, url)))
}

/// Which way to migrate.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Up,
    Down(Option<u32>),
}

/// Runs migrations in one transaction: on PostgreSQL under an advisory lock, on SQLite as an
/// `IMMEDIATE` transaction, so two processes starting at once never migrate concurrently.
/// PostgreSQL's per-session timeouts are lifted for this transaction: a migration of a large
/// table, or waiting for another process's migration, may take longer than a request may.
async fn run_migrations(db: &DatabaseConnection, direction: Direction) -> Result<(), DbErr> {
    let txn = db.begin_with_options(write_options()).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL statement_timeout = 0").await?;
        txn.execute_unprepared("SET LOCAL idle_in_transaction_session_timeout = 0").await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")).await?;
    }
    match direction {
        Direction::Up => Migrator::up(&txn, None).await?,
        Direction::Down(steps) => Migrator::down(&txn, steps).await?,
    }
    txn.commit().await
}

/// Opens the database a URL names, applies pending migrations and returns the store.
///
/// Accepted URLs: `sqlite://PATH?mode=rwc` (file, created when missing), `sqlite://PATH`
/// (existing file), `sqlite::memory:` (one private in-memory database, for tests and demos),
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]` (or `postgresql://`).
///
/// Waits for the database as [`StoreConfig::default`] says; see [`connect_with`].
///
/// # Errors
/// [`ConnectError::UnsupportedUrl`] for another scheme, [`ConnectError::Connect`] when the
/// database cannot be opened ([`ConnectError::is_transient`] says whether trying again may
/// help), [`ConnectError::Migrate`] when a migration fails.
pub async fn connect(url: &str) -> Result<SeaOrmStore, ConnectError> {
    connect_with(url, StoreConfig::default()).await
}

/// [`connect`] with the waits `config` sets: on PostgreSQL every round trip of the store is
/// bounded by [`StoreConfig::database_timeout`] (migrations are not).
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(url: &str, config: StoreConfig) -> Result<SeaOrmStore, ConnectError> {
    let target = Target::of(url)?;
    let bound = bound_for(target, config);
    if target == Target::Postgres {
        // Migrations on a connection of their own, opened without the session timeouts: lifting
        // them inside the migration's transaction leaves the moment between `BEGIN` and the
        // `SET` exposed, and a loaded machine can make it outlast a short
        // `idle_in_transaction_session_timeout`. (SQLite has no such timeouts, and its
        // in-memory database exists only on the pool's own connection.)
        migrate(url).await?;
        let db = open(url, &bound).await?;
        return Ok(SeaOrmStore::with_bound(db, bound));
    }
    let db = open(url, &bound).await?;
    migrate_with(&db, url, Direction::Up).await?;
    Ok(SeaOrmStore::with_bound(db, bound))
}

/// Applies every pending migration (what [`connect`] does first), then closes the connection.
/// For the server's `migrate` command.
///
/// # Errors
/// As [`connect`].
pub async fn migrate(url: &str) -> Result<(), ConnectError> {
    let db = open(url, &unbounded()).await?;
    let outcome = migrate_with(&db, url, Direction::Up).await;
    // Closing only releases the pool; a failure there changes nothing already committed.
    let _ = db.close().await;
    outcome
}

/// Rolls back the last `steps` applied migrations (`None`: all of them, which **drops every
/// table and all data**), then closes the connection.
///
/// # Errors
/// As [`connect`].
pub async fn rollback(url: &str, steps: Option<u32>) -> Result<(), ConnectError> {
    let db = open(url, &unbounded()).await?;
    let outcome = migrate_with(&db, url, Direction::Down(steps)).await;
    let _ = db.close().await;
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_backend() {
        assert_eq!(Target::of("sqlite://portal-data/portal.db?mode=rwc").unwrap(), Target::SqliteFile);
        assert_eq!(Target::of("sqlite::memory:").unwrap(), Target::SqliteMemory);
        assert_eq!(Target::of("postgres://postgres@127.0.0.1:5432/portal").unwrap(), Target::Postgres);
        assert_eq!(Target::of("postgresql://u:p@db/portal").unwrap(), Target::Postgres);
        assert!(matches!(Target::of("mysql://root@localhost/portal"), Err(ConnectError::UnsupportedUrl)));
    }

    #[test]
    fn pools_give_up_on_a_connection_within_a_few_seconds() {
        for url in ["postgres://postgres@127.0.0.1:5432/portal", "sqlite://portal.db?mode=rwc"] {
            let target = Target::of(url).unwrap();
            let options = options(url, target, &bound_for(target, StoreConfig::default()));
            assert_eq!(options.get_acquire_timeout(), Some(POOL_ACQUIRE_TIMEOUT), "{url}");
        }
    }

    #[test]
    fn only_postgresql_round_trips_are_bounded() {
        let config = StoreConfig { database_timeout: Duration::from_millis(1500) };
        assert_eq!(bound_for(Target::Postgres, config).limit(), Some(Duration::from_millis(1500)));
        assert_eq!(bound_for(Target::SqliteFile, config).limit(), None);
        assert_eq!(bound_for(Target::SqliteMemory, config).limit(), None);
        assert_eq!(StoreConfig::default().database_timeout, DEFAULT_DATABASE_TIMEOUT);
    }

    #[test]
    fn refusals_and_silence_are_transient_and_configuration_errors_are_not() {
        let connect = |err: DbErr| ConnectError::Connect(DatabaseError::redacted(&err, "")).is_transient();
        let sqlx_error = |err: sqlx::Error| DbErr::Conn(RuntimeErr::SqlxError(Arc::new(err)));
        assert!(connect(sqlx_error(sqlx::Error::PoolTimedOut)));
        assert!(connect(sqlx_error(sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()))));
        assert!(connect(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)));
        assert!(!connect(sqlx_error(sqlx::Error::Configuration("bad option".into()))));
        assert!(!connect(DbErr::Conn(RuntimeErr::Internal("The connection string cannot be parsed.".into()))));
        assert!(!ConnectError::UnsupportedUrl.is_transient());
    }

    /// A database that refuses connections: sqlx retries a refused connection until the acquire
    /// timeout, so without a short one this took 30 s.
    #[tokio::test]
    async fn a_refused_postgresql_connection_fails_after_the_acquire_timeout() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let result = connect(&format!("postgres://postgres@127.0.0.1:{port}/portal")).await;
        assert!(matches!(result, Err(ConnectError::Connect(_))), "{result:?}");
        let took = started.elapsed();
        assert!(took < POOL_ACQUIRE_TIMEOUT * 3, "gave up after {took:?}");
    }

    #[test]
    fn database_errors_lose_the_url_and_its_password() {
        let url = "postgres://portal:s3cret@db:notaport/portal";
        let err =
            DbErr::Conn(sea_orm::RuntimeErr::Internal(format!("The connection string '{url}' cannot be parsed.")));
        let redacted = DatabaseError::redacted(&err, url).to_string();
        assert!(!redacted.contains("s3cret"), "{redacted}");
        assert!(redacted.contains("[database URL]"), "{redacted}");
        let elsewhere = DbErr::Conn(sea_orm::RuntimeErr::Internal("password s3cret rejected".into()));
        assert!(!DatabaseError::redacted(&elsewhere, url).to_string().contains("s3cret"));
        assert_eq!(password_of("postgres://u@h/db"), None);
        assert_eq!(password_of("postgres://u:p@ss@h/db?x=@"), Some("p@ss"));
        assert_eq!(password_of("sqlite::memory:"), None);
    }
}
