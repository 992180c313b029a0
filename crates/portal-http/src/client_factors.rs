//! The client API of second factors: the second step of sign-in (a challenge and a code, or,
//! when the practice requires a factor the account lacks, enrolling one), and the signed-in
//! client's factors (list, enrol an authenticator app, remove, new recovery codes).

mod bodies;
mod passkeys;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use portal_core::FactorId;
use portal_core::service::{FactorAnswer, FactorError, SecondStepError};

use self::bodies::{
    AnswerBody, AnswerKind, ChallengeBody, ChallengeConfirmBody, ConfirmBody, EnrolledBody, EnrolledSessionBody,
    EnrolmentBody, RecoveryCodesBody, SessionBody, codes,
};
pub(crate) use self::bodies::{FactorsBody, PolicyBody, SecondStepBody, qr_svg};
pub(crate) use self::passkeys::PasskeysApi;
use crate::ApiTags;
use crate::auth::{ClientSessionToken, Ctx};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

/// Answers of `POST /api/v1/portal/sessions/second-factor`.
#[derive(ApiResponse)]
pub(crate) enum SecondStepResponse {
    /// Signed in.
    #[oai(status = 201)]
    Created(Json<SessionBody>),
    /// `challenge_invalid` (sign in again), `invalid_code` (wrong, or used before) or
    /// `passkey_rejected` (start the passkey again).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `throttled`: too many failed attempts for this username; retry after `Retry-After`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Answers of `POST /api/v1/portal/sessions/second-factor/totp`.
#[derive(ApiResponse)]
pub(crate) enum ChallengeEnrolResponse {
    /// The enrolment started: add the secret to the app, then confirm with a code.
    #[oai(status = 201)]
    Created(Json<EnrolmentBody>),
    /// `challenge_invalid`: unknown, expired or used, or not an enrolment challenge.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `not_available`: this server cannot keep authenticator apps.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `throttled`.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Answers of `POST /api/v1/portal/sessions/second-factor/totp/confirm`.
#[derive(ApiResponse)]
pub(crate) enum ChallengeConfirmResponse {
    /// Enrolled and signed in; the recovery codes are shown once.
    #[oai(status = 201)]
    Created(Json<EnrolledSessionBody>),
    /// `challenge_invalid` or `invalid_code`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `factor_not_found`: unknown or lapsed enrolment (start again); or `not_available`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
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

/// Answers of `GET /api/v1/portal/factors`.
#[derive(ApiResponse)]
pub(crate) enum FactorsResponse {
    /// The client's factors.
    #[oai(status = 200)]
    Ok(Json<FactorsBody>),
}

/// Answers of `POST /api/v1/portal/factors/totp`.
#[derive(ApiResponse)]
pub(crate) enum EnrolResponse {
    /// The enrolment started: add the secret to the app, then confirm with a code.
    #[oai(status = 201)]
    Created(Json<EnrolmentBody>),
    /// `not_available`: this server cannot keep authenticator apps.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `second_factors_off` or `too_many_factors`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/factors/totp/confirm`.
#[derive(ApiResponse)]
pub(crate) enum ConfirmResponse {
    /// Enrolled; the recovery codes (first factor only) are shown once.
    #[oai(status = 201)]
    Created(Json<EnrolledBody>),
    /// `factor_not_found` (unknown or lapsed enrolment) or `not_available`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `second_factors_off`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `invalid_code`, or `validation_failed` (the name).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// Answers of `DELETE /api/v1/portal/factors/{factor_id}`.
#[derive(ApiResponse)]
pub(crate) enum RemoveResponse {
    /// Removed (with the recovery codes, when it was the last factor); a notice is mailed.
    #[oai(status = 204)]
    NoContent,
    /// `factor_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `factor_required`: the practice requires a factor and this is the last one.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/factors/recovery-codes`.
#[derive(ApiResponse)]
pub(crate) enum RecoveryCodesResponse {
    /// Ten new codes; the old ones no longer work.
    #[oai(status = 201)]
    Created(Json<RecoveryCodesBody>),
    /// `no_factor`: set up a second factor first.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

impl Ctx {
    fn factor_problem(&self, status: StatusCode, code: ErrorCode) -> Json<Problem> {
        Json(Problem::new(status, code, self.rid()))
    }

