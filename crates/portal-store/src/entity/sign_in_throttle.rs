//! `sign_in_throttle`: consecutive sign-in failures per (practice, username as typed).

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// A throttle counter.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_throttle")]
pub struct Model {
    /// The practice.
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: Uuid,
    /// The normalised username as typed (whether or not such an account exists).
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Consecutive failures.
    pub failures: i64,
    /// Last failure.
    pub last_failure_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
