//! The passkey operations of the client API: registering a passkey (signed in, or as the
//! factor a practice requires during sign-in), starting the second step with one, and
//! passkey-first sign-in. Each ceremony is a start (the options for the browser's
//! `navigator.credentials.create()` or `.get()`, and a single-use `ceremony` id) and a finish
//! (the ceremony id and the browser's answer, the `PublicKeyCredential` as JSON with its binary
//! members in base64url).

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::PasskeyResponse;
use portal_core::service::{PasskeyCeremonyStarted, PasskeySignInError};
use secrecy::ExposeSecret;

use super::bodies::{ChallengeBody, EnrolledBody, EnrolledSessionBody, SessionBody};
use crate::ApiTags;
use crate::auth::{ClientSessionToken, Ctx};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::staff::rfc3339;
use crate::text::Text;

/// A started passkey ceremony.
#[derive(Object)]
#[oai(rename = "PasskeyCeremony")]
pub(crate) struct CeremonyBody {
    /// The ceremony's id, to send back with the browser's answer: single use, five minutes.
    /// Keep it secret.
    ceremony: String,
    /// The options for `navigator.credentials.create()` (registering) or `.get()` (signing
    /// in), as WebAuthn's JSON: binary members (challenge, user id, credential ids) in
    /// base64url, to decode before the call.
    options: serde_json::Value,
    /// When the ceremony stops waiting for the answer (RFC 3339).
    expires_at: String,
}

impl CeremonyBody {
    fn of(started: &PasskeyCeremonyStarted, ctx: &Ctx) -> Result<Self, ApiError> {
        // The adapter's options are JSON by the port's contract; anything else is a bug there.
        let options = serde_json::from_str(started.options.as_json()).map_err(|_| {
            tracing::error!(request_id = ctx.rid(), "the passkey adapter's options are not JSON");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, ctx.rid())
        })?;
        Ok(Self {
            ceremony: started.ceremony.expose().expose_secret().to_owned(),
            options,
            expires_at: rfc3339(started.expires_at),
        })
    }
}

/// The browser's answer as the port takes it: its JSON text.
pub(crate) fn answer(response: &serde_json::Value) -> PasskeyResponse {
    PasskeyResponse::from_json(response.to_string())
}

/// Finishing a passkey registration of the signed-in client.
#[derive(Object)]
#[oai(rename = "PasskeyRegistration")]
pub(crate) struct RegistrationBody {
    /// The ceremony from the start.
    #[oai(validator(min_length = 1, max_length = 256))]
    ceremony: Text,
    /// The browser's answer: the `PublicKeyCredential` that `create()` gave, as JSON with its
    /// binary members in base64url.
    response: serde_json::Value,
    /// A name for it ("Laptop"); "Passkey" when left out or `null`.
    #[oai(nullable, validator(max_length = 100))]
    name: Option<Text>,
}

/// Finishing the passkey registration a practice requires, with the sign-in's challenge.
#[derive(Object)]
#[oai(rename = "ChallengePasskeyRegistration")]
pub(crate) struct ChallengeRegistrationBody {
    /// The challenge from the sign-in's answer.
    #[oai(validator(min_length = 1, max_length = 256))]
    challenge: Text,
    /// The ceremony from the start.
    #[oai(validator(min_length = 1, max_length = 256))]
    ceremony: Text,
    /// The browser's answer to `create()`, as JSON.
    response: serde_json::Value,
    /// A name for it; "Passkey" when left out or `null`.
    #[oai(nullable, validator(max_length = 100))]
    name: Option<Text>,
}

/// Starting a passkey-first sign-in.
#[derive(Object)]
#[oai(rename = "PasskeySignInStart")]
pub(crate) struct SignInStartBody {
    /// The practice's slug.
    #[oai(validator(max_length = 128))]
    practice: Text,
}

/// Finishing a passkey-first sign-in.
#[derive(Object)]
#[oai(rename = "PasskeySignIn")]
pub(crate) struct SignInBody {
    /// The ceremony from the start.
    #[oai(validator(min_length = 1, max_length = 256))]
    ceremony: Text,
    /// The browser's answer to `get()`, as JSON (with its `userHandle`).
    response: serde_json::Value,
}

