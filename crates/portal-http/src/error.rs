//! Errors as `application/problem+json` (RFC 9457) with a stable `code`.
//!
//! Every answer that is not a success is a [`Problem`]: `{type, title, status, code, detail?,
//! request_id, reasons?}`. `title` is a fixed sentence per code and `detail` only ever holds text
//! this crate wrote about the request itself (a field rule, a password rule): never the text of an
//! internal error, which is logged with the request id instead.
//!
//! Handlers answer operation-specific refusals through the variants of their own response enum
//! and everything cross-cutting (authentication, infrastructure, throttling) through
//! [`ApiError`]. Errors raised outside a handler (malformed JSON, a missing bearer token, an
//! unknown path, an oversized body) reach the edge middleware as `poem::Error`s and are turned
//! into problems by [`problem_for_poem_error`].

use std::fmt::Write as _;

use jiff::SignedDuration;
use poem::http::StatusCode;
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object};
use portal_core::password_policy::WeakPassword;
use portal_core::service::Infrastructure;
use portal_core::{HashError, InvalidInput, StoreError};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The stable, machine-readable error codes of the HTTP contract (design §5). Programs branch on
/// these, never on `title` or `detail`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no, an unknown or an expired staff key or session token.
    Unauthenticated,
    /// 404: no such client in the staff member's practice (another practice's client too).
    ClientNotFound,
    /// 409: the client already registered; send a password reset instead.
    AccountExists,
    /// 409: the client has not registered; send an invitation instead.
    NoAccount,
    /// 409 for staff (enable the account first), 403 for the client.
    AccountDisabled,
    /// 409: no email address on file.
    NoEmail,
    /// 409: the client asked not to be emailed.
    EmailNotPermitted,
    /// 404: the invitation link is unknown, was replaced by a newer one, or was used.
    InviteNotFound,
    /// 410: the invitation link expired; ask the practice to resend it.
    InviteExpired,
    /// 404: the reset link is unknown, was replaced or voided, or was used.
    ResetNotFound,
    /// 410: the reset link expired.
    ResetExpired,
    /// 403: the link needs the client's date of birth and it was missing or does not match
    /// (which part is never said); `tries_left` says how many wrong answers the link still
    /// takes (at 0 it is closed: ask the practice for a new link).
    DateOfBirthMismatch,
    /// 409: another account of the practice has this username.
    UsernameTaken,
    /// 422: the username breaks the rules (see `detail`).
    InvalidUsername,
    /// 422: the password breaks the rules; every reason is listed in `reasons`.
    WeakPassword,
    /// 401: unknown practice, unknown username or wrong password (indistinguishable on purpose).
    InvalidCredentials,
    /// 429: too many attempts; retry after `Retry-After` seconds.
    Throttled,
    /// 404: no practice has this slug.
    PracticeNotFound,
    /// 404: the practice does not let clients start password resets (ask the practice).
    NotAvailable,
    /// 503: password hashing is saturated; retry after `Retry-After` seconds.
    Busy,
    /// 400: the request is malformed (not JSON, wrong types, missing fields, bad parameters).
    InvalidRequest,
    /// 422: a field breaks a rule (length, pattern, format; see `detail`).
    ValidationFailed,
    /// 422: the list `cursor` is not one the list gave out (cut, altered or made up); start
    /// again from the first page.
    InvalidCursor,
    /// 413: the request body is larger than allowed.
    PayloadTooLarge,
    /// 415: the request body is not `application/json`.
    UnsupportedMediaType,
    /// 404: no such path.
    NotFound,
    /// 405: the path does not accept this method.
    MethodNotAllowed,
    /// 409: the record kept changing under concurrent updates; retry.
    Conflict,
    /// 422: the portal does not keep the client records here (a host owns them), so it cannot
    /// find "every client"; name the clients instead.
    NoClientRecords,
    /// 401: the second-step challenge is unknown, expired (five minutes), used, or for the
    /// other purpose; sign in again.
    ChallengeInvalid,
    /// 401 at the second step, 422 when confirming an enrolment: the code is wrong or was used
    /// before.
    InvalidCode,
    /// 404: no such second factor (or pending enrolment) of this client, or the enrolment
    /// lapsed.
    FactorNotFound,
    /// 409: the practice has second factors off, so nothing can be enrolled.
    SecondFactorsOff,
    /// 409: the practice requires a second factor and this is the client's last one.
    FactorRequired,
    /// 409: the client has no second factor (recovery codes stand beside one).
    NoFactor,
    /// 409: the client holds as many second factors as allowed.
    TooManyFactors,
    /// 401 at sign-in, 422 when registering: the passkey's answer did not verify (another
    /// site's, another challenge's, an unknown or removed passkey, no user verification), or
    /// its ceremony is unknown, expired (five minutes) or finished; start the passkey again.
    PasskeyRejected,
    /// 409: this passkey (the authenticator's credential) is registered already.
    PasskeyInUse,
    /// 503: a dependency (the database) is unavailable; retry later.
    Unavailable,
    /// 500: something unexpected failed; quote the `request_id` when reporting it.
    Internal,
}

