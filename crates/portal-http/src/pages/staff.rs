//! The staff pages: sign-in with a staff key, and a client's profile with the portal panel (its
//! three looks: no account, active, disabled) and audit trail. The client list is
//! `staff_list.rs`.
//!
//! Who is signed in is the [`StaffAuthenticator`](crate::StaffAuthenticator)'s answer. With the
//! bundled one, staff sign in by pasting a staff key: that opens a server-side staff session,
//! whose token (`pss_…`, never the key) is kept in a `__Host-portal_staff` cookie (`Secure`,
//! `HttpOnly`, `SameSite=Strict`, ends with the browser session). The session is checked with its
//! key on every request and ends at its idle or absolute limit, at sign-out, and when its key is
//! revoked or expires, so revoking a key signs the browser out. Sign-in attempts spend the
//! caller's per-IP budget and are audited (an unknown key, which names no practice, is logged).
//! With a host's authenticator there is no key form: the host signs its staff in and out.
//! Staff never see a password or a token.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{ClientError, SendInviteError, SendResetError, StaffContext, StaffSignInError, ToggleError};
use portal_core::{ClientId, InvalidInput, Language, PortalStatusKind};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::client::ip_refusal;
use super::delivery::{Cancelled, Delivery};
use super::staff_views::{AuditRow, Panel, audit_rows, panel};
use super::zone::PracticeZone;
use super::{
    CSRF_COOKIE, Message, Page, clear_cookie, csrf_ok, csrf_refused, csrf_token, read_cookie, see_other,
    see_other_to_host, set_cookie, staff_texts,
};
use crate::auth::Ctx;
use crate::error::chain;
use crate::staff_auth::StaffSurface;

/// The staff session token (`pss_…`), once signed in with the bundled sign-in.
pub(crate) const STAFF_COOKIE: &str = "__Host-portal_staff";

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
pub(crate) struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    enabled: String,
    /// Why the account is turned off (optional).
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

pub(super) fn trouble(ctx: &Ctx, error: &dyn std::error::Error) -> Page {
    tracing::error!(request_id = %ctx.rid(), error = %chain(error), "staff page failed");
    let sk = staff_texts();
    Message::new(sk.trouble_title, (sk.trouble)(ctx.rid()))
        .wide()
        .page("page_staff_error", StatusCode::INTERNAL_SERVER_ERROR)
}

fn not_found() -> Page {
    let sk = staff_texts();
    let message = Message::said(&sk.no_such_client);
    let message = if super::client_list_shown() {
        message.link("/staff/clients".to_owned(), sk.back_to_clients)
    } else {
        message
    };
    message.wide().page("page_staff_client", StatusCode::NOT_FOUND)
}

/// The signed-in staff member, or what to answer instead: the redirect to the staff sign-in
/// page (bundled), or the host's sign-in page.
pub(super) async fn staff(ctx: &Ctx, req: &Request) -> Result<StaffContext, Response> {
    match ctx.state.staff_auth.authenticate(req, StaffSurface::Pages).await {
        Ok(Some(staff)) => Ok(StaffContext { staff, request: ctx.meta.context() }),
        Ok(None) => Err(match &ctx.state.host_staff_sign_in {
            Some(url) => host_sign_in(url.as_deref()).into_response(),
            None if read_cookie(req, STAFF_COOKIE).is_some() => {
                // The session ended (signed out elsewhere, timed out, key revoked or expired).
                see_other("page_staff_sign_in", "/staff/sign-in", vec![clear_cookie(STAFF_COOKIE)])
            }
            None => see_other("page_staff_sign_in", "/staff/sign-in", Vec::new()),
        }),
        Err(error) => Err(trouble(ctx, &error).into_response()),
    }
}

/// A host signs its staff in itself: 401, with a link to its sign-in page when it named one.
fn host_sign_in(url: Option<&str>) -> Page {
    let sk = staff_texts();
    let message = Message::said(&sk.host_sign_in);
    let message = match url {
        // The host's URL, not a portal path: no mount point before it.
        Some(url) => message.host_link(url.to_owned(), sk.sign_in),
        None => message,
    };
    message.wide().page("page_staff_sign_in", StatusCode::UNAUTHORIZED)
}

/// Why the staff sign-in form came back.
pub(crate) enum StaffSignInProblem {
    InvalidKey,
}

/// `templates/staff_sign_in.html`.
#[derive(Template)]
#[template(path = "staff_sign_in.html", ext = "html")]
struct StaffSignInPage {
    csrf: String,
    problem: Option<StaffSignInProblem>,
}

