//! `factor_challenges`: the challenges between a right password and the second step, by SHA-256
//! of their bearer secret only.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A challenge.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "factor_challenges")]
pub struct Model {
    /// SHA-256 of the bearer secret.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: Vec<u8>,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client.
    pub client_id: String,
    /// `verify` or `enrol`.
    pub purpose: String,
    /// When the password was right.
    pub created_at: UnixMicros,
    /// The first instant it no longer works.
    pub expires_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
