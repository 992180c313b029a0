//! Second factors (issue 15):
//!
//! - `practices.second_factor_policy` (`off`, `optional`, `required`, CHECKed); every existing
//!   practice gets `optional`: clients may enrol, nobody is forced.
//! - `second_factors`: a client's factors, confirmed or pending. A TOTP factor keeps its secret
//!   only sealed (`secret`, XChaCha20-Poly1305 under a key outside the database) and the last
//!   time step whose code was accepted (`last_used_step`, so each code works once).
//! - `recovery_codes`: HMAC-SHA256 of each code under the link key (`code_hash`), and when it
//!   was used.
//! - `factor_challenges`: the five-minute challenges between a right password and the second
//!   step, by SHA-256 of their bearer secret.
//! - `mail_outbox.kind` allows the three notices (`second_factor_added`,
//!   `second_factor_removed`, `recovery_code_used`), as migration 000009 did for reminders
//!   (PostgreSQL re-adds the CHECK constraint; SQLite rebuilds the table).
//!
//! Every new table names a client by `(practice_id, client_id)` with a foreign key to
//! `practices` only (the host owns clients). **Rolling back** refuses while the outbox holds a
//! notice (an older version could not read it); it drops the tables and the column otherwise,
//! and with them every enrolled factor.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, blob, blob_null, string, string_len, text, uuid};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::m20261201_000009_invitation_reminders::{postgres_kinds, run, sqlite_rebuild};

/// Adds the second factors' tables, the practice's policy and the notices' mail kinds.
#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD_KINDS: &str = "('invitation', 'password_reset', 'password_changed', 'invitation_reminder')";
const NEW_KINDS: &str = "('invitation', 'password_reset', 'password_changed', 'invitation_reminder', \
     'second_factor_added', 'second_factor_removed', 'recovery_code_used')";

#[derive(DeriveIden, Clone, Copy)]
enum Practices {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SecondFactors {
    Table,
    Id,
    PracticeId,
    ClientId,
    Kind,
    Name,
    Secret,
    LastUsedStep,
    CreatedAt,
    ConfirmedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    CodeHash,
    PracticeId,
    ClientId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum FactorChallenges {
    Table,
    TokenHash,
    PracticeId,
    ClientId,
    Purpose,
    CreatedAt,
    ExpiresAt,
}

fn practice_fk<T: IntoIden + 'static>(name: &str, table: T, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(table, column).to(Practices::Table, Practices::Id).take()
}

async fn check_reversible<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM mail_outbox WHERE kind IN \
             ('second_factor_added', 'second_factor_removed', 'recovery_code_used')",
        ))
        .await?;
    let notices = row.map_or(Ok(0), |row| row.try_get::<i64>("", "n"))?;
    if notices > 0 {
        return Err(DbErr::Migration(format!(
            "cannot roll back: the outbox holds {notices} second-factor notice(s), which the older version cannot \
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
            ["ALTER TABLE practices ADD COLUMN second_factor_policy varchar NOT NULL DEFAULT 'optional' \
              CONSTRAINT practices_second_factor_policy_check \
              CHECK (second_factor_policy IN ('off', 'optional', 'required'))"
                .to_owned()],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecondFactors::Table)
                    .col(uuid(SecondFactors::Id).primary_key())
                    .col(uuid(SecondFactors::PracticeId))
                    .col(string_len(SecondFactors::ClientId, 128))
                    .col(string(SecondFactors::Kind).check(Expr::col(SecondFactors::Kind).is_in(["totp"])))
                    .col(text(SecondFactors::Name))
                    .col(blob_null(SecondFactors::Secret))
                    .col(big_integer_null(SecondFactors::LastUsedStep))
                    .col(big_integer(SecondFactors::CreatedAt))
                    .col(big_integer_null(SecondFactors::ConfirmedAt))
                    .col(big_integer_null(SecondFactors::LastUsedAt))
                    .foreign_key(&mut practice_fk(
                        "fk_second_factors_practice",
                        SecondFactors::Table,
                        SecondFactors::PracticeId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_second_factors_client")
                    .table(SecondFactors::Table)
                    .col(SecondFactors::PracticeId)
                    .col(SecondFactors::ClientId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(blob(RecoveryCodes::CodeHash).primary_key())
                    .col(uuid(RecoveryCodes::PracticeId))
                    .col(string_len(RecoveryCodes::ClientId, 128))
                    .col(big_integer(RecoveryCodes::CreatedAt))
                    .col(big_integer_null(RecoveryCodes::UsedAt))
                    .foreign_key(&mut practice_fk(
                        "fk_recovery_codes_practice",
                        RecoveryCodes::Table,
                        RecoveryCodes::PracticeId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_recovery_codes_client")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::PracticeId)
                    .col(RecoveryCodes::ClientId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(FactorChallenges::Table)
                    .col(blob(FactorChallenges::TokenHash).primary_key())
                    .col(uuid(FactorChallenges::PracticeId))
                    .col(string_len(FactorChallenges::ClientId, 128))
                    .col(
                        string(FactorChallenges::Purpose)
                            .check(Expr::col(FactorChallenges::Purpose).is_in(["verify", "enrol"])),
                    )
                    .col(big_integer(FactorChallenges::CreatedAt))
                    .col(big_integer(FactorChallenges::ExpiresAt))
                    .foreign_key(&mut practice_fk(
                        "fk_factor_challenges_practice",
                        FactorChallenges::Table,
                        FactorChallenges::PracticeId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_factor_challenges_expires_at")
                    .table(FactorChallenges::Table)
                    .col(FactorChallenges::ExpiresAt)
                    .take(),
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
        for table in
            [FactorChallenges::Table.into_iden(), RecoveryCodes::Table.into_iden(), SecondFactors::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        run(db, ["ALTER TABLE practices DROP COLUMN second_factor_policy".to_owned()]).await
    }
}
