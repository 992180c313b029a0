//! SQLite: the six tables are rebuilt, since SQLite cannot change a column's type or a table's
//! keys in place.
//!
//! The migrator runs inside a transaction, where `PRAGMA foreign_keys` cannot be switched off,
//! so the rebuild is ordered to never break a foreign key while they are enforced: first every
//! old table is renamed away (SQLite rewrites the foreign keys of the other old tables to
//! follow, so the old tables refer only to each other), then the new tables are created and
//! filled parents first (`tokens` before the rows that reference it), then the old tables are
//! dropped children first (no remaining table refers to a dropped one, so the implicit
//! `DELETE` of `DROP TABLE` checks nothing), then the indexes are recreated under their
//! names. `PRAGMA foreign_key_check` must then find nothing.

use sea_orm_migration::prelude::DbErr;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use super::run;

/// One rebuilt table in both layouts.
struct Table {
    name: &'static str,
    /// The columns both layouts have, in the order they are copied.
    columns: &'static [&'static str],
    /// The one of [`Self::columns`] that names a client, converted on the way.
    client_column: &'static str,
    /// The table after the migration.
    new_ddl: &'static str,
    new_indexes: &'static [&'static str],
    /// The table before the migration (as the earlier migrations left it).
    old_ddl: &'static str,
    old_indexes: &'static [&'static str],
}

