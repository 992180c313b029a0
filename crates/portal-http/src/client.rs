//! The client-portal API (design §5): link checks, registration, sign-in, the signed-in client,
//! sign-out and password resets. No staff key; practices are named by their URL slug.
//!
//! The operations that check tokens or hash passwords spend the caller's per-IP budget first.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::service::{
    DateOfBirthMismatch, LinkInfo, RegisterError, ResetError, SESSION_TOKEN_PREFIX, SessionError, SignInError,
    VerifyInviteError,
};
use portal_core::{Password, Practice};
use secrecy::ExposeSecret;

use crate::ApiTags;
use crate::auth::{ClientSessionToken, Ctx};
use crate::client_factors::SecondStepBody;
use crate::error::{ApiError, ErrorCode, Problem, weak_password};
use crate::staff::{LanguageCode, rfc3339};
use crate::text::Text;

/// A practice as clients see it.
#[derive(Object, Debug, Clone)]
#[oai(rename = "PracticeInfo")]
pub(crate) struct PracticeBody {
    /// The URL name to sign in with.
    slug: String,
    /// The display name.
    name: String,
}

impl PracticeBody {
    fn of(practice: &Practice) -> Self {
        Self { slug: practice.slug.as_str().to_owned(), name: practice.name.as_str().to_owned() }
    }
}

/// A link token from an invitation or reset email.
#[derive(Object, Debug)]
#[oai(rename = "LinkToken")]
pub(crate) struct TokenBody {
    /// The token from the link.
    #[oai(validator(min_length = 1, max_length = 256))]
    token: Text,
}

/// What a usable link opens.
#[derive(Object, Debug, Clone)]
#[oai(rename = "LinkInfo")]
pub(crate) struct LinkInfoBody {
    /// The practice.
    practice: PracticeBody,
    /// When the link stops working (RFC 3339).
    expires_at: String,
    /// True when the link opens only with the client's date of birth (`date_of_birth` in the
    /// registration or new-password request): the practice asks for it and has one on file.
    date_of_birth_required: bool,
    /// The client record's language: the link's mail was written in it, so a host's own pages
    /// for the link can use it too.
    language: LanguageCode,
}

impl LinkInfoBody {
    fn of(info: &LinkInfo) -> Self {
        Self {
            practice: PracticeBody::of(&info.practice),
            expires_at: rfc3339(info.expires_at),
            date_of_birth_required: info.date_of_birth_required,
            language: LanguageCode::of(info.language),
        }
    }
}

/// Registration from an invitation link.
#[derive(Object)]
#[oai(rename = "Registration")]
pub(crate) struct RegistrationBody {
    /// The token from the invitation link.
    #[oai(validator(min_length = 1, max_length = 256))]
    token: Text,
    /// 3–64 characters: letters, digits, `.`, `_`, `-`, `@`, starting with a letter or digit;
    /// case-insensitive; never changed afterwards. Anything else is 422 `invalid_username`.
    #[oai(validator(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"))]
    username: Text,
    /// The client's date of birth, `YYYY-MM-DD`, when the link's `verify` said
    /// `date_of_birth_required` (ignored otherwise). Checked before anything else: a missing or
    /// wrong one is 403 `date_of_birth_mismatch`. Omit or `null` when none is asked for.
    #[oai(nullable, validator(max_length = 32))]
    date_of_birth: Option<Text>,
    /// At least 15 characters by default; no composition rules; not a common password; must not
    /// contain the username or the practice's name.
    #[oai(validator(max_length = 1024))]
    password: Text,
}

/// A registered account.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Registered")]
pub(crate) struct RegisteredBody {
    /// The chosen username (lower case).
    username: String,
    /// The practice to sign in to.
    practice: PracticeBody,
}

/// A sign-in.
#[derive(Object)]
#[oai(rename = "SignIn")]
pub(crate) struct SignInBody {
    /// The practice's slug.
    #[oai(validator(max_length = 128))]
    practice: Text,
    /// The username.
    #[oai(validator(max_length = 256))]
    username: Text,
    /// The password.
    #[oai(validator(max_length = 1024))]
    password: Text,
}

/// A new session.
#[derive(Object)]
#[oai(rename = "NewSession")]
pub(crate) struct SessionBody {
    /// The bearer token for `Authorization: Bearer …`. Shown once; keep it secret.
    token: String,
    /// When the session ends if unused (RFC 3339); each use extends it, up to an absolute limit.
    expires_at: String,
}

