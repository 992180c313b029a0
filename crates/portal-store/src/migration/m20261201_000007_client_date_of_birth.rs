//! `clients.date_of_birth`: the bundled client records' date of birth (`YYYY-MM-DD`, NULL when
//! none is on file), which emailed links ask for when the practice has the check on. A host's
//! records carry theirs through its `ClientDirectory`; this column is only the bundled server's.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

/// Adds (and drops) the column.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    DateOfBirth,
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = string_len_null(Clients::DateOfBirth, 10);
        manager.alter_table(Table::alter().table(Clients::Table).add_column(column).take()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Clients::Table).drop_column(Clients::DateOfBirth).take()).await
    }
}
