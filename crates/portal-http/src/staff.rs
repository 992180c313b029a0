//! The staff API (design §5): client records and their portal accounts. Every operation takes a
//! staff key; a client of another practice is a 404.

use jiff::Timestamp;
use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use portal_core::service::{
    ClientError, ClientPatch, ClientView, LinkSent, NewClient, PortalView, SendInviteError, SendResetError,
    ToggleError, TokenView,
};
use portal_core::{
    Actor, AuditEvent, ClientId, DeliveryState, DisableReason, Language, PortalStatus,
    account::{ResetRefused, ToggleRefused},
};

use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

/// RFC 3339, UTC.
pub(crate) fn rfc3339(at: Timestamp) -> String {
    at.to_string()
}

/// A client's portal state, as staff see it (design §2).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum PortalState {
    /// No account and no invitation sent.
    NoAccount,
    /// Invitation sent and still usable.
    Invited,
    /// Invitation sent but expired: resend it.
    InviteExpired,
    /// Registered; the toggle is on.
    Active,
    /// Registered; the toggle is off.
    Disabled,
}

impl PortalState {
    fn filter_name(self) -> &'static str {
        match self {
            Self::NoAccount => "no_account",
            Self::Invited => "invited",
            Self::InviteExpired => "invite_expired",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// When a link was sent and when it stops (or stopped) working.
#[derive(Object, Debug, Clone)]
pub(crate) struct LinkTimes {
    /// When it was sent (RFC 3339).
    sent_at: String,
    /// When it stops (or stopped) working (RFC 3339).
    expires_at: String,
}

/// The portal status in a client record.
#[derive(Object, Debug, Clone)]
pub(crate) struct PortalSummary {
    /// The state.
    state: PortalState,
    /// The on/off toggle: true while the account is active.
    enabled: bool,
    /// The username, once registered.
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    /// Staff's note when disabled.
    #[oai(skip_serializing_if_is_none)]
    disabled_reason: Option<String>,
    /// The latest invitation, while the client has no account.
    #[oai(skip_serializing_if_is_none)]
    invite: Option<LinkTimes>,
}

struct StatusParts {
    state: PortalState,
    enabled: bool,
    username: Option<String>,
    disabled_reason: Option<String>,
}

fn status_parts(status: &PortalStatus) -> StatusParts {
    let (state, username, disabled_reason) = match status {
        PortalStatus::NotInvited => (PortalState::NoAccount, None, None),
        PortalStatus::Invited { .. } => (PortalState::Invited, None, None),
        PortalStatus::InviteExpired { .. } => (PortalState::InviteExpired, None, None),
        PortalStatus::Active { username } => (PortalState::Active, Some(username.to_string()), None),
        PortalStatus::Disabled { username, reason } => (
            PortalState::Disabled,
            Some(username.to_string()),
            reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty()),
        ),
    };
    StatusParts { state, enabled: state == PortalState::Active, username, disabled_reason }
}

impl PortalSummary {
    fn of(status: &PortalStatus) -> Self {
        let invite = match status {
            PortalStatus::Invited { sent_at, expires_at } => {
                Some(LinkTimes { sent_at: rfc3339(*sent_at), expires_at: rfc3339(*expires_at) })
            }
            PortalStatus::InviteExpired { sent_at, expired_at } => {
                Some(LinkTimes { sent_at: rfc3339(*sent_at), expires_at: rfc3339(*expired_at) })
            }
            _ => None,
        };
        let StatusParts { state, enabled, username, disabled_reason } = status_parts(status);
        Self { state, enabled, username, disabled_reason, invite }
    }
}

/// A client record with its portal status.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Client")]
pub(crate) struct ClientBody {
    /// The client id (UUID).
    id: String,
    /// Full name.
    name: String,
    /// The email on file; absent when there is none (the client gets no mail).
    #[oai(skip_serializing_if_is_none)]
    email: Option<String>,
    /// The language mail is written in.
    language: LanguageCode,
    /// False when the client asked not to be emailed.
    email_consent: bool,
    /// When the record was created (RFC 3339).
    created_at: String,
    /// The portal status at the time of the request.
    portal: PortalSummary,
}

impl ClientBody {
    fn of(view: &ClientView) -> Self {
        let client = &view.client;
        Self {
            id: client.id.to_string(),
            name: client.name.as_str().to_owned(),
            email: client.email.as_ref().map(|email| email.as_str().to_owned()),
            language: LanguageCode::of(client.language),
            email_consent: client.email_consent,
            created_at: rfc3339(client.created_at),
            portal: PortalSummary::of(&view.portal),
        }
    }
}

/// The languages mail is written in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "Language", rename_all = "lowercase")]
pub(crate) enum LanguageCode {
    /// English.
    En,
    /// Spanish.
    Es,
}

impl LanguageCode {
    fn of(language: Language) -> Self {
        match language {
            Language::En => Self::En,
            Language::Es => Self::Es,
        }
    }
}

// The field rules below are poem-openapi validators, so the OpenAPI document states them and
// the HTTP layer enforces them before the core sees the request: what the document calls valid,
// the server accepts, and what it calls invalid is a 422. Each pattern accepts a subset of what
// the core's parser accepts (the core trims, lower-cases and re-checks), so a value the document
// allows is never refused further in. `\x00-\x1F\x7F-\x9F` are the Unicode control characters
// (`char::is_control`). The patterns use only syntax that Rust's `regex`, Python's `re` and
// ECMA-262 read alike, so generated clients and contract fuzzers agree with the server.

/// A new client record. A `null` optional field is the same as leaving it out.
#[derive(Object, Debug)]
#[oai(rename = "NewClient")]
pub(crate) struct NewClientBody {
    /// Full name: 1–200 characters, not only spaces, no control characters (line breaks, tabs).
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    name: Text,
    /// Email on file (`local@host.example`, at most 254 characters; an internationalised domain
    /// in its ASCII `xn--` form); omit, `null` or `""` for none.
    #[oai(
        nullable,
        validator(
            max_length = 254,
            pattern = r"^(|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$"
        )
    )]
    email: Option<Text>,
    /// `en` or `es`, optionally with a region (`es-MX` is read as `es`); omit or `null` for `en`.
    #[oai(nullable, validator(max_length = 35, pattern = r"^(en|es)(-[A-Za-z0-9]{1,8})*$"))]
    language: Option<Text>,
    /// Whether the client agreed to receive email; omit or `null` for true.
    #[oai(nullable)]
    email_consent: Option<bool>,
}

