//! # portal-store
//!
//! The sea-orm persistence adapter of `portal-core`: entities, a sea-orm-migration
//! [`Migrator`], and [`SeaOrmStore`], which implements every storage port (`Directory`,
//! `AccountStore`, `SessionStore`, `ThrottleStore`, `AuditLog`, `MailOutbox`, hence
//! [`portal_core::PortalStore`]) with one code path for SQLite (the embedded default) and
//! PostgreSQL.
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
//! - timestamps are BIGINT Unix microseconds ([`UnixMicros`]): sub-microsecond precision is
//!   dropped.
//!
//! Operations (URLs, migrations, tables, SQLite pragmas): `docs/operations.md`.

mod connect;
mod convert;
pub mod entity;
mod error;
pub mod migration;
mod store;
mod time;

pub use connect::{ConnectError, DatabaseError, POOL_ACQUIRE_TIMEOUT, SQLITE_BUSY_TIMEOUT, connect, migrate, rollback};
pub use migration::Migrator;
pub use store::SeaOrmStore;
pub use time::UnixMicros;