/// Parents first: the order in which tables are created and filled.
const TABLES: [Table; 6] = [
    Table {
        name: "clients",
        columns: &["id", "practice_id", "name", "email", "language", "email_consent", "created_at"],
        client_column: "id",
        new_ddl: r#"CREATE TABLE "clients" ( "id" varchar(128) NOT NULL, "practice_id" uuid_text NOT NULL, "name" text NOT NULL, "email" varchar NULL, "language" varchar NOT NULL CHECK ("language" IN ('en', 'es')), "email_consent" boolean NOT NULL, "created_at" integer NOT NULL, PRIMARY KEY ("practice_id", "id"), FOREIGN KEY ("practice_id") REFERENCES "practices" ("id") )"#,
        new_indexes: &[r#"CREATE INDEX "ix_clients_practice_name" ON "clients" ("practice_id", "name")"#],
        old_ddl: r#"CREATE TABLE "clients" ( "id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "name" text NOT NULL, "email" varchar NULL, "language" varchar NOT NULL CHECK ("language" IN ('en', 'es')), "email_consent" boolean NOT NULL, "created_at" integer NOT NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id") )"#,
        old_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_clients_practice_id" ON "clients" ("practice_id", "id")"#,
            r#"CREATE INDEX "ix_clients_practice_name" ON "clients" ("practice_id", "name")"#,
        ],
    },
    Table {
        name: "tokens",
        columns: &[
            "id",
            "practice_id",
            "client_id",
            "purpose",
            "hash",
            "issued_at",
            "expires_at",
            "used_at",
            "voided_at",
        ],
        client_column: "client_id",
        new_ddl: r#"CREATE TABLE "tokens" ( "id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "client_id" varchar(128) NOT NULL, "purpose" varchar NOT NULL CHECK ("purpose" IN ('invite', 'reset')), "hash" blob NOT NULL, "issued_at" integer NOT NULL, "expires_at" integer NOT NULL, "used_at" integer NULL, "voided_at" integer NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id") )"#,
        new_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_tokens_hash" ON "tokens" ("hash")"#,
            r#"CREATE INDEX "ix_tokens_client_purpose" ON "tokens" ("practice_id", "client_id", "purpose")"#,
        ],
        old_ddl: r#"CREATE TABLE "tokens" ( "id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "client_id" uuid_text NOT NULL, "purpose" varchar NOT NULL CHECK ("purpose" IN ('invite', 'reset')), "hash" blob NOT NULL, "issued_at" integer NOT NULL, "expires_at" integer NOT NULL, "used_at" integer NULL, "voided_at" integer NULL, FOREIGN KEY ("practice_id", "client_id") REFERENCES "clients" ("practice_id", "id") )"#,
        old_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_tokens_hash" ON "tokens" ("hash")"#,
            r#"CREATE INDEX "ix_tokens_client_purpose" ON "tokens" ("client_id", "purpose")"#,
        ],
    },
    Table {
        name: "portal_accounts",
        columns: &[
            "client_id",
            "practice_id",
            "state",
            "username",
            "username_lower",
            "password_hash",
            "registered_at",
            "password_changed_at",
            "disabled_reason",
            "disabled_at",
            "invite_token_id",
            "reset_token_id",
            "version",
        ],
        client_column: "client_id",
        new_ddl: r#"CREATE TABLE "portal_accounts" ( "client_id" varchar(128) NOT NULL, "practice_id" uuid_text NOT NULL, "state" varchar NOT NULL CHECK ("state" IN ('no_account', 'active', 'disabled')), "username" varchar NULL, "username_lower" varchar NULL, "password_hash" text NULL, "registered_at" integer NULL, "password_changed_at" integer NULL, "disabled_reason" text NULL, "disabled_at" integer NULL, "invite_token_id" uuid_text NULL, "reset_token_id" uuid_text NULL, "version" integer NOT NULL, PRIMARY KEY ("practice_id", "client_id"), FOREIGN KEY ("practice_id") REFERENCES "practices" ("id"), FOREIGN KEY ("invite_token_id") REFERENCES "tokens" ("id"), FOREIGN KEY ("reset_token_id") REFERENCES "tokens" ("id") )"#,
        new_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_portal_accounts_practice_username_lower" ON "portal_accounts" ("practice_id", "username_lower")"#,
        ],
        old_ddl: r#"CREATE TABLE "portal_accounts" ( "client_id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "state" varchar NOT NULL CHECK ("state" IN ('no_account', 'active', 'disabled')), "username" varchar NULL, "username_lower" varchar NULL, "password_hash" text NULL, "registered_at" integer NULL, "password_changed_at" integer NULL, "disabled_reason" text NULL, "disabled_at" integer NULL, "invite_token_id" uuid_text NULL, "reset_token_id" uuid_text NULL, "version" integer NOT NULL, FOREIGN KEY ("practice_id", "client_id") REFERENCES "clients" ("practice_id", "id"), FOREIGN KEY ("invite_token_id") REFERENCES "tokens" ("id"), FOREIGN KEY ("reset_token_id") REFERENCES "tokens" ("id") )"#,
        old_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_portal_accounts_practice_username_lower" ON "portal_accounts" ("practice_id", "username_lower")"#,
        ],
    },
    Table {
        name: "sessions",
        columns: &["id", "token_hash", "practice_id", "client_id", "created_at", "last_seen_at"],
        client_column: "client_id",
        new_ddl: r#"CREATE TABLE "sessions" ( "id" uuid_text NOT NULL PRIMARY KEY, "token_hash" blob NOT NULL, "practice_id" uuid_text NOT NULL, "client_id" varchar(128) NOT NULL, "created_at" integer NOT NULL, "last_seen_at" integer NOT NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id") )"#,
        new_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_sessions_token_hash" ON "sessions" ("token_hash")"#,
            r#"CREATE INDEX "ix_sessions_client" ON "sessions" ("practice_id", "client_id")"#,
        ],
        old_ddl: r#"CREATE TABLE "sessions" ( "id" uuid_text NOT NULL PRIMARY KEY, "token_hash" blob NOT NULL, "practice_id" uuid_text NOT NULL, "client_id" uuid_text NOT NULL, "created_at" integer NOT NULL, "last_seen_at" integer NOT NULL, FOREIGN KEY ("practice_id", "client_id") REFERENCES "clients" ("practice_id", "id") )"#,
        old_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_sessions_token_hash" ON "sessions" ("token_hash")"#,
            r#"CREATE INDEX "ix_sessions_client" ON "sessions" ("client_id")"#,
        ],
    },
    Table {
        name: "mail_outbox",
        columns: &[
            "id",
            "practice_id",
            "client_id",
            "kind",
            "token_id",
            "link_expires_at",
            "recipient",
            "status",
            "attempts",
            "next_attempt_at",
            "lease_until",
            "last_error",
            "sent_at",
            "failed_at",
            "created_at",
            "last_error_cause",
            "gave_up_after",
        ],
        client_column: "client_id",
        new_ddl: r#"CREATE TABLE "mail_outbox" ( "id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "client_id" varchar(128) NOT NULL, "kind" varchar NOT NULL CHECK ("kind" IN ('invitation', 'password_reset', 'password_changed')), "token_id" uuid_text NULL, "link_expires_at" integer NULL, "recipient" varchar NULL, "status" varchar NOT NULL CHECK ("status" IN ('pending', 'sent', 'failed')), "attempts" integer NOT NULL, "next_attempt_at" integer NOT NULL, "lease_until" integer NULL, "last_error" text NULL, "sent_at" integer NULL, "failed_at" integer NULL, "created_at" integer NOT NULL, "last_error_cause" text NULL, "gave_up_after" integer NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id"), FOREIGN KEY ("token_id") REFERENCES "tokens" ("id") )"#,
        new_indexes: &[
            r#"CREATE INDEX "ix_mail_outbox_due" ON "mail_outbox" ("status", "next_attempt_at")"#,
            r#"CREATE INDEX "ix_mail_outbox_token" ON "mail_outbox" ("token_id")"#,
            r#"CREATE INDEX "ix_mail_outbox_client" ON "mail_outbox" ("practice_id", "client_id", "status")"#,
        ],
        old_ddl: r#"CREATE TABLE "mail_outbox" ( "id" uuid_text NOT NULL PRIMARY KEY, "practice_id" uuid_text NOT NULL, "client_id" uuid_text NOT NULL, "kind" varchar NOT NULL CHECK ("kind" IN ('invitation', 'password_reset', 'password_changed')), "token_id" uuid_text NULL, "link_expires_at" integer NULL, "recipient" varchar NULL, "recipient_name" text NULL, "language" varchar NOT NULL CHECK ("language" IN ('en', 'es')), "status" varchar NOT NULL CHECK ("status" IN ('pending', 'sent', 'failed')), "attempts" integer NOT NULL, "next_attempt_at" integer NOT NULL, "lease_until" integer NULL, "last_error" text NULL, "sent_at" integer NULL, "failed_at" integer NULL, "created_at" integer NOT NULL, "last_error_cause" text NULL, "gave_up_after" integer NULL, FOREIGN KEY ("practice_id", "client_id") REFERENCES "clients" ("practice_id", "id"), FOREIGN KEY ("token_id") REFERENCES "tokens" ("id") )"#,
        old_indexes: &[
            r#"CREATE INDEX "ix_mail_outbox_due" ON "mail_outbox" ("status", "next_attempt_at")"#,
            r#"CREATE INDEX "ix_mail_outbox_token" ON "mail_outbox" ("token_id")"#,
        ],
    },
    Table {
        name: "audit_events",
        columns: &[
            "seq",
            "id",
            "at",
            "practice_id",
            "client_id",
            "actor_kind",
            "actor_id",
            "actor_label",
            "action",
            "failure",
            "detail",
            "request_id",
            "source_ip",
        ],
        client_column: "client_id",
        new_ddl: r#"CREATE TABLE "audit_events" ( "seq" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "id" uuid_text NOT NULL, "at" integer NOT NULL, "practice_id" uuid_text NOT NULL, "client_id" varchar(128) NULL, "actor_kind" varchar NOT NULL CHECK ("actor_kind" IN ('staff', 'client', 'anonymous', 'system')), "actor_id" uuid_text NULL, "actor_label" text NULL, "action" varchar NOT NULL, "failure" varchar NULL, "detail" text NULL, "request_id" varchar NULL, "source_ip" varchar NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id") )"#,
        new_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_audit_events_id" ON "audit_events" ("id")"#,
            r#"CREATE INDEX "ix_audit_events_trail" ON "audit_events" ("practice_id", "client_id", "at", "seq")"#,
        ],
        old_ddl: r#"CREATE TABLE "audit_events" ( "seq" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "id" uuid_text NOT NULL, "at" integer NOT NULL, "practice_id" uuid_text NOT NULL, "client_id" uuid_text NULL, "actor_kind" varchar NOT NULL CHECK ("actor_kind" IN ('staff', 'client', 'anonymous', 'system')), "actor_id" uuid_text NULL, "actor_label" text NULL, "action" varchar NOT NULL, "failure" varchar NULL, "detail" text NULL, "request_id" varchar NULL, "source_ip" varchar NULL, FOREIGN KEY ("practice_id") REFERENCES "practices" ("id"), FOREIGN KEY ("practice_id", "client_id") REFERENCES "clients" ("practice_id", "id") )"#,
        old_indexes: &[
            r#"CREATE UNIQUE INDEX "ux_audit_events_id" ON "audit_events" ("id")"#,
            r#"CREATE INDEX "ix_audit_events_trail" ON "audit_events" ("practice_id", "client_id", "at")"#,
        ],
    },
];