impl ErrorCode {
    /// The code as it appears in `code`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::ClientNotFound => "client_not_found",
            Self::AccountExists => "account_exists",
            Self::NoAccount => "no_account",
            Self::AccountDisabled => "account_disabled",
            Self::NoEmail => "no_email",
            Self::EmailNotPermitted => "email_not_permitted",
            Self::InviteNotFound => "invite_not_found",
            Self::InviteExpired => "invite_expired",
            Self::ResetNotFound => "reset_not_found",
            Self::ResetExpired => "reset_expired",
            Self::DateOfBirthMismatch => "date_of_birth_mismatch",
            Self::UsernameTaken => "username_taken",
            Self::InvalidUsername => "invalid_username",
            Self::WeakPassword => "weak_password",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Throttled => "throttled",
            Self::PracticeNotFound => "practice_not_found",
            Self::NotAvailable => "not_available",
            Self::Busy => "busy",
            Self::InvalidRequest => "invalid_request",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidCursor => "invalid_cursor",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::NoClientRecords => "no_client_records",
            Self::ChallengeInvalid => "challenge_invalid",
            Self::InvalidCode => "invalid_code",
            Self::FactorNotFound => "factor_not_found",
            Self::SecondFactorsOff => "second_factors_off",
            Self::FactorRequired => "factor_required",
            Self::NoFactor => "no_factor",
            Self::TooManyFactors => "too_many_factors",
            Self::PasskeyRejected => "passkey_rejected",
            Self::PasskeyInUse => "passkey_in_use",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// The fixed, human-readable `title` of the code.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::Unauthenticated => "Authentication is required",
            Self::ClientNotFound => "No such client",
            Self::AccountExists => "The client already has a portal account; send a password reset instead",
            Self::NoAccount => "The client has no portal account; send an invitation instead",
            Self::AccountDisabled => "The portal account is disabled",
            Self::NoEmail => "The client has no email address on file",
            Self::EmailNotPermitted => "The client has asked not to be emailed",
            Self::InviteNotFound => "This invitation link is not valid; ask your provider to resend the invitation",
            Self::InviteExpired => "This invitation link has expired; ask your provider to resend the invitation",
            Self::ResetNotFound => "This password-reset link is not valid",
            Self::ResetExpired => "This password-reset link has expired",
            Self::DateOfBirthMismatch => "The date of birth does not match our records",
            Self::UsernameTaken => "This username is already taken",
            Self::InvalidUsername => "The username is not valid",
            Self::WeakPassword => "The password was refused",
            Self::InvalidCredentials => "Invalid username or password",
            Self::Throttled => "Too many attempts; retry later",
            Self::PracticeNotFound => "No practice has this address",
            Self::NotAvailable => "This practice does not take password-reset requests; ask the practice",
            Self::Busy => "The server is busy; retry shortly",
            Self::InvalidRequest => "The request is malformed",
            Self::ValidationFailed => "A field of the request is not valid",
            Self::InvalidCursor => "The cursor is not one this list gave out; start again from the first page",
            Self::PayloadTooLarge => "The request body is too large",
            Self::UnsupportedMediaType => "The request body must be application/json",
            Self::NotFound => "No such resource",
            Self::MethodNotAllowed => "This method is not allowed here",
            Self::Conflict => "The record is being changed concurrently; retry",
            Self::NoClientRecords => "The portal does not keep the client records here; name the clients in client_ids",
            Self::ChallengeInvalid => "This sign-in step has expired; sign in again",
            Self::InvalidCode => "The code is not right",
            Self::FactorNotFound => "No such second factor",
            Self::SecondFactorsOff => "The practice does not use second factors",
            Self::FactorRequired => "The practice requires a second factor; add another before removing this one",
            Self::NoFactor => "No second factor is set up",
            Self::TooManyFactors => "No more second factors can be added",
            Self::PasskeyRejected => "The passkey was not accepted; try it again",
            Self::PasskeyInUse => "This passkey is registered already",
            Self::Unavailable => "The service is temporarily unavailable; retry later",
            Self::Internal => "An unexpected error occurred; quote the request id when reporting it",
        }
    }
}

