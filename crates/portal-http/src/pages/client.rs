//! The client's pages: invitation (registration), password reset, sign-in, home, sign-out.

use std::fmt::Write as _;

use poem::http::StatusCode;
use poem::web::{Form, Path, Query};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::password_policy::WeakPassword;
use portal_core::service::{Infrastructure, RegisterError, ResetError, SessionError, SignInError, VerifyInviteError};
use portal_core::{HashError, Password, Practice};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::{
    CSRF_COOKIE, INVITE_COOKIE, Page, RESET_COOKIE, SESSION_COOKIE, clear_cookie, csrf_field, csrf_ok, csrf_refused,
    csrf_token, escape, html, link_cookie, read_cookie, see_other, set_cookie,
};
use crate::auth::Ctx;
use crate::error::{chain, retry_after_secs};

/// `?token=…` of an emailed link.
#[derive(Deserialize)]
pub(crate) struct LinkQuery {
    token: Option<String>,
}

/// The registration form.
#[derive(Deserialize)]
pub(crate) struct RegistrationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// The new-password form.
#[derive(Deserialize)]
pub(crate) struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// A form with only the CSRF field (sign-out).
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Longest link token taken from a URL (real ones are 43 characters).
const MAX_TOKEN_LEN: usize = 256;

fn sign_in_path(practice: &Practice) -> String {
    format!("/portal/{}/sign-in", practice.slug.as_str())
}

