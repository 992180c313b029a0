//! `mail_outbox`: mail queued in the same transaction as the change that caused it.

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// `status` of a row still to be delivered.
pub const STATUS_PENDING: &str = "pending";
/// `status` of a delivered row (its personal data purged).
pub const STATUS_SENT: &str = "sent";
/// `status` of a row given up on.
pub const STATUS_FAILED: &str = "failed";

/// A queued email.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    /// Mail id (the basis of the Message-ID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client it is about.
    pub client_id: String,
    /// `invitation`, `password_reset` or `password_changed`.
    pub kind: String,
    /// The token a link is derived from (never the link itself).
    pub token_id: Option<Uuid>,
    /// When the link stops working.
    pub link_expires_at: Option<UnixMicros>,
    /// Recipient address; NULL once delivered (purged).
    pub recipient: Option<String>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// Earliest time of the next attempt.
    pub next_attempt_at: UnixMicros,
    /// Claimed by a dispatcher until then.
    pub lease_until: Option<UnixMicros>,
    /// Why the last attempt failed (or, for `failed`, why it was given up): the detail text.
    pub last_error: Option<String>,
    /// The stable code of the cause beside `last_error` (`DeliveryCause::as_str`); NULL for
    /// rows written before the cause was stored, which read back as `other`.
    pub last_error_cause: Option<String>,
    /// For `failed`: the attempts made before the dispatcher gave up on temporary failures;
    /// NULL when the failure itself was final.
    pub gave_up_after: Option<i64>,
    /// Delivery time.
    pub sent_at: Option<UnixMicros>,
    /// Time it was given up.
    pub failed_at: Option<UnixMicros>,
    /// Queue time.
    pub created_at: UnixMicros,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