/// The time zone of the staff member's practice, for every time on the staff pages.
pub(super) async fn practice_zone(ctx: &Ctx, staff: &StaffContext) -> Result<PracticeZone, Page> {
    match ctx.state.service.staff_practice(staff).await {
        Ok(practice) => Ok(PracticeZone::of(practice.as_ref())),
        Err(error) => Err(trouble(ctx, &error)),
    }
}

fn sign_in_form(req: &Request, problem: Option<StaffSignInProblem>) -> Page {
    let status = if problem.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let (csrf, cookie) = csrf_token(req);
    Page::render("page_staff_sign_in", status, &StaffSignInPage { csrf, problem }).csrf_cookie(cookie)
}

/// `GET /staff/sign-in`: the key form (bundled), or the host's sign-in page.
#[handler]
pub(crate) fn staff_sign_in_page(ctx: Ctx, req: &Request) -> Response {
    if let Some(url) = &ctx.state.host_staff_sign_in {
        return host_sign_in(url.as_deref()).into_response();
    }
    sign_in_form(req, None).into_response()
}

/// `POST /staff/sign-in`: checks the key and opens a staff session, whose token (not the key)
/// goes into the staff cookie. Spends the caller's per-IP budget first.
#[handler]
pub(crate) async fn staff_sign_in(ctx: Ctx, req: &Request, Form(form): Form<KeyForm>) -> Response {
    if let Some(url) = &ctx.state.host_staff_sign_in {
        return host_sign_in(url.as_deref()).into_response();
    }
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let key = form.key.trim();
    let valid = key.len() <= 256 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid && !key.is_empty() {
        match ctx.state.service.staff_sign_in(key, &ctx.meta.context()).await {
            Ok(signed_in) => {
                let cookie = set_cookie(STAFF_COOKIE, signed_in.token.expose().expose_secret(), "Strict", None);
                return see_other("page_staff_sign_in", "/staff/clients", vec![cookie]);
            }
            Err(StaffSignInError::InvalidKey) => {}
            Err(StaffSignInError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
        }
    }
    // A key of a practice (revoked, expired) is in that practice's audit trail; one that names
    // no practice has no trail to go in, so it is logged here (never the key itself).
    tracing::warn!(request_id = %ctx.rid(), ip = ?ctx.meta.client_ip, "staff sign-in refused: the key is not valid");
    sign_in_form(req, Some(StaffSignInProblem::InvalidKey)).into_response()
}

/// `POST /staff/sign-out`: ends the staff session (bundled). With a host's sign-in, signing out
/// is the host's: this only leads to its sign-in page.
#[handler]
pub(crate) async fn staff_sign_out(ctx: Ctx, req: &Request, Form(form): Form<ActionForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(url) = &ctx.state.host_staff_sign_in {
        return match url {
            Some(url) => see_other_to_host("page_staff_sign_out", url),
            None => see_other("page_staff_sign_out", "/staff/sign-in", Vec::new()),
        };
    }
    if let Some(token) = read_cookie(req, STAFF_COOKIE)
        && let Err(error) = ctx.state.service.staff_sign_out(&token, &ctx.meta.context()).await
    {
        return trouble(&ctx, &error).into_response();
    }
    see_other("page_staff_sign_out", "/staff/sign-in", vec![clear_cookie(STAFF_COOKIE), clear_cookie(CSRF_COOKIE)])
}

/// What the profile says at its top: the outcome of the button just pressed. Each variant has
/// its own words in `templates/_notice.html` (from the staff catalogue, which words every core
/// refusal in each language).
pub(crate) enum Notice {
    InviteQueued,
    ResetQueued,
    Enabled,
    Disabled,
    FactorsRemoved,
    InvalidReason(InvalidInput),
    InviteRefused(SendInviteError),
    ResetRefused(SendResetError),
    ToggleRefused(ToggleError),
}

impl Notice {
    /// The notice named by `?done=` after a button's redirect.
    fn done(done: Option<&str>) -> Option<Self> {
        match done? {
            "invite" => Some(Self::InviteQueued),
            "reset" => Some(Self::ResetQueued),
            "enabled" => Some(Self::Enabled),
            "disabled" => Some(Self::Disabled),
            "factors-removed" => Some(Self::FactorsRemoved),
            _ => None,
        }
    }
}

/// `templates/staff_client.html`: the profile, its audit trail and the portal panel.
#[derive(Template)]
#[template(path = "staff_client.html", ext = "html")]
struct ClientPage<'a> {
    id: String,
    name: &'a str,
    email: Option<String>,
    language: Language,
    notice: Option<Notice>,
    audit: Vec<AuditRow>,
    panel: Panel,
    /// The client's second factors: kinds, names, dates (never a secret).
    factors: Vec<super::staff_views::FactorRow>,
    codes_left: u32,
    csrf: String,
    zone: PracticeZone,
}

