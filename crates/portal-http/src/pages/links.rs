//! The emailed links' pages: the invitation (registration form) and the password reset (new
//! password form). Opening a link moves its token into a cookie; only the form POSTs redeem.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Query};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::password_policy::WeakPassword;
use portal_core::service::{LinkInfo, RegisterError, ResetError, VerifyInviteError};
use portal_core::{InvalidInput, Password};
use serde::Deserialize;

use super::client::{busy_refusal, disabled_page, ip_refusal, sign_in_path, trouble};
use super::zone::PracticeZone;
use super::{
    INVITE_COOKIE, Message, Page, RESET_COOKIE, SESSION_COOKIE, clear_cookie, csrf_ok, csrf_refused, csrf_token,
    link_cookie, prefer_record_language, read_cookie, see_other, texts,
};
use crate::auth::Ctx;

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
    /// `YYYY-MM-DD`, asked when the link needs it (empty otherwise).
    #[serde(default)]
    date_of_birth: String,
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
    /// `YYYY-MM-DD`, asked when the link needs it (empty otherwise).
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    password: String,
}

/// The answer to a link's date-of-birth question, when one was typed.
fn answered(date_of_birth: &str) -> Option<&str> {
    Some(date_of_birth.trim()).filter(|answer| !answer.is_empty())
}

/// Longest link token taken from a URL (real ones are 43 characters).
const MAX_TOKEN_LEN: usize = 256;

/// The page for a link opened without a token (or after its cookie expired).
fn no_link(route: &'static str, kind: &str) -> Page {
    let t = texts();
    let said = if kind == "invitation" { &t.open_invitation_link } else { &t.open_reset_link };
    Message::said(said).page(route, StatusCode::BAD_REQUEST)
}

/// The page of a link closed after too many wrong dates of birth (it reads as voided: 404).
fn closed_link(route: &'static str) -> Page {
    Message::said(&texts().link_closed).page(route, StatusCode::NOT_FOUND)
}

fn invite_refused(refused: &InviteRedeemRefused) -> Page {
    let t = texts();
    match refused {
        InviteRedeemRefused::InviteExpired => {
            Message::said(&t.invitation_expired).page("page_invitation", StatusCode::GONE)
        }
        InviteRedeemRefused::InviteNotFound => {
            Message::said(&t.invitation_gone).page("page_invitation", StatusCode::NOT_FOUND)
        }
        InviteRedeemRefused::InviteClosed => closed_link("page_invitation"),
    }
}

fn reset_refused(refused: &ResetRedeemRefused) -> Page {
    let t = texts();
    match refused {
        ResetRedeemRefused::ResetExpired => Message::said(&t.reset_expired).page("page_reset", StatusCode::GONE),
        ResetRedeemRefused::ResetNotFound => Message::said(&t.reset_gone).page("page_reset", StatusCode::NOT_FOUND),
        ResetRedeemRefused::ResetClosed => closed_link("page_reset"),
        ResetRedeemRefused::AccountDisabled => disabled_page().page("page_reset", StatusCode::FORBIDDEN),
    }
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
        return Err(Box::new(csrf_refused(false).into_response()));
    }
    let token = read_cookie(req, cookie).ok_or_else(|| Box::new(no_link(route, kind).into_response()))?;
    match ip_refusal(ctx).or_else(|| busy_refusal(ctx)) {
        Some(page) => Err(Box::new(page.into_response())),
        None => Ok(token),
    }
}

// ---- Invitation -------------------------------------------------------------------------------

/// Why the registration form came back: each variant has its own words in the template.
pub(crate) enum RegistrationProblem {
    /// The date of birth was missing or does not match (never which part); the link takes
    /// `tries_left` more wrong answers.
    DateOfBirthMismatch {
        tries_left: u8,
    },
    InvalidUsername(InvalidInput),
    UsernameTaken,
    WeakPassword(WeakPassword),
}

/// `templates/registration.html`.
#[derive(Template)]
#[template(path = "registration.html", ext = "html")]
struct RegistrationPage<'a> {
    practice: &'a str,
    expires: String,
    csrf: String,
    /// True when the link needs the client's date of birth: the form asks for it first.
    date_of_birth_required: bool,
    /// The date typed, shown again only when it was right (the password never comes back).
    date_of_birth: &'a str,
    /// The username typed (the password never comes back).
    username: &'a str,
    min_password_chars: usize,
    problem: Option<RegistrationProblem>,
}

