//! Invitations in bulk: `POST /api/v1/invitations`, for explicit client ids (with a host's
//! directory too) or for every client of the bundled records without an account.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use portal_core::service::{
    BulkInviteError, BulkInvites, BulkOutcome, BulkSelection, MAX_INVITES_PER_CALL, SkipReason,
};
use portal_core::{ClientId, StoreError, service::Infrastructure};

use super::rfc3339;
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

/// Which clients to invite: exactly one of `client_ids` and `every_client_without_account`.
#[derive(Object, Debug)]
#[oai(rename = "BulkInvitationRequest")]
struct BulkRequest {
    /// These clients (1–500 ids, each 1–128 characters from ASCII letters, digits and
    /// `-._~:@!$&'()*+,;=`), in this order; a repeated id is answered once. An empty or longer
    /// list is 422 `validation_failed`. Omit or `null` when asking for every client.
    #[oai(nullable, validator(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9\-._~:@!$&'()*+,;=]+$"))]
    client_ids: Option<Vec<Text>>,
    /// `true`: every client with no portal account (never invited, or whose invitation expired)
    /// and an email on file they agreed to be written to, up to 500 per call in list order
    /// (`remaining` says how many are left for the next call). Only where the portal keeps the
    /// client records (422 `no_client_records` otherwise). Omit, `null` or `false` when naming
    /// the clients.
    #[oai(nullable)]
    every_client_without_account: Option<bool>,
}

/// What happened to one client.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
enum BulkOutcomeKind {
    /// Invited for the first time.
    Sent,
    /// Invited again; the previous link no longer works.
    Resent,
    /// Not invited: see `reason`.
    Skipped,
    /// Not invited: the server failed for this client (`reason`); nothing was written for it.
    Failed,
    /// Not tried: the database became unavailable on an earlier client. Send again.
    NotAttempted,
}

/// Why a client was skipped or failed.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
enum BulkReason {
    /// Skipped: the client registered already (send a password reset instead).
    AccountExists,
    /// Skipped: no email address on file (as the `no_email` error code).
    NoEmail,
    /// Skipped: the client asked not to be emailed.
    EmailNotPermitted,
    /// Skipped: no such client in your practice.
    ClientNotFound,
    /// Failed: the database was unavailable (the clients after it are `not_attempted`).
    Unavailable,
    /// Failed: the client's account kept changing under concurrent updates; retry.
    Conflict,
    /// Failed: something unexpected (logged with the request id).
    Internal,
}

/// One client's line.
#[derive(Object, Debug)]
#[oai(rename = "BulkInvitationResult")]
struct ResultBody {
    /// The client's id.
    client_id: String,
    /// `sent`, `resent`, `skipped`, `failed` or `not_attempted`.
    outcome: BulkOutcomeKind,
    /// Why, for `skipped` and `failed`.
    #[oai(skip_serializing_if_is_none)]
    reason: Option<BulkReason>,
    /// For `sent` and `resent`: when the link stops working (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    expires_at: Option<String>,
}

/// The answer, client by client.
#[derive(Object, Debug)]
#[oai(rename = "BulkInvitations")]
struct BulkBody {
    /// One line per client, in the order of the request (or the list's order).
    results: Vec<ResultBody>,
    /// With `every_client_without_account`: how many more clients are waiting for a later call.
    #[oai(skip_serializing_if_is_none)]
    remaining: Option<u64>,
}

#[derive(ApiResponse)]
enum BulkResponse {
    /// Each client's outcome. Every invitation sent is queued for delivery, each in its own
    /// transaction with its own audit event.
    #[oai(status = 200)]
    Ok(Json<BulkBody>),
    /// `validation_failed` (no clients, more than 500, a bad id, or both or neither of the two
    /// forms) or `no_client_records` (`every_client_without_account` where a host owns the
    /// client records: name the clients in `client_ids`).
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
}

/// The failure reason of an infrastructure error, logged with the request id.
fn failure_reason(error: &Infrastructure, request_id: &str) -> BulkReason {
    tracing::error!(request_id, error = %crate::error::chain(error), "a bulk invitation failed for one client");
    match error {
        Infrastructure::Store(StoreError::Unavailable(_)) | Infrastructure::Randomness(_) => BulkReason::Unavailable,
        Infrastructure::Contended => BulkReason::Conflict,
        _ => BulkReason::Internal,
    }
}