/// One reason a password was refused.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Stable code: `too_short`, `too_long`, `too_many_bytes`, `common`, `contains_username`,
    /// `contains_practice_name`, `control_characters`.
    pub code: String,
    /// What to do, in words a client understands.
    pub message: String,
}

/// An RFC 9457 problem: the body of every error answer (`application/problem+json`).
#[derive(Object, Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem type: `urn:portal:problem:<code>`.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// A fixed sentence per `code`.
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The stable machine-readable code.
    pub code: ErrorCode,
    /// More about this occurrence (which field, which rule); never internal error text.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The request id (also in the `X-Request-Id` header): quote it when reporting a problem.
    pub request_id: String,
    /// For `weak_password`: every reason the password was refused.
    #[oai(skip_serializing_if_is_none)]
    pub reasons: Option<Vec<Reason>>,
    /// For `date_of_birth_mismatch`: how many more wrong answers the link takes before it is
    /// closed (0: it is closed now).
    #[oai(skip_serializing_if_is_none)]
    pub tries_left: Option<u8>,
}

impl Problem {
    /// A problem with the code's title and no detail.
    #[must_use]
    pub fn new(status: StatusCode, code: ErrorCode, request_id: &str) -> Self {
        Self {
            problem_type: format!("urn:portal:problem:{}", code.as_str()),
            title: code.title().to_owned(),
            status: status.as_u16(),
            code,
            detail: None,
            request_id: request_id.to_owned(),
            reasons: None,
            tries_left: None,
        }
    }

    /// Adds a detail (text about the request only).
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The HTTP status.
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// Cross-cutting failures any operation may answer, as `application/problem+json`.
#[derive(ApiResponse, Debug)]
pub enum ApiError {
    /// A problem with the request: `invalid_request` (400), `unauthenticated` (401, with
    /// `WWW-Authenticate: Bearer`), `not_found` (404), `conflict` (409, retry),
    /// `payload_too_large` (413), `unsupported_media_type` (415), `validation_failed` (422),
    /// `throttled` (429, with `Retry-After`). Operation-specific codes are listed with the
    /// operation's own status codes.
    #[oai(status_range = "4XX", content_type = "application/problem+json")]
    Client(
        StatusCode,
        Json<Box<Problem>>,
        /// Seconds to wait before retrying (`throttled`).
        #[oai(header = "Retry-After")]
        Option<u64>,
        /// `Bearer` (`unauthenticated`).
        #[oai(header = "WWW-Authenticate")]
        Option<String>,
    ),
    /// A problem on the server: `busy` (503, with `Retry-After`), `unavailable` (503), `internal`
    /// (500). The body never holds internal error text: quote `request_id` when reporting it.
    #[oai(status_range = "5XX", content_type = "application/problem+json")]
    Server(
        StatusCode,
        Json<Box<Problem>>,
        /// Seconds to wait before retrying (`busy`, `unavailable`).
        #[oai(header = "Retry-After")]
        Option<u64>,
    ),
}

impl ApiError {
    /// The answer for `problem`, with `Retry-After` when given and `WWW-Authenticate: Bearer`
    /// for `unauthenticated`.
    #[must_use]
    pub fn from_problem(problem: Problem, retry_after: Option<u64>) -> Self {
        let status = problem.status_code();
        if status.is_server_error() {
            Self::Server(status, Json(Box::new(problem)), retry_after)
        } else {
            let challenge = (problem.code == ErrorCode::Unauthenticated).then(|| "Bearer".to_owned());
            Self::Client(status, Json(Box::new(problem)), retry_after, challenge)
        }
    }

