//! `portal_accounts`: one row per client that ever had an account change committed.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// `state` of a client with no username or password yet (perhaps invited).
pub const STATE_NO_ACCOUNT: &str = "no_account";
/// `state` of a registered, enabled account.
pub const STATE_ACTIVE: &str = "active";
/// `state` of a registered account that staff turned off.
pub const STATE_DISABLED: &str = "disabled";

/// A portal account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_accounts")]
pub struct Model {
    /// The practice.
    #[sea_orm(primary_key, auto_increment = false)]
    pub practice_id: Uuid,
    /// The host's id of the client (one account per client of a practice).
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// `no_account`, `active` or `disabled`.
    pub state: String,
    /// The username as registered (already lower case in the core).
    pub username: Option<String>,
    /// `lower(username)`: unique per practice.
    pub username_lower: Option<String>,
    /// scrypt PHC string.
    pub password_hash: Option<String>,
    /// Registration time.
    pub registered_at: Option<UnixMicros>,
    /// Last password change.
    pub password_changed_at: Option<UnixMicros>,
    /// Staff's note when disabled.
    pub disabled_reason: Option<String>,
    /// When disabled.
    pub disabled_at: Option<UnixMicros>,
    /// The account's current invitation token (live, expired or used).
    pub invite_token_id: Option<Uuid>,
    /// The account's current reset token (live, expired or used).
    pub reset_token_id: Option<Uuid>,
    /// When the current day of client-started reset mails began (`ResetRequestHistory`).
    pub reset_requests_day_started_at: Option<UnixMicros>,
    /// Client-started reset mails queued in that day.
    pub reset_requests_in_day: i32,
    /// When the latest client-started reset mail was queued.
    pub reset_request_last_at: Option<UnixMicros>,
    /// Optimistic-concurrency version: the number of committed changes.
    pub version: i64,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
