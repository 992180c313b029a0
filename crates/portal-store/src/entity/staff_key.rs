//! `staff_keys`: staff API keys, stored only as SHA-256 hashes.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A staff key and the staff member it names.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_keys")]
pub struct Model {
    /// Key (and staff member) id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The practice.
    pub practice_id: Uuid,
    /// Who holds the key.
    pub label: String,
    /// SHA-256 of the key, unique.
    pub key_hash: Vec<u8>,
    /// Creation time.
    pub created_at: UnixMicros,
    /// When the key stops working on its own; NULL: never.
    pub expires_at: Option<UnixMicros>,
    /// When it was revoked; NULL: not revoked.
    pub revoked_at: Option<UnixMicros>,
    /// Roughly when it was last used (written at most once a minute); NULL: never.
    pub last_used_at: Option<UnixMicros>,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
