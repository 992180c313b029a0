//! `audit_events`: the append-only audit trail (HIPAA 164.312(b)).

use sea_orm::entity::prelude::*;

use crate::time::UnixMicros;

/// An audit event.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Insertion order: breaks ties between events with the same time.
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// Event id, unique.
    pub id: Uuid,
    /// When (UTC).
    pub at: UnixMicros,
    /// The practice.
    pub practice_id: Uuid,
    /// The host's id of the client concerned, when known.
    pub client_id: Option<String>,
    /// `staff`, `client`, `anonymous` or `system`.
    pub actor_kind: String,
    /// The staff key id, for staff.
    pub actor_id: Option<Uuid>,
    /// The staff key's label at the time, for staff.
    pub actor_label: Option<String>,
    /// Stable action name.
    pub action: String,
    /// Refusal reason code; NULL for success.
    pub failure: Option<String>,
    /// Detail safe to show staff.
    pub detail: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// Source IP address, as text.
    pub source_ip: Option<String>,
}

/// No navigable relations: the adapter writes its joins explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
