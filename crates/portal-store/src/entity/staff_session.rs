//! `staff_sessions`: sessions of the staff pages, stored by SHA-256 hash of the bearer secret
//! only.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A staff session.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "staff_sessions")]
pub struct Model {
    /// Session id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the bearer secret, unique.
    pub token_hash: Vec<u8>,
    /// The staff key it was opened with.
    pub staff_id: Uuid,
    /// The key's practice.
    pub practice_id: Uuid,
    /// Sign-in time.
    pub created_at: UnixMicros,
    /// Last use.
    pub last_seen_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
