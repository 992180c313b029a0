//! The staff API (design §5): client records and their portal accounts. Every operation takes a
//! staff key; a client of another practice is a 404. One module per concern: `clients` (the
//! records), `portal` (the portal panel and its actions: invitation, password reset, on/off),
//! `factors` (a client's second factors: see, remove),
//! `invitations` (invitations in bulk), `states` (portal states in bulk),
//! `audit` (the trail), `practice` (the practice's settings); `status` is the portal state they
//! share.

mod audit;
mod clients;
mod factors;
mod invitations;
mod portal;
mod practice;
mod states;
mod status;

pub(crate) use clients::LanguageCode;

use jiff::Timestamp;
use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use portal_core::ClientId;
use portal_core::service::ClientError;

use crate::auth::Ctx;
use crate::error::{ApiError, ErrorCode, Problem};

/// The staff API of the bundled server: its operations in document order (client records, then
/// the portal, invitations in bulk, the states in bulk, the audit trail), which is the order of the tuple.
pub(crate) type StaffApi = (clients::ClientsApi, PortalStaffApi);

/// The staff API, to combine with the other APIs.
pub(crate) const STAFF_API: StaffApi = (clients::ClientsApi, PORTAL_STAFF_API);

/// The staff operations on what the portal owns, without the bundled client records: what a
/// host that owns its clients mounts (design §7).
pub(crate) type PortalStaffApi = (
    portal::PortalApi,
    factors::FactorsApi,
    invitations::InvitationsApi,
    states::StatesApi,
    audit::AuditApi,
    practice::PracticeApi,
);

/// The portal part of the staff API.
pub(crate) const PORTAL_STAFF_API: PortalStaffApi = (
    portal::PortalApi,
    factors::FactorsApi,
    invitations::InvitationsApi,
    states::StatesApi,
    audit::AuditApi,
    practice::PracticeApi,
);

/// RFC 3339, UTC.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}

impl Ctx {
    fn problem(&self, status: StatusCode, code: ErrorCode) -> Json<Problem> {
        Json(Problem::new(status, code, self.rid()))
    }

    fn client_not_found(&self) -> Json<Problem> {
        self.problem(StatusCode::NOT_FOUND, ErrorCode::ClientNotFound)
    }

    fn conflict(&self, code: ErrorCode) -> Json<Problem> {
        self.problem(StatusCode::CONFLICT, code)
    }

    /// A patch field that may be left out but not set to `null`: 422 `validation_failed` for
    /// `null`, so that nobody mistakes it for "remove" (as it means for `email`).
    pub(crate) fn not_null<T>(&self, field: &str, value: MaybeUndefined<T>) -> Result<Option<T>, ApiError> {
        match value {
            MaybeUndefined::Undefined => Ok(None),
            MaybeUndefined::Value(value) => Ok(Some(value)),
            MaybeUndefined::Null => Err(ApiError::from_problem(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, self.rid())
                    .with_detail(format!("`{field}` cannot be null; leave it out to keep the current value")),
                None,
            )),
        }
    }

    /// Maps a [`ClientError`] that is not `ClientNotFound`.
    fn client_error(&self, error: &ClientError) -> ApiError {
        match error {
            ClientError::Invalid(invalid) => ApiError::invalid_input(invalid, self.rid()),
            ClientError::Infrastructure(infra) => ApiError::infrastructure(infra, self.rid()),
            ClientError::ClientNotFound => ApiError::new(StatusCode::NOT_FOUND, ErrorCode::ClientNotFound, self.rid()),
        }
    }
}

/// A path id that is not a valid client id (see [`ClientId::parse`]) names no client.
fn client_id(raw: &str) -> Option<ClientId> {
    ClientId::parse(raw).ok()
}