    /// A problem with the code's title and no detail.
    #[must_use]
    pub fn new(status: StatusCode, code: ErrorCode, request_id: &str) -> Self {
        Self::from_problem(Problem::new(status, code, request_id), None)
    }

    /// 401 `unauthenticated` with `WWW-Authenticate: Bearer`.
    #[must_use]
    pub fn unauthenticated(request_id: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, request_id)
    }

    /// 503 `busy` with `Retry-After: 1`: the password hashing pool has no room for this request.
    #[must_use]
    pub fn busy(request_id: &str) -> Self {
        Self::from_problem(Problem::new(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, request_id), Some(1))
    }

    /// 429 `throttled` with `Retry-After` (whole seconds, rounded up, at least 1).
    #[must_use]
    pub fn throttled(retry_after: SignedDuration, request_id: &str) -> Self {
        Self::from_problem(
            Problem::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::Throttled, request_id),
            Some(retry_after_secs(retry_after)),
        )
    }

    /// 422 `validation_failed` for a field rule the core enforces.
    #[must_use]
    pub fn invalid_input(error: &InvalidInput, request_id: &str) -> Self {
        Self::from_problem(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, request_id)
                .with_detail(error.to_string()),
            None,
        )
    }

    /// The answer for an infrastructure failure. Logs the error chain with the request id; the
    /// answer holds neither.
    #[must_use]
    pub fn infrastructure(error: &Infrastructure, request_id: &str) -> Self {
        let (status, code, retry_after) = match error {
            Infrastructure::Busy => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, Some(1)),
            Infrastructure::Contended => (StatusCode::CONFLICT, ErrorCode::Conflict, None),
            Infrastructure::Store(StoreError::Unavailable(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, Some(5))
            }
            Infrastructure::Store(
                StoreError::Conflict
                | StoreError::UsernameTaken
                | StoreError::Duplicate(_)
                | StoreError::NotFound(_)
                | StoreError::Corrupt(_),
            ) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, None),
            Infrastructure::Hashing(HashError::Saturated) => {
                (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy, Some(1))
            }
            Infrastructure::Hashing(
                HashError::Malformed | HashError::ParametersOutOfBounds(_) | HashError::Failed(_),
            ) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, None),
            Infrastructure::Randomness(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, Some(5)),
            Infrastructure::Passkeys(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, None),
        };
        match code {
            ErrorCode::Busy | ErrorCode::Conflict => {
                tracing::warn!(request_id, error = %chain(error), "request refused: {}", code.as_str());
            }
            _ => tracing::error!(request_id, error = %chain(error), "request failed: {}", code.as_str()),
        }
        Self::from_problem(Problem::new(status, code, request_id), retry_after)
    }

    /// The problem inside.
    #[must_use]
    pub fn problem(&self) -> &Problem {
        match self {
            Self::Client(_, Json(problem), ..) | Self::Server(_, Json(problem), _) => problem,
        }
    }
}

/// The problem for a refused password, listing every reason.
#[must_use]
pub fn weak_password(weak: &WeakPassword, request_id: &str) -> Problem {
    let mut problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::WeakPassword, request_id);
    problem.detail = Some(weak.to_string());
    problem.reasons = Some(
        weak.0.iter().map(|reason| Reason { code: reason.code().to_owned(), message: reason.to_string() }).collect(),
    );
    problem
}

/// Whole seconds, rounded up, at least 1 (a `Retry-After` of 0 invites a busy loop).
#[must_use]
pub fn retry_after_secs(duration: SignedDuration) -> u64 {
    let secs = duration.as_secs();
    let rounded = if duration.subsec_nanos() > 0 { secs.saturating_add(1) } else { secs };
    u64::try_from(rounded).unwrap_or(0).max(1)
}

/// `error: source: source…`, for logs only.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    text
}