/// The signed-in client.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Me")]
pub(crate) struct MeBody {
    /// The username.
    username: String,
    /// The practice.
    practice: PracticeBody,
    /// The client's name on file.
    client_name: String,
}

/// A new password from a reset link.
#[derive(Object)]
#[oai(rename = "NewPassword")]
pub(crate) struct ResetBody {
    /// The token from the reset link.
    #[oai(validator(min_length = 1, max_length = 256))]
    token: Text,
    /// The client's date of birth, `YYYY-MM-DD`, when the link's `verify` said
    /// `date_of_birth_required` (ignored otherwise). Checked before anything else: a missing or
    /// wrong one is 403 `date_of_birth_mismatch`. Omit or `null` when none is asked for.
    #[oai(nullable, validator(max_length = 32))]
    date_of_birth: Option<Text>,
    /// The new password (same rules as at registration).
    #[oai(validator(max_length = 1024))]
    password: Text,
}

/// Answers of `POST /api/v1/portal/invitations/verify`.
#[derive(ApiResponse)]
pub(crate) enum VerifyInviteResponse {
    /// The link is usable (checking does not consume it).
    #[oai(status = 200)]
    Ok(Json<LinkInfoBody>),
    /// `invite_not_found`: unknown, replaced by a newer invitation, or already used.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `invite_expired`: ask the practice to resend the invitation.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/registrations`.
#[derive(ApiResponse)]
pub(crate) enum RegisterResponse {
    /// Registered; the link is used up. Sign in next.
    #[oai(status = 201)]
    Created(Json<RegisteredBody>),
    /// `date_of_birth_mismatch`: the link needs the client's date of birth and it was missing
    /// or wrong; `tries_left` says how many more wrong answers it takes (after 5 wrong answers
    /// the link is closed and answers `invite_not_found`).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `invite_not_found`: unknown, replaced by a newer invitation, or already used.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `username_taken`: choose another username.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `invite_expired`: ask the practice to resend the invitation.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// `invalid_username` (see `detail`) or `weak_password` (every reason in `reasons`).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/sessions`.
#[derive(ApiResponse)]
pub(crate) enum SignInResponse {
    /// Signed in (an account without a second factor, at a practice that does not require one).
    #[oai(status = 201)]
    Created(Json<SessionBody>),
    /// The password is right and a second step must follow: the account has a second factor
    /// (answer with `POST /api/v1/portal/sessions/second-factor`), or the practice requires one
    /// and the account has none (`enrolment_required`: enrol one with the challenge). No session
    /// yet.
    #[oai(status = 202)]
    Accepted(Json<SecondStepBody>),
    /// `invalid_credentials`: unknown practice, unknown username or wrong password (the answer
    /// and its timing do not say which).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `account_disabled`: the password is right but the practice turned the account off.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `throttled`: too many failed attempts for this username (or requests from this address);
    /// retry after `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(
        Json<Problem>,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// Answers of `GET /api/v1/portal/me`.
#[derive(ApiResponse)]
pub(crate) enum MeResponse {
    /// The signed-in client.
    #[oai(status = 200)]
    Ok(Json<MeBody>),
}

/// Answers of `DELETE /api/v1/portal/sessions/current`.
#[derive(ApiResponse)]
pub(crate) enum SignOutResponse {
    /// Signed out, also when the token names a session that had already ended (signed out,
    /// expired, revoked): signing out is idempotent.
    #[oai(status = 204)]
    NoContent,
}

/// The length of a session token after its prefix: 32 random bytes in unpadded base64url.
const SESSION_TOKEN_BODY_LEN: usize = 43;

/// True when `token` has the shape of a session token this server issues (`pcs_` and 43
/// base64url characters), whether or not it names a live session.
fn is_session_token_shaped(token: &str) -> bool {
    token.strip_prefix(SESSION_TOKEN_PREFIX).is_some_and(|body| {
        body.len() == SESSION_TOKEN_BODY_LEN
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Answers of `POST /api/v1/portal/password-resets/verify`.
#[derive(ApiResponse)]
pub(crate) enum VerifyResetResponse {
    /// The link is usable (checking does not consume it).
    #[oai(status = 200)]
    Ok(Json<LinkInfoBody>),
    /// `account_disabled`: the practice turned the account off.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `reset_not_found`: unknown, replaced, voided or already used.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `reset_expired`: ask the practice for a new reset link.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
}

/// Answers of `POST /api/v1/portal/password-resets`.
#[derive(ApiResponse)]
pub(crate) enum CompleteResetResponse {
    /// The password was changed: every session ended, the client is not signed in, and a
    /// "your password was changed" email is queued.
    #[oai(status = 204)]
    NoContent,
    /// `account_disabled`: the practice turned the account off; or `date_of_birth_mismatch`:
    /// the link needs the client's date of birth and it was missing or wrong, `tries_left`
    /// says how many more wrong answers it takes (after 5 wrong answers the link is closed and
    /// answers `reset_not_found`).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `reset_not_found`: unknown, replaced, voided or already used.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `reset_expired`: ask the practice for a new reset link.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// `weak_password`: every reason in `reasons`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
}

/// The client-portal API.
pub(crate) struct ClientApi;

impl Ctx {
    fn client_problem(&self, status: StatusCode, code: ErrorCode) -> Json<Problem> {
        Json(Problem::new(status, code, self.rid()))
    }

    /// 403 `date_of_birth_mismatch` with the tries left.
    fn date_of_birth_problem(&self, refused: DateOfBirthMismatch) -> Json<Problem> {
        let mut problem = Problem::new(StatusCode::FORBIDDEN, ErrorCode::DateOfBirthMismatch, self.rid());
        problem.tries_left = Some(refused.tries_left);
        Json(problem)
    }
}

/// The answer for a refused reset link, shared by verify and complete.
enum ResetRefusal {
    Forbidden(Json<Problem>),
    NotFound(Json<Problem>),
    Gone(Json<Problem>),
}

fn reset_refusal(ctx: &Ctx, refused: &ResetRedeemRefused) -> ResetRefusal {
    match refused {
        // A link closed after too many wrong dates of birth answers like a voided one.
        ResetRedeemRefused::ResetNotFound | ResetRedeemRefused::ResetClosed => {
            ResetRefusal::NotFound(ctx.client_problem(StatusCode::NOT_FOUND, ErrorCode::ResetNotFound))
        }
        ResetRedeemRefused::ResetExpired => {
            ResetRefusal::Gone(ctx.client_problem(StatusCode::GONE, ErrorCode::ResetExpired))
        }
        ResetRedeemRefused::AccountDisabled => {
            ResetRefusal::Forbidden(ctx.client_problem(StatusCode::FORBIDDEN, ErrorCode::AccountDisabled))
        }
    }
}

#[OpenApi(tag = "ApiTags::ClientPortal")]
impl ClientApi {
    /// Check an invitation link
    ///
    /// Says whether an invitation link is usable, without consuming it (mail scanners and link
    /// previews open links too).
    #[oai(path = "/api/v1/portal/invitations/verify", method = "post", operation_id = "verify_invitation")]
    async fn verify_invitation(&self, ctx: Ctx, body: Json<TokenBody>) -> Result<VerifyInviteResponse, ApiError> {
        ctx.ip_budget()?;
        match ctx.state.service.verify_invite(body.0.token.as_str()).await {
            Ok(info) => Ok(VerifyInviteResponse::Ok(Json(LinkInfoBody::of(&info)))),
            Err(VerifyInviteError::Refused(
                InviteRedeemRefused::InviteNotFound | InviteRedeemRefused::InviteClosed,
            )) => {
                Ok(VerifyInviteResponse::NotFound(ctx.client_problem(StatusCode::NOT_FOUND, ErrorCode::InviteNotFound)))
            }
            Err(VerifyInviteError::Refused(InviteRedeemRefused::InviteExpired)) => {
                Ok(VerifyInviteResponse::Gone(ctx.client_problem(StatusCode::GONE, ErrorCode::InviteExpired)))
            }
            Err(VerifyInviteError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Register
    ///
    /// Chooses a username and password with an invitation link, which is then used up.
    #[oai(path = "/api/v1/portal/registrations", method = "post", operation_id = "register")]
    async fn register(&self, ctx: Ctx, body: Json<RegistrationBody>) -> Result<RegisterResponse, ApiError> {
        ctx.ip_budget()?;
        ctx.hashing_room()?;
        let Json(body) = body;
        let password = Password::new(body.password.as_str());
        let context = ctx.meta.context();
        let date_of_birth = body.date_of_birth.as_ref().map(Text::as_str);
        let registered = ctx.state.service.register_with_date_of_birth(
            body.token.as_str(),
            date_of_birth,
            body.username.as_str(),
            &password,
            &context,
        );
        match registered.await {
            Ok(registered) => Ok(RegisterResponse::Created(Json(RegisteredBody {
                username: registered.username.to_string(),
                practice: PracticeBody::of(&registered.practice),
            }))),
            Err(RegisterError::Refused(InviteRedeemRefused::InviteNotFound | InviteRedeemRefused::InviteClosed)) => {
                Ok(RegisterResponse::NotFound(ctx.client_problem(StatusCode::NOT_FOUND, ErrorCode::InviteNotFound)))
            }
            Err(RegisterError::Refused(InviteRedeemRefused::InviteExpired)) => {
                Ok(RegisterResponse::Gone(ctx.client_problem(StatusCode::GONE, ErrorCode::InviteExpired)))
            }
            Err(RegisterError::DateOfBirthMismatch(refused)) => {
                Ok(RegisterResponse::Forbidden(ctx.date_of_birth_problem(refused)))
            }
            Err(RegisterError::InvalidUsername(invalid)) => Ok(RegisterResponse::Unprocessable(Json(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidUsername, ctx.rid())
                    .with_detail(invalid.to_string()),
            ))),
            Err(RegisterError::UsernameTaken) => {
                Ok(RegisterResponse::Conflict(ctx.client_problem(StatusCode::CONFLICT, ErrorCode::UsernameTaken)))
            }
            Err(RegisterError::WeakPassword(weak)) => {
                Ok(RegisterResponse::Unprocessable(Json(weak_password(&weak, ctx.rid()))))
            }
            Err(RegisterError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Sign in
    ///
    /// Signs in with the practice's slug, the username and the password, and returns a session
    /// token, or (202) a challenge for the second step when the account has a second factor or
    /// the practice requires one. Repeated failures for a username are answered with growing delays (429) and, after
    /// many, a lock until the practice acts or a cool-down passes.
    #[oai(path = "/api/v1/portal/sessions", method = "post", operation_id = "sign_in")]
    async fn sign_in(&self, ctx: Ctx, body: Json<SignInBody>) -> Result<SignInResponse, ApiError> {
        ctx.ip_budget()?;
        ctx.hashing_room()?;
        let Json(body) = body;
        let password = Password::new(body.password.as_str());
        let context = ctx.meta.context();
        match ctx.state.service.sign_in(body.practice.as_str(), body.username.as_str(), &password, &context).await {
            Ok(signed_in) => Ok(SignInResponse::Created(Json(SessionBody {
                token: signed_in.token.expose().expose_secret().to_owned(),
                expires_at: rfc3339(signed_in.expires_at),
            }))),
            Err(SignInError::InvalidCredentials) => Ok(SignInResponse::Unauthorized(
                ctx.client_problem(StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials),
            )),
            Err(SignInError::AccountDisabled) => {
                Ok(SignInResponse::Forbidden(ctx.client_problem(StatusCode::FORBIDDEN, ErrorCode::AccountDisabled)))
            }
            Err(SignInError::Throttled { retry_after }) => Ok(SignInResponse::TooManyRequests(
                ctx.client_problem(StatusCode::TOO_MANY_REQUESTS, ErrorCode::Throttled),
                crate::error::retry_after_secs(retry_after),
            )),
            Err(SignInError::SecondFactor(step)) => Ok(SignInResponse::Accepted(Json(SecondStepBody::of(&step)))),
            Err(SignInError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// The signed-in client
    ///
    /// Who the session belongs to. Each use extends the session's idle deadline.
    #[oai(path = "/api/v1/portal/me", method = "get", operation_id = "get_me")]
    async fn get_me(&self, auth: ClientSessionToken, ctx: Ctx) -> Result<MeResponse, ApiError> {
        let session = ctx.session(&auth).await?;
        Ok(MeResponse::Ok(Json(MeBody {
            username: session.username.to_string(),
            practice: PracticeBody::of(&session.practice),
            client_name: session.client_name.as_str().to_owned(),
        })))
    }

    /// Sign out
    ///
    /// Ends the session. Idempotent: a session token that names an ended session (already
    /// signed out, expired, revoked) is 204 too. No bearer token, or one that is not a session
    /// token at all (a staff key, anything not `pcs_…`), is 401 `unauthenticated`, as for
    /// `GET /api/v1/portal/me`.
    #[oai(path = "/api/v1/portal/sessions/current", method = "delete", operation_id = "sign_out")]
    async fn sign_out(&self, auth: ClientSessionToken, ctx: Ctx) -> Result<SignOutResponse, ApiError> {
        // A repeated sign-out must stay 204, so an unknown session is not an error; but a
        // credential that cannot be a session token is not a sign-out at all.
        if !is_session_token_shaped(auth.token().trim()) {
            return Err(ApiError::unauthenticated(ctx.rid()));
        }
        match ctx.state.service.sign_out(auth.token(), &ctx.meta.context()).await {
            Ok(()) => Ok(SignOutResponse::NoContent),
            Err(SessionError::Unauthenticated) => Ok(SignOutResponse::NoContent),
            Err(SessionError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Check a password-reset link
    ///
    /// Says whether a reset link is usable, without consuming it.
    #[oai(path = "/api/v1/portal/password-resets/verify", method = "post", operation_id = "verify_password_reset")]
    async fn verify_password_reset(&self, ctx: Ctx, body: Json<TokenBody>) -> Result<VerifyResetResponse, ApiError> {
        ctx.ip_budget()?;
        match ctx.state.service.verify_reset(body.0.token.as_str()).await {
            Ok(info) => Ok(VerifyResetResponse::Ok(Json(LinkInfoBody::of(&info)))),
            Err(ResetError::Refused(refused)) => Ok(match reset_refusal(&ctx, &refused) {
                ResetRefusal::Forbidden(problem) => VerifyResetResponse::Forbidden(problem),
                ResetRefusal::NotFound(problem) => VerifyResetResponse::NotFound(problem),
                ResetRefusal::Gone(problem) => VerifyResetResponse::Gone(problem),
            }),
            // Verifying checks no password and no date of birth; the core never answers these here.
            Err(ResetError::WeakPassword(weak)) => Err(ApiError::from_problem(weak_password(&weak, ctx.rid()), None)),
            Err(ResetError::DateOfBirthMismatch(refused)) => {
                Ok(VerifyResetResponse::Forbidden(ctx.date_of_birth_problem(refused)))
            }
            Err(ResetError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Set a new password
    ///
    /// Sets a new password with a reset link, which is then used up. Every session ends; the
    /// client signs in again with the new password.
    #[oai(path = "/api/v1/portal/password-resets", method = "post", operation_id = "complete_password_reset")]
    async fn complete_password_reset(
        &self,
        ctx: Ctx,
        body: Json<ResetBody>,
    ) -> Result<CompleteResetResponse, ApiError> {
        ctx.ip_budget()?;
        ctx.hashing_room()?;
        let Json(body) = body;
        let password = Password::new(body.password.as_str());
        let date_of_birth = body.date_of_birth.as_ref().map(Text::as_str);
        let context = ctx.meta.context();
        let done = ctx.state.service.complete_reset_with_date_of_birth(
            body.token.as_str(),
            date_of_birth,
            &password,
            &context,
        );
        match done.await {
            Ok(()) => {
                ctx.mail_queued();
                Ok(CompleteResetResponse::NoContent)
            }
            Err(ResetError::Refused(refused)) => Ok(match reset_refusal(&ctx, &refused) {
                ResetRefusal::Forbidden(problem) => CompleteResetResponse::Forbidden(problem),
                ResetRefusal::NotFound(problem) => CompleteResetResponse::NotFound(problem),
                ResetRefusal::Gone(problem) => CompleteResetResponse::Gone(problem),
            }),
            Err(ResetError::DateOfBirthMismatch(refused)) => {
                Ok(CompleteResetResponse::Forbidden(ctx.date_of_birth_problem(refused)))
            }
            Err(ResetError::WeakPassword(weak)) => {
                Ok(CompleteResetResponse::Unprocessable(Json(weak_password(&weak, ctx.rid()))))
            }
            Err(ResetError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }
}
