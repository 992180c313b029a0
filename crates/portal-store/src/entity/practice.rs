//! `practices`: one row per practice (tenant).

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A practice.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practices")]
pub struct Model {
    /// Practice id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// URL name, unique.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// IANA zone name for mail.
    pub time_zone: String,
    /// Neutral mail subjects and sender names.
    pub discreet_mail: bool,
    /// Creation time.
    pub created_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