/// Changes to a client record: absent fields stay as they are. Only `email` may be `null` (it
/// removes the address); a `null` name, language or consent is refused with 422, since those
/// cannot be removed and `null` must not silently mean "unchanged".
#[derive(Object, Debug)]
#[oai(rename = "ClientPatch")]
pub(crate) struct ClientPatchBody {
    /// New full name (same rules as for a new client).
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    name: MaybeUndefined<Text>,
    /// New email (same rules as for a new client); `null` or `""` removes it.
    #[oai(
        nullable,
        validator(
            max_length = 254,
            pattern = r"^(|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)$"
        )
    )]
    email: MaybeUndefined<Text>,
    /// New language: `en` or `es`, optionally with a region.
    #[oai(validator(max_length = 35, pattern = r"^(en|es)(-[A-Za-z0-9]{1,8})*$"))]
    language: MaybeUndefined<Text>,
    /// New email consent.
    email_consent: MaybeUndefined<bool>,
}

/// Where the email carrying a link is in its delivery.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum DeliveryStatus {
    /// Queued; will be tried (again).
    Pending,
    /// Handed to the mail server.
    Sent,
    /// Given up (a permanent failure).
    Failed,
}

/// Delivery of the email that carried a link.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Delivery")]
pub(crate) struct DeliveryBody {
    /// Pending, sent or failed.
    state: DeliveryStatus,
    /// When it was sent or given up (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    at: Option<String>,
    /// Attempts so far (pending only).
    #[oai(skip_serializing_if_is_none)]
    attempts: Option<u32>,
    /// Next try (pending only, RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    next_attempt_at: Option<String>,
    /// Why the last attempt failed (pending) or why delivery was given up (failed).
    #[oai(skip_serializing_if_is_none)]
    last_error: Option<String>,
}

impl DeliveryBody {
    fn of(delivery: &DeliveryState) -> Self {
        match delivery {
            DeliveryState::Pending { attempts, next_attempt_at, last_error } => Self {
                state: DeliveryStatus::Pending,
                at: None,
                attempts: Some(*attempts),
                next_attempt_at: Some(rfc3339(*next_attempt_at)),
                last_error: last_error.clone(),
            },
            DeliveryState::Sent { at } => Self {
                state: DeliveryStatus::Sent,
                at: Some(rfc3339(*at)),
                attempts: None,
                next_attempt_at: None,
                last_error: None,
            },
            DeliveryState::Failed { at, reason } => Self {
                state: DeliveryStatus::Failed,
                at: Some(rfc3339(*at)),
                attempts: None,
                next_attempt_at: None,
                last_error: Some(reason.clone()),
            },
        }
    }
}