    /// The refusals of enrolling, confirming, removing, as (status, code); infrastructure as `Err`.
    fn factor_refusal(&self, error: &FactorError) -> Result<(StatusCode, Json<Problem>), ApiError> {
        let (status, code) = match error {
            FactorError::EnrolmentOff => (StatusCode::CONFLICT, ErrorCode::SecondFactorsOff),
            FactorError::FactorNotFound => (StatusCode::NOT_FOUND, ErrorCode::FactorNotFound),
            FactorError::InvalidCode => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidCode),
            FactorError::FactorRequired => (StatusCode::CONFLICT, ErrorCode::FactorRequired),
            FactorError::NoFactor => (StatusCode::CONFLICT, ErrorCode::NoFactor),
            FactorError::TooManyFactors => (StatusCode::CONFLICT, ErrorCode::TooManyFactors),
            FactorError::TotpUnavailable | FactorError::PasskeysUnavailable => {
                (StatusCode::NOT_FOUND, ErrorCode::NotAvailable)
            }
            FactorError::CeremonyInvalid | FactorError::PasskeyRejected => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::PasskeyRejected)
            }
            FactorError::PasskeyInUse => (StatusCode::CONFLICT, ErrorCode::PasskeyInUse),
            FactorError::Invalid(invalid) => {
                let problem = ApiError::invalid_input(invalid, self.rid()).problem().clone();
                return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(problem)));
            }
            FactorError::Infrastructure(error) => return Err(ApiError::infrastructure(error, self.rid())),
        };
        Ok((status, self.factor_problem(status, code)))
    }

    /// The refusals of a second step, as (status, problem, retry-after); infrastructure as `Err`.
    fn step_refusal(&self, error: &SecondStepError) -> Result<(StatusCode, Json<Problem>, u64), ApiError> {
        let (status, code, wait) = match error {
            SecondStepError::ChallengeInvalid => (StatusCode::UNAUTHORIZED, ErrorCode::ChallengeInvalid, 0),
            SecondStepError::InvalidCode => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCode, 0),
            SecondStepError::PasskeyRejected => (StatusCode::UNAUTHORIZED, ErrorCode::PasskeyRejected, 0),
            SecondStepError::AccountDisabled => (StatusCode::FORBIDDEN, ErrorCode::AccountDisabled, 0),
            SecondStepError::Throttled { retry_after } => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::Throttled, crate::error::retry_after_secs(*retry_after))
            }
            SecondStepError::Enrolment(error) => {
                let (status, problem) = self.factor_refusal(error)?;
                return Ok((status, problem, 0));
            }
            SecondStepError::Infrastructure(error) => return Err(ApiError::infrastructure(error, self.rid())),
        };
        Ok((status, self.factor_problem(status, code), wait))
    }
}

/// A path or body id that is not a factor id names no factor.
fn factor_id(raw: &str) -> Option<FactorId> {
    FactorId::parse(raw).ok()
}

/// The client API of second factors.
pub(crate) struct ClientFactorsApi;

#[OpenApi(tag = "ApiTags::ClientPortal")]
impl ClientFactorsApi {
    /// Sign in: the second step
    ///
    /// Completes a sign-in whose password answered 202 with a challenge: the challenge and a
    /// code of the authenticator app (each code works once), a recovery code (each works
    /// once; using one mails a notice), or a passkey's answer to the ceremony
    /// `POST /api/v1/portal/sessions/second-factor/passkey` started. Wrong codes and refused
    /// passkey answers count against the username like wrong passwords.
    #[oai(path = "/api/v1/portal/sessions/second-factor", method = "post", operation_id = "sign_in_second_factor")]
    async fn second_step(&self, ctx: Ctx, body: Json<AnswerBody>) -> Result<SecondStepResponse, ApiError> {
        ctx.ip_budget()?;
        let Json(body) = body;
        // Each kind reads its own fields; one that is missing is an answer that is not right.
        let passkey_answer = passkeys::answer(body.response.as_ref().unwrap_or(&serde_json::Value::Null));
        let code = body.code.as_ref().map_or("", Text::as_str);
        let answer = match body.kind {
            AnswerKind::Totp => FactorAnswer::Totp(code),
            AnswerKind::RecoveryCode => FactorAnswer::RecoveryCode(code),
            AnswerKind::Passkey => FactorAnswer::Passkey {
                ceremony: body.ceremony.as_ref().map_or("", Text::as_str),
                response: &passkey_answer,
            },
        };
        let done = ctx.state.service.complete_second_step(body.challenge.as_str(), answer, &ctx.meta.context()).await;
        match done {
            Ok(signed_in) => {
                ctx.mail_queued();
                Ok(SecondStepResponse::Created(Json(SessionBody::of(&signed_in))))
            }
            Err(error) => Ok(match ctx.step_refusal(&error)? {
                (StatusCode::FORBIDDEN, problem, _) => SecondStepResponse::Forbidden(problem),
                (StatusCode::TOO_MANY_REQUESTS, problem, wait) => SecondStepResponse::TooManyRequests(problem, wait),
                (_, problem, _) => SecondStepResponse::Unauthorized(problem),
            }),
        }
    }

