//! `sessions`: signed-in client sessions, stored by SHA-256 hash of the bearer secret only.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the bearer secret, unique.
    pub token_hash: Vec<u8>,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client (opaque text, unique within the practice).
    pub client_id: String,
    /// Sign-in time.
    pub created_at: UnixMicros,
    /// Last use.
    pub last_seen_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
