//! The per-account limit of client-started password resets (`portal_core::ResetRequestHistory`)
//! on `portal_accounts`: when the current day of client-started reset mails began, how many
//! were queued in it, and when the latest was. Existing accounts start with none.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, integer};

/// Adds (and drops) the columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum PortalAccounts {
    Table,
    ResetRequestsDayStartedAt,
    ResetRequestsInDay,
    ResetRequestLastAt,
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        let columns = [
            big_integer_null(PortalAccounts::ResetRequestsDayStartedAt),
            integer(PortalAccounts::ResetRequestsInDay).default(0).take(),
            big_integer_null(PortalAccounts::ResetRequestLastAt),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(PortalAccounts::Table).add_column(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            PortalAccounts::ResetRequestLastAt,
            PortalAccounts::ResetRequestsInDay,
            PortalAccounts::ResetRequestsDayStartedAt,
        ] {
            manager.alter_table(Table::alter().table(PortalAccounts::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