/// Answers of `POST /api/v1/portal/factors/passkeys`.
#[derive(ApiResponse)]
pub(crate) enum StartRegistrationResponse {
    /// The options for `navigator.credentials.create()`; finish within five minutes.
    #[oai(status = 201)]
    Created(Json<CeremonyBody>),
    /// `not_available`: this server has no passkeys.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `second_factors_off` or `too_many_factors`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/factors/passkeys/finish`.
#[derive(ApiResponse)]
pub(crate) enum FinishRegistrationResponse {
    /// Registered; the recovery codes (first factor only) are shown once. A notice is mailed.
    #[oai(status = 201)]
    Created(Json<EnrolledBody>),
    /// `not_available`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `passkey_in_use`, `second_factors_off` or `too_many_factors`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `passkey_rejected` (start again), or `validation_failed` (the name).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// Answers of the sign-in's passkey starts (`…/second-factor/passkey` and
/// `…/second-factor/passkey-registration`).
#[derive(ApiResponse)]
pub(crate) enum ChallengeStartResponse {
    /// The options for the browser; finish within five minutes.
    #[oai(status = 201)]
    Created(Json<CeremonyBody>),
    /// `challenge_invalid`: unknown, expired or used, or for the other purpose.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `not_available` (no passkeys on this server), or `factor_not_found` (the account has no
    /// passkey).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `second_factors_off` or `too_many_factors`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `throttled`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Answers of `POST /api/v1/portal/sessions/second-factor/passkey-registration/finish`.
#[derive(ApiResponse)]
pub(crate) enum ChallengeFinishResponse {
    /// Registered and signed in; the recovery codes are shown once.
    #[oai(status = 201)]
    Created(Json<EnrolledSessionBody>),
    /// `challenge_invalid`, or `passkey_rejected` (start the passkey again).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `not_available`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `passkey_in_use`, `second_factors_off` or `too_many_factors`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `validation_failed`: the name is not valid.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `throttled`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Answers of `POST /api/v1/portal/sessions/passkey`.
#[derive(ApiResponse)]
pub(crate) enum SignInStartResponse {
    /// The options for `navigator.credentials.get()`; finish within five minutes.
    #[oai(status = 201)]
    Created(Json<CeremonyBody>),
    /// `not_available`: unknown practice, a practice with second factors off, or no passkeys
    /// on this server. Sign in with the password.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/sessions/passkey/finish`.
#[derive(ApiResponse)]
pub(crate) enum SignInFinishResponse {
    /// Signed in.
    #[oai(status = 201)]
    Created(Json<SessionBody>),
    /// `passkey_rejected`: the answer did not verify, the passkey is no client's of this
    /// practice, or the ceremony is unknown, expired or finished. Start again.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `not_available`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

impl Ctx {
    /// A passkey-first refusal as (status, problem); infrastructure as `Err`.
    fn passkey_sign_in_refusal(&self, error: &PasskeySignInError) -> Result<(StatusCode, Json<Problem>), ApiError> {
        let (status, code) = match error {
            PasskeySignInError::Unavailable => (StatusCode::NOT_FOUND, ErrorCode::NotAvailable),
            PasskeySignInError::CeremonyInvalid | PasskeySignInError::Rejected => {
                (StatusCode::UNAUTHORIZED, ErrorCode::PasskeyRejected)
            }
            PasskeySignInError::AccountDisabled => (StatusCode::FORBIDDEN, ErrorCode::AccountDisabled),
            PasskeySignInError::Infrastructure(error) => return Err(ApiError::infrastructure(error, self.rid())),
        };
        Ok((status, self.factor_problem(status, code)))
    }
}

/// The passkey operations of the client API.
pub(crate) struct PasskeysApi;

#[OpenApi(tag = "ApiTags::ClientPortal")]
impl PasskeysApi {
    /// Start registering a passkey
    ///
    /// The options for `navigator.credentials.create()` (the client's passkeys already
    /// registered are excluded) and the ceremony to finish with, within five minutes.
    #[oai(path = "/api/v1/portal/factors/passkeys", method = "post", operation_id = "start_passkey_registration")]
    async fn start_registration(
        &self,
        auth: ClientSessionToken,
        ctx: Ctx,
    ) -> Result<StartRegistrationResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        match ctx.state.service.start_passkey_registration(&session.factor_owner()).await {
            Ok(started) => Ok(StartRegistrationResponse::Created(Json(CeremonyBody::of(&started, &ctx)?))),
            Err(error) => Ok(match ctx.factor_refusal(&error)? {
                (StatusCode::NOT_FOUND, problem) => StartRegistrationResponse::NotFound(problem),
                (_, problem) => StartRegistrationResponse::Conflict(problem),
            }),
        }
    }

