//! `second_factors`: a client's second factors, confirmed or pending; a TOTP secret only sealed,
//! a passkey's public credential as its adapter serialised it.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A second factor.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "second_factors")]
pub struct Model {
    /// Factor id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client.
    pub client_id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    /// The client's name for it.
    pub name: String,
    /// The sealed TOTP secret.
    pub secret: Option<Vec<u8>>,
    /// The last time step whose code was accepted.
    pub last_used_step: Option<i64>,
    /// When enrolment started.
    pub created_at: UnixMicros,
    /// When the client confirmed it; NULL while pending.
    pub confirmed_at: Option<UnixMicros>,
    /// When a code of it was last accepted.
    pub last_used_at: Option<UnixMicros>,
    /// A passkey's WebAuthn credential id (unique across every row); NULL for TOTP.
    pub credential_id: Option<Vec<u8>>,
    /// A passkey's WebAuthn user handle (the account's); NULL for TOTP.
    pub user_handle: Option<Vec<u8>>,
    /// A passkey's credential as the passkey adapter serialised it (JSON); NULL for TOTP.
    pub passkey: Option<String>,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
