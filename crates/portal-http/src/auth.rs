//! Authentication: the two bearer schemes and the per-request context handlers receive.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use portal_core::service::{ClientSession, SessionError, StaffContext};

use crate::AppState;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::middleware::{RequestMeta, ip_throttled};

/// A staff key (`Authorization: Bearer pst_…`). Each key belongs to one practice and names a
/// staff member for the audit trail. Missing or unknown: 401 `unauthenticated`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque staff key (pst_…)")]
pub(crate) struct StaffKey(Bearer);

/// A client session token from `POST /api/v1/portal/sessions` (`Authorization: Bearer pcs_…`).
/// Unknown, expired, revoked or for a disabled account: 401 `unauthenticated`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque session token (pcs_…)")]
pub(crate) struct ClientSessionToken(Bearer);

impl ClientSessionToken {
    /// The presented token.
    pub(crate) fn token(&self) -> &str {
        &self.0.token
    }
}

/// What every handler gets: the shared state and who is asking.
pub(crate) struct Ctx {
    pub(crate) state: Arc<AppState>,
    pub(crate) meta: RequestMeta,
}

impl<'a> FromRequest<'a> for Ctx {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        // Both are inserted by the edge middleware, which wraps every route.
        let state = req.data::<Arc<AppState>>().cloned();
        let meta = req.data::<RequestMeta>().cloned();
        match (state, meta) {
            (Some(state), Some(meta)) => Ok(Self { state, meta }),
            _ => Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR)),
        }
    }
}

impl Ctx {
    /// The request id.
    pub(crate) fn rid(&self) -> &str {
        &self.meta.request_id
    }

    /// The staff member behind a key, with the request context for the audit trail.
    pub(crate) async fn staff(&self, key: &StaffKey) -> Result<StaffContext, ApiError> {
        match self.state.service.authenticate_staff(&key.0.token).await {
            Ok(Some(staff)) => Ok(StaffContext { staff, request: self.meta.context() }),
            Ok(None) => Err(ApiError::unauthenticated(self.rid())),
            Err(error) => Err(ApiError::infrastructure(&error, self.rid())),
        }
    }

    /// The signed-in client behind a session token.
    pub(crate) async fn session(&self, token: &ClientSessionToken) -> Result<ClientSession, ApiError> {
        match self.state.service.authenticate_session(token.token()).await {
            Ok(session) => Ok(session),
            Err(SessionError::Unauthenticated) => Err(ApiError::unauthenticated(self.rid())),
            Err(SessionError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, self.rid())),
        }
    }

    /// Spends one unit of this client IP's budget for expensive client endpoints.
    pub(crate) fn ip_budget(&self) -> Result<(), ApiError> {
        self.state.ip_limiter.check(self.meta.client_ip).map_err(|retry_after| {
            tracing::warn!(request_id = %self.meta.request_id, ip = ?self.meta.client_ip, "per-IP limit reached");
            ip_throttled(retry_after, self.rid())
        })
    }

    /// 503 `busy` (with `Retry-After`) when the hashing pool could not take this request, before
    /// the request reads or writes anything: under a flood of sign-ins each refusal then costs
    /// no database work, which keeps staff requests fast. Only for requests that hash.
    pub(crate) fn hashing_room(&self) -> Result<(), ApiError> {
        if self.state.hash_pool.is_saturated() {
            // The 503s are counted in the metrics; a line per refusal would flood the log.
            tracing::debug!(request_id = %self.meta.request_id, "request refused: busy (hashing pool full)");
            return Err(ApiError::from_problem(
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, self.rid()),
                Some(1),
            ));
        }
        Ok(())
    }

    /// Tells the mail dispatcher that mail was queued.
    pub(crate) fn mail_queued(&self) {
        (self.state.on_mail_queued)();
    }
}
