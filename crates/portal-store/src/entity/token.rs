//! `tokens`: every invite and reset token ever issued, stored by SHA-256 hash only.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// An issued link token.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    /// Token id (the link secret is derived from it with a key kept outside the database).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client (opaque text, unique within the practice).
    pub client_id: String,
    /// `invite` or `reset`.
    pub purpose: String,
    /// SHA-256 of the link secret, unique.
    pub hash: Vec<u8>,
    /// Issue time.
    pub issued_at: UnixMicros,
    /// First instant at which it no longer works.
    pub expires_at: UnixMicros,
    /// When redeemed.
    pub used_at: Option<UnixMicros>,
    /// When superseded (a resend, a disable) without being redeemed.
    pub voided_at: Option<UnixMicros>,
    /// Wrong dates of birth answered on the link (at five it is closed).
    pub date_of_birth_failures: i32,
    /// When the invitation's one reminder was queued or passed over (invitations only).
    pub reminded_at: Option<UnixMicros>,
    /// [`REMINDER_QUEUED`] or [`REMINDER_SKIPPED`], set together with `reminded_at`.
    pub reminder: Option<String>,
}

/// `reminder` of an invitation whose reminder mail was queued.
pub const REMINDER_QUEUED: &str = "queued";
/// `reminder` of an invitation whose reminder fell due but could not be mailed.
pub const REMINDER_SKIPPED: &str = "skipped";

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
