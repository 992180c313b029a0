//! Invitation reminders (issue 14): the outbox takes a fourth kind of mail,
//! `invitation_reminder`, and a token records what became of its one reminder.
//!
//! - `mail_outbox.kind`'s CHECK constraint allows `invitation_reminder`. PostgreSQL drops and
//!   re-adds the constraint (`mail_outbox_kind_check`). SQLite cannot change a constraint in
//!   place, so `mail_outbox` is rebuilt from its own stored definition (`sqlite_master`) with
//!   the list extended: create the new table under a temporary name, copy every row, drop the
//!   old table, rename, recreate its indexes from their stored definitions. No table refers to
//!   `mail_outbox`, so no foreign key is touched; the migrator's transaction makes it all or
//!   nothing.
//! - `tokens.reminded_at` (BIGINT Unix microseconds) and `tokens.reminder` (`queued` or
//!   `skipped`, CHECKed) are new, NULL for every existing token.
//! - `ix_tokens_reminder_due`, a partial index on `tokens (expires_at)` over the live,
//!   unreminded invitations, serves the reminder job's query, which runs every few minutes
//!   however many tokens are stored.
//!
//! **Rolling back** (`down`) refuses while the outbox holds reminder mail (an older version
//! could not read it); the operator restores the backup taken before the upgrade instead.
//! Otherwise it drops the index and the columns and restores the three-kind constraint.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

/// Adds the reminder kind of mail and the token's reminder columns (and removes them).
#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_KINDS: &str = "('invitation', 'password_reset', 'password_changed')";
const NEW_KINDS: &str = "('invitation', 'password_reset', 'password_changed', 'invitation_reminder')";

const DUE_INDEX: &str = "CREATE INDEX ix_tokens_reminder_due ON tokens (expires_at) \
     WHERE purpose = 'invite' AND used_at IS NULL AND voided_at IS NULL AND reminded_at IS NULL";

/// Runs statements in order, naming the one that failed.
pub(super) async fn run<C: ConnectionTrait>(db: &C, statements: impl IntoIterator<Item = String>) -> Result<(), DbErr> {
    for sql in statements {
        db.execute_unprepared(&sql).await.map_err(|e| DbErr::Migration(format!("{e} (while running: {sql})")))?;
    }
    Ok(())
}

/// The `sql` column of every `sqlite_master` row of `kind` on `table` that has one.
async fn sqlite_definitions<C: ConnectionTrait>(db: &C, kind: &str, table: &str) -> Result<Vec<String>, DbErr> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            [kind.into(), table.into()],
        ))
        .await?;
    rows.iter().map(|row| row.try_get::<String>("", "sql")).collect()
}

/// SQLite: rebuilds `mail_outbox` with its kind list `from` replaced by `to`.
pub(super) async fn sqlite_rebuild<C: ConnectionTrait>(db: &C, from: &str, to: &str) -> Result<(), DbErr> {
    sqlite_rebuild_check(db, "mail_outbox", "kind", from, to).await
}

/// SQLite: rebuilds `table` from its own stored definition with the list of its `column`'s
/// CHECK (`CHECK ("column" IN from)`) replaced by `to`, keeping every row and index. No other
/// table may refer to `table` (SQLite cannot change a constraint in place; the rebuild drops
/// the old table).
pub(super) async fn sqlite_rebuild_check<C: ConnectionTrait>(
    db: &C,
    table: &str,
    column: &str,
    from: &str,
    to: &str,
) -> Result<(), DbErr> {
    let definition = sqlite_definitions(db, "table", table).await?;
    let [definition] = definition.as_slice() else {
        return Err(DbErr::Migration(format!("{table} has no single table definition")));
    };
    let check = format!("CHECK (\"{column}\" IN {from})");
    if definition.matches(&check).count() != 1 {
        return Err(DbErr::Migration(format!("{table}'s definition does not hold {check} exactly once")));
    }
    let prefix = format!("CREATE TABLE \"{table}\"");
    let Some(rest) = definition.strip_prefix(&prefix) else {
        return Err(DbErr::Migration(format!("{table}'s definition does not start as expected")));
    };
    let rebuilt = format!("{table}_rebuilt");
    let new_table =
        format!("CREATE TABLE \"{rebuilt}\"{}", rest.replace(&check, &format!("CHECK (\"{column}\" IN {to})")));
    let indexes = sqlite_definitions(db, "index", table).await?;
    let mut statements = vec![
        new_table,
        format!("INSERT INTO {rebuilt} SELECT * FROM {table}"),
        format!("DROP TABLE {table}"),
        format!("ALTER TABLE {rebuilt} RENAME TO {table}"),
    ];
    statements.extend(indexes);
    run(db, statements).await
}

/// PostgreSQL: replaces `mail_outbox.kind`'s CHECK constraint with one that allows `kinds`.
pub(super) async fn postgres_kinds<C: ConnectionTrait>(db: &C, kinds: &str) -> Result<(), DbErr> {
    postgres_check(db, "mail_outbox", "kind", kinds).await
}

/// PostgreSQL: replaces the CHECK constraint `<table>_<column>_check` (the name PostgreSQL gives
/// a column's own CHECK) with one that allows `values`.
pub(super) async fn postgres_check<C: ConnectionTrait>(
    db: &C,
    table: &str,
    column: &str,
    values: &str,
) -> Result<(), DbErr> {
    let constraint = format!("{table}_{column}_check");
    run(
        db,
        [
            format!("ALTER TABLE {table} DROP CONSTRAINT {constraint}"),
            format!("ALTER TABLE {table} ADD CONSTRAINT {constraint} CHECK ({column} IN {values})"),
        ],
    )
    .await
}

/// Refuses a roll-back while an older version could not read the outbox.
async fn check_reversible<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind = 'invitation_reminder'",
        ))
        .await?;
    let reminders = row.map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
    if reminders > 0 {
        return Err(DbErr::Migration(format!(
            "cannot roll back: the outbox holds {reminders} invitation reminder(s), which the older version cannot \
             read; restore the backup taken before the upgrade instead"
        )));
    }
    Ok(())
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        run(
            db,
            [
                "ALTER TABLE tokens ADD COLUMN reminded_at BIGINT NULL".to_owned(),
                "ALTER TABLE tokens ADD COLUMN reminder varchar NULL \
                 CONSTRAINT tokens_reminder_check CHECK (reminder IN ('queued', 'skipped'))"
                    .to_owned(),
                DUE_INDEX.to_owned(),
            ],
        )
        .await?;
        match db.get_database_backend() {
            DbBackend::Postgres => postgres_kinds(db, NEW_KINDS).await,
            _ => sqlite_rebuild(db, OLD_KINDS, NEW_KINDS).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        check_reversible(db).await?;
        match db.get_database_backend() {
            DbBackend::Postgres => postgres_kinds(db, OLD_KINDS).await?,
            _ => sqlite_rebuild(db, NEW_KINDS, OLD_KINDS).await?,
        }
        run(
            db,
            [
                "DROP INDEX ix_tokens_reminder_due".to_owned(),
                "ALTER TABLE tokens DROP COLUMN reminder".to_owned(),
                "ALTER TABLE tokens DROP COLUMN reminded_at".to_owned(),
            ],
        )
        .await
    }
}