    /// Sign in: enrol the required authenticator app
    ///
    /// When the sign-in's answer said `enrolment_required`: starts enrolling an authenticator
    /// app with the challenge. Confirm with a code to open the session.
    #[oai(path = "/api/v1/portal/sessions/second-factor/totp", method = "post", operation_id = "sign_in_enrol_totp")]
    async fn challenge_enrol(&self, ctx: Ctx, body: Json<ChallengeBody>) -> Result<ChallengeEnrolResponse, ApiError> {
        ctx.ip_budget()?;
        match ctx.state.service.challenge_start_totp(body.0.challenge.as_str(), &ctx.meta.context()).await {
            Ok(enrolment) => Ok(ChallengeEnrolResponse::Created(Json(EnrolmentBody::of(&enrolment)))),
            Err(error) => Ok(match ctx.step_refusal(&error)? {
                (StatusCode::FORBIDDEN, problem, _) => ChallengeEnrolResponse::Forbidden(problem),
                (StatusCode::TOO_MANY_REQUESTS, problem, wait) => {
                    ChallengeEnrolResponse::TooManyRequests(problem, wait)
                }
                (StatusCode::NOT_FOUND, problem, _) => ChallengeEnrolResponse::NotFound(problem),
                (_, problem, _) => ChallengeEnrolResponse::Unauthorized(problem),
            }),
        }
    }