/// A `GLOB` pattern matching exactly a hyphenated lower-case UUID.
pub(super) fn uuid_glob() -> String {
    [8, 4, 4, 4, 12].map(|n| "[0-9a-f]".repeat(n)).join("-")
}

/// A stored UUID (a 16-byte blob, as sea-orm writes it; or text, if a row was written by
/// hand) as hyphenated lower-case text. NULL stays NULL.
fn uuid_as_text(column: &str) -> String {
    let part = |from: u8, len: u8| format!("substr(hex({column}), {from}, {len})");
    format!(
        "CASE WHEN typeof({column}) = 'blob' THEN lower({} || '-' || {} || '-' || {} || '-' || {} || '-' || {}) \
         ELSE lower({column}) END",
        part(1, 8),
        part(9, 4),
        part(13, 4),
        part(17, 4),
        part(21, 12),
    )
}

/// Hyphenated UUID text back to the 16-byte blob (the caller checked it is a UUID).
fn text_as_uuid(column: &str) -> String {
    format!("unhex(replace({column}, '-', ''))")
}

/// The name in a `CREATE [UNIQUE] INDEX "name" ON …` statement.
fn index_name(statement: &str) -> &str {
    statement.split('"').nth(1).unwrap_or(statement)
}

/// Which way a rebuild goes.
#[derive(Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl Direction {
    /// The name the table being replaced is renamed to while its rows are copied.
    fn old_suffix(self) -> &'static str {
        match self {
            Self::Up => "v1",
            Self::Down => "v2",
        }
    }
}

