//! Clients become the host's (issue 12): portal tables refer to a client only by
//! `(practice_id, client_id)`, where `client_id` is the host's own opaque identifier (text of at
//! most 128 characters, e.g. `12345`, `MRN-0042` or a UUID).
//!
//! - Every `client_id` column (`tokens`, `portal_accounts`, `sessions`, `mail_outbox`,
//!   `audit_events`) and `clients.id` become `varchar(128)`; existing rows hold the hyphenated
//!   lower-case form of their UUID (SQLite stored 16-byte blobs, PostgreSQL `uuid`).
//! - Every foreign key to `clients` is dropped: the bundled `clients` table is only one
//!   implementation of the client directory, and a host-owned client has no row in it. The
//!   tables keep (or, where the composite key to `clients` was their only link, gain) a foreign
//!   key to `practices`; the keys to `tokens` stay.
//! - `clients` is keyed by `(practice_id, id)` and `portal_accounts` by
//!   `(practice_id, client_id)`: a host id is unique only within its practice. Lookups by
//!   client are indexed by practice first (`tokens`, `sessions`, `mail_outbox`, the audit
//!   trail).
//! - `mail_outbox.recipient_name` and `mail_outbox.language` are dropped: mail is rendered from
//!   the client directory when it is sent, so the outbox keeps only the recipient address
//!   (purged at delivery, as before).
//!
//! SQLite cannot change a column's type or a table's keys in place, so there the six tables are
//! rebuilt (rename away, create, copy, drop the old ones, recreate the indexes) inside the
//! migration transaction, and `PRAGMA foreign_key_check` must come back empty before it
//! commits. The old tables are renamed away *before* the new ones exist, so dropping them
//! never touches a row of the new tables (SQLite rewrites foreign keys on rename, so the old
//! tables end up referring only to each other).
//!
//! **Rolling back** (`down`) is possible only while the data still fits the old layout: every
//! `clients.id` a canonical UUID, unique across practices, and every client a portal row
//! names present in `clients` (the old composite foreign keys). Once a host id such as
//! `MRN-0042` is stored, `down` refuses with an error and changes nothing: restore the backup
//! taken before the upgrade instead. Rolling back refills `mail_outbox.language` (and, for
//! pending mail, `recipient_name`) from `clients`. On SQLite it needs `unhex()` (SQLite 3.41,
//! bundled by sqlx).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

mod postgres;
mod sqlite;

/// Turns client ids into the host's text ids and drops the foreign keys to `clients`.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Runs statements in order, naming the one that failed.
async fn run<C: ConnectionTrait>(db: &C, statements: impl IntoIterator<Item = String>) -> Result<(), DbErr> {
    for sql in statements {
        db.execute_unprepared(&sql).await.map_err(|e| DbErr::Migration(format!("{e} (while running: {sql})")))?;
    }
    Ok(())
}

/// The single `n` of a `SELECT COUNT(*) AS n …`.
async fn count<C: ConnectionTrait>(db: &C, sql: &str) -> Result<i64, DbErr> {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    row.map_or(Ok(0), |row| row.try_get::<i64>("", "n"))
}

/// The rows that name a client, as `(practice_id, client_id)`, for the roll-back checks.
const CLIENT_REFERENCES: &str = "SELECT practice_id, client_id FROM tokens \
     UNION SELECT practice_id, client_id FROM portal_accounts \
     UNION SELECT practice_id, client_id FROM sessions \
     UNION SELECT practice_id, client_id FROM mail_outbox \
     UNION SELECT practice_id, client_id FROM audit_events WHERE client_id IS NOT NULL";

/// Refuses a roll-back the old layout cannot hold, before anything is changed.
async fn check_reversible<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let not_uuid = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT COUNT(*) AS n FROM clients \
             WHERE id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'"
            .to_owned(),
        _ => format!("SELECT COUNT(*) AS n FROM clients WHERE NOT (id GLOB '{}')", sqlite::uuid_glob()),
    };
    let checks = [
        (not_uuid, "bundled clients whose id is not a lower-case UUID"),
        (
            "SELECT COUNT(*) AS n FROM (SELECT id FROM clients GROUP BY id HAVING COUNT(*) > 1) AS d".to_owned(),
            "client ids used in more than one practice",
        ),
        (
            format!(
                "SELECT COUNT(*) AS n FROM ({CLIENT_REFERENCES}) AS r WHERE NOT EXISTS \
                 (SELECT 1 FROM clients AS c WHERE c.practice_id = r.practice_id AND c.id = r.client_id)"
            ),
            "clients named by portal rows but absent from the bundled clients table (host-owned clients)",
        ),
    ];
    for (sql, what) in checks {
        let n = count(db, &sql).await?;
        if n > 0 {
            return Err(DbErr::Migration(format!(
                "cannot roll back m20261201_000002_host_client_ids: {n} {what}; the old schema \
                 holds only UUID client ids of the bundled clients table. Nothing was changed; \
                 restore a backup taken before the upgrade instead"
            )));
        }
    }
    Ok(())
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => run(db, postgres::up()).await,
            DbBackend::Sqlite => sqlite::up(db).await,
            other => Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        }
    }

    /// Reverses the change when the data still fits the old layout; otherwise an error (see
    /// the module documentation), with nothing changed.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        check_reversible(db).await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => run(db, postgres::down()).await,
            DbBackend::Sqlite => sqlite::down(db).await,
            other => Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
        }
    }

    /// The rebuild must be all or nothing (the migrator already runs in a transaction; this
    /// keeps it so when the migration is run on its own).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