fn answer(invites: &BulkInvites, request_id: &str) -> BulkBody {
    let results = invites
        .results
        .iter()
        .map(|result| {
            let (outcome, reason, expires_at) = match &result.outcome {
                BulkOutcome::Sent(sent) => (BulkOutcomeKind::Sent, None, Some(rfc3339(sent.expires_at))),
                BulkOutcome::Resent(sent) => (BulkOutcomeKind::Resent, None, Some(rfc3339(sent.expires_at))),
                BulkOutcome::Skipped(reason) => {
                    let reason = match reason {
                        SkipReason::AccountExists => BulkReason::AccountExists,
                        SkipReason::NoEmailOnFile => BulkReason::NoEmail,
                        SkipReason::EmailNotPermitted => BulkReason::EmailNotPermitted,
                        SkipReason::ClientNotFound => BulkReason::ClientNotFound,
                    };
                    (BulkOutcomeKind::Skipped, Some(reason), None)
                }
                BulkOutcome::Failed(error) => (BulkOutcomeKind::Failed, Some(failure_reason(error, request_id)), None),
                BulkOutcome::NotAttempted => (BulkOutcomeKind::NotAttempted, None, None),
            };
            ResultBody { client_id: result.client_id.as_str().to_owned(), outcome, reason, expires_at }
        })
        .collect();
    BulkBody { results, remaining: invites.remaining }
}

/// Invitations in bulk.
pub(crate) struct InvitationsApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl InvitationsApi {
    /// Send invitations to many clients
    ///
    /// Sends (or resends) the portal invitation of each client named in `client_ids` (up to
    /// 500), or of every client without an account (`every_client_without_account`, 500 per
    /// call). Each client is handled as `POST /api/v1/clients/{id}/portal/invitation` would:
    /// its own transaction, audit event and email. A client that cannot be invited is
    /// `skipped` with the reason and never stops the others. A server failure on one client is
    /// `failed` for it; when the database is unavailable the clients after it are
    /// `not_attempted`, and what was sent before stays sent.
    #[oai(path = "/api/v1/invitations", method = "post", operation_id = "send_invitations")]
    async fn send_invitations(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        body: Json<BulkRequest>,
    ) -> Result<BulkResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let invalid = |detail: String| {
            let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, ctx.rid())
                .with_detail(detail);
            Ok(BulkResponse::Invalid(Json(problem)))
        };
        let Json(request) = body;
        let every = request.every_client_without_account.unwrap_or(false);
        let selection = match (request.client_ids, every) {
            (Some(_), true) => {
                return invalid("give either client_ids or every_client_without_account, not both".to_owned());
            }
            (None, false) => {
                return invalid("give client_ids or every_client_without_account: true".to_owned());
            }
            (None, true) => BulkSelection::EveryClientWithoutAccount,
            (Some(raw), false) => {
                if raw.is_empty() {
                    return invalid("client_ids names no client".to_owned());
                }
                if raw.len() > MAX_INVITES_PER_CALL {
                    return invalid(format!("at most {MAX_INVITES_PER_CALL} client ids per call"));
                }
                let mut ids = Vec::with_capacity(raw.len());
                for (index, text) in raw.iter().enumerate() {
                    let Ok(id) = ClientId::parse(text.as_str()) else {
                        return invalid(format!("client_ids[{index}] is not a valid client id"));
                    };
                    ids.push(id);
                }
                BulkSelection::Clients(ids)
            }
        };
        match ctx.state.service.send_invites(&staff, selection).await {
            Ok(invites) => {
                if invites.results.iter().any(|r| matches!(r.outcome, BulkOutcome::Sent(_) | BulkOutcome::Resent(_))) {
                    ctx.mail_queued();
                }
                Ok(BulkResponse::Ok(Json(answer(&invites, ctx.rid()))))
            }
            Err(BulkInviteError::NoClients) => invalid("client_ids names no client".to_owned()),
            Err(BulkInviteError::TooManyClients { max }) => invalid(format!("at most {max} client ids per call")),
            Err(BulkInviteError::NoClientRecords) => {
                let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NoClientRecords, ctx.rid());
                Ok(BulkResponse::Invalid(Json(problem)))
            }
            Err(BulkInviteError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }
}

const _: () = assert!(MAX_INVITES_PER_CALL == 500, "the documentation above names the same cap");
