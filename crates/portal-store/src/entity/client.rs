//! `clients`: the bundled server's client (patient) records, the embedded default of the
//! `ClientDirectory` port. Nothing else in the schema refers to this table: portal rows name a
//! client only by `(practice_id, client_id)`.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    /// The practice.
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: Uuid,
    /// The client's id: a generated UUID string for clients created here, or any host id
    /// (unique within the practice).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Name shown to staff and in mail.
    pub name: String,
    /// Email on file; NULL means "no email".
    pub email: Option<String>,
    /// Mail language code (`en`, `es`).
    pub language: String,
    /// False when the client asked not to be emailed.
    pub email_consent: bool,
    /// Date of birth, `YYYY-MM-DD`; NULL when the record has none.
    pub date_of_birth: Option<String>,
    /// Creation time.
    pub created_at: UnixMicros,
    /// `portal_core::search_key` of `name`: the list's order and the name search compare it
    /// byte by byte (`COLLATE "C"` on PostgreSQL). Written only by `convert::client_row`.
    pub name_key: String,
    /// `portal_core::search_key` of `email`, NULL without one: the email search.
    pub email_key: Option<String>,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