    /// Sign in: confirm the required authenticator app
    ///
    /// Confirms the enrolment with a code of the app, then opens the session. The recovery
    /// codes are shown once.
    #[oai(
        path = "/api/v1/portal/sessions/second-factor/totp/confirm",
        method = "post",
        operation_id = "sign_in_confirm_totp"
    )]
    async fn challenge_confirm(
        &self,
        ctx: Ctx,
        body: Json<ChallengeConfirmBody>,
    ) -> Result<ChallengeConfirmResponse, ApiError> {
        ctx.ip_budget()?;
        let Json(body) = body;
        let Some(id) = factor_id(body.factor_id.as_str()) else {
            return Ok(ChallengeConfirmResponse::NotFound(
                ctx.factor_problem(StatusCode::NOT_FOUND, ErrorCode::FactorNotFound),
            ));
        };
        let name = body.name.as_ref().map(Text::as_str);
        let context = ctx.meta.context();
        let confirmed =
            ctx.state.service.challenge_confirm_totp(body.challenge.as_str(), id, body.code.as_str(), name, &context);
        match confirmed.await {
            Ok((signed_in, enrolled)) => {
                ctx.mail_queued();
                Ok(ChallengeConfirmResponse::Created(Json(EnrolledSessionBody {
                    session: SessionBody::of(&signed_in),
                    enrolled: EnrolledBody::of(&enrolled),
                })))
            }
            Err(error) => Ok(match ctx.step_refusal(&error)? {
                (StatusCode::FORBIDDEN, problem, _) => ChallengeConfirmResponse::Forbidden(problem),
                (StatusCode::TOO_MANY_REQUESTS, problem, wait) => {
                    ChallengeConfirmResponse::TooManyRequests(problem, wait)
                }
                (StatusCode::NOT_FOUND, problem, _) => ChallengeConfirmResponse::NotFound(problem),
                (StatusCode::UNPROCESSABLE_ENTITY, problem, _) => ChallengeConfirmResponse::Unprocessable(problem),
                (_, problem, _) => ChallengeConfirmResponse::Unauthorized(problem),
            }),
        }
    }

    /// The signed-in client's second factors
    ///
    /// Kinds, names and dates (never a secret), the recovery codes left and the practice's
    /// policy.
    #[oai(path = "/api/v1/portal/factors", method = "get", operation_id = "list_second_factors")]
    async fn list(&self, auth: ClientSessionToken, ctx: Ctx) -> Result<FactorsResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        match ctx.state.service.factors(&session.factor_owner()).await {
            Ok(view) => Ok(FactorsResponse::Ok(Json(FactorsBody::of(&view)))),
            Err(error) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Start enrolling an authenticator app
    ///
    /// A new TOTP secret (RFC 6238: six digits, 30 seconds), its QR code and its text, for the
    /// app. Nothing counts until it is confirmed with a code within ten minutes.
    #[oai(path = "/api/v1/portal/factors/totp", method = "post", operation_id = "enrol_totp")]
    async fn enrol(&self, auth: ClientSessionToken, ctx: Ctx) -> Result<EnrolResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        match ctx.state.service.start_totp(&session.factor_owner()).await {
            Ok(enrolment) => Ok(EnrolResponse::Created(Json(EnrolmentBody::of(&enrolment)))),
            Err(error) => Ok(match ctx.factor_refusal(&error)? {
                (StatusCode::NOT_FOUND, problem) => EnrolResponse::NotFound(problem),
                (_, problem) => EnrolResponse::Conflict(problem),
            }),
        }
    }

    /// Confirm an authenticator app
    ///
    /// Confirms the enrolment with the code the app shows now. The first factor comes with ten
    /// recovery codes, shown once. A notice is mailed.
    #[oai(path = "/api/v1/portal/factors/totp/confirm", method = "post", operation_id = "confirm_totp")]
    async fn confirm(
        &self,
        auth: ClientSessionToken,
        ctx: Ctx,
        body: Json<ConfirmBody>,
    ) -> Result<ConfirmResponse, ApiError> {
        ctx.ip_budget()?;
        let session = ctx.session(&auth).await?;
        let Json(body) = body;
        let Some(id) = factor_id(body.factor_id.as_str()) else {
            return Ok(ConfirmResponse::NotFound(ctx.factor_problem(StatusCode::NOT_FOUND, ErrorCode::FactorNotFound)));
        };
        let name = body.name.as_ref().map(Text::as_str);
        let owner = session.factor_owner();
        match ctx.state.service.confirm_totp(&owner, id, body.code.as_str(), name, &ctx.meta.context()).await {
            Ok(enrolled) => {
                ctx.mail_queued();
                Ok(ConfirmResponse::Created(Json(EnrolledBody::of(&enrolled))))
            }
            Err(error) => Ok(match ctx.factor_refusal(&error)? {
                (StatusCode::NOT_FOUND, problem) => ConfirmResponse::NotFound(problem),
                (StatusCode::CONFLICT, problem) => ConfirmResponse::Conflict(problem),
                (_, problem) => ConfirmResponse::Unprocessable(problem),
            }),
        }
    }

    /// Remove a second factor
    ///
    /// Removing the last one also voids the recovery codes; a practice that requires a factor
    /// keeps the last one. A notice is mailed.
    #[oai(path = "/api/v1/portal/factors/:factor_id", method = "delete", operation_id = "remove_second_factor")]
    async fn remove(
        &self,
        auth: ClientSessionToken,
        ctx: Ctx,
        factor_id: Path<String>,
    ) -> Result<RemoveResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        let Some(id) = self::factor_id(&factor_id.0) else {
            return Ok(RemoveResponse::NotFound(ctx.factor_problem(StatusCode::NOT_FOUND, ErrorCode::FactorNotFound)));
        };
        match ctx.state.service.remove_factor(&session.factor_owner(), id, &ctx.meta.context()).await {
            Ok(()) => {
                ctx.mail_queued();
                Ok(RemoveResponse::NoContent)
            }
            Err(error) => Ok(match ctx.factor_refusal(&error)? {
                (StatusCode::NOT_FOUND, problem) => RemoveResponse::NotFound(problem),
                (_, problem) => RemoveResponse::Conflict(problem),
            }),
        }
    }

    /// New recovery codes
    ///
    /// Ten new recovery codes, shown once; the old ones stop working.
    #[oai(path = "/api/v1/portal/factors/recovery-codes", method = "post", operation_id = "regenerate_recovery_codes")]
    async fn recovery_codes(&self, auth: ClientSessionToken, ctx: Ctx) -> Result<RecoveryCodesResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        match ctx.state.service.regenerate_recovery_codes(&session.factor_owner(), &ctx.meta.context()).await {
            Ok(new) => Ok(RecoveryCodesResponse::Created(Json(RecoveryCodesBody { recovery_codes: codes(&new) }))),
            Err(error) => Ok(RecoveryCodesResponse::Conflict(ctx.factor_refusal(&error)?.1)),
        }
    }
}
