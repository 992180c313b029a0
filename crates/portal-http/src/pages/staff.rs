//! The staff pages: sign-in with a staff key, the client list with portal filters, and a client's
//! profile with the portal panel (its three looks: no account, active, disabled) and audit trail.
//!
//! Staff sign in by pasting a staff key; the key is kept in a `__Host-portal_staff` cookie
//! (`Secure`, `HttpOnly`, `SameSite=Strict`, ends with the browser session) and checked on every
//! request, so revoking the key signs the browser out. Staff never see a password or a token.

use std::fmt::Write as _;

use poem::http::StatusCode;
use poem::web::{Form, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{
    ClientError, ClientView, PortalView, SendInviteError, SendResetError, StaffContext, ToggleError, TokenView,
};
use portal_core::{AuditEvent, ClientId, DeliveryState, PortalStatus};
use serde::Deserialize;

use super::{
    CSRF_COOKIE, Page, clear_cookie, csrf_field, csrf_ok, csrf_refused, csrf_token, escape, read_cookie, see_other,
    set_cookie,
};
use crate::auth::Ctx;
use crate::error::chain;

/// The staff key, once signed in.
pub(crate) const STAFF_COOKIE: &str = "__Host-portal_staff";

/// The filters of the client list, with their labels.
const FILTERS: [(&str, &str); 5] = [
    ("no_account", "No account"),
    ("invited", "Invited"),
    ("invite_expired", "Invite expired"),
    ("active", "Active"),
    ("disabled", "Disabled"),
];

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
pub(crate) struct ListQuery {
    portal: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct DoneQuery {
    done: Option<String>,
}

fn when(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

fn trouble(ctx: &Ctx, error: &dyn std::error::Error) -> Page {
    tracing::error!(request_id = %ctx.rid(), error = %chain(error), "staff page failed");
    Page::message(
        "page_staff_error",
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        &format!("Please try again. Reference: {}", ctx.rid()),
        None,
    )
    .wide()
}

fn not_found() -> Page {
    Page::message(
        "page_staff_client",
        StatusCode::NOT_FOUND,
        "No such client",
        "This client does not exist in your practice.",
        Some(("/staff/clients", "Back to clients")),
    )
    .wide()
}

/// The signed-in staff member, or the redirect to the staff sign-in page.
async fn staff(ctx: &Ctx, req: &Request) -> Result<StaffContext, Response> {
    let Some(key) = read_cookie(req, STAFF_COOKIE) else {
        return Err(see_other("page_staff_sign_in", "/staff/sign-in", Vec::new()));
    };
    match ctx.state.service.authenticate_staff(&key).await {
        Ok(Some(staff)) => Ok(StaffContext { staff, request: ctx.meta.context() }),
        Ok(None) => Err(see_other("page_staff_sign_in", "/staff/sign-in", vec![clear_cookie(STAFF_COOKIE)])),
        Err(error) => Err(trouble(ctx, &error).into_response()),
    }
}

fn with_csrf(page: Page, cookie: Option<String>) -> Page {
    match cookie {
        Some(cookie) => page.cookie(cookie),
        None => page,
    }
}

fn sign_in_form(req: &Request, status: StatusCode, error: Option<&str>) -> Page {
    let (csrf, cookie) = csrf_token(req);
    let errors = error
        .map_or_else(String::new, |e| format!("<div class=\"errors\" role=\"alert\"><p>{}</p></div>\n", escape(e)));
    let main = format!(
        "<h1>Staff sign-in</h1>\n{errors}<form method=\"post\" action=\"/staff/sign-in\" novalidate>\n{csrf}\n\
         <label for=\"key\">Staff key</label>\n\
         <input type=\"password\" id=\"key\" name=\"key\" autocomplete=\"off\" required aria-describedby=\"key-hint\">\n\
         <p class=\"hint\" id=\"key-hint\">The <code>pst_…</code> key from <code>portal-server staff-key create</code>. It stays in this browser until you sign out or close it.</p>\n\
         <button type=\"submit\">Sign in</button>\n</form>",
        csrf = csrf_field(&csrf),
    );
    with_csrf(Page::new("page_staff_sign_in", status, "Staff sign-in", main), cookie)
}

/// `GET /staff/sign-in`.
#[handler]
pub(crate) fn staff_sign_in_page(req: &Request) -> Response {
    sign_in_form(req, StatusCode::OK, None).into_response()
}

/// `POST /staff/sign-in`: checks the key and keeps it in the staff cookie.
#[handler]
pub(crate) async fn staff_sign_in(ctx: Ctx, req: &Request, Form(form): Form<KeyForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused().into_response();
    }
    let key = form.key.trim();
    let valid = key.len() <= 256 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid && !key.is_empty() {
        match ctx.state.service.authenticate_staff(key).await {
            Ok(Some(_)) => {
                return see_other(
                    "page_staff_sign_in",
                    "/staff/clients",
                    vec![set_cookie(STAFF_COOKIE, key, "Strict", None)],
                );
            }
            Ok(None) => {}
            Err(error) => return trouble(&ctx, &error).into_response(),
        }
    }
    sign_in_form(req, StatusCode::UNAUTHORIZED, Some("This staff key is not valid.")).into_response()
}

/// `POST /staff/sign-out`.
#[handler]
pub(crate) fn staff_sign_out(req: &Request, Form(form): Form<ActionForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused().into_response();
    }
    see_other("page_staff_sign_out", "/staff/sign-in", vec![clear_cookie(STAFF_COOKIE), clear_cookie(CSRF_COOKIE)])
}

fn status_label(status: &PortalStatus) -> String {
    match status {
        PortalStatus::NotInvited => "No account".to_owned(),
        PortalStatus::Invited { expires_at, .. } => format!("Invited, expires {}", when(*expires_at)),
        PortalStatus::InviteExpired { .. } => "Invite expired".to_owned(),
        PortalStatus::Active { username } => format!("Active ({username})"),
        PortalStatus::Disabled { username, .. } => format!("Disabled ({username})"),
    }
}

fn sign_out_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/staff/sign-out\" class=\"inline\">{}<button type=\"submit\" class=\"secondary small\">Sign out</button></form>",
        csrf_field(csrf)
    )
}

