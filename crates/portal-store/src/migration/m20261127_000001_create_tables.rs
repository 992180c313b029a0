//! The initial schema: every table, index and foreign key of the store.
//!
//! Conventions: ids are `uuid` (SQLite: 16-byte blobs), hashes are `bytea`/`blob`, timestamps
//! are BIGINT Unix microseconds, enumerations are text guarded by CHECK constraints. Tenancy is
//! enforced by composite foreign keys `(practice_id, client_id) → clients (practice_id, id)`, so
//! no row can tie a client to another practice.
//!
//! Frozen as first released: `m20261201_000002_host_client_ids` later turns client ids into
//! the host's text ids and drops every foreign key to `clients`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, blob, boolean, string, string_null, text, text_null, uuid, uuid_null,
};

/// Creates (and drops) the whole schema.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Practices {
    Table,
    Id,
    Slug,
    Name,
    TimeZone,
    DiscreetMail,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StaffKeys {
    Table,
    Id,
    PracticeId,
    Label,
    KeyHash,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clients {
    Table,
    Id,
    PracticeId,
    Name,
    Email,
    Language,
    EmailConsent,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tokens {
    Table,
    Id,
    PracticeId,
    ClientId,
    Purpose,
    Hash,
    IssuedAt,
    ExpiresAt,
    UsedAt,
    VoidedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PortalAccounts {
    Table,
    ClientId,
    PracticeId,
    State,
    Username,
    UsernameLower,
    PasswordHash,
    RegisteredAt,
    PasswordChangedAt,
    DisabledReason,
    DisabledAt,
    InviteTokenId,
    ResetTokenId,
    Version,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    PracticeId,
    ClientId,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SignInThrottle {
    Table,
    PracticeId,
    Key,
    Failures,
    LastFailureAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MailOutbox {
    Table,
    Id,
    PracticeId,
    ClientId,
    Kind,
    TokenId,
    LinkExpiresAt,
    Recipient,
    RecipientName,
    Language,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
    FailedAt,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Seq,
    Id,
    At,
    PracticeId,
    ClientId,
    ActorKind,
    ActorId,
    ActorLabel,
    Action,
    Failure,
    Detail,
    RequestId,
    SourceIp,
}

/// `column IN (values…)` as a CHECK expression.
fn one_of<C: IntoIden>(column: C, values: &[&str]) -> SimpleExpr {
    Expr::col(column).is_in(values.iter().copied())
}

/// A foreign key `(practice_id, client_id) → clients (practice_id, id)`.
fn client_fk<T: IntoIden + 'static>(
    name: &str,
    table: T,
    practice: impl IntoIden,
    client: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from_tbl(table)
        .from_col(practice)
        .from_col(client)
        .to_tbl(Clients::Table)
        .to_col(Clients::PracticeId)
        .to_col(Clients::Id)
        .take()
}

/// A foreign key `column → practices (id)`.
fn practice_fk<T: IntoIden + 'static>(name: &str, table: T, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(table, column).to(Practices::Table, Practices::Id).take()
}

impl Migration {
    async fn create_practices(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Practices::Table)
                    .col(uuid(Practices::Id).primary_key())
                    .col(string(Practices::Slug))
                    .col(text(Practices::Name))
                    .col(string(Practices::TimeZone))
                    .col(boolean(Practices::DiscreetMail))
                    .col(big_integer(Practices::CreatedAt))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ux_practices_slug").table(Practices::Table).col(Practices::Slug).unique().take(),
            )
            .await
    }

    async fn create_staff_keys(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StaffKeys::Table)
                    .col(uuid(StaffKeys::Id).primary_key())
                    .col(uuid(StaffKeys::PracticeId))
                    .col(text(StaffKeys::Label))
                    .col(blob(StaffKeys::KeyHash))
                    .col(big_integer(StaffKeys::CreatedAt))
                    .foreign_key(&mut practice_fk("fk_staff_keys_practice", StaffKeys::Table, StaffKeys::PracticeId))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_staff_keys_key_hash")
                    .table(StaffKeys::Table)
                    .col(StaffKeys::KeyHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_staff_keys_practice")
                    .table(StaffKeys::Table)
                    .col(StaffKeys::PracticeId)
                    .take(),
            )
            .await
    }

    async fn create_clients(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(uuid(Clients::Id).primary_key())
                    .col(uuid(Clients::PracticeId))
                    .col(text(Clients::Name))
                    .col(string_null(Clients::Email))
                    .col(string(Clients::Language).check(one_of(Clients::Language, &["en", "es"])))
                    .col(boolean(Clients::EmailConsent))
                    .col(big_integer(Clients::CreatedAt))
                    .foreign_key(&mut practice_fk("fk_clients_practice", Clients::Table, Clients::PracticeId))
                    .take(),
            )
            .await?;
        // The target of every composite (practice_id, client_id) foreign key.
        manager
            .create_index(
                Index::create()
                    .name("ux_clients_practice_id")
                    .table(Clients::Table)
                    .col(Clients::PracticeId)
                    .col(Clients::Id)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_clients_practice_name")
                    .table(Clients::Table)
                    .col(Clients::PracticeId)
                    .col(Clients::Name)
                    .take(),
            )
            .await
    }

    async fn create_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(uuid(Tokens::Id).primary_key())
                    .col(uuid(Tokens::PracticeId))
                    .col(uuid(Tokens::ClientId))
                    .col(string(Tokens::Purpose).check(one_of(Tokens::Purpose, &["invite", "reset"])))
                    .col(blob(Tokens::Hash))
                    .col(big_integer(Tokens::IssuedAt))
                    .col(big_integer(Tokens::ExpiresAt))
                    .col(big_integer_null(Tokens::UsedAt))
                    .col(big_integer_null(Tokens::VoidedAt))
                    .foreign_key(&mut client_fk(
                        "fk_tokens_client",
                        Tokens::Table,
                        Tokens::PracticeId,
                        Tokens::ClientId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ux_tokens_hash").table(Tokens::Table).col(Tokens::Hash).unique().take())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tokens_client_purpose")
                    .table(Tokens::Table)
                    .col(Tokens::ClientId)
                    .col(Tokens::Purpose)
                    .take(),
            )
            .await
    }

    async fn create_portal_accounts(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        let state = PortalAccounts::State;
        manager
            .create_table(
                Table::create()
                    .table(PortalAccounts::Table)
                    .col(uuid(PortalAccounts::ClientId).primary_key())
                    .col(uuid(PortalAccounts::PracticeId))
                    .col(string(state).check(one_of(state, &["no_account", "active", "disabled"])))
                    .col(string_null(PortalAccounts::Username))
                    .col(string_null(PortalAccounts::UsernameLower))
                    .col(text_null(PortalAccounts::PasswordHash))
                    .col(big_integer_null(PortalAccounts::RegisteredAt))
                    .col(big_integer_null(PortalAccounts::PasswordChangedAt))
                    .col(text_null(PortalAccounts::DisabledReason))
                    .col(big_integer_null(PortalAccounts::DisabledAt))
                    .col(uuid_null(PortalAccounts::InviteTokenId))
                    .col(uuid_null(PortalAccounts::ResetTokenId))
                    .col(big_integer(PortalAccounts::Version))
                    .foreign_key(&mut client_fk(
                        "fk_portal_accounts_client",
                        PortalAccounts::Table,
                        PortalAccounts::PracticeId,
                        PortalAccounts::ClientId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_portal_accounts_invite_token")
                            .from(PortalAccounts::Table, PortalAccounts::InviteTokenId)
                            .to(Tokens::Table, Tokens::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_portal_accounts_reset_token")
                            .from(PortalAccounts::Table, PortalAccounts::ResetTokenId)
                            .to(Tokens::Table, Tokens::Id),
                    )
                    .take(),
            )
            .await?;
        // Case-insensitive uniqueness within a practice. NULLs (no username yet) never collide.
        manager
            .create_index(
                Index::create()
                    .name("ux_portal_accounts_practice_username_lower")
                    .table(PortalAccounts::Table)
                    .col(PortalAccounts::PracticeId)
                    .col(PortalAccounts::UsernameLower)
                    .unique()
                    .take(),
            )
            .await
    }

    async fn create_sessions(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(blob(Sessions::TokenHash))
                    .col(uuid(Sessions::PracticeId))
                    .col(uuid(Sessions::ClientId))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::LastSeenAt))
                    .foreign_key(&mut client_fk(
                        "fk_sessions_client",
                        Sessions::Table,
                        Sessions::PracticeId,
                        Sessions::ClientId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_sessions_token_hash")
                    .table(Sessions::Table)
                    .col(Sessions::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_sessions_client").table(Sessions::Table).col(Sessions::ClientId).take(),
            )
            .await
    }

    async fn create_sign_in_throttle(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SignInThrottle::Table)
                    .col(uuid(SignInThrottle::PracticeId))
                    .col(text(SignInThrottle::Key))
                    .col(big_integer(SignInThrottle::Failures))
                    .col(big_integer(SignInThrottle::LastFailureAt))
                    .primary_key(Index::create().col(SignInThrottle::PracticeId).col(SignInThrottle::Key))
                    .foreign_key(&mut practice_fk(
                        "fk_sign_in_throttle_practice",
                        SignInThrottle::Table,
                        SignInThrottle::PracticeId,
                    ))
                    .take(),
            )
            .await
    }

    async fn create_mail_outbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        let (kind, status) = (MailOutbox::Kind, MailOutbox::Status);
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(uuid(MailOutbox::Id).primary_key())
                    .col(uuid(MailOutbox::PracticeId))
                    .col(uuid(MailOutbox::ClientId))
                    .col(string(kind).check(one_of(kind, &["invitation", "password_reset", "password_changed"])))
                    .col(uuid_null(MailOutbox::TokenId))
                    .col(big_integer_null(MailOutbox::LinkExpiresAt))
                    .col(string_null(MailOutbox::Recipient))
                    .col(text_null(MailOutbox::RecipientName))
                    .col(string(MailOutbox::Language).check(one_of(MailOutbox::Language, &["en", "es"])))
                    .col(string(status).check(one_of(status, &["pending", "sent", "failed"])))
                    .col(big_integer(MailOutbox::Attempts))
                    .col(big_integer(MailOutbox::NextAttemptAt))
                    .col(big_integer_null(MailOutbox::LeaseUntil))
                    .col(text_null(MailOutbox::LastError))
                    .col(big_integer_null(MailOutbox::SentAt))
                    .col(big_integer_null(MailOutbox::FailedAt))
                    .col(big_integer(MailOutbox::CreatedAt))
                    .foreign_key(&mut client_fk(
                        "fk_mail_outbox_client",
                        MailOutbox::Table,
                        MailOutbox::PracticeId,
                        MailOutbox::ClientId,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_mail_outbox_token")
                            .from(MailOutbox::Table, MailOutbox::TokenId)
                            .to(Tokens::Table, Tokens::Id),
                    )
                    .take(),
            )
            .await?;
        // Claims: pending rows ordered by due time.
        manager
            .create_index(
                Index::create()
                    .name("ix_mail_outbox_due")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::Status)
                    .col(MailOutbox::NextAttemptAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_mail_outbox_token").table(MailOutbox::Table).col(MailOutbox::TokenId).take(),
            )
            .await
    }

    async fn create_audit_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        let actor = AuditEvents::ActorKind;
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(big_integer(AuditEvents::Seq).auto_increment().primary_key())
                    .col(uuid(AuditEvents::Id))
                    .col(big_integer(AuditEvents::At))
                    .col(uuid(AuditEvents::PracticeId))
                    .col(uuid_null(AuditEvents::ClientId))
                    .col(string(actor).check(one_of(actor, &["staff", "client", "anonymous", "system"])))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(text_null(AuditEvents::ActorLabel))
                    .col(string(AuditEvents::Action))
                    .col(string_null(AuditEvents::Failure))
                    .col(text_null(AuditEvents::Detail))
                    .col(string_null(AuditEvents::RequestId))
                    .col(string_null(AuditEvents::SourceIp))
                    .foreign_key(&mut practice_fk(
                        "fk_audit_events_practice",
                        AuditEvents::Table,
                        AuditEvents::PracticeId,
                    ))
                    .foreign_key(&mut client_fk(
                        "fk_audit_events_client",
                        AuditEvents::Table,
                        AuditEvents::PracticeId,
                        AuditEvents::ClientId,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_audit_events_id")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Id)
                    .unique()
                    .take(),
            )
            .await?;
        // A client's trail, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_audit_events_trail")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::PracticeId)
                    .col(AuditEvents::ClientId)
                    .col(AuditEvents::At)
                    .take(),
            )
            .await
    }
}

// The trait's signatures elide `SchemaManager`'s lifetime; the impl must match them.
#[allow(elided_lifetimes_in_paths)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        Self::create_practices(manager).await?;
        Self::create_staff_keys(manager).await?;
        Self::create_clients(manager).await?;
        Self::create_tokens(manager).await?;
        Self::create_portal_accounts(manager).await?;
        Self::create_sessions(manager).await?;
        Self::create_sign_in_throttle(manager).await?;
        Self::create_mail_outbox(manager).await?;
        Self::create_audit_events(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents; indexes go with their tables.
        for table in [
            AuditEvents::Table.into_iden(),
            MailOutbox::Table.into_iden(),
            SignInThrottle::Table.into_iden(),
            Sessions::Table.into_iden(),
            PortalAccounts::Table.into_iden(),
            Tokens::Table.into_iden(),
            Clients::Table.into_iden(),
            StaffKeys::Table.into_iden(),
            Practices::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }

    /// DDL is transactional on both backends: a failed migration leaves no half-made schema.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