/// An invitation or reset link as staff see it.
#[derive(Object, Debug, Clone)]
#[oai(rename = "LinkStatus")]
pub(crate) struct TokenBody {
    /// When it was sent (RFC 3339).
    sent_at: String,
    /// When it stops (or stopped) working (RFC 3339).
    expires_at: String,
    /// True once redeemed.
    used: bool,
    /// Delivery of the email that carried it (absent if unknown).
    #[oai(skip_serializing_if_is_none)]
    delivery: Option<DeliveryBody>,
}

impl TokenBody {
    fn of(view: &TokenView) -> Self {
        Self {
            sent_at: rfc3339(view.sent_at),
            expires_at: rfc3339(view.expires_at),
            used: view.used,
            delivery: view.delivery.as_ref().map(DeliveryBody::of),
        }
    }
}

/// The portal panel of a client's profile.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Portal")]
pub(crate) struct PortalBody {
    /// The state.
    state: PortalState,
    /// The on/off toggle: true while the account is active.
    enabled: bool,
    /// The username, once registered.
    #[oai(skip_serializing_if_is_none)]
    username: Option<String>,
    /// Staff's note when disabled.
    #[oai(skip_serializing_if_is_none)]
    disabled_reason: Option<String>,
    /// The latest invitation and its delivery, while the client has no account.
    #[oai(skip_serializing_if_is_none)]
    invite: Option<TokenBody>,
    /// The latest password reset and its delivery, while the account is active.
    #[oai(skip_serializing_if_is_none)]
    reset: Option<TokenBody>,
}

impl PortalBody {
    fn of(view: &PortalView) -> Self {
        let StatusParts { state, enabled, username, disabled_reason } = status_parts(&view.status);
        Self {
            state,
            enabled,
            username,
            disabled_reason,
            invite: view.invite.as_ref().map(TokenBody::of),
            reset: view.reset.as_ref().map(TokenBody::of),
        }
    }
}

/// A link was queued for delivery.
#[derive(Object, Debug, Clone)]
#[oai(rename = "LinkSent")]
pub(crate) struct LinkSentBody {
    /// When it was sent (RFC 3339).
    sent_at: String,
    /// When it stops working (RFC 3339).
    expires_at: String,
    /// True when it replaced (voided) an earlier link.
    replaced_previous: bool,
}

impl LinkSentBody {
    fn of(sent: &LinkSent) -> Self {
        Self {
            sent_at: rfc3339(sent.sent_at),
            expires_at: rfc3339(sent.expires_at),
            replaced_previous: sent.replaced_previous,
        }
    }
}

/// Turn the portal account on or off.
#[derive(Object, Debug)]
#[oai(rename = "SetEnabled")]
pub(crate) struct SetEnabledBody {
    /// True to enable, false to disable (disabling revokes every session and voids a pending
    /// reset).
    enabled: bool,
    /// Optional note when disabling (≤ 500 characters; line breaks allowed, no other control
    /// characters), shown to staff; omit or `null` for none. Ignored when enabling.
    #[oai(nullable, validator(max_length = 500, pattern = r"^[^\x00-\x09\x0B-\x1F\x7F-\x9F]*$"))]
    reason: Option<Text>,
}

/// Who did something.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum ActorKind {
    /// A staff member, by key.
    Staff,
    /// The client.
    Client,
    /// Someone not identified (a failed sign-in).
    Anonymous,
    /// The system.
    System,
}

/// The actor of an audit event.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Actor")]
pub(crate) struct ActorBody {
    /// Which kind of actor.
    kind: ActorKind,
    /// The staff key id (staff only).
    #[oai(skip_serializing_if_is_none)]
    staff_id: Option<String>,
    /// The staff key's label at the time (staff only).
    #[oai(skip_serializing_if_is_none)]
    label: Option<String>,
}

