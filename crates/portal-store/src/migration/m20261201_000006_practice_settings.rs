//! A practice's portal settings (`portal_core::PracticeSettings`) on `practices`: the
//! date-of-birth check, client-started resets, the invitation reminder's lead and the
//! practice's own link lifetimes. Existing practices get every addition off and follow the
//! server's link lifetimes (NULL), so nothing changes for them until staff choose otherwise.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, integer_null};

/// Adds (and drops) the settings columns.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Practices {
    Table,
    DateOfBirthCheck,
    ClientStartedResets,
    InvitationReminderHours,
    InviteLinkHours,
    ResetLinkHours,
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        let columns = [
            boolean(Practices::DateOfBirthCheck).default(false).take(),
            boolean(Practices::ClientStartedResets).default(false).take(),
            integer_null(Practices::InvitationReminderHours),
            integer_null(Practices::InviteLinkHours),
            integer_null(Practices::ResetLinkHours),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Practices::Table).add_column(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Practices::ResetLinkHours,
            Practices::InviteLinkHours,
            Practices::InvitationReminderHours,
            Practices::ClientStartedResets,
            Practices::DateOfBirthCheck,
        ] {
            manager.alter_table(Table::alter().table(Practices::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