/// `GET /staff/clients[?portal=filter]`.
#[handler]
pub(crate) async fn client_list(ctx: Ctx, req: &Request, Query(query): Query<ListQuery>) -> Response {
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let filter = query.portal.filter(|f| FILTERS.iter().any(|(name, _)| name == f));
    let clients: Vec<ClientView> = match ctx.state.service.list_clients(&staff, filter.as_deref()).await {
        Ok(clients) => clients,
        Err(error) => return trouble(&ctx, &error).into_response(),
    };
    let (csrf, cookie) = csrf_token(req);
    let mut main =
        format!("<h1>Clients</h1>\n{}\n<nav aria-label=\"Portal status\"><ul class=\"filters\">", sign_out_form(&csrf));
    let current = |name: Option<&str>| if filter.as_deref() == name { " aria-current=\"page\"" } else { "" };
    let _ = write!(main, "<li><a href=\"/staff/clients\"{}>All</a></li>", current(None));
    for (name, label) in FILTERS {
        let _ = write!(main, "<li><a href=\"/staff/clients?portal={name}\"{}>{label}</a></li>", current(Some(name)));
    }
    main.push_str("</ul></nav>\n");
    if clients.is_empty() {
        main.push_str("<p>No clients here.</p>");
    } else {
        main.push_str(
            "<table>\n<thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Portal</th></tr></thead>\n<tbody>\n",
        );
        for view in &clients {
            let _ = writeln!(
                main,
                "<tr><td><a href=\"/staff/clients/{id}\">{name}</a></td><td>{status}</td></tr>",
                id = escape(&view.client.id.to_string()),
                name = escape(view.client.name.as_str()),
                status = escape(&status_label(&view.portal)),
            );
        }
        main.push_str("</tbody></table>");
    }
    with_csrf(Page::new("page_staff_clients", StatusCode::OK, "Clients", main).wide(), cookie).into_response()
}

fn delivery(view: &TokenView) -> String {
    match &view.delivery {
        None => "not queued".to_owned(),
        Some(DeliveryState::Pending { attempts: 0, .. }) => "queued".to_owned(),
        Some(DeliveryState::Pending { attempts, .. }) => format!("retrying ({attempts} attempts so far)"),
        Some(DeliveryState::Sent { at }) => format!("sent {}", when(*at)),
        Some(DeliveryState::Failed { at, reason }) => format!("failed {}: {reason}", when(*at)),
    }
}

fn action_button(id: &str, action: &str, label: &str, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/staff/clients/{id}/{action}\">{}<button type=\"submit\">{}</button></form>",
        csrf_field(csrf),
        escape(label)
    )
}

