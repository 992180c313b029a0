//! # portal-store
//!
//! The sea-orm persistence adapter of `portal-core`: entities, a sea-orm-migration
//! [`Migrator`], and [`SeaOrmStore`], which implements every storage port (`Directory`,
//! `AccountStore`, `SessionStore`, `ThrottleStore`, `AuditLog`, `MailOutbox`, hence
//! [`portal_core::PortalStore`]) with one code path for SQLite (the embedded default) and
//! PostgreSQL. It also implements `ClientDirectory` over its bundled `clients` table, the
//! embedded default for a server that keeps its own client records.
//!
//! The host owns clients: portal tables (accounts, tokens, sessions, mail, audit) refer to a
//! client only by `(practice, host client id)`, the host's opaque id as text, and have no
//! foreign key to `clients`. An account can therefore exist for a client the bundled table has
//! never seen, and the same host id in two practices names two clients.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use portal_core::Directory;
//! // Opens (creating the file if needed) and applies pending migrations.
//! let store = portal_store::connect("sqlite://portal-data/portal.db?mode=rwc").await?;
//! store.ping().await?;
//! assert_eq!(store.practice_count().await?, 0);
//! # Ok(()) }
//! ```
//!
//! Guarantees beyond the port contracts:
//! - an account change, its tokens, mail, audit events, session revocation and throttle reset
//!   commit in **one transaction** (see `AccountStore::commit`);
//! - concurrent changes of one account are serialised by a compare-and-set on its version, so
//!   of N commits from the same loaded version exactly one succeeds;
//! - nothing secret is stored: tokens, session secrets and staff keys only as SHA-256,
//!   passwords only as scrypt PHC strings, mail without links;
//! - queued mail holds the recipient's address only until it is delivered or given up (the
//!   name and language are never copied: mail is rendered from the client directory);
//! - [`portal_core::AccountStore::accounts`] and `ClientDirectory::clients` answer a batch of
//!   up to 500 ids in one query;
//! - [`SeaOrmStore::insert_clients`] and [`SeaOrmStore::insert_accounts`] load many rows at once
//!   (an import, a benchmark's data set) in multi-row INSERTs, 10,000 rows per transaction,
//!   without audit events or mail;
//! - timestamps are BIGINT Unix microseconds ([`UnixMicros`]): sub-microsecond precision is
//!   dropped;
//! - on PostgreSQL every round trip of every method (a pooled connection, a statement, `BEGIN`,
//!   `COMMIT`, a ping) is bounded by the database timeout ([`StoreConfig`], 3 s by default): a
//!   database that stops answering without closing its connections makes a call fail with
//!   `StoreError::Unavailable` instead of hanging, the transaction it was in is rolled back, and
//!   the connection is not pooled again until it has answered.
//!
//! Operations (URLs, migrations, tables, SQLite pragmas): `docs/operations.md`.

mod bounded;
mod connect;
mod convert;
pub mod entity;
mod error;
pub mod migration;
mod store;
mod time;

pub use connect::{
    ConnectError, DEFAULT_DATABASE_TIMEOUT, DatabaseError, POOL_ACQUIRE_TIMEOUT, SQLITE_BUSY_TIMEOUT, StoreConfig,
    connect, connect_with, migrate, rollback,
};
pub use migration::Migrator;
pub use store::SeaOrmStore;
pub use time::UnixMicros;
