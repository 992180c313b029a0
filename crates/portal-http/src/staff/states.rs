//! The portal state of many clients in one call, for a host's own client lists: an EHR that
//! lists its patients asks the portal about the ids on screen instead of once per row.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::service::{MAX_STATES_PER_CALL, PortalStatesError};
use portal_core::{ClientId, PortalStatus};

use super::rfc3339;
use super::status::{PortalState, status_parts};
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

/// The clients to report on.
#[derive(Object, Debug)]
#[oai(rename = "PortalStatesRequest")]
struct StatesRequest {
    /// The host's client ids (1–500; each 1–128 characters from ASCII letters, digits and
    /// `-._~:@!$&'()*+,;=`). A repeated id is answered once.
    #[oai(validator(
        min_items = 1,
        max_items = 500,
        min_length = 1,
        max_length = 128,
        pattern = r"^[A-Za-z0-9\-._~:@!$&'()*+,;=]+$"
    ))]
    client_ids: Vec<Text>,
}

/// One client's portal state.
#[derive(Object, Debug)]
#[oai(rename = "ClientPortalState")]
struct StateBody {
    /// The id, as asked.
    client_id: String,
    /// `no_account`, `invited`, `invite_expired`, `active` or `disabled`. An id the portal has
    /// never seen has no account.
    state: PortalState,
    /// The toggle: true only while the account is active.
    enabled: bool,
    /// The username, once the client registered.
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    /// While invited: when the invitation stops (or stopped) working (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    invite_expires_at: Option<String>,
}

impl StateBody {
    fn of(id: &ClientId, status: &PortalStatus) -> Self {
        let parts = status_parts(status);
        let invite_expires_at = match status {
            PortalStatus::Invited { expires_at, .. } => Some(rfc3339(*expires_at)),
            PortalStatus::InviteExpired { expired_at, .. } => Some(rfc3339(*expired_at)),
            _ => None,
        };
        Self {
            client_id: id.as_str().to_owned(),
            state: parts.state,
            enabled: parts.enabled,
            username: parts.username,
            invite_expires_at,
        }
    }
}

/// The states, in the order asked.
#[derive(Object, Debug)]
#[oai(rename = "PortalStates")]
struct StatesBody {
    /// One entry per distinct id asked.
    states: Vec<StateBody>,
}

#[derive(ApiResponse)]
enum StatesResponse {
    /// The portal state of each client.
    #[oai(status = 200)]
    Ok(Json<StatesBody>),
    /// `validation_failed`: an id is not a valid client id (`detail` says which).
    #[oai(status = 422, content_type = "application/problem+json")]
    Invalid(Json<Problem>),
}

/// Portal states in bulk.
pub(crate) struct StatesApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl StatesApi {
    /// Portal states of many clients
    ///
    /// The portal state of up to 500 clients of your practice in one call (one database read),
    /// for a host's client lists. Ids are the host's own; the portal does not check that they
    /// exist, so an unknown id reads as `no_account`.
    #[oai(path = "/api/v1/portal/states", method = "post", operation_id = "get_portal_states")]
    async fn portal_states(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        body: Json<StatesRequest>,
    ) -> Result<StatesResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let mut ids = Vec::with_capacity(body.0.client_ids.len());
        for (index, raw) in body.0.client_ids.iter().enumerate() {
            let Ok(id) = ClientId::parse(raw.as_str()) else {
                let problem =
                    Problem::new(poem::http::StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, ctx.rid())
                        .with_detail(format!("client_ids[{index}] is not a valid client id"));
                return Ok(StatesResponse::Invalid(Json(problem)));
            };
            ids.push(id);
        }
        match ctx.state.service.portal_states(&staff, &ids).await {
            Ok(states) => Ok(StatesResponse::Ok(Json(StatesBody {
                states: states.iter().map(|(id, status)| StateBody::of(id, status)).collect(),
            }))),
            // The validator caps the list at the same number; this is the core's own guard.
            Err(PortalStatesError::TooManyClients { max }) => {
                let problem =
                    Problem::new(poem::http::StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, ctx.rid())
                        .with_detail(format!("at most {max} client ids per call"));
                Ok(StatesResponse::Invalid(Json(problem)))
            }
            Err(PortalStatesError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }
}

const _: () = assert!(MAX_STATES_PER_CALL == 500, "the validator above names the same cap");