/// One audit-trail entry.
#[derive(Object, Debug, Clone)]
#[oai(rename = "AuditEntry")]
pub(crate) struct AuditEntryBody {
    /// When (RFC 3339, UTC).
    at: String,
    /// What happened: `client_created`, `invite_sent`, `registered`, `sign_in_failed`, …
    action: String,
    /// Who acted.
    actor: ActorBody,
    /// A short reason code for a refusal (`invalid_credentials`, `throttled`, …).
    #[oai(skip_serializing_if_is_none)]
    failure: Option<String>,
    /// Detail safe to show staff (a disable reason, the registered username).
    #[oai(skip_serializing_if_is_none)]
    detail: Option<String>,
    /// The request that caused it.
    #[oai(skip_serializing_if_is_none)]
    request_id: Option<String>,
    /// The client IP of that request.
    #[oai(skip_serializing_if_is_none)]
    source_ip: Option<String>,
}

impl AuditEntryBody {
    fn of(event: &AuditEvent) -> Self {
        let actor = match &event.actor {
            Actor::Staff { id, label } => {
                ActorBody { kind: ActorKind::Staff, staff_id: Some(id.to_string()), label: Some(label.to_string()) }
            }
            Actor::Client => ActorBody { kind: ActorKind::Client, staff_id: None, label: None },
            Actor::Anonymous => ActorBody { kind: ActorKind::Anonymous, staff_id: None, label: None },
            Actor::System => ActorBody { kind: ActorKind::System, staff_id: None, label: None },
        };
        Self {
            at: rfc3339(event.at),
            action: event.action.name().to_owned(),
            actor,
            failure: event.failure.clone(),
            detail: event.detail.clone(),
            request_id: event.context.request_id.clone(),
            source_ip: event.context.source_ip.map(|ip| ip.to_string()),
        }
    }
}

/// Answers of `POST /api/v1/clients`.
#[derive(ApiResponse)]
pub(crate) enum CreateClientResponse {
    /// The client was created; no portal set-up is needed for it.
    #[oai(status = 201)]
    Created(Json<ClientBody>),
}

/// Answers of `GET /api/v1/clients`.
#[derive(ApiResponse)]
pub(crate) enum ListClientsResponse {
    /// Every client of the practice (ordered by name), with portal status.
    #[oai(status = 200)]
    Ok(Json<Vec<ClientBody>>),
}