fn toggle(id: &str, on: bool, csrf: &str) -> String {
    // Turning access off may record why (shown on the panel and in the audit trail).
    let reason = if on {
        "<label for=\"reason\">Reason for turning off (optional)</label><input type=\"text\" id=\"reason\" name=\"reason\" maxlength=\"500\">"
    } else {
        ""
    };
    format!(
        "<form method=\"post\" action=\"/staff/clients/{id}/enabled\">{csrf}{reason}<input type=\"hidden\" name=\"enabled\" value=\"{next}\">\
         <button type=\"submit\" class=\"toggle {class}\" role=\"switch\" aria-checked=\"{on}\"><span class=\"knob\" aria-hidden=\"true\"></span>Portal access {state}</button></form>",
        csrf = csrf_field(csrf),
        next = !on,
        class = if on { "on" } else { "off" },
        state = if on { "on" } else { "off" },
    )
}

fn token_facts(title: &str, view: &TokenView) -> String {
    format!(
        "<h3>{}</h3><dl class=\"facts\"><dt>Sent</dt><dd>{}</dd><dt>Expires</dt><dd>{}</dd><dt>Email</dt><dd>{}</dd></dl>",
        escape(title),
        escape(&when(view.sent_at)),
        escape(&when(view.expires_at)),
        escape(&delivery(view)),
    )
}

/// The portal side panel in its three looks.
fn panel(id: &str, view: &PortalView, csrf: &str) -> String {
    let mut out =
        String::from("<aside class=\"panel\" aria-labelledby=\"panel-title\"><h2 id=\"panel-title\">Portal</h2>");
    match &view.status {
        PortalStatus::NotInvited | PortalStatus::Invited { .. } | PortalStatus::InviteExpired { .. } => {
            let _ = write!(out, "<p class=\"state\">No account</p><p>{}</p>", escape(&status_label(&view.status)));
            if let Some(invite) = &view.invite {
                out.push_str(&token_facts("Invitation", invite));
            }
            let label =
                if matches!(view.status, PortalStatus::NotInvited) { "Send portal invite" } else { "Resend invite" };
            out.push_str(&action_button(id, "invite", label, csrf));
        }
        PortalStatus::Active { username } => {
            let _ = write!(
                out,
                "<p class=\"state\">Active</p><dl class=\"facts\"><dt>Username</dt><dd>{}</dd></dl>",
                escape(&username.to_string())
            );
            out.push_str(&toggle(id, true, csrf));
            if let Some(reset) = &view.reset {
                out.push_str(&token_facts("Password reset", reset));
            }
            out.push_str(&action_button(id, "reset", "Reset password", csrf));
        }
        PortalStatus::Disabled { username, reason } => {
            let _ = write!(
                out,
                "<p class=\"state\">Disabled</p><dl class=\"facts\"><dt>Username</dt><dd>{}</dd>",
                escape(&username.to_string())
            );
            if let Some(reason) = reason {
                let _ = write!(out, "<dt>Reason</dt><dd>{}</dd>", escape(reason.as_str()));
            }
            out.push_str("</dl>");
            out.push_str(&toggle(id, false, csrf));
        }
    }
    out.push_str("</aside>");
    out
}

fn audit_table(events: &[AuditEvent]) -> String {
    let mut out = String::from("<section aria-labelledby=\"audit-title\"><h2 id=\"audit-title\">Audit trail</h2>");
    if events.is_empty() {
        out.push_str("<p>Nothing yet.</p></section>");
        return out;
    }
    out.push_str("<div class=\"scroll\"><table class=\"stack\"><thead><tr><th scope=\"col\">When</th><th scope=\"col\">What</th><th scope=\"col\">Who</th><th scope=\"col\">Outcome</th></tr></thead><tbody>");
    for event in events.iter().rev() {
        let who = match &event.actor {
            portal_core::Actor::Staff { label, .. } => format!("staff: {label}"),
            portal_core::Actor::Client => "client".to_owned(),
            portal_core::Actor::Anonymous => "anonymous".to_owned(),
            portal_core::Actor::System => "system".to_owned(),
        };
        let mut outcome = event.failure.clone().map_or_else(|| "ok".to_owned(), |f| format!("refused: {f}"));
        if let Some(detail) = &event.detail {
            let _ = write!(outcome, " ({detail})");
        }
        let _ = write!(
            out,
            "<tr><td data-label=\"When\">{}</td><td data-label=\"What\">{}</td><td data-label=\"Who\">{}</td><td data-label=\"Outcome\">{}</td></tr>",
            escape(&when(event.at)),
            escape(event.action.name()),
            escape(&who),
            escape(&outcome)
        );
    }
    out.push_str("</tbody></table></div></section>");
    out
}

