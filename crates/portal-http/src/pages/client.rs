//! The signed-in client's pages: sign-in, home, sign-out; and the refusal pages every client
//! page shares (trouble, the per-IP limit, a full hashing pool, a disabled account).

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{Infrastructure, SessionError, SignInError};
use portal_core::{HashError, Password, Practice};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{
    CSRF_COOKIE, Message, Page, SESSION_COOKIE, clear_cookie, csrf_ok, csrf_refused, csrf_token,
    prefer_record_language, read_cookie, see_other, set_cookie, texts,
};
use crate::auth::Ctx;
use crate::error::{chain, retry_after_secs};

/// A form with a username and a password: sign-in, and registration from an invitation.
#[derive(Deserialize)]
pub(crate) struct CredentialsForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) username: String,
    #[serde(default)]
    pub(super) password: String,
}

/// A form with only the CSRF field (sign-out).
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) fn sign_in_path(practice: &Practice) -> String {
    format!("/portal/{}/sign-in", practice.slug.as_str())
}

/// A 500 (or 503 when busy) page with the request id; the cause goes to the log only.
pub(super) fn trouble(ctx: &Ctx, error: &Infrastructure) -> Page {
    tracing::error!(request_id = %ctx.rid(), error = %chain(error), "page failed");
    let status = match error {
        Infrastructure::Busy | Infrastructure::Hashing(HashError::Saturated) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let t = texts();
    let page = Message::new(t.trouble_title, (t.trouble)(ctx.rid())).page("page_error", status);
    if status == StatusCode::SERVICE_UNAVAILABLE { page.retry_after(1) } else { page }
}

/// Spends the per-IP budget for pages that hash or check tokens; a 429 page when it is spent.
pub(super) fn ip_refusal(ctx: &Ctx) -> Option<Page> {
    ctx.state.ip_limiter.check(ctx.meta.client_ip).err().map(|wait| {
        let seconds = wait.as_secs().saturating_add(1);
        let t = texts();
        Message::new(t.too_many_attempts, (t.too_many_requests)(seconds))
            .page("page_throttled", StatusCode::TOO_MANY_REQUESTS)
            .retry_after(seconds)
    })
}

/// A 503 page when the hashing pool could not take this submission, before it reads or writes
/// anything (see `Ctx::hashing_room`). Only for forms that hash a password.
pub(super) fn busy_refusal(ctx: &Ctx) -> Option<Page> {
    ctx.state.hash_pool.is_saturated().then(|| {
        tracing::debug!(request_id = %ctx.rid(), "page refused: busy (hashing pool full)");
        busy_page()
    })
}

/// The 503 page of a form that hashes a password when the hashing pool is full.
pub(crate) fn busy_page() -> Page {
    Message::said(&texts().busy).page("page_busy", StatusCode::SERVICE_UNAVAILABLE).retry_after(1)
}

/// The 403 message for a disabled account.
pub(super) fn disabled_page() -> Message {
    Message::said(&texts().account_disabled)
}

// ---- Sign-in, home, sign-out ------------------------------------------------------------------

/// Why the sign-in form came back.
pub(crate) enum SignInProblem {
    WrongCredentials,
}

/// `templates/sign_in.html`.
#[derive(Template)]
#[template(path = "sign_in.html", ext = "html")]
struct SignInPage<'a> {
    practice: &'a str,
    sign_in_path: String,
    csrf: String,
    username: &'a str,
    problem: Option<SignInProblem>,
    /// The practice's "Forgot your password?" page, when it lets clients start resets.
    forgot_password_path: Option<String>,
    /// Offer passkey-first sign-in (the practice uses second factors, the server has passkeys).
    passkey_sign_in: bool,
}

/// `templates/home.html`.
#[derive(Template)]
#[template(path = "home.html", ext = "html")]
struct HomePage<'a> {
    client: &'a str,
    username: String,
    practice: &'a str,
    csrf: String,
}

fn sign_in_form(ctx: &Ctx, req: &Request, practice: &Practice, username: &str, problem: Option<SignInProblem>) -> Page {
    let status = if problem.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    let (csrf, csrf_cookie) = csrf_token(req);
    let forgot_password_path =
        practice.settings.client_started_resets().then(|| super::forgot_password::forgot_password_path(practice));
    let page = SignInPage {
        practice: practice.name.as_str(),
        sign_in_path: sign_in_path(practice),
        csrf,
        username,
        problem,
        forgot_password_path,
        passkey_sign_in: ctx.state.service.passkeys_available()
            && practice.settings.second_factor_policy().allows_enrolment(),
    };
    Page::render("page_sign_in", status, &page).csrf_cookie(csrf_cookie)
}