    /// Finish registering a passkey
    ///
    /// The browser's answer to `create()`. The first factor comes with ten recovery codes,
    /// shown once. A notice is mailed.
    #[oai(
        path = "/api/v1/portal/factors/passkeys/finish",
        method = "post",
        operation_id = "finish_passkey_registration"
    )]
    async fn finish_registration(
        &self,
        auth: ClientSessionToken,
        ctx: Ctx,
        body: Json<RegistrationBody>,
    ) -> Result<FinishRegistrationResponse, ApiError> {
        ctx.ip_budget()?;
        let session = ctx.session(&auth).await?;
        let Json(body) = body;
        let name = body.name.as_ref().map(Text::as_str);
        let owner = session.factor_owner();
        let context = ctx.meta.context();
        let response = answer(&body.response);
        let finished =
            ctx.state.service.finish_passkey_registration(&owner, body.ceremony.as_str(), &response, name, &context);
        match finished.await {
            Ok(enrolled) => {
                ctx.mail_queued();
                Ok(FinishRegistrationResponse::Created(Json(EnrolledBody::of(&enrolled))))
            }
            Err(error) => Ok(match ctx.factor_refusal(&error)? {
                (StatusCode::NOT_FOUND, problem) => FinishRegistrationResponse::NotFound(problem),
                (StatusCode::CONFLICT, problem) => FinishRegistrationResponse::Conflict(problem),
                (_, problem) => FinishRegistrationResponse::Unprocessable(problem),
            }),
        }
    }

    /// Sign in: start the second step with a passkey
    ///
    /// With the challenge of a sign-in whose answer listed `passkey`: the options for
    /// `navigator.credentials.get()` (only the account's passkeys may answer). Answer with
    /// `POST /api/v1/portal/sessions/second-factor` (`kind: passkey`).
    #[oai(
        path = "/api/v1/portal/sessions/second-factor/passkey",
        method = "post",
        operation_id = "sign_in_start_passkey"
    )]
    async fn second_step_start(&self, ctx: Ctx, body: Json<ChallengeBody>) -> Result<ChallengeStartResponse, ApiError> {
        ctx.ip_budget()?;
        let started = ctx.state.service.challenge_start_passkey(body.0.challenge.as_str(), &ctx.meta.context()).await;
        challenge_started(&ctx, started)
    }