fn done_notice(done: Option<&str>) -> &'static str {
    match done {
        Some("invite") => "<p class=\"notice\" role=\"status\">Invitation queued.</p>",
        Some("reset") => "<p class=\"notice\" role=\"status\">Password-reset email queued.</p>",
        Some("enabled") => "<p class=\"notice\" role=\"status\">Portal access turned on.</p>",
        Some("disabled") => {
            "<p class=\"notice\" role=\"status\">Portal access turned off; the client was signed out.</p>"
        }
        _ => "",
    }
}

async fn profile(
    ctx: &Ctx,
    req: &Request,
    staff: &StaffContext,
    id: ClientId,
    status: StatusCode,
    notice: &str,
) -> Page {
    let client = match ctx.state.service.client(staff, id).await {
        Ok(client) => client,
        Err(ClientError::ClientNotFound) => return not_found(),
        Err(error) => return trouble(ctx, &error),
    };
    let (portal, events) =
        match (ctx.state.service.portal(staff, id).await, ctx.state.service.audit_trail(staff, id).await) {
            (Ok(portal), Ok(events)) => (portal, events),
            (Err(error), _) | (_, Err(error)) => return trouble(ctx, &error),
        };
    let (csrf, cookie) = csrf_token(req);
    let id_text = id.to_string();
    let email = client.client.email.as_ref().map_or_else(|| "none on file".to_owned(), ToString::to_string);
    let main = format!(
        "<p><a href=\"/staff/clients\">← All clients</a></p>\n{notice}<div class=\"profile\">\n<div class=\"record\"><h1>{name}</h1>\
         <dl class=\"facts\"><dt>Email</dt><dd>{email}</dd><dt>Language</dt><dd>{language}</dd></dl>\n{audit}</div>\n{panel}\n</div>",
        name = escape(client.client.name.as_str()),
        email = escape(&email),
        language = escape(if client.client.language.code() == "es" { "Spanish" } else { "English" }),
        audit = audit_table(&events),
        panel = panel(&id_text, &portal, &csrf),
    );
    with_csrf(Page::new("page_staff_client", status, client.client.name.as_str(), main).wide(), cookie)
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
    profile(&ctx, req, &staff, id, StatusCode::OK, done_notice(query.done.as_deref())).await.into_response()
}

/// `POST /staff/clients/{id}/{invite|reset|enabled}`: the panel's buttons.
#[handler]
pub(crate) async fn client_action(
    ctx: Ctx,
    req: &Request,
    Path((id, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused().wide().into_response();
    }
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let Ok(id) = ClientId::parse(&id) else { return not_found().into_response() };
    let refused: Option<String> = match action.as_str() {
        "invite" => match ctx.state.service.send_invite(&staff, id).await {
            Ok(_) => None,
            Err(SendInviteError::ClientNotFound) => return not_found().into_response(),
            Err(SendInviteError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
            Err(error) => Some(error.to_string()),
        },
        "reset" => match ctx.state.service.send_reset(&staff, id).await {
            Ok(_) => None,
            Err(SendResetError::ClientNotFound) => return not_found().into_response(),
            Err(SendResetError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
            Err(error) => Some(error.to_string()),
        },
        "enabled" => {
            let enabled = form.enabled == "true";
            let reason = match form.reason.trim() {
                "" => None,
                text => match portal_core::DisableReason::parse(text) {
                    Ok(reason) => Some(reason),
                    Err(invalid) => {
                        let notice = format!(
                            "<div class=\"errors\" role=\"alert\"><p>Not done: {}.</p></div>",
                            escape(&invalid.to_string())
                        );
                        return profile(&ctx, req, &staff, id, StatusCode::UNPROCESSABLE_ENTITY, &notice)
                            .await
                            .into_response();
                    }
                },
            };
            match ctx.state.service.set_enabled(&staff, id, enabled, if enabled { None } else { reason }).await {
                Ok(_) => None,
                Err(ToggleError::ClientNotFound) => return not_found().into_response(),
                Err(ToggleError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
                Err(error) => Some(error.to_string()),
            }
        }
        _ => return not_found().into_response(),
    };
    if let Some(reason) = refused {
        let notice = format!("<div class=\"errors\" role=\"alert\"><p>Not done: {}.</p></div>", escape(&reason));
        return profile(&ctx, req, &staff, id, StatusCode::CONFLICT, &notice).await.into_response();
    }
    if action != "enabled" {
        ctx.mail_queued();
    }
    let done = match action.as_str() {
        "enabled" if form.enabled == "true" => "enabled",
        "enabled" => "disabled",
        other => other,
    };
    see_other("page_staff_client", &format!("/staff/clients/{id}?done={done}"), Vec::new())
}
