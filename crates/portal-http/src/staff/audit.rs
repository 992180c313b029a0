//! A client's audit trail as staff read it.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use portal_core::service::ClientError;
use portal_core::{Actor, AuditEvent};

use super::{client_id, rfc3339};
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, Problem};

/// Who did something.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ActorKind {
    /// A staff member, by key.
    Staff,
    /// The client.
    Client,
    /// Someone not identified (a failed sign-in).
    Anonymous,
    /// The system.
    System,
}

/// The actor of an audit event.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Actor")]
pub(crate) struct ActorBody {
    /// Which kind of actor.
    kind: ActorKind,
    /// The staff key id (staff only).
    #[oai(skip_serializing_if_is_none)]
    staff_id: Option<String>,
    /// The staff key's label at the time (staff only).
    #[oai(skip_serializing_if_is_none)]
    label: Option<String>,
}

/// One audit-trail entry.
#[derive(Object, Debug, Clone)]
#[oai(rename = "AuditEntry")]
pub(crate) struct AuditEntryBody {
    /// When (RFC 3339, UTC).
    at: String,
    /// What happened: `client_created`, `invite_sent`, `registered`, `sign_in_failed`, …
    action: String,
    /// Who acted.
    actor: ActorBody,
    /// A short reason code for a refusal (`invalid_credentials`, `throttled`, …).
    #[oai(skip_serializing_if_is_none)]
    failure: Option<String>,
    /// Detail safe to show staff (a disable reason, the registered username).
    #[oai(skip_serializing_if_is_none)]
    detail: Option<String>,
    /// The request that caused it.
    #[oai(skip_serializing_if_is_none)]
    request_id: Option<String>,
    /// The client IP of that request.
    #[oai(skip_serializing_if_is_none)]
    source_ip: Option<String>,
}

impl AuditEntryBody {
    fn of(event: &AuditEvent) -> Self {
        let actor = match &event.actor {
            Actor::Staff { id, label } => {
                ActorBody { kind: ActorKind::Staff, staff_id: Some(id.to_string()), label: Some(label.to_string()) }
            }
            Actor::Client => ActorBody { kind: ActorKind::Client, staff_id: None, label: None },
            Actor::Anonymous => ActorBody { kind: ActorKind::Anonymous, staff_id: None, label: None },
            Actor::System => ActorBody { kind: ActorKind::System, staff_id: None, label: None },
        };
        Self {
            at: rfc3339(event.at),
            action: event.action.name().to_owned(),
            actor,
            failure: event.failure.as_ref().map(|failure| failure.as_str().to_owned()),
            detail: event.detail.clone(),
            request_id: event.context.request_id.clone(),
            source_ip: event.context.source_ip.map(|ip| ip.to_string()),
        }
    }
}

/// Answers of `GET /api/v1/clients/{id}/portal/audit`.
#[derive(ApiResponse)]
pub(crate) enum AuditTrailResponse {
    /// The client's audit trail, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<AuditEntryBody>>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// The audit trail.
pub(crate) struct AuditApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl AuditApi {
    /// Audit trail
    ///
    /// The client's audit trail, oldest first: staff actions, registration, sign-ins (successes
    /// and failures), resets and session revocations, with request ids and source IPs.
    #[oai(path = "/api/v1/clients/:id/portal/audit", method = "get", operation_id = "get_portal_audit")]
    async fn get_portal_audit(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
    ) -> Result<AuditTrailResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(AuditTrailResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.audit_trail(&staff, &id).await {
            Ok(events) => Ok(AuditTrailResponse::Ok(Json(events.iter().map(AuditEntryBody::of).collect()))),
            Err(ClientError::ClientNotFound) => Ok(AuditTrailResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }
}
