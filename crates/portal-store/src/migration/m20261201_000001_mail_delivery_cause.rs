//! The typed cause of a delivery failure beside its text: `mail_outbox.last_error_cause` (the
//! stable code of portal-core's `DeliveryCause`) and `mail_outbox.gave_up_after` (the attempts
//! the dispatcher made before it gave up on temporary failures).
//!
//! The cause column has no CHECK constraint on purpose: a newer version may add causes, and a
//! code the running version does not know reads back as `other` with its text. Rows from
//! before this migration keep a NULL cause and read back the same way, except the two
//! cancellations, whose text was always one of two fixed sentences and is backfilled.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, text_null};

/// Adds (and drops) the cause and give-up count of a failed delivery.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum MailOutbox {
    Table,
    Status,
    LastError,
    LastErrorCause,
    GaveUpAfter,
}

/// The cancellation texts and codes as they were when this migration was written (frozen here,
/// like the schema: a later change to portal-core's wording must not change what it does).
const CANCELLATIONS: [(&str, &str); 2] = [
    ("cancelled: the portal account was disabled", "cancelled_account_disabled"),
    ("cancelled: the link it carried was replaced or used", "cancelled_link_superseded"),
];

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [text_null(MailOutbox::LastErrorCause), big_integer_null(MailOutbox::GaveUpAfter)] {
            manager.alter_table(Table::alter().table(MailOutbox::Table).add_column(column).take()).await?;
        }
        for (text, code) in CANCELLATIONS {
            let backfill = Query::update()
                .table(MailOutbox::Table)
                .value(MailOutbox::LastErrorCause, code)
                .and_where(Expr::col(MailOutbox::Status).eq("failed"))
                .and_where(Expr::col(MailOutbox::LastError).eq(text))
                .to_owned();
            manager.exec_stmt(backfill).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [MailOutbox::GaveUpAfter, MailOutbox::LastErrorCause] {
            manager.alter_table(Table::alter().table(MailOutbox::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