/// The statements that copy `table` out of its renamed predecessor.
fn copy(table: &Table, direction: Direction) -> String {
    let source = format!("{}_{}", table.name, direction.old_suffix());
    let mut columns: Vec<String> = table.columns.iter().map(|c| format!("\"{c}\"")).collect();
    let mut values: Vec<String> = table
        .columns
        .iter()
        .map(|&c| {
            let qualified = format!("src.\"{c}\"");
            match (c == table.client_column, direction) {
                (false, _) => qualified,
                (true, Direction::Up) => uuid_as_text(&qualified),
                (true, Direction::Down) => text_as_uuid(&qualified),
            }
        })
        .collect();
    if let (Direction::Down, "mail_outbox") = (direction, table.name) {
        // The old outbox kept the name (pending rows only: delivered ones were purged) and
        // the language; both come back from the bundled client record.
        let client = "FROM clients_v2 AS c WHERE c.practice_id = src.practice_id AND c.id = src.client_id";
        columns.extend(["\"recipient_name\"".to_owned(), "\"language\"".to_owned()]);
        values.push(format!("CASE WHEN src.status = 'pending' THEN (SELECT c.name {client}) END"));
        values.push(format!("COALESCE((SELECT c.language {client}), 'en')"));
    }
    format!(
        "INSERT INTO \"{}\" ({}) SELECT {} FROM \"{source}\" AS src",
        table.name,
        columns.join(", "),
        values.join(", ")
    )
}

/// Every statement of one rebuild, in order (see the module documentation).
fn rebuild(direction: Direction) -> Vec<String> {
    let suffix = direction.old_suffix();
    let mut sql = Vec::new();
    for table in &TABLES {
        sql.push(format!("ALTER TABLE \"{0}\" RENAME TO \"{0}_{suffix}\"", table.name));
    }
    let indexes = |table: &Table, direction: Direction| match direction {
        Direction::Up => table.new_indexes,
        Direction::Down => table.old_indexes,
    };
    let source_layout = match direction {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
    };
    // An index the source layout does not have is created at once: the old
    // `ux_clients_practice_id` must exist before rows referencing `clients (practice_id, id)`
    // are copied. The others wait until the renamed tables (which still hold those names) are
    // gone.
    let is_new = |table: &Table, index: &str| {
        !indexes(table, source_layout).iter().any(|other| index_name(other) == index_name(index))
    };
    for table in &TABLES {
        sql.push(match direction {
            Direction::Up => table.new_ddl.to_owned(),
            Direction::Down => table.old_ddl.to_owned(),
        });
        sql.extend(indexes(table, direction).iter().filter(|i| is_new(table, i)).map(|&i| i.to_owned()));
        sql.push(copy(table, direction));
    }
    // AUTOINCREMENT: the audit sequence continues where it was (rows may have been pruned).
    sql.push("DELETE FROM sqlite_sequence WHERE name = 'audit_events'".to_owned());
    sql.push(format!(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'audit_events', seq FROM sqlite_sequence \
         WHERE name = 'audit_events_{suffix}'"
    ));
    for table in TABLES.iter().rev() {
        sql.push(format!("DROP TABLE \"{}_{suffix}\"", table.name));
    }
    for table in &TABLES {
        sql.extend(indexes(table, direction).iter().filter(|i| !is_new(table, i)).map(|&i| i.to_owned()));
    }
    sql
}

/// Fails when any row breaks a foreign key (the rebuild ran with them enforced, so this is a
/// last check rather than the only one).
async fn foreign_key_check<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), "PRAGMA foreign_key_check")).await?;
    if let Some(row) = rows.first() {
        let table: String = row.try_get_by_index(0).unwrap_or_default();
        let parent: String = row.try_get_by_index(2).unwrap_or_default();
        return Err(DbErr::Migration(format!(
            "{} rows break a foreign key after the rebuild (first: {table} → {parent})",
            rows.len()
        )));
    }
    Ok(())
}

pub(super) async fn up<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    run(db, rebuild(Direction::Up)).await?;
    foreign_key_check(db).await
}

/// The reverse of [`up`]; the caller has checked that the data fits (`check_reversible`).
pub(super) async fn down<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    run(db, rebuild(Direction::Down)).await?;
    foreign_key_check(db).await
}
