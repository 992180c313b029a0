//! `clients`: the client (patient) records the portal needs.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// Client id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The practice.
    pub practice_id: Uuid,
    /// Name shown to staff and in mail.
    pub name: String,
    /// Email on file; NULL means "no email".
    pub email: Option<String>,
    /// Mail language code (`en`, `es`).
    pub language: String,
    /// False when the client asked not to be emailed.
    pub email_consent: bool,
    /// Creation time.
    pub created_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
