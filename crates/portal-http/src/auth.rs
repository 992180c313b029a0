//! Authentication: the staff scheme (whatever the [`StaffAuthenticator`] says), the client
//! session bearer scheme, and the per-request context handlers receive.
//!
//! [`StaffAuthenticator`]: crate::StaffAuthenticator

use std::sync::Arc;

use poem::http::StatusCode;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::auth::Bearer;
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme};
use portal_core::StaffMember;
use portal_core::service::{ClientSession, SessionError, StaffContext};

use crate::AppState;
use crate::error::{ApiError, ErrorCode, Problem, chain};
use crate::middleware::{RequestMeta, ip_throttled};
use crate::staff_auth::{AuthError, StaffSurface};

/// The name of the staff security scheme in the OpenAPI document.
const STAFF_SCHEME: &str = "StaffKey";

/// What the staff scheme says in the OpenAPI document. The bundled server's answer; a host that
/// embeds the portal may authenticate its staff differently (e.g. its own session cookie).
const STAFF_SCHEME_DESCRIPTION: &str = "A staff key (`Authorization: Bearer pst_…`). Each key belongs to one practice \
     and names a staff member for the audit trail. Missing, unknown, revoked or expired: 401 `unauthenticated`. \
     (A host application that embeds the portal may authenticate its staff its own way instead.)";

/// Who is asking on a staff operation, as the application's [`StaffAuthenticator`] answered.
/// Documented as the bearer staff-key scheme (the bundled server's); extracting it never fails,
/// so the refusal is the handler's problem+json answer.
///
/// [`StaffAuthenticator`]: crate::StaffAuthenticator
pub(crate) struct StaffKey(Result<Option<StaffMember>, AuthError>);

impl<'a> ApiExtractor<'a> for StaffKey {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            STAFF_SCHEME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(STAFF_SCHEME_DESCRIPTION),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: Some("opaque staff key (pst_…)"),
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![STAFF_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // Inserted by the edge middleware, which wraps every route.
        let Some(state) = req.data::<Arc<AppState>>().cloned() else {
            return Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR));
        };
        Ok(Self(state.staff_auth.authenticate(req, StaffSurface::Api).await))
    }
}

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

    /// The staff member the authenticator found, with the request context for the audit trail.
    pub(crate) async fn staff(&self, key: &StaffKey) -> Result<StaffContext, ApiError> {
        match &key.0 {
            Ok(Some(staff)) => Ok(StaffContext { staff: staff.clone(), request: self.meta.context() }),
            Ok(None) => Err(ApiError::unauthenticated(self.rid())),
            Err(error) => Err(self.auth_failed(error)),
        }
    }

    /// The answer when the staff check itself failed.
    pub(crate) fn auth_failed(&self, error: &AuthError) -> ApiError {
        match error {
            AuthError::Portal(infra) => ApiError::infrastructure(infra, self.rid()),
            AuthError::Host(_) => {
                tracing::error!(request_id = %self.rid(), error = %chain(error), "the host's staff check failed");
                ApiError::from_problem(
                    Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, self.rid()),
                    Some(5),
                )
            }
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
    /// no database work, which keeps staff requests fast. Only for requests that hash. The
    /// edge asks the same before reading the body (`middleware::hashing_gate`); this second
    /// look covers the pool filling up while the body arrived.
    pub(crate) fn hashing_room(&self) -> Result<(), ApiError> {
        if self.state.hash_pool.is_saturated() {
            // The 503s are counted in the metrics; a line per refusal would flood the log.
            tracing::debug!(request_id = %self.meta.request_id, "request refused: busy (hashing pool full)");
            return Err(ApiError::busy(self.rid()));
        }
        Ok(())
    }

    /// Tells the mail dispatcher that mail was queued.
    pub(crate) fn mail_queued(&self) {
        (self.state.on_mail_queued)();
    }
}
