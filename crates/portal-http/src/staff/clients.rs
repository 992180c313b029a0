//! Client records: create, list, read and change them, each with its portal status.

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use portal_core::service::{ClientError, ClientPatch, ClientView, NewClient};
use portal_core::{
    ClientCursor, ClientListQuery, ClientPage, ClientSearch, Language, PageSize, PortalStatus, PortalStatusKind,
};

use super::status::{PortalState, StatusParts, status_parts};
use super::{client_id, rfc3339};
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

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
    /// The date of birth on file (`YYYY-MM-DD`); absent when there is none.
    #[oai(skip_serializing_if_is_none)]
    date_of_birth: Option<String>,
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
            date_of_birth: client.date_of_birth.as_ref().map(portal_core::DateOfBirth::to_iso),
            created_at: rfc3339(client.created_at),
            portal: PortalSummary::of(&view.portal),
        }
    }
}

/// The languages mail and pages are written in.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "Language", rename_all = "lowercase")]
pub(crate) enum LanguageCode {
    /// English.
    En,
    /// Spanish.
    Es,
}

impl LanguageCode {
    pub(crate) fn of(language: Language) -> Self {
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
    /// Date of birth, `YYYY-MM-DD` (1880-01-01 to today); omit, `null` or `""` for none.
    #[oai(nullable, validator(max_length = 10, pattern = r"^(|[0-9]{4}-[0-9]{2}-[0-9]{2})$"))]
    date_of_birth: Option<Text>,
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
    /// New date of birth (same rules as for a new client); `null` or `""` removes it.
    #[oai(nullable, validator(max_length = 10, pattern = r"^(|[0-9]{4}-[0-9]{2}-[0-9]{2})$"))]
    date_of_birth: MaybeUndefined<Text>,
}

/// Answers of `POST /api/v1/clients`.
#[derive(ApiResponse)]
pub(crate) enum CreateClientResponse {
    /// The client was created; no portal set-up is needed for it.
    #[oai(status = 201)]
    Created(Json<ClientBody>),
}

/// One page of the client list.
#[derive(Object, Debug, Clone)]
#[oai(rename = "ClientPage")]
pub(crate) struct ClientPageBody {
    /// The clients on this page, each with its portal status, ordered by name
    /// (case-insensitively) and then by id.
    clients: Vec<ClientBody>,
    /// The `cursor` of the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    next_cursor: Option<String>,
    /// The `cursor` of the previous page; absent on the first page.
    #[oai(skip_serializing_if_is_none)]
    previous_cursor: Option<String>,
}

impl ClientPageBody {
    fn of(page: &ClientPage<ClientView>) -> Self {
        Self {
            clients: page.items.iter().map(ClientBody::of).collect(),
            next_cursor: page.next.as_ref().map(ClientCursor::encode),
            previous_cursor: page.previous.as_ref().map(ClientCursor::encode),
        }
    }
}

/// Answers of `GET /api/v1/clients`.
#[derive(ApiResponse)]
pub(crate) enum ListClientsResponse {
    /// One page of the practice's clients that match the filters, with portal status.
    #[oai(status = 200)]
    Ok(Json<ClientPageBody>),
    /// `invalid_cursor`: the `cursor` is not one this list gave out (cut, altered or made up);
    /// start again without it. `validation_failed`: `limit`, `q` or the shape of `cursor` break
    /// their rules.
    #[oai(status = 422, content_type = "application/problem+json")]
    InvalidCursor(Json<Problem>),
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

/// Create, list, read and change client records.
pub(crate) struct ClientsApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl ClientsApi {
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
            date_of_birth: body.date_of_birth.map(|date| date.0),
        };
        match ctx.state.service.create_client(&staff, new).await {
            Ok(view) => Ok(CreateClientResponse::Created(Json(ClientBody::of(&view)))),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }

    /// List clients
    ///
    /// The practice's clients with their portal status, a page at a time, ordered by name
    /// (case-insensitively) and then by id: `limit` clients per page (default 50), optionally
    /// only those in one portal state (`portal`) or whose name or email starts with `q`
    /// (case-insensitively). Each page names the `cursor` of the next and the previous page;
    /// pass it back with the same filters.
    #[oai(path = "/api/v1/clients", method = "get", operation_id = "list_clients")]
    async fn list_clients(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        /// Only clients whose portal is in this state.
        portal: Query<Option<PortalState>>,
        /// Only clients whose name or email starts with this text, ignoring case: 1–100
        /// characters, not only spaces, no control characters.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\x00-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\x00-\x1F\x7F-\x9F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$"
        ))]
        q: Query<Option<String>>,
        /// Clients per page: 1–200, 50 when left out.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// Where the page starts: the `next_cursor` or `previous_cursor` of another page, as
        /// it was given (an opaque text); left out for the first page.
        #[oai(validator(min_length = 1, max_length = 180, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<ListClientsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let search = q.0.as_deref().map(ClientSearch::parse).transpose();
        // The validator keeps `limit` within 1–200; the core checks again.
        let size = limit.0.map_or(Ok(PageSize::DEFAULT), |limit| PageSize::new(u64::try_from(limit).unwrap_or(0)));
        let (search, size) = match (search, size) {
            (Ok(search), Ok(size)) => (search, size),
            (Err(invalid), _) | (_, Err(invalid)) => return Err(ApiError::invalid_input(&invalid, ctx.rid())),
        };
        let cursor = match cursor.0.as_deref().map(ClientCursor::decode).transpose() {
            Ok(cursor) => cursor,
            Err(_) => {
                let problem = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidCursor, ctx.rid())
                    .with_detail("parameter `cursor` is not a cursor of this list");
                return Ok(ListClientsResponse::InvalidCursor(Json(problem)));
            }
        };
        let query = ClientListQuery { search, status: portal.0.map(PortalStatusKind::from), size, cursor };
        match ctx.state.service.list_clients(&staff, &query).await {
            Ok(page) => Ok(ListClientsResponse::Ok(Json(ClientPageBody::of(&page)))),
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
        match ctx.state.service.client(&staff, &id).await {
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
            date_of_birth: match body.date_of_birth {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(date) => Some(Some(date.0)),
            },
        };
        match ctx.state.service.update_client(&staff, &id, patch).await {
            Ok(view) => Ok(ClientResponse::Ok(Json(ClientBody::of(&view)))),
            Err(ClientError::ClientNotFound) => Ok(ClientResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cursor_parameter_admits_every_cursor_the_list_gives_out() {
        // The validator's `max_length` is a literal: it must be the core's bound.
        assert_eq!(portal_core::ClientCursor::MAX_ENCODED_LEN, 180);
    }
}
