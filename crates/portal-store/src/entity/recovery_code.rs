//! `recovery_codes`: a client's recovery codes, by HMAC-SHA256 under the link key only.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A recovery code.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recovery_codes")]
pub struct Model {
    /// The keyed hash of the code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: Vec<u8>,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client.
    pub client_id: String,
    /// When the set was made.
    pub created_at: UnixMicros,
    /// When it was used; NULL while unused.
    pub used_at: Option<UnixMicros>,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