    /// Sign in: start registering the required passkey
    ///
    /// When the sign-in's answer said `enrolment_required` and listed `passkey`: the options
    /// for `navigator.credentials.create()`. Finish to open the session.
    #[oai(
        path = "/api/v1/portal/sessions/second-factor/passkey-registration",
        method = "post",
        operation_id = "sign_in_start_passkey_registration"
    )]
    async fn enrolment_start(&self, ctx: Ctx, body: Json<ChallengeBody>) -> Result<ChallengeStartResponse, ApiError> {
        ctx.ip_budget()?;
        let started = ctx
            .state
            .service
            .challenge_start_passkey_registration(body.0.challenge.as_str(), &ctx.meta.context())
            .await;
        challenge_started(&ctx, started)
    }

    /// Sign in: finish registering the required passkey
    ///
    /// The browser's answer to `create()`; then the session opens. The recovery codes are
    /// shown once. A refused answer counts against the username like a wrong code.
    #[oai(
        path = "/api/v1/portal/sessions/second-factor/passkey-registration/finish",
        method = "post",
        operation_id = "sign_in_finish_passkey_registration"
    )]
    async fn enrolment_finish(
        &self,
        ctx: Ctx,
        body: Json<ChallengeRegistrationBody>,
    ) -> Result<ChallengeFinishResponse, ApiError> {
        ctx.ip_budget()?;
        let Json(body) = body;
        let name = body.name.as_ref().map(Text::as_str);
        let context = ctx.meta.context();
        let response = answer(&body.response);
        let finished = ctx.state.service.challenge_finish_passkey_registration(
            body.challenge.as_str(),
            body.ceremony.as_str(),
            &response,
            name,
            &context,
        );
        match finished.await {
            Ok((signed_in, enrolled)) => {
                ctx.mail_queued();
                Ok(ChallengeFinishResponse::Created(Json(EnrolledSessionBody {
                    session: SessionBody::of(&signed_in),
                    enrolled: EnrolledBody::of(&enrolled),
                })))
            }
            Err(error) => Ok(match ctx.step_refusal(&error)? {
                (StatusCode::FORBIDDEN, problem, _) => ChallengeFinishResponse::Forbidden(problem),
                (StatusCode::TOO_MANY_REQUESTS, problem, wait) => {
                    ChallengeFinishResponse::TooManyRequests(problem, wait)
                }
                (StatusCode::NOT_FOUND, problem, _) => ChallengeFinishResponse::NotFound(problem),
                (StatusCode::CONFLICT, problem, _) => ChallengeFinishResponse::Conflict(problem),
                (StatusCode::UNPROCESSABLE_ENTITY, problem, _) => ChallengeFinishResponse::Unprocessable(problem),
                (_, problem, _) => ChallengeFinishResponse::Unauthorized(problem),
            }),
        }
    }

    /// Sign in with a passkey
    ///
    /// Passkey-first sign-in, without a username or password: the options for
    /// `navigator.credentials.get()` that any passkey of the practice's clients saved on the
    /// device may answer. Offered when the practice lets clients use second factors (a passkey
    /// verifies its user by PIN or biometrics: two factors in one).
    #[oai(path = "/api/v1/portal/sessions/passkey", method = "post", operation_id = "start_passkey_sign_in")]
    async fn sign_in_start(&self, ctx: Ctx, body: Json<SignInStartBody>) -> Result<SignInStartResponse, ApiError> {
        ctx.ip_budget()?;
        match ctx.state.service.start_passkey_sign_in(body.0.practice.as_str()).await {
            Ok(started) => Ok(SignInStartResponse::Created(Json(CeremonyBody::of(&started, &ctx)?))),
            Err(error) => Ok(SignInStartResponse::NotFound(ctx.passkey_sign_in_refusal(&error)?.1)),
        }
    }

    /// Sign in with a passkey: finish
    ///
    /// The browser's answer to `get()`. Opens a session for the passkey's owner, unless the
    /// account is disabled.
    #[oai(path = "/api/v1/portal/sessions/passkey/finish", method = "post", operation_id = "finish_passkey_sign_in")]
    async fn sign_in_finish(&self, ctx: Ctx, body: Json<SignInBody>) -> Result<SignInFinishResponse, ApiError> {
        ctx.ip_budget()?;
        let Json(body) = body;
        let context = ctx.meta.context();
        let finished =
            ctx.state.service.finish_passkey_sign_in(body.ceremony.as_str(), &answer(&body.response), &context).await;
        match finished {
            Ok(signed_in) => Ok(SignInFinishResponse::Created(Json(SessionBody::of(&signed_in)))),
            Err(error) => Ok(match ctx.passkey_sign_in_refusal(&error)? {
                (StatusCode::FORBIDDEN, problem) => SignInFinishResponse::Forbidden(problem),
                (StatusCode::NOT_FOUND, problem) => SignInFinishResponse::NotFound(problem),
                (_, problem) => SignInFinishResponse::Unauthorized(problem),
            }),
        }
    }
}

/// The answer to a sign-in's passkey start.
fn challenge_started(
    ctx: &Ctx,
    started: Result<PasskeyCeremonyStarted, portal_core::service::SecondStepError>,
) -> Result<ChallengeStartResponse, ApiError> {
    match started {
        Ok(started) => Ok(ChallengeStartResponse::Created(Json(CeremonyBody::of(&started, ctx)?))),
        Err(error) => Ok(match ctx.step_refusal(&error)? {
            (StatusCode::FORBIDDEN, problem, _) => ChallengeStartResponse::Forbidden(problem),
            (StatusCode::TOO_MANY_REQUESTS, problem, wait) => ChallengeStartResponse::TooManyRequests(problem, wait),
            (StatusCode::NOT_FOUND, problem, _) => ChallengeStartResponse::NotFound(problem),
            (StatusCode::CONFLICT, problem, _) => ChallengeStartResponse::Conflict(problem),
            (_, problem, _) => ChallengeStartResponse::Unauthorized(problem),
        }),
    }
}
