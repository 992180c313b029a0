//! The portal panel of a client and what staff do with it: send or resend the invitation, send a
//! password reset, turn the account on or off.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use portal_core::service::{
    ClientError, LinkSent, PortalView, SendInviteError, SendResetError, ToggleError, TokenView,
};
use portal_core::{
    DeliveryState, DisableReason,
    account::{ResetRefused, ToggleRefused},
};

use super::status::{PortalState, StatusParts, status_parts};
use super::{client_id, rfc3339};
use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::error::{ApiError, ErrorCode, Problem};
use crate::text::Text;

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
            DeliveryState::Pending { attempts, next_attempt_at, last_problem } => Self {
                state: DeliveryStatus::Pending,
                at: None,
                attempts: Some(*attempts),
                next_attempt_at: Some(rfc3339(*next_attempt_at)),
                last_error: last_problem.as_ref().map(|problem| problem.detail.clone()),
            },
            DeliveryState::Sent { at } => Self {
                state: DeliveryStatus::Sent,
                at: Some(rfc3339(*at)),
                attempts: None,
                next_attempt_at: None,
                last_error: None,
            },
            DeliveryState::Failed { at, problem, gave_up_after } => Self {
                state: DeliveryStatus::Failed,
                at: Some(rfc3339(*at)),
                attempts: None,
                next_attempt_at: None,
                // The API's text is unchanged since the core typed the cause: a give-up still
                // reads as one sentence with the attempts made.
                last_error: Some(match gave_up_after {
                    Some(made) => format!("gave up after {made} attempts; last error: {}", problem.detail),
                    None => problem.detail.clone(),
                }),
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
    /// True when the link was closed after too many wrong dates of birth (5): it no longer
    /// works; send a new one.
    voided_after_date_of_birth_failures: bool,
    /// Delivery of the latest email that carried it (absent if unknown): once an invitation's
    /// reminder was queued, the reminder's, since it carries the same link.
    #[oai(skip_serializing_if_is_none)]
    delivery: Option<DeliveryBody>,
    /// When the invitation's one reminder was queued (RFC 3339); absent when none was (the
    /// practice has reminders off, it is not due yet, or the client could not be emailed).
    #[oai(skip_serializing_if_is_none)]
    reminder_sent_at: Option<String>,
}

impl TokenBody {
    fn of(view: &TokenView) -> Self {
        Self {
            sent_at: rfc3339(view.sent_at),
            expires_at: rfc3339(view.expires_at),
            used: view.used,
            voided_after_date_of_birth_failures: view.closed_after_date_of_birth_failures,
            delivery: view.delivery.as_ref().map(DeliveryBody::of),
            reminder_sent_at: view.reminder_sent_at.map(rfc3339),
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
    /// True when the client's record holds a date of birth. With the practice's date-of-birth
    /// check on, the client's emailed links ask for it; without one on file they open without it.
    date_of_birth_on_file: bool,
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
            date_of_birth_on_file: view.date_of_birth_on_file,
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

/// The portal panel and its actions.
pub(crate) struct PortalApi;

#[OpenApi(tag = "ApiTags::Staff")]
impl PortalApi {
    /// Portal status
    ///
    /// The portal panel: `state` (`no_account`, `invited`, `invite_expired`, `active`,
    /// `disabled`), the `enabled` toggle, the username, and the latest invite or reset with the
    /// delivery state of its email.
    #[oai(path = "/api/v1/clients/:id/portal", method = "get", operation_id = "get_portal")]
    async fn get_portal(&self, auth: StaffKey, ctx: Ctx, id: Path<String>) -> Result<PortalResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Some(id) = client_id(&id.0) else { return Ok(PortalResponse::NotFound(ctx.client_not_found())) };
        match ctx.state.service.portal(&staff, &id).await {
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
        match ctx.state.service.send_invite(&staff, &id).await {
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
        match ctx.state.service.send_reset(&staff, &id).await {
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
        match ctx.state.service.set_enabled(&staff, &id, body.enabled, reason).await {
            Ok(_status) => {}
            Err(ToggleError::ClientNotFound) => return Ok(SetEnabledResponse::NotFound(ctx.client_not_found())),
            Err(ToggleError::Refused(ToggleRefused::NoAccount)) => {
                return Ok(SetEnabledResponse::Conflict(ctx.conflict(ErrorCode::NoAccount)));
            }
            Err(ToggleError::Infrastructure(error)) => return Err(ApiError::infrastructure(&error, ctx.rid())),
        }
        match ctx.state.service.portal(&staff, &id).await {
            Ok(view) => Ok(SetEnabledResponse::Ok(Json(Box::new(PortalBody::of(&view))))),
            Err(ClientError::ClientNotFound) => Ok(SetEnabledResponse::NotFound(ctx.client_not_found())),
            Err(error) => Err(ctx.client_error(&error)),
        }
    }
}
