//! `tokens.date_of_birth_failures`: how many wrong dates of birth were answered on an invite or
//! reset link. At five the link is closed and reads as voided (`portal_core::IssuedToken::is_closed`).
//! Existing tokens start at 0.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::integer;

/// Adds (and drops) the column.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Tokens {
    Table,
    DateOfBirthFailures,
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = integer(Tokens::DateOfBirthFailures).default(0).take();
        manager.alter_table(Table::alter().table(Tokens::Table).add_column(column).take()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Tokens::Table).drop_column(Tokens::DateOfBirthFailures).take()).await
    }
}