async fn profile(
    ctx: &Ctx,
    req: &Request,
    staff: &StaffContext,
    id: ClientId,
    status: StatusCode,
    notice: Option<Notice>,
) -> Page {
    let client = match ctx.state.service.client(staff, &id).await {
        Ok(client) => client,
        Err(ClientError::ClientNotFound) => return not_found(),
        Err(error) => return trouble(ctx, &error),
    };
    let (portal, events) =
        match (ctx.state.service.portal(staff, &id).await, ctx.state.service.audit_trail(staff, &id).await) {
            (Ok(portal), Ok(events)) => (portal, events),
            (Err(error), _) | (_, Err(error)) => return trouble(ctx, &error),
        };
    let practice = match ctx.state.service.staff_practice(staff).await {
        Ok(practice) => practice,
        Err(error) => return trouble(ctx, &error),
    };
    let factors = match ctx.state.service.client_factors(staff, &id).await {
        Ok(factors) => factors,
        Err(ClientError::ClientNotFound) => return not_found(),
        Err(error) => return trouble(ctx, &error),
    };
    let zone = PracticeZone::of(practice.as_ref());
    let date_of_birth_check = practice.as_ref().is_some_and(|practice| practice.settings.date_of_birth_check());
    let (csrf, cookie) = csrf_token(req);
    let page = ClientPage {
        id: id.to_string(),
        name: client.client.name.as_str(),
        email: client.client.email.as_ref().map(ToString::to_string),
        language: client.client.language,
        notice,
        audit: audit_rows(&events, &zone),
        panel: panel(&portal, &zone, date_of_birth_check),
        factors: super::staff_views::factor_rows(&factors, &zone),
        codes_left: factors.recovery_codes_left,
        csrf,
        zone,
    };
    Page::render("page_staff_client", status, &page).csrf_cookie(cookie)
}

/// `GET /staff/clients/{id}`.
#[handler]
pub(crate) async fn client_page(
    ctx: Ctx,
    req: &Request,
    Path(id): Path<String>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let Ok(id) = ClientId::parse(&id) else { return not_found().into_response() };
    profile(&ctx, req, &staff, id, StatusCode::OK, Notice::done(query.done.as_deref())).await.into_response()
}

/// `POST /staff/clients/{id}/{invite|reset|enabled|factors-remove}`: the panel's buttons.
#[handler]
pub(crate) async fn client_action(
    ctx: Ctx,
    req: &Request,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(true).into_response();
    }
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let Ok(id) = ClientId::parse(&id) else { return not_found().into_response() };
    let refused: Option<Notice> = match action.as_str() {
        "invite" => match ctx.state.service.send_invite(&staff, &id).await {
            Ok(_) => None,
            Err(SendInviteError::ClientNotFound) => return not_found().into_response(),
            Err(SendInviteError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
            Err(error) => Some(Notice::InviteRefused(error)),
        },
        "reset" => match ctx.state.service.send_reset(&staff, &id).await {
            Ok(_) => None,
            Err(SendResetError::ClientNotFound) => return not_found().into_response(),
            Err(SendResetError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
            Err(error) => Some(Notice::ResetRefused(error)),
        },
        "enabled" => {
            let enabled = form.enabled == "true";
            let reason = match form.reason.trim() {
                "" => None,
                text => match portal_core::DisableReason::parse(text) {
                    Ok(reason) => Some(reason),
                    Err(invalid) => {
                        let notice = Some(Notice::InvalidReason(invalid));
                        return profile(&ctx, req, &staff, id, StatusCode::UNPROCESSABLE_ENTITY, notice)
                            .await
                            .into_response();
                    }
                },
            };
            match ctx.state.service.set_enabled(&staff, &id, enabled, if enabled { None } else { reason }).await {
                Ok(_) => None,
                Err(ToggleError::ClientNotFound) => return not_found().into_response(),
                Err(ToggleError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
                Err(error) => Some(Notice::ToggleRefused(error)),
            }
        }
        "factors-remove" => match ctx.state.service.remove_client_factors(&staff, &id).await {
            Ok(_) => None,
            Err(ClientError::ClientNotFound) => return not_found().into_response(),
            Err(error) => return trouble(&ctx, &error).into_response(),
        },
        _ => return not_found().into_response(),
    };
    if refused.is_some() {
        return profile(&ctx, req, &staff, id, StatusCode::CONFLICT, refused).await.into_response();
    }
    if action != "enabled" {
        ctx.mail_queued();
    }
    let done = match action.as_str() {
        "enabled" if form.enabled == "true" => "enabled",
        "enabled" => "disabled",
        "factors-remove" => "factors-removed",
        other => other,
    };
    see_other("page_staff_client", &format!("/staff/clients/{id}?done={done}"), Vec::new())
}
