//! `passkey_ceremonies`: a passkey ceremony's relying-party state between its start and the
//! browser's answer, by SHA-256 of the ceremony id only; taken (deleted) once.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A ceremony.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_ceremonies")]
pub struct Model {
    /// SHA-256 of the ceremony id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: Vec<u8>,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client; NULL for a passkey-first sign-in.
    pub client_id: Option<String>,
    /// `registration`, `second_step` or `sign_in`.
    pub purpose: String,
    /// A registration's WebAuthn user handle; NULL otherwise.
    pub user_handle: Option<Vec<u8>>,
    /// The relying party's state as its adapter serialised it (holds the challenge).
    pub state: String,
    /// When it started.
    pub created_at: UnixMicros,
    /// The first instant it no longer works.
    pub expires_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
