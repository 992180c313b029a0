//! Opening a database from a URL, the SQLite connection set-up, and running migrations.

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use sea_orm_migration::MigratorTrait;

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

/// Connections per pool for a SQLite file (WAL: readers run beside the one writer).
const SQLITE_MAX_CONNECTIONS: u32 = 8;

/// Connections per pool for PostgreSQL.
const POSTGRES_MAX_CONNECTIONS: u32 = 16;

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

/// The database's own error text, with the connection URL and any password in it removed
/// (sqlx repeats an unparsable URL verbatim).
#[derive(Debug)]
pub struct DatabaseError(String);

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
        Self(text)
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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
/// deleted sessions are overwritten, not left in free pages) and `synchronous=NORMAL` (durable
/// in WAL mode except for the last transactions on power loss; never corrupt).
fn options(url: &str, target: Target) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.trim());
    options.sqlx_logging(false).acquire_timeout(POOL_ACQUIRE_TIMEOUT);
    match target {
        Target::Postgres => {
            options.max_connections(POSTGRES_MAX_CONNECTIONS);
        }
        Target::SqliteFile | Target::SqliteMemory => {
            options.map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .foreign_keys(true)
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("secure_delete", "ON")
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
        }
    }
    options
}

async fn open(url: &str) -> Result<DatabaseConnection, ConnectError> {
    let target = Target::of(url)?;
    Database::connect(options(url, target)).await.map_err(|e| ConnectError::Connect(DatabaseError::redacted(&e, url)))
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
async fn run_migrations(db: &DatabaseConnection, direction: Direction) -> Result<(), DbErr> {
    let txn = db.begin_with_options(write_options()).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
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
/// # Errors
/// [`ConnectError::UnsupportedUrl`] for another scheme, [`ConnectError::Connect`] when the
/// database cannot be opened, [`ConnectError::Migrate`] when a migration fails.
pub async fn connect(url: &str) -> Result<SeaOrmStore, ConnectError> {
    let db = open(url).await?;
    migrate_with(&db, url, Direction::Up).await?;
    Ok(SeaOrmStore::from_migrated(db))
}

/// Applies every pending migration (what [`connect`] does first), then closes the connection.
/// For the server's `migrate` command.
///
/// # Errors
/// As [`connect`].
pub async fn migrate(url: &str) -> Result<(), ConnectError> {
    let db = open(url).await?;
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
    let db = open(url).await?;
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
            let options = options(url, Target::of(url).unwrap());
            assert_eq!(options.get_acquire_timeout(), Some(POOL_ACQUIRE_TIMEOUT), "{url}");
        }
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
