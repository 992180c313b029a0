//! Indexes for the retention job (`portal_core::retention`): each batch finds its rows by a
//! time column, and tokens and mail are kept while an account points at their token, so the
//! account's token columns are indexed too (PostgreSQL does not index foreign keys itself).
//! Without them every batch would scan its whole table.

use sea_orm_migration::prelude::*;

/// Adds (and drops) the retention indexes.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index name, table, column).
const INDEXES: [(&str, &str, &str); 11] = [
    ("ix_sessions_last_seen", "sessions", "last_seen_at"),
    ("ix_sessions_created", "sessions", "created_at"),
    ("ix_staff_sessions_last_seen", "staff_sessions", "last_seen_at"),
    ("ix_staff_sessions_created", "staff_sessions", "created_at"),
    ("ix_sign_in_throttle_last_failure", "sign_in_throttle", "last_failure_at"),
    ("ix_tokens_expires", "tokens", "expires_at"),
    ("ix_portal_accounts_invite_token", "portal_accounts", "invite_token_id"),
    ("ix_portal_accounts_reset_token", "portal_accounts", "reset_token_id"),
    ("ix_mail_outbox_sent", "mail_outbox", "sent_at"),
    ("ix_mail_outbox_failed", "mail_outbox", "failed_at"),
    ("ix_audit_events_at", "audit_events", "at"),
];

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, column) in INDEXES {
            manager
                .create_index(Index::create().name(name).table(Alias::new(table)).col(Alias::new(column)).take())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES.into_iter().rev() {
            manager.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned()).await?;
        }
        Ok(())
    }
}