/// Answers of `GET /api/v1/clients/{id}` and `PATCH /api/v1/clients/{id}`.
#[derive(ApiResponse)]
pub(crate) enum ClientResponse {
    /// The client with its portal status.
    #[oai(status = 200)]
    Ok(Json<ClientBody>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// Answers of `GET /api/v1/clients/{id}/portal`.
#[derive(ApiResponse)]
pub(crate) enum PortalResponse {
    /// The portal panel: state, username, the latest invite or reset with its delivery.
    #[oai(status = 200)]
    Ok(Json<Box<PortalBody>>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// Answers of `POST /api/v1/clients/{id}/portal/invitation`.
#[derive(ApiResponse)]
pub(crate) enum SendInviteResponse {
    /// The invitation (or its replacement, voiding the previous link) is queued for delivery.
    #[oai(status = 202)]
    Accepted(Json<LinkSentBody>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `account_exists` (the client registered: send a password reset instead), `no_email` (no
    /// email on file) or `email_not_permitted` (the client asked not to be emailed).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `POST /api/v1/clients/{id}/portal/password-reset`.
#[derive(ApiResponse)]
pub(crate) enum SendResetResponse {
    /// The reset link (voiding any earlier one) is queued for delivery. The email never shows the
    /// username.
    #[oai(status = 202)]
    Accepted(Json<LinkSentBody>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `no_account` (send an invitation instead), `account_disabled` (enable it first),
    /// `no_email` or `email_not_permitted`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `PUT /api/v1/clients/{id}/portal/enabled`.
#[derive(ApiResponse)]
pub(crate) enum SetEnabledResponse {
    /// The portal panel after the change (repeating a toggle changes nothing).
    #[oai(status = 200)]
    Ok(Json<Box<PortalBody>>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `no_account`: the client has not registered; there is nothing to toggle.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
}

/// Answers of `GET /api/v1/clients/{id}/portal/audit`.
#[derive(ApiResponse)]
pub(crate) enum AuditTrailResponse {
    /// The client's audit trail, oldest first.
    #[oai(status = 200)]
    Ok(Json<Vec<AuditEntryBody>>),
    /// `client_not_found`: no such client in your practice.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
}

/// The staff API.
pub(crate) struct StaffApi;

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
    fn not_null<T>(&self, field: &str, value: MaybeUndefined<T>) -> Result<Option<T>, ApiError> {
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

/// A path id that is not a UUID names no client.
fn client_id(raw: &str) -> Option<ClientId> {
    ClientId::parse(raw).ok()
}

#[OpenApi(tag = "ApiTags::Staff")]
impl StaffApi {
    /// Create a client
    ///
    /// Creates a client record (`{name, email?, language?, email_consent?}`). Staff actions never
    /// need the portal to be set up.
    #[oai(path = "/api/v1/clients", method = "post", operation_id = "create_client")]
    async fn create_client(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        body: Json<NewClientBody>,
    ) -> Result<CreateClientResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Json(body) = body;
        let new = NewClient {
            name: body.name.0,
            email: body.email.map(|email| email.0),
            language: body.language.map(|language| language.0),
            email_consent: body.email_consent,
        };
        match ctx.state.service.create_client(&staff, new).await {
            Ok(view) => Ok(CreateClientResponse::Created(Json(ClientBody::of(&view)))),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// List clients
    ///
    /// Every client of the practice with its portal status, optionally only those in one state.
    #[oai(path = "/api/v1/clients", method = "get", operation_id = "list_clients")]
    async fn list_clients(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        /// Only clients whose portal is in this state.
        portal: Query<Option<PortalState>>,
    ) -> Result<ListClientsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let filter = portal.0.map(PortalState::filter_name);
        match ctx.state.service.list_clients(&staff, filter).await {
            Ok(views) => Ok(ListClientsResponse::Ok(Json(views.iter().map(ClientBody::of).collect()))),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Get a client
    ///
    /// One client with its portal status.
    #[oai(path = "/api/v1/clients/:id", method = "get", operation_id = "get_client")]
    async fn get_client(&self, auth: StaffKey, ctx: Ctx, id: Path<String>) -> Result<ClientResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(ClientResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.client(&staff, id).await {
            Ok(view) => Ok(ClientResponse::Ok(Json(ClientBody::of(&view)))),
            Err(ClientError::ClientNotFound) => Ok(ClientResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Change a client
    ///
    /// Changes the name, email, language or email consent on file; absent fields stay as they
    /// are, and `"email": null` removes the email. Any other field set to `null` is 422
    /// `validation_failed`.
    #[oai(path = "/api/v1/clients/:id", method = "patch", operation_id = "update_client")]
    async fn update_client(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
        body: Json<ClientPatchBody>,
    ) -> Result<ClientResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(ClientResponse::NotFound(ctx.client_not_found())) };
        let Json(body) = body;
        let patch = ClientPatch {
            name: ctx.not_null("name", body.name)?.map(|name| name.0),
            email: match body.email {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(email) => Some(Some(email.0)),
            },
            language: ctx.not_null("language", body.language)?.map(|language| language.0),
            email_consent: ctx.not_null("email_consent", body.email_consent)?,
        };
        match ctx.state.service.update_client(&staff, id, patch).await {
            Ok(view) => Ok(ClientResponse::Ok(Json(ClientBody::of(&view)))),
            Err(ClientError::ClientNotFound) => Ok(ClientResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Portal status
    ///
    /// The portal panel: `state` (`no_account`, `invited`, `invite_expired`, `active`,
    /// `disabled`), the `enabled` toggle, the username, and the latest invite or reset with the
    /// delivery state of its email.
    #[oai(path = "/api/v1/clients/:id/portal", method = "get", operation_id = "get_portal")]
    async fn get_portal(&self, auth: StaffKey, ctx: Ctx, id: Path<String>) -> Result<PortalResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(PortalResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.portal(&staff, id).await {
            Ok(view) => Ok(PortalResponse::Ok(Json(Box::new(PortalBody::of(&view))))),
            Err(ClientError::ClientNotFound) => Ok(PortalResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Send or resend the invitation
    ///
    /// Queues the portal invitation email with a link valid for the configured time (48 hours by
    /// default). A resend voids the previous link.
    #[oai(path = "/api/v1/clients/:id/portal/invitation", method = "post", operation_id = "send_invitation")]
    async fn send_invitation(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
    ) -> Result<SendInviteResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(SendInviteResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.send_invite(&staff, id).await {
            Ok(sent) => {
                ctx.mail_queued();
                Ok(SendInviteResponse::Accepted(Json(LinkSentBody::of(&sent))))
            }
            Err(SendInviteError::ClientNotFound) => Ok(SendInviteResponse::NotFound(ctx.client_not_found())),
            Err(SendInviteError::AccountExists(_)) => {
                Ok(SendInviteResponse::Conflict(ctx.conflict(ErrorCode::AccountExists)))
            }
            Err(SendInviteError::NoEmailOnFile) => Ok(SendInviteResponse::Conflict(ctx.conflict(ErrorCode::NoEmail))),
            Err(SendInviteError::EmailNotPermitted) => {
                Ok(SendInviteResponse::Conflict(ctx.conflict(ErrorCode::EmailNotPermitted)))
            }
            Err(SendInviteError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Send a password reset
    ///
    /// Queues a password-reset email (voiding any earlier reset link). Only for active accounts.
    #[oai(path = "/api/v1/clients/:id/portal/password-reset", method = "post", operation_id = "send_password_reset")]
    async fn send_password_reset(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
    ) -> Result<SendResetResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(SendResetResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.send_reset(&staff, id).await {
            Ok(sent) => {
                ctx.mail_queued();
                Ok(SendResetResponse::Accepted(Json(LinkSentBody::of(&sent))))
            }
            Err(SendResetError::ClientNotFound) => Ok(SendResetResponse::NotFound(ctx.client_not_found())),
            Err(SendResetError::Refused(ResetRefused::NoAccount)) => {
                Ok(SendResetResponse::Conflict(ctx.conflict(ErrorCode::NoAccount)))
            }
            Err(SendResetError::Refused(ResetRefused::AccountDisabled)) => {
                Ok(SendResetResponse::Conflict(ctx.conflict(ErrorCode::AccountDisabled)))
            }
            Err(SendResetError::NoEmailOnFile) => Ok(SendResetResponse::Conflict(ctx.conflict(ErrorCode::NoEmail))),
            Err(SendResetError::EmailNotPermitted) => {
                Ok(SendResetResponse::Conflict(ctx.conflict(ErrorCode::EmailNotPermitted)))
            }
            Err(SendResetError::Infrastructure(error)) => Err(ApiError::infrastructure(&error, ctx.rid())),
        }
    }

    /// Enable or disable the portal account
    ///
    /// `{"enabled": false, "reason": "…"}` turns the account off: every session ends at once and a
    /// pending reset is voided. `{"enabled": true}` turns it back on. Repeating changes nothing.
    #[oai(path = "/api/v1/clients/:id/portal/enabled", method = "put", operation_id = "set_portal_enabled")]
    async fn set_portal_enabled(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
        body: Json<SetEnabledBody>,
    ) -> Result<SetEnabledResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(SetEnabledResponse::NotFound(ctx.client_not_found())) };
        let Json(body) = body;
        let reason = match body
            .reason
            .as_ref()
            .map(Text::as_str)
            .filter(|_| !body.enabled)
            .map(DisableReason::parse)
            .transpose()
        {
            Ok(reason) => reason,
            Err(invalid) => return Err(ApiError::invalid_input(&invalid, ctx.rid())),
        };
        match ctx.state.service.set_enabled(&staff, id, body.enabled, reason).await {
            Ok(_status) => {}
            Err(ToggleError::ClientNotFound) => return Ok(SetEnabledResponse::NotFound(ctx.client_not_found())),
            Err(ToggleError::Refused(ToggleRefused::NoAccount)) => {
                return Ok(SetEnabledResponse::Conflict(ctx.conflict(ErrorCode::NoAccount)));
            }
            Err(ToggleError::Infrastructure(error)) => return Err(ApiError::infrastructure(&error, ctx.rid())),
        }
        match ctx.state.service.portal(&staff, id).await {
            Ok(view) => Ok(SetEnabledResponse::Ok(Json(Box::new(PortalBody::of(&view))))),
            Err(ClientError::ClientNotFound) => Ok(SetEnabledResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// Audit trail
    ///
    /// The client's audit trail, oldest first: staff actions, registration, sign-ins (successes
    /// and failures), resets and session revocations, with request ids and source IPs.
    #[oai(path = "/api/v1/clients/:id/portal/audit", method = "get", operation_id = "get_portal_audit")]
    async fn get_portal_audit(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        id: Path<String>,
    ) -> Result<AuditTrailResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(AuditTrailResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.audit_trail(&staff, id).await {
            Ok(events) => Ok(AuditTrailResponse::Ok(Json(events.iter().map(AuditEntryBody::of).collect()))),
            Err(ClientError::ClientNotFound) => Ok(AuditTrailResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }
}