fn when(timestamp: jiff::Timestamp) -> String {
    timestamp.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// A 500 (or 503 when busy) page with the request id; the cause goes to the log only.
fn trouble(ctx: &Ctx, error: &Infrastructure) -> Page {
    tracing::error!(request_id = %ctx.rid(), error = %chain(error), "page failed");
    let status = match error {
        Infrastructure::Busy | Infrastructure::Hashing(HashError::Saturated) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut page = Page::message(
        "page_error",
        status,
        "Something went wrong",
        &format!(
            "Please try again in a moment. If it keeps happening, tell your provider this reference: {}",
            ctx.rid()
        ),
        None,
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        page = page.retry_after(1);
    }
    page
}

/// Spends the per-IP budget for pages that hash or check tokens; a 429 page when it is spent.
fn ip_refusal(ctx: &Ctx) -> Option<Page> {
    ctx.state.ip_limiter.check(ctx.meta.client_ip).err().map(|wait| {
        let seconds = wait.as_secs().saturating_add(1);
        Page::message(
            "page_throttled",
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &format!("Too many requests from your network. Try again in {seconds} seconds."),
            None,
        )
        .retry_after(seconds)
    })
}

/// A 503 page when the hashing pool could not take this submission, before it reads or writes
/// anything (see `Ctx::hashing_room`). Only for forms that hash a password.
fn busy_refusal(ctx: &Ctx) -> Option<Page> {
    ctx.state.hash_pool.is_saturated().then(|| {
        tracing::debug!(request_id = %ctx.rid(), "page refused: busy (hashing pool full)");
        Page::message(
            "page_busy",
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy right now",
            "Many people are signing in at the moment. Please try again in a few seconds.",
            None,
        )
        .retry_after(1)
    })
}

/// The page for a link opened without a token (or after its cookie expired).
fn no_link(route: &'static str, what: &str) -> Page {
    Page::message(
        route,
        StatusCode::BAD_REQUEST,
        "Open the link from your email",
        &format!(
            "This page needs the {what} link from your email. Open that link again; if it no longer works, ask your provider to send a new one."
        ),
        None,
    )
}

fn invite_refused(refused: &InviteRedeemRefused) -> Page {
    match refused {
        InviteRedeemRefused::InviteExpired => Page::message(
            "page_invitation",
            StatusCode::GONE,
            "This invitation has expired",
            "This invitation has expired — ask your provider to resend it.",
            None,
        ),
        InviteRedeemRefused::InviteNotFound => Page::message(
            "page_invitation",
            StatusCode::NOT_FOUND,
            "This invitation link no longer works",
            "The link was already used, replaced by a newer invitation, or is incomplete. If you already created your account, sign in with the link your provider gave you; otherwise ask your provider to resend the invitation.",
            None,
        ),
    }
}

fn reset_refused(refused: &ResetRedeemRefused) -> Page {
    match refused {
        ResetRedeemRefused::ResetExpired => Page::message(
            "page_reset",
            StatusCode::GONE,
            "This reset link has expired",
            "This password-reset link has expired — ask your provider to send a new one.",
            None,
        ),
        ResetRedeemRefused::ResetNotFound => Page::message(
            "page_reset",
            StatusCode::NOT_FOUND,
            "This reset link no longer works",
            "The link was already used, replaced by a newer one, or is incomplete — ask your provider to send a new one.",
            None,
        ),
        ResetRedeemRefused::AccountDisabled => disabled_page("page_reset"),
    }
}

fn disabled_page(route: &'static str) -> Page {
    Page::message(
        route,
        StatusCode::FORBIDDEN,
        "Your account is disabled",
        "Your portal account is disabled — contact your provider.",
        None,
    )
}

/// The password rules, as shown under every new-password field.
fn password_hint(ctx: &Ctx) -> String {
    let min = ctx.state.service.policy().password().min_chars;
    format!(
        "<div class=\"hint\" id=\"password-hint\"><ul>\
         <li>At least {min} characters. A few unrelated words make a good one.</li>\
         <li>No rules about digits, symbols or capitals.</li>\
         <li>Not a common password.</li>\
         <li>Not containing your username or the practice's name.</li></ul></div>"
    )
}

/// The error box at the top of a form.
fn errors_box(errors: &[String]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    format!("<div class=\"errors\" role=\"alert\"><h2>Please fix the following</h2>{}</div>\n", html::list(errors))
}

fn weak_messages(weak: &WeakPassword) -> Vec<String> {
    weak.0.iter().map(|problem| format!("Password: {problem}.")).collect()
}

// ---- Invitation -------------------------------------------------------------------------------

/// What the registration form shows again after a refusal.
#[derive(Default)]
struct RegistrationState {
    username: String,
    errors: Vec<String>,
    username_invalid: bool,
    password_invalid: bool,
}

fn registration_page(
    ctx: &Ctx,
    req: &Request,
    practice: &Practice,
    expires_at: jiff::Timestamp,
    status: StatusCode,
    state: &RegistrationState,
) -> Page {
    let (csrf, csrf_cookie) = csrf_token(req);
    let mut main = String::new();
    let _ = write!(
        main,
        "<h1>Create your portal account</h1>\n<p>{practice} invited you to its client portal. This invitation works until {expires}.</p>\n{errors}\
         <form method=\"post\" action=\"/portal/invitation\" novalidate>\n{csrf}\n\
         <label for=\"username\">Username</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required minlength=\"3\" maxlength=\"64\" aria-describedby=\"username-hint\"{u_invalid}>\n\
         <p class=\"hint\" id=\"username-hint\">3 to 64 characters: letters, digits, <code>.</code> <code>_</code> <code>-</code> <code>@</code>, starting with a letter or digit. You cannot change it later.</p>\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" required aria-describedby=\"password-hint\"{p_invalid}>\n{hint}\n\
         <button type=\"submit\">Create account</button>\n</form>",
        practice = escape(practice.name.as_str()),
        expires = escape(&when(expires_at)),
        errors = errors_box(&state.errors),
        csrf = csrf_field(&csrf),
        username = escape(&state.username),
        u_invalid = if state.username_invalid { " aria-invalid=\"true\"" } else { "" },
        p_invalid = if state.password_invalid { " aria-invalid=\"true\"" } else { "" },
        hint = password_hint(ctx),
    );
    let mut page =
        Page::new("page_invitation", status, "Create your portal account", main).brand(practice.name.as_str());
    if let Some(cookie) = csrf_cookie {
        page = page.cookie(cookie);
    }
    page
}

/// The link token a page works with. A token in the query moves into its cookie and the answer is
/// a 303 to the bare `/portal/{kind}` (so the token leaves the address bar); otherwise it is the
/// token in the cookie, or the "open the link from your email" page.
fn link_token(
    req: &Request,
    query: LinkQuery,
    route: &'static str,
    kind: &'static str,
    cookie: &'static str,
) -> Result<String, Box<Response>> {
    if let Some(token) = query.token.filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_LEN && is_token_text(t)) {
        return Err(Box::new(see_other(route, &format!("/portal/{kind}"), vec![link_cookie(cookie, &token)])));
    }
    read_cookie(req, cookie).ok_or_else(|| Box::new(no_link(route, kind).into_response()))
}

/// `GET /portal/invitation[?token=…]`: with a token, moves it into a cookie and redirects to the
/// bare URL; without, shows the registration form for the token in the cookie. Never consumes.
#[handler]
pub(crate) async fn invitation_page(ctx: Ctx, req: &Request, Query(query): Query<LinkQuery>) -> Response {
    let token = match link_token(req, query, "page_invitation", "invitation", INVITE_COOKIE) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    match ctx.state.service.verify_invite(&token).await {
        Ok(info) => {
            registration_page(&ctx, req, &info.practice, info.expires_at, StatusCode::OK, &RegistrationState::default())
                .into_response()
        }
        Err(VerifyInviteError::Refused(refused)) => invite_refused(&refused).into_response(),
        Err(VerifyInviteError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

/// Link tokens are URL-safe base64; anything else is not stored in a cookie.
fn is_token_text(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The checks every link form submission starts with: the CSRF token, the link token from its
/// cookie, the per-IP limit and room in the hashing pool (both forms hash a new password). `Err`
/// holds the page to answer with instead.
fn submitted_link(
    ctx: &Ctx,
    req: &Request,
    csrf: &str,
    route: &'static str,
    kind: &'static str,
    cookie: &'static str,
) -> Result<String, Box<Response>> {
    if !csrf_ok(req, csrf) {
        return Err(Box::new(csrf_refused().into_response()));
    }
    let token = read_cookie(req, cookie).ok_or_else(|| Box::new(no_link(route, kind).into_response()))?;
    match ip_refusal(ctx).or_else(|| busy_refusal(ctx)) {
        Some(page) => Err(Box::new(page.into_response())),
        None => Ok(token),
    }
}

/// `POST /portal/invitation`: registers with the token from the cookie.
#[handler]
pub(crate) async fn invitation_submit(ctx: Ctx, req: &Request, Form(form): Form<RegistrationForm>) -> Response {
    let token = match submitted_link(&ctx, req, &form.csrf, "page_invitation", "invitation", INVITE_COOKIE) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    // The practice and expiry for re-rendering the form; checking does not consume.
    let info = match ctx.state.service.verify_invite(&token).await {
        Ok(info) => info,
        Err(VerifyInviteError::Refused(refused)) => return invite_refused(&refused).into_response(),
        Err(VerifyInviteError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    let password = Password::new(&form.password);
    let context = ctx.meta.context();
    let mut state = RegistrationState { username: form.username.clone(), ..RegistrationState::default() };
    let status = match ctx.state.service.register(&token, &form.username, &password, &context).await {
        Ok(registered) => {
            let main = format!(
                "<h1>Account created — sign in</h1>\n<p class=\"notice\">Your account <strong>{username}</strong> at {practice} is ready.</p>\n<p><a href=\"{href}\">Sign in</a></p>",
                username = escape(&registered.username.to_string()),
                practice = escape(registered.practice.name.as_str()),
                href = escape(&sign_in_path(&registered.practice)),
            );
            return Page::new("page_invitation", StatusCode::OK, "Account created — sign in", main)
                .brand(registered.practice.name.as_str())
                .cookie(clear_cookie(INVITE_COOKIE))
                .into_response();
        }
        Err(RegisterError::Refused(refused)) => return invite_refused(&refused).into_response(),
        Err(RegisterError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
        Err(RegisterError::InvalidUsername(invalid)) => {
            state.errors.push(format!("Username: {invalid}."));
            state.username_invalid = true;
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(RegisterError::UsernameTaken) => {
            state.errors.push("Username: this username is taken; choose another.".to_owned());
            state.username_invalid = true;
            StatusCode::CONFLICT
        }
        Err(RegisterError::WeakPassword(weak)) => {
            state.errors.extend(weak_messages(&weak));
            state.password_invalid = true;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    registration_page(&ctx, req, &info.practice, info.expires_at, status, &state).into_response()
}

// ---- Password reset ---------------------------------------------------------------------------

fn reset_form_page(
    ctx: &Ctx,
    req: &Request,
    practice: &Practice,
    expires_at: jiff::Timestamp,
    status: StatusCode,
    errors: &[String],
) -> Page {
    let (csrf, csrf_cookie) = csrf_token(req);
    let main = format!(
        "<h1>Choose a new password</h1>\n<p>For your {practice} portal account. This link works until {expires}.</p>\n{errors}\
         <form method=\"post\" action=\"/portal/password-reset\" novalidate>\n{csrf}\n\
         <label for=\"password\">New password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" required aria-describedby=\"password-hint\"{invalid}>\n{hint}\n\
         <button type=\"submit\">Change password</button>\n</form>",
        practice = escape(practice.name.as_str()),
        expires = escape(&when(expires_at)),
        errors = errors_box(errors),
        csrf = csrf_field(&csrf),
        invalid = if errors.is_empty() { "" } else { " aria-invalid=\"true\"" },
        hint = password_hint(ctx),
    );
    let mut page = Page::new("page_reset", status, "Choose a new password", main).brand(practice.name.as_str());
    if let Some(cookie) = csrf_cookie {
        page = page.cookie(cookie);
    }
    page
}

/// `GET /portal/password-reset[?token=…]`: like the invitation page.
#[handler]
pub(crate) async fn reset_page(ctx: Ctx, req: &Request, Query(query): Query<LinkQuery>) -> Response {
    let token = match link_token(req, query, "page_reset", "password-reset", RESET_COOKIE) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    match ctx.state.service.verify_reset(&token).await {
        Ok(info) => reset_form_page(&ctx, req, &info.practice, info.expires_at, StatusCode::OK, &[]).into_response(),
        Err(ResetError::Refused(refused)) => reset_refused(&refused).into_response(),
        Err(ResetError::WeakPassword(_)) => no_link("page_reset", "password-reset").into_response(),
        Err(ResetError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

/// `POST /portal/password-reset`: sets the new password with the token from the cookie. The
/// client is not signed in afterwards.
#[handler]
pub(crate) async fn reset_submit(ctx: Ctx, req: &Request, Form(form): Form<ResetForm>) -> Response {
    let token = match submitted_link(&ctx, req, &form.csrf, "page_reset", "password-reset", RESET_COOKIE) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    let info = match ctx.state.service.verify_reset(&token).await {
        Ok(info) => info,
        Err(ResetError::Refused(refused)) => return reset_refused(&refused).into_response(),
        Err(ResetError::WeakPassword(_)) => return no_link("page_reset", "password-reset").into_response(),
        Err(ResetError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    let password = Password::new(&form.password);
    match ctx.state.service.complete_reset(&token, &password, &ctx.meta.context()).await {
        Ok(()) => {
            ctx.mail_queued();
            let main = format!(
                "<h1>Password changed — sign in</h1>\n<p class=\"notice\">Your password was changed and every session was signed out.</p>\n<p><a href=\"{}\">Sign in with your new password</a></p>",
                escape(&sign_in_path(&info.practice)),
            );
            Page::new("page_reset", StatusCode::OK, "Password changed — sign in", main)
                .brand(info.practice.name.as_str())
                .cookie(clear_cookie(RESET_COOKIE))
                .cookie(clear_cookie(SESSION_COOKIE))
                .into_response()
        }
        Err(ResetError::Refused(refused)) => reset_refused(&refused).into_response(),
        Err(ResetError::WeakPassword(weak)) => reset_form_page(
            &ctx,
            req,
            &info.practice,
            info.expires_at,
            StatusCode::UNPROCESSABLE_ENTITY,
            &weak_messages(&weak),
        )
        .into_response(),
        Err(ResetError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

// ---- Sign-in, home, sign-out ------------------------------------------------------------------

fn sign_in_form(req: &Request, practice: &Practice, status: StatusCode, username: &str, error: Option<&str>) -> Page {
    let (csrf, csrf_cookie) = csrf_token(req);
    let errors = error.map(|e| vec![e.to_owned()]).unwrap_or_default();
    let main = format!(
        "<h1>Sign in</h1>\n<p>To your {practice} client portal.</p>\n{errors}\
         <form method=\"post\" action=\"{action}\" novalidate>\n{csrf}\n\
         <label for=\"username\">Username</label>\n\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required>\n\
         <label for=\"password\">Password</label>\n\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\n\
         <button type=\"submit\">Sign in</button>\n</form>\n\
         <p class=\"hint\">Forgot your password? Ask your provider to send you a reset link.</p>",
        practice = escape(practice.name.as_str()),
        errors = errors_box(&errors),
        action = escape(&sign_in_path(practice)),
        csrf = csrf_field(&csrf),
        username = escape(username),
    );
    let mut page = Page::new("page_sign_in", status, "Sign in", main).brand(practice.name.as_str());
    if let Some(cookie) = csrf_cookie {
        page = page.cookie(cookie);
    }
    page
}

fn unknown_practice() -> Page {
    Page::message(
        "page_sign_in",
        StatusCode::NOT_FOUND,
        "No practice at this address",
        "Check the sign-in link your provider gave you.",
        None,
    )
}

async fn practice(ctx: &Ctx, slug: &str) -> Result<Practice, Page> {
    match ctx.state.service.practice_by_slug(slug).await {
        Ok(Some(practice)) => Ok(practice),
        Ok(None) => Err(unknown_practice()),
        Err(error) => Err(trouble(ctx, &error)),
    }
}

/// `GET /portal/{practice}/sign-in`.
#[handler]
pub(crate) async fn sign_in_page(ctx: Ctx, req: &Request, Path(slug): Path<String>) -> Response {
    match practice(&ctx, &slug).await {
        Ok(practice) => sign_in_form(req, &practice, StatusCode::OK, "", None).into_response(),
        Err(page) => page.into_response(),
    }
}

/// `POST /portal/{practice}/sign-in`: on success sets the session cookie and goes home.
#[handler]
pub(crate) async fn sign_in_submit(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(form): Form<SignInForm>,
) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused().into_response();
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
        Err(SignInError::InvalidCredentials) => sign_in_form(
            req,
            &practice,
            StatusCode::UNAUTHORIZED,
            &form.username,
            Some("The username or password is not right."),
        )
        .into_response(),
        Err(SignInError::AccountDisabled) => {
            disabled_page("page_sign_in").brand(practice.name.as_str()).into_response()
        }
        Err(SignInError::Throttled { retry_after }) => {
            let seconds = retry_after_secs(retry_after);
            Page::message(
                "page_sign_in",
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &format!("Too many sign-in attempts — try again in {seconds} seconds."),
                Some((&sign_in_path(&practice), "Back to sign-in")),
            )
            .brand(practice.name.as_str())
            .retry_after(seconds)
            .into_response()
        }
        Err(SignInError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

fn signed_out_page() -> Page {
    Page::message(
        "page_home",
        StatusCode::UNAUTHORIZED,
        "You are signed out",
        "Your session has ended. Sign in again with the sign-in link your provider gave you.",
        None,
    )
    .cookie(clear_cookie(SESSION_COOKIE))
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
    let (csrf, csrf_cookie) = csrf_token(req);
    let main = format!(
        "<h1>Welcome, {client}</h1>\n<dl class=\"facts\">\n<dt>Name</dt><dd>{client}</dd>\n<dt>Username</dt><dd>{username}</dd>\n<dt>Practice</dt><dd>{practice}</dd>\n</dl>\n\
         <form method=\"post\" action=\"/portal/sign-out\">\n{csrf}\n<button type=\"submit\" class=\"secondary\">Sign out</button>\n</form>",
        client = escape(session.client_name.as_str()),
        username = escape(&session.username.to_string()),
        practice = escape(session.practice.name.as_str()),
        csrf = csrf_field(&csrf),
    );
    let mut page = Page::new("page_home", StatusCode::OK, "Your portal", main).brand(session.practice.name.as_str());
    if let Some(cookie) = csrf_cookie {
        page = page.cookie(cookie);
    }
    page.into_response()
}

/// `POST /portal/sign-out`: ends the session, clears the cookie and goes back to sign-in.
#[handler]
pub(crate) async fn sign_out(ctx: Ctx, req: &Request, Form(form): Form<CsrfForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused().into_response();
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
