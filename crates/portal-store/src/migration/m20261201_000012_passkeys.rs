//! Passkeys (WebAuthn) as a second factor and for passkey-first sign-in:
//!
//! - `second_factors.kind` allows `passkey` beside `totp`. PostgreSQL drops and re-adds the
//!   column's CHECK constraint (`second_factors_kind_check`); SQLite rebuilds the table from its
//!   stored definition with the list extended, keeping every row and index (no table refers to
//!   `second_factors`), as migration 000009 did for `mail_outbox`.
//! - `second_factors.credential_id` (the WebAuthn credential id, **unique across every row**:
//!   one credential belongs to one account; NULL for TOTP factors, which both databases allow
//!   any number of times in a unique index), `user_handle` (the account's WebAuthn user handle)
//!   and `passkey` (the credential as the passkey adapter serialised it: JSON text). All three
//!   are NULL for a TOTP factor and all three are set for a passkey.
//! - `passkey_ceremonies`: a ceremony's relying-party state between its start and the
//!   browser's answer, by SHA-256 of the ceremony id (a bearer secret), with its purpose
//!   (`registration`, `second_step`, `sign_in`, CHECKed), the client (NULL for a passkey-first
//!   sign-in), the registration's user handle, and its creation and expiry times (BIGINT Unix
//!   microseconds, like `factor_challenges`). Taken (deleted) once; expired ones are deleted
//!   whenever a new one is made.
//!
//! **Rolling back** refuses while any passkey factor exists (an older version could not read
//! it, and dropping the columns would lose the credential); the operator removes the passkeys
//! or restores the backup taken before the upgrade. Otherwise it drops the table, the index and
//! the columns and restores the TOTP-only constraint. Pending ceremonies are dropped: they live
//! five minutes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, blob, blob_null, string, string_len_null, text, text_null, uuid};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::m20261201_000009_invitation_reminders::{postgres_check, run, sqlite_rebuild_check};

/// Adds passkey factors and their ceremonies.
#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_KINDS: &str = "('totp')";
const NEW_KINDS: &str = "('totp', 'passkey')";

#[derive(DeriveIden, Clone, Copy)]
enum Practices {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SecondFactors {
    Table,
    CredentialId,
    UserHandle,
    Passkey,
}

#[derive(DeriveIden, Clone, Copy)]
enum PasskeyCeremonies {
    Table,
    TokenHash,
    PracticeId,
    ClientId,
    Purpose,
    UserHandle,
    State,
    CreatedAt,
    ExpiresAt,
}

const CREDENTIAL_INDEX: &str = "ux_second_factors_credential_id";

async fn set_kinds<C: ConnectionTrait>(db: &C, from: &str, to: &str) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => postgres_check(db, "second_factors", "kind", to).await,
        _ => sqlite_rebuild_check(db, "second_factors", "kind", from, to).await,
    }
}

async fn check_reversible<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM second_factors WHERE kind = 'passkey'",
        ))
        .await?;
    let passkeys = row.map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
    if passkeys > 0 {
        return Err(DbErr::Migration(format!(
            "cannot roll back: {passkeys} passkey factor(s) are stored, which the older version cannot read; \
             restore the backup taken before the upgrade instead"
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
        // The rebuild first, while the table has only the columns migration 000011 made.
        set_kinds(db, OLD_KINDS, NEW_KINDS).await?;
        // One column per statement: SQLite alters one at a time.
        for column in [
            blob_null(SecondFactors::CredentialId),
            blob_null(SecondFactors::UserHandle),
            text_null(SecondFactors::Passkey),
        ] {
            manager.alter_table(Table::alter().table(SecondFactors::Table).add_column(column).take()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(CREDENTIAL_INDEX)
                    .table(SecondFactors::Table)
                    .col(SecondFactors::CredentialId)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasskeyCeremonies::Table)
                    .col(blob(PasskeyCeremonies::TokenHash).primary_key())
                    .col(uuid(PasskeyCeremonies::PracticeId))
                    .col(string_len_null(PasskeyCeremonies::ClientId, 128))
                    .col(string(PasskeyCeremonies::Purpose).check(Expr::col(PasskeyCeremonies::Purpose).is_in([
                        "registration",
                        "second_step",
                        "sign_in",
                    ])))
                    .col(blob_null(PasskeyCeremonies::UserHandle))
                    .col(text(PasskeyCeremonies::State))
                    .col(big_integer(PasskeyCeremonies::CreatedAt))
                    .col(big_integer(PasskeyCeremonies::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkey_ceremonies_practice")
                            .from(PasskeyCeremonies::Table, PasskeyCeremonies::PracticeId)
                            .to(Practices::Table, Practices::Id),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkey_ceremonies_expires_at")
                    .table(PasskeyCeremonies::Table)
                    .col(PasskeyCeremonies::ExpiresAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        check_reversible(db).await?;
        manager.drop_table(Table::drop().table(PasskeyCeremonies::Table).take()).await?;
        // SQLite drops no column an index names: the index goes first.
        run(
            db,
            [
                format!("DROP INDEX {CREDENTIAL_INDEX}"),
                "ALTER TABLE second_factors DROP COLUMN passkey".to_owned(),
                "ALTER TABLE second_factors DROP COLUMN user_handle".to_owned(),
                "ALTER TABLE second_factors DROP COLUMN credential_id".to_owned(),
            ],
        )
        .await?;
        set_kinds(db, NEW_KINDS, OLD_KINDS).await
    }
}
