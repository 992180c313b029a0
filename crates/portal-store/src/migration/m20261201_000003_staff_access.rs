//! Staff access in the bundled server: a staff key's lifetime (`staff_keys.expires_at`,
//! `revoked_at`, `last_used_at`, all NULL for the keys that existed before: no expiry, never
//! revoked, never used) and `staff_sessions`, the server-side sessions of the staff pages
//! (the cookie holds a bearer secret; the table only its SHA-256).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, blob, uuid};

/// Adds (and drops) the staff keys' lifetime and the staff sessions.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum StaffKeys {
    Table,
    Id,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StaffSessions {
    Table,
    Id,
    TokenHash,
    StaffId,
    PracticeId,
    CreatedAt,
    LastSeenAt,
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [StaffKeys::ExpiresAt, StaffKeys::RevokedAt, StaffKeys::LastUsedAt] {
            manager
                .alter_table(Table::alter().table(StaffKeys::Table).add_column(big_integer_null(column)).take())
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(StaffSessions::Table)
                    .col(uuid(StaffSessions::Id).primary_key())
                    .col(blob(StaffSessions::TokenHash))
                    .col(uuid(StaffSessions::StaffId))
                    .col(uuid(StaffSessions::PracticeId))
                    .col(big_integer(StaffSessions::CreatedAt))
                    .col(big_integer(StaffSessions::LastSeenAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_staff_sessions_staff_key")
                            .from(StaffSessions::Table, StaffSessions::StaffId)
                            .to(StaffKeys::Table, StaffKeys::Id),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_staff_sessions_token_hash")
                    .table(StaffSessions::Table)
                    .col(StaffSessions::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_staff_sessions_staff_id")
                    .table(StaffSessions::Table)
                    .col(StaffSessions::StaffId)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(StaffSessions::Table).take()).await?;
        for column in [StaffKeys::LastUsedAt, StaffKeys::RevokedAt, StaffKeys::ExpiresAt] {
            manager.alter_table(Table::alter().table(StaffKeys::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