impl RegistrationPage<'_> {
    fn date_of_birth_invalid(&self) -> bool {
        matches!(self.problem, Some(RegistrationProblem::DateOfBirthMismatch { .. }))
    }

    fn username_invalid(&self) -> bool {
        matches!(self.problem, Some(RegistrationProblem::InvalidUsername(_) | RegistrationProblem::UsernameTaken))
    }

    fn password_invalid(&self) -> bool {
        matches!(self.problem, Some(RegistrationProblem::WeakPassword(_)))
    }
}

/// `templates/registered.html`.
#[derive(Template)]
#[template(path = "registered.html", ext = "html")]
struct RegisteredPage<'a> {
    practice: &'a str,
    username: String,
    sign_in_path: String,
}

/// What the registration form shows again after a refusal: the typed date of birth (kept only
/// when it was not the problem) and username.
struct Typed<'a> {
    date_of_birth: &'a str,
    username: &'a str,
}

fn registration_page(
    ctx: &Ctx,
    req: &Request,
    info: &LinkInfo,
    typed: Typed<'_>,
    problem: Option<RegistrationProblem>,
) -> Page {
    let status = match &problem {
        None => StatusCode::OK,
        Some(RegistrationProblem::DateOfBirthMismatch { .. }) => StatusCode::FORBIDDEN,
        Some(RegistrationProblem::UsernameTaken) => StatusCode::CONFLICT,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let date_of_birth =
        if matches!(problem, Some(RegistrationProblem::DateOfBirthMismatch { .. })) { "" } else { typed.date_of_birth };
    prefer_record_language(info.language);
    let (csrf, csrf_cookie) = csrf_token(req);
    let practice = &info.practice;
    let page = RegistrationPage {
        practice: practice.name.as_str(),
        expires: PracticeZone::of(Some(practice)).at(info.expires_at),
        csrf,
        date_of_birth_required: info.date_of_birth_required,
        date_of_birth,
        username: typed.username,
        min_password_chars: ctx.state.service.policy().password().min_chars,
        problem,
    };
    Page::render("page_invitation", status, &page).csrf_cookie(csrf_cookie)
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
            registration_page(&ctx, req, &info, Typed { date_of_birth: "", username: "" }, None).into_response()
        }
        Err(VerifyInviteError::Refused(refused)) => invite_refused(&refused).into_response(),
        Err(VerifyInviteError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}

/// `POST /portal/invitation`: registers with the token from the cookie.
#[handler]
pub(crate) async fn invitation_submit(ctx: Ctx, req: &Request, Form(form): Form<RegistrationForm>) -> Response {
    let token = match submitted_link(&ctx, req, &form.csrf, "page_invitation", "invitation", INVITE_COOKIE) {
        Ok(token) => token,
        Err(answer) => return *answer,
    };
    // The practice, expiry and language for the answer; checking does not consume.
    let info = match ctx.state.service.verify_invite(&token).await {
        Ok(info) => {
            prefer_record_language(info.language);
            info
        }
        Err(VerifyInviteError::Refused(refused)) => return invite_refused(&refused).into_response(),
        Err(VerifyInviteError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    let password = Password::new(&form.password);
    let context = ctx.meta.context();
    let registered = ctx.state.service.register_with_date_of_birth(
        &token,
        answered(&form.date_of_birth),
        &form.username,
        &password,
        &context,
    );
    let problem = match registered.await {
        Ok(registered) => {
            let page = RegisteredPage {
                practice: registered.practice.name.as_str(),
                username: registered.username.to_string(),
                sign_in_path: sign_in_path(&registered.practice),
            };
            return Page::render("page_invitation", StatusCode::OK, &page)
                .cookie(clear_cookie(INVITE_COOKIE))
                .into_response();
        }
        Err(RegisterError::Refused(refused)) => return invite_refused(&refused).into_response(),
        Err(RegisterError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
        Err(RegisterError::DateOfBirthMismatch(refused)) if refused.tries_left == 0 => {
            return closed_link("page_invitation").into_response();
        }
        Err(RegisterError::DateOfBirthMismatch(refused)) => {
            RegistrationProblem::DateOfBirthMismatch { tries_left: refused.tries_left }
        }
        Err(RegisterError::InvalidUsername(invalid)) => RegistrationProblem::InvalidUsername(invalid),
        Err(RegisterError::UsernameTaken) => RegistrationProblem::UsernameTaken,
        Err(RegisterError::WeakPassword(weak)) => RegistrationProblem::WeakPassword(weak),
    };
    let typed = Typed { date_of_birth: &form.date_of_birth, username: &form.username };
    registration_page(&ctx, req, &info, typed, Some(problem)).into_response()
}

// ---- Password reset ---------------------------------------------------------------------------

/// `templates/reset.html`.
#[derive(Template)]
#[template(path = "reset.html", ext = "html")]
struct ResetPage<'a> {
    practice: &'a str,
    expires: String,
    csrf: String,
    /// True when the link needs the client's date of birth: the form asks for it first.
    date_of_birth_required: bool,
    /// The date typed, shown again only when it was right.
    date_of_birth: &'a str,
    min_password_chars: usize,
    problem: Option<ResetProblem>,
}

/// Why the new-password form came back: each variant has its own words in the template.
pub(crate) enum ResetProblem {
    /// The date of birth was missing or does not match (never which part); the link takes
    /// `tries_left` more wrong answers.
    DateOfBirthMismatch {
        tries_left: u8,
    },
    WeakPassword(WeakPassword),
}

impl ResetPage<'_> {
    fn date_of_birth_invalid(&self) -> bool {
        matches!(self.problem, Some(ResetProblem::DateOfBirthMismatch { .. }))
    }

    fn password_invalid(&self) -> bool {
        matches!(self.problem, Some(ResetProblem::WeakPassword(_)))
    }
}

/// `templates/reset_done.html`.
#[derive(Template)]
#[template(path = "reset_done.html", ext = "html")]
struct ResetDonePage<'a> {
    practice: &'a str,
    sign_in_path: String,
}

fn reset_form_page(
    ctx: &Ctx,
    req: &Request,
    info: &LinkInfo,
    date_of_birth: &str,
    problem: Option<ResetProblem>,
) -> Page {
    let (status, date_of_birth) = match &problem {
        None => (StatusCode::OK, date_of_birth),
        Some(ResetProblem::DateOfBirthMismatch { .. }) => (StatusCode::FORBIDDEN, ""),
        Some(ResetProblem::WeakPassword(_)) => (StatusCode::UNPROCESSABLE_ENTITY, date_of_birth),
    };
    prefer_record_language(info.language);
    let (csrf, csrf_cookie) = csrf_token(req);
    let practice = &info.practice;
    let page = ResetPage {
        practice: practice.name.as_str(),
        expires: PracticeZone::of(Some(practice)).at(info.expires_at),
        csrf,
        date_of_birth_required: info.date_of_birth_required,
        date_of_birth,
        min_password_chars: ctx.state.service.policy().password().min_chars,
        problem,
    };
    Page::render("page_reset", status, &page).csrf_cookie(csrf_cookie)
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
        Ok(info) => reset_form_page(&ctx, req, &info, "", None).into_response(),
        Err(ResetError::Refused(refused)) => reset_refused(&refused).into_response(),
        // Verifying checks neither a password nor a date of birth: the core never answers these.
        Err(ResetError::WeakPassword(_) | ResetError::DateOfBirthMismatch(_)) => {
            no_link("page_reset", "password-reset").into_response()
        }
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
        Ok(info) => {
            prefer_record_language(info.language);
            info
        }
        Err(ResetError::Refused(refused)) => return reset_refused(&refused).into_response(),
        Err(ResetError::WeakPassword(_) | ResetError::DateOfBirthMismatch(_)) => {
            return no_link("page_reset", "password-reset").into_response();
        }
        Err(ResetError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    let password = Password::new(&form.password);
    let context = ctx.meta.context();
    let done =
        ctx.state.service.complete_reset_with_date_of_birth(&token, answered(&form.date_of_birth), &password, &context);
    match done.await {
        Ok(()) => {
            ctx.mail_queued();
            let page =
                ResetDonePage { practice: info.practice.name.as_str(), sign_in_path: sign_in_path(&info.practice) };
            Page::render("page_reset", StatusCode::OK, &page)
                .cookie(clear_cookie(RESET_COOKIE))
                .cookie(clear_cookie(SESSION_COOKIE))
                .into_response()
        }
        Err(ResetError::Refused(refused)) => reset_refused(&refused).into_response(),
        Err(ResetError::DateOfBirthMismatch(refused)) if refused.tries_left == 0 => {
            closed_link("page_reset").into_response()
        }
        Err(ResetError::DateOfBirthMismatch(refused)) => {
            let problem = ResetProblem::DateOfBirthMismatch { tries_left: refused.tries_left };
            reset_form_page(&ctx, req, &info, "", Some(problem)).into_response()
        }
        Err(ResetError::WeakPassword(weak)) => {
            reset_form_page(&ctx, req, &info, &form.date_of_birth, Some(ResetProblem::WeakPassword(weak)))
                .into_response()
        }
        Err(ResetError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}
