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
    /// Ask for the client's date of birth before an emailed link can be used.
    pub date_of_birth_check: bool,
    /// Clients may start a password reset from the sign-in page.
    pub client_started_resets: bool,
    /// Hours before an unused invitation expires that its reminder goes out; NULL is off.
    pub invitation_reminder_hours: Option<i32>,
    /// The practice's invitation lifetime in hours; NULL follows the server's setting.
    pub invite_link_hours: Option<i32>,
    /// The practice's reset-link lifetime in hours; NULL follows the server's setting.
    pub reset_link_hours: Option<i32>,
    /// `off`, `optional` or `required`.
    pub second_factor_policy: String,
    /// Creation time.
    pub created_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