/// Turns an error raised outside a handler (by an extractor, the router or a middleware) into a
/// problem answer. `ApiError`s returned by handlers arrive already rendered and never come here.
pub(crate) fn problem_for_poem_error(error: &poem::Error, request_id: &str) -> ApiError {
    let problem = |status: StatusCode, code: ErrorCode| Problem::new(status, code, request_id);
    if let Some(payload) = error.downcast_ref::<ParseRequestPayloadError>() {
        let (status, code, detail) = payload_problem(&payload.reason);
        return ApiError::from_problem(problem(status, code).with_detail(detail), None);
    }
    if let Some(param) = error.downcast_ref::<ParseParamError>() {
        let status_code = if param.reason.contains("verification failed") {
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed)
        } else {
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest)
        };
        let detail = format!("parameter `{}` is not valid", param.name);
        return ApiError::from_problem(problem(status_code.0, status_code.1).with_detail(detail), None);
    }
    if let Some(path) = error.downcast_ref::<ParsePathError>() {
        let detail = format!("path segment `{}` is not valid", path.name);
        return ApiError::from_problem(
            problem(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest).with_detail(detail),
            None,
        );
    }
    if error.is::<AuthorizationError>() {
        return ApiError::unauthenticated(request_id);
    }
    if let Some(content_type) = error.downcast_ref::<ContentTypeError>() {
        let detail = match content_type {
            ContentTypeError::ExpectContentType => "send the body with `Content-Type: application/json`",
            ContentTypeError::NotSupported { .. } => "only `application/json` bodies are accepted",
        };
        return ApiError::from_problem(
            problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType).with_detail(detail),
            None,
        );
    }
    let status = error.status();
    let code = match status {
        StatusCode::UNAUTHORIZED => ErrorCode::Unauthenticated,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::LENGTH_REQUIRED => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::Throttled,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::ValidationFailed,
        StatusCode::CONFLICT => ErrorCode::Conflict,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::Unavailable,
        s if s.is_client_error() => ErrorCode::InvalidRequest,
        _ => ErrorCode::Internal,
    };
    let status = match code {
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => status,
    };
    if status.is_server_error() {
        tracing::error!(request_id, error = %error, "request failed outside a handler");
    }
    ApiError::from_problem(problem(status, code), None)
}

/// Classifies poem-openapi's payload parse message without echoing the request's values (which
/// may hold a password): a validator failure is a 422 naming the field and the rule; anything
/// else is a 400 saying what kind of mistake it is.
fn payload_problem(reason: &str) -> (StatusCode, ErrorCode, String) {
    // Built by poem-openapi's derive as "field `name` verification failed. maxLength(64)": the
    // field name and the validator, no value.
    if let Some(start) = reason.find("field `")
        && reason[start..].contains("verification failed")
    {
        let detail = reason[start..].split(" (occurred while parsing").next().unwrap_or_default().trim().to_owned();
        // The registration username rules are stated in the document as validators, but the
        // contract names their refusal `invalid_username`, as when the core refuses one.
        let code = if reason.contains("\"Registration\"") && reason[start..].starts_with("field `username`") {
            ErrorCode::InvalidUsername
        } else {
            ErrorCode::ValidationFailed
        };
        return (StatusCode::UNPROCESSABLE_ENTITY, code, detail);
    }
    let detail = if reason.contains(" at line ") && reason.contains(" column ") {
        // serde_json syntax errors name a position, never a value.
        format!("the body is not valid JSON: {reason}")
    } else if reason.contains("expects an input value") || reason.contains(", found null") {
        "a required field is missing or null".to_owned()
    } else if let Some(start) = reason.find("unknown field `") {
        let field = reason[start..].split('`').nth(1).unwrap_or_default();
        format!("unknown field `{field}`")
    } else if reason.starts_with("Expected input type") || reason.contains("Expected input type") {
        let expected = reason.split('"').nth(1).unwrap_or("another type");
        format!("a field (or the body) has the wrong type; expected {expected}")
    } else {
        "the body does not match the operation's schema".to_owned()
    };
    (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(SignedDuration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(SignedDuration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(SignedDuration::from_secs(30)), 30);
        assert_eq!(retry_after_secs(SignedDuration::ZERO), 1);
        assert_eq!(retry_after_secs(SignedDuration::from_secs(-5)), 1);
    }

    #[test]
    fn payload_messages_never_echo_values() {
        let (status, code, detail) =
            payload_problem(r#"Expected input type "string", found 12345. (occurred while parsing "SignIn")"#);
        assert_eq!((status, code), (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest));
        assert!(!detail.contains("12345"), "{detail}");

        let (status, code, detail) =
            payload_problem(r#"failed to parse "SignIn": field `username` verification failed. maxLength(64)"#);
        assert_eq!((status, code), (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed));
        assert_eq!(detail, "field `username` verification failed. maxLength(64)");
    }
}