async fn practice(ctx: &Ctx, slug: &str) -> Result<Practice, Page> {
    match ctx.state.service.practice_by_slug(slug).await {
        Ok(Some(practice)) => Ok(practice),
        Ok(None) => Err(Message::said(&texts().no_practice).page("page_sign_in", StatusCode::NOT_FOUND)),
        Err(error) => Err(trouble(ctx, &error)),
    }
}

/// `GET /portal/{practice}/sign-in`.
#[handler]
pub(crate) async fn sign_in_page(ctx: Ctx, req: &Request, Path(slug): Path<String>) -> Response {
    match practice(&ctx, &slug).await {
        Ok(practice) => sign_in_form(&ctx, req, &practice, "", None).into_response(),
        Err(page) => page.into_response(),
    }
}

/// `POST /portal/{practice}/sign-in`: on success sets the session cookie and goes home.
#[handler]
pub(crate) async fn sign_in_submit(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(form): Form<CredentialsForm>,
) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx).or_else(|| busy_refusal(&ctx)) {
        return page.into_response();
    }
    let practice = match practice(&ctx, &slug).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    let password = Password::new(&form.password);
    match ctx.state.service.sign_in(practice.slug.as_str(), &form.username, &password, &ctx.meta.context()).await {
        Ok(signed_in) => {
            let cookie = set_cookie(SESSION_COOKIE, signed_in.token.expose().expose_secret(), "Strict", None);
            see_other("page_sign_in", "/portal/home", vec![cookie])
        }
        Err(SignInError::InvalidCredentials) => {
            sign_in_form(&ctx, req, &practice, &form.username, Some(SignInProblem::WrongCredentials)).into_response()
        }
        Err(SignInError::AccountDisabled) => {
            disabled_page().brand(practice.name.as_str()).page("page_sign_in", StatusCode::FORBIDDEN).into_response()
        }
        Err(SignInError::Throttled { retry_after }) => {
            let seconds = retry_after_secs(retry_after);
            let t = texts();
            Message::new(t.too_many_attempts, (t.too_many_sign_ins)(seconds))
                .link(sign_in_path(&practice), t.back_to_sign_in)
                .brand(practice.name.as_str())
                .page("page_sign_in", StatusCode::TOO_MANY_REQUESTS)
                .retry_after(seconds)
                .into_response()
        }
        Err(SignInError::SecondFactor(step)) => super::factors::after_password(&ctx, req, &practice, &step).await,
        Err(SignInError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

fn signed_out_page() -> Page {
    Message::said(&texts().signed_out).page("page_home", StatusCode::UNAUTHORIZED).cookie(clear_cookie(SESSION_COOKIE))
}

/// `GET /portal/home`: who is signed in, and a sign-out button.
#[handler]
pub(crate) async fn home(ctx: Ctx, req: &Request) -> Response {
    let Some(token) = read_cookie(req, SESSION_COOKIE) else {
        return signed_out_page().into_response();
    };
    let session = match ctx.state.service.authenticate_session(&token).await {
        Ok(session) => session,
        Err(SessionError::Unauthenticated) => return signed_out_page().into_response(),
        Err(SessionError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    prefer_record_language(session.language);
    let (csrf, csrf_cookie) = csrf_token(req);
    let page = HomePage {
        client: session.client_name.as_str(),
        username: session.username.to_string(),
        practice: session.practice.name.as_str(),
        csrf,
    };
    Page::render("page_home", StatusCode::OK, &page).csrf_cookie(csrf_cookie).into_response()
}

/// `POST /portal/sign-out`: ends the session, clears the cookie and goes back to sign-in.
#[handler]
pub(crate) async fn sign_out(ctx: Ctx, req: &Request, Form(form): Form<CsrfForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    let Some(token) = read_cookie(req, SESSION_COOKIE) else {
        return signed_out_page().into_response();
    };
    // Where to go next: the practice's sign-in page, when the session still says which.
    let next = match ctx.state.service.authenticate_session(&token).await {
        Ok(session) => sign_in_path(&session.practice),
        Err(_) => String::new(),
    };
    match ctx.state.service.sign_out(&token, &ctx.meta.context()).await {
        Ok(()) | Err(SessionError::Unauthenticated) => {}
        Err(SessionError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    }
    if next.is_empty() {
        return signed_out_page().into_response();
    }
    see_other("page_sign_out", &next, vec![clear_cookie(SESSION_COOKIE), clear_cookie(CSRF_COOKIE)])
}
