//! The staff's client list, paged and searchable (issue 13): `clients` gains `name_key` and
//! `email_key`, the name and the email folded for search by `portal_core::search_key`
//! (NFKC, then lower case). The store computes them in Rust whenever it writes a client
//! (`convert::client_row`), so SQLite and PostgreSQL fold alike, and compares them byte by
//! byte: PostgreSQL declares them `COLLATE "C"`, whatever the database's own collation.
//!
//! - `ix_clients_name_key (practice_id, name_key, id)`: the list's order and its keyset
//!   pages, and a search by the start of the name (a range on `name_key`). On PostgreSQL the
//!   `id` column of the index is `COLLATE "C"` too, the order the list uses.
//! - `ix_clients_email_key (practice_id, email_key)`: a search by the start of the email.
//! - `ix_clients_practice_name (practice_id, name)` goes: nothing orders by the raw name any
//!   more.
//!
//! Existing rows are filled in Rust, a batch of [`BACKFILL_BATCH`] clients per statement, in
//! the migration's transaction. `down` drops the indexes and the columns and brings back the old
//! index; nothing else depends on them.

use portal_core::search_key;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// Adds (and drops) the folded search keys of client records and their indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Clients filled per statement (4 bound values each: far below either database's limit).
const BACKFILL_BATCH: usize = 500;

/// Runs statements in order, naming the one that failed.
async fn run<C: ConnectionTrait>(db: &C, statements: &[&str]) -> Result<(), DbErr> {
    for sql in statements {
        db.execute_unprepared(sql).await.map_err(|e| DbErr::Migration(format!("{e} (while running: {sql})")))?;
    }
    Ok(())
}

/// The columns and indexes, per backend.
fn up_statements(backend: DbBackend) -> Result<&'static [&'static str], DbErr> {
    match backend {
        DbBackend::Postgres => Ok(&[
            r#"ALTER TABLE clients ADD COLUMN name_key text COLLATE "C" NOT NULL DEFAULT ''"#,
            r#"ALTER TABLE clients ADD COLUMN email_key text COLLATE "C" NULL"#,
        ]),
        DbBackend::Sqlite => Ok(&[
            "ALTER TABLE clients ADD COLUMN name_key text NOT NULL DEFAULT ''",
            "ALTER TABLE clients ADD COLUMN email_key text NULL",
        ]),
        other => Err(DbErr::Migration(format!("unsupported database backend {other:?}"))),
    }
}

fn index_statements(backend: DbBackend) -> [&'static str; 3] {
    match backend {
        DbBackend::Postgres => [
            r#"CREATE INDEX ix_clients_name_key ON clients (practice_id, name_key, id COLLATE "C")"#,
            "CREATE INDEX ix_clients_email_key ON clients (practice_id, email_key)",
            "DROP INDEX ix_clients_practice_name",
        ],
        _ => [
            "CREATE INDEX ix_clients_name_key ON clients (practice_id, name_key, id)",
            "CREATE INDEX ix_clients_email_key ON clients (practice_id, email_key)",
            "DROP INDEX ix_clients_practice_name",
        ],
    }
}

/// Fills `name_key` and `email_key` of every existing client, a batch at a time in key order.
async fn backfill<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let mut after: Option<(Value, String)> = None;
    loop {
        let (filter, mut values) = match &after {
            None => (String::new(), Vec::new()),
            Some((practice, id)) => (
                format!("WHERE (practice_id, id) > ({}, {})", placeholder(backend, 1), placeholder(backend, 2)),
                vec![practice.clone(), Value::from(id.clone())],
            ),
        };
        let select = format!(
            "SELECT practice_id, id, name, email FROM clients {filter} ORDER BY practice_id, id LIMIT {BACKFILL_BATCH}"
        );
        let rows = db.query_all_raw(Statement::from_sql_and_values(backend, select, values.drain(..))).await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = Some((Value::from(last.try_get::<uuid::Uuid>("", "practice_id")?), last.try_get("", "id")?));

        let mut tuples = Vec::with_capacity(rows.len());
        for (n, row) in rows.iter().enumerate() {
            let name: String = row.try_get("", "name")?;
            let email: Option<String> = row.try_get("", "email")?;
            let first = n * 4;
            tuples.push(format!(
                "({}, {}, {}, {})",
                placeholder(backend, first + 1),
                placeholder(backend, first + 2),
                placeholder(backend, first + 3),
                placeholder(backend, first + 4)
            ));
            values.push(Value::from(row.try_get::<uuid::Uuid>("", "practice_id")?));
            values.push(Value::from(row.try_get::<String>("", "id")?));
            values.push(Value::from(search_key(&name)));
            values.push(Value::from(email.as_deref().map(search_key)));
        }
        // `WITH … UPDATE … FROM`: one statement per batch on both databases (SQLite 3.33+).
        let update = format!(
            "WITH keyed (practice_id, id, name_key, email_key) AS (VALUES {}) \
             UPDATE clients SET name_key = keyed.name_key, email_key = keyed.email_key FROM keyed \
             WHERE clients.practice_id = keyed.practice_id AND clients.id = keyed.id",
            tuples.join(", ")
        );
        db.execute_raw(Statement::from_sql_and_values(backend, update, values)).await?;
        if rows.len() < BACKFILL_BATCH {
            return Ok(());
        }
    }
}

/// The `n`th (1-based) bound value in `backend`'s syntax (SQLite binds `?` in order).
fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        run(db, up_statements(backend)?).await?;
        backfill(db).await?;
        run(db, &index_statements(backend)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        run(
            db,
            &[
                "CREATE INDEX ix_clients_practice_name ON clients (practice_id, name)",
                "DROP INDEX ix_clients_email_key",
                "DROP INDEX ix_clients_name_key",
                // SQLite drops a column since 3.35 (sqlx bundles a newer one).
                "ALTER TABLE clients DROP COLUMN email_key",
                "ALTER TABLE clients DROP COLUMN name_key",
            ],
        )
        .await
    }

    /// The columns, their values and the indexes come together or not at all.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
