//! Client-started password resets over HTTP: `POST /api/v1/portal/password-reset-requests` and
//! the "Forgot your password?" page (`pages::forgot_password`) share [`accept`].
//!
//! **The same answer, at the same time, whatever the accounts are.** The handler checks only
//! what depends on the practice (its slug, its setting) and the shape of the input, spends the
//! caller's per-IP budget, then hands the request to a task of its own and answers at once
//! (202, or the page's one neutral message). The core's use case
//! ([`PortalService::request_reset`](portal_core::service::PortalService::request_reset)) reads
//! the account, compares the email, decides under the client's lock and writes the mail and the
//! audit event after the answer has left, so neither the answer nor how long it takes can
//! depend on whether the username exists, the email matched, the account is disabled or its
//! limit held. (Doing identical store work on every branch instead would have to fake a lock,
//! a commit and a directory read for accounts that do not exist, and stay identical through
//! every later change of the use case; running it after the answer makes that unnecessary.)
//!
//! The tasks are bounded: at most [`MAX_RESET_REQUESTS_IN_FLIGHT`] run at once; beyond that the
//! answer is 503 `busy` (a load signal that says nothing about any account), so a flood cannot
//! grow memory with queued work. A request still running when the server stops is lost like a
//! request cut off mid-way; the client asks again.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::service::{ResetRequestError, ResetRequested};
use portal_core::{EmailAddress, Practice, RequestContext, TokenPurpose, Username};
use tokio::sync::Semaphore;

use crate::ApiTags;
use crate::AppState;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorCode, Problem, chain};
use crate::text::Text;

/// Most client-started reset requests whose work runs at once (after their answer). Each is a
/// few short store round trips; 64 keeps a flood's queued work small while far exceeding what
/// real clients ask for (a handful a day per practice).
pub(crate) const MAX_RESET_REQUESTS_IN_FLIGHT: usize = 64;

/// The bound on reset-request tasks ([`MAX_RESET_REQUESTS_IN_FLIGHT`] permits).
pub(crate) fn in_flight_limit() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_RESET_REQUESTS_IN_FLIGHT))
}

/// The work of a request could not be started: too many are running.
pub(crate) struct Busy;

/// Starts the work of a client-started reset request after the answer: `request_reset` on a
/// task of its own, which wakes the mail dispatcher when it queued mail and logs (with the
/// request id, never the username or email) when it failed.
pub(crate) fn accept(
    state: &Arc<AppState>,
    practice: Practice,
    username: Username,
    email: EmailAddress,
    context: RequestContext,
) -> Result<(), Busy> {
    let permit = Arc::clone(&state.reset_requests).try_acquire_owned().map_err(|_| Busy)?;
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let _permit = permit;
        let request_id = context.request_id.clone().unwrap_or_default();
        match state.service.request_reset(&practice, &username, &email, &context).await {
            Ok(ResetRequested::Sent(_)) => (state.on_mail_queued)(),
            Ok(_) => {}
            Err(error) => {
                tracing::error!(%request_id, error = %chain(&error), "a password-reset request failed after its answer");
            }
        }
    });
    Ok(())
}

/// How long the practice's reset links stay valid, in words for the answer's text ("48 hours").
pub(crate) fn link_lifetime_words(state: &AppState, practice: &Practice) -> String {
    lifetime_words(practice.settings.link_lifetime(TokenPurpose::Reset, state.service.policy()))
}

/// A link lifetime in words, in the page's language: "48 hours", "1 hour" / "48 horas".
pub(crate) fn lifetime_words(lifetime: jiff::SignedDuration) -> String {
    portal_core::wording::duration_in_words(crate::pages::language(), lifetime)
}

/// A request for a password-reset email.
#[derive(Object)]
#[oai(rename = "PasswordResetRequest")]
pub(crate) struct ResetRequestBody {
    /// The practice's slug (as in its sign-in address).
    #[oai(validator(min_length = 1, max_length = 128))]
    practice: Text,
    /// The username chosen at registration (any case): 3–64 characters, letters, digits, `.`,
    /// `_`, `-`, `@`, starting with a letter or digit.
    #[oai(validator(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"))]
    username: Text,
    /// The email address the practice has on file for the client (any case).
    #[oai(validator(
        max_length = 254,
        pattern = r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
    ))]
    email: Text,
}

/// Answers of `POST /api/v1/portal/password-reset-requests`.
#[derive(ApiResponse)]
pub(crate) enum RequestResetResponse {
    /// Accepted. When the username and email match an active account of the practice whose
    /// client may be emailed, a password-reset email is on its way (voiding any earlier reset
    /// link); otherwise nothing is sent. The answer is the same, and comes as soon, either way.
    /// At most one email per account every 15 minutes and three a day.
    #[oai(status = 202)]
    Accepted,
    /// `practice_not_found`: no practice has this slug. `not_available`: the practice does not
    /// let clients ask for resets (ask the practice to send one).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `busy`: too many requests are being handled; retry after `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Busy(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// The client-started reset API.
pub(crate) struct ResetRequestApi;

#[OpenApi(tag = "ApiTags::ClientPortal")]
impl ResetRequestApi {
    /// Ask for a password-reset email
    ///
    /// A client who forgot their password names their practice, their username and the email
    /// address on file. The answer never says whether they matched an account.
    #[oai(path = "/api/v1/portal/password-reset-requests", method = "post", operation_id = "request_password_reset")]
    async fn request_password_reset(
        &self,
        ctx: Ctx,
        body: Json<ResetRequestBody>,
    ) -> Result<RequestResetResponse, ApiError> {
        ctx.ip_budget()?;
        let Json(body) = body;
        let username = Username::parse(body.username.as_str()).map_err(|e| ApiError::invalid_input(&e, ctx.rid()))?;
        let email = EmailAddress::parse(body.email.as_str()).map_err(|e| ApiError::invalid_input(&e, ctx.rid()))?;
        let not_found =
            |code| RequestResetResponse::NotFound(Json(Problem::new(StatusCode::NOT_FOUND, code, ctx.rid())));
        let practice = match ctx.state.service.reset_requests_open(body.practice.as_str()).await {
            Ok(practice) => practice,
            Err(ResetRequestError::PracticeNotFound) => return Ok(not_found(ErrorCode::PracticeNotFound)),
            Err(ResetRequestError::NotAvailable) => return Ok(not_found(ErrorCode::NotAvailable)),
            Err(ResetRequestError::Infrastructure(error)) => return Err(ApiError::infrastructure(&error, ctx.rid())),
        };
        match accept(&ctx.state, practice, username, email, ctx.meta.context()) {
            Ok(()) => Ok(RequestResetResponse::Accepted),
            Err(Busy) => Ok(RequestResetResponse::Busy(
                Json(Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, ctx.rid())),
                1,
            )),
        }
    }
}
