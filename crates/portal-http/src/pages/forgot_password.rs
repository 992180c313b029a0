//! "Forgot your password?": the page of a practice that lets clients start a password reset
//! (`GET/POST /portal/{practice}/forgot-password`). The POST answers one neutral page whatever
//! the accounts are, before the work is done (see `crate::reset_requests`).

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::ResetRequestError;
use portal_core::{EmailAddress, Practice, Username};
use serde::Deserialize;

use super::client::{ip_refusal, sign_in_path, trouble};
use super::{Message, Page, csrf_ok, csrf_refused, csrf_token, texts};
use crate::auth::Ctx;
use crate::reset_requests::{Busy, accept, link_lifetime_words};

/// The form's fields.
#[derive(Deserialize)]
pub(crate) struct ForgotPasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
}

/// Why the form came back (only for what was typed, never for what matched).
pub(crate) enum ForgotPasswordProblem {
    /// A username or an email address that cannot be one.
    Incomplete,
}

/// `templates/forgot_password.html`.
#[derive(Template)]
#[template(path = "forgot_password.html", ext = "html")]
struct ForgotPasswordPage<'a> {
    practice: &'a str,
    forgot_path: String,
    sign_in_path: String,
    csrf: String,
    username: &'a str,
    email: &'a str,
    problem: Option<ForgotPasswordProblem>,
}

/// The path of a practice's page.
pub(crate) fn forgot_password_path(practice: &Practice) -> String {
    format!("/portal/{}/forgot-password", practice.slug.as_str())
}

fn form(
    req: &Request,
    practice: &Practice,
    username: &str,
    email: &str,
    problem: Option<ForgotPasswordProblem>,
) -> Page {
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (csrf, csrf_cookie) = csrf_token(req);
    let page = ForgotPasswordPage {
        practice: practice.name.as_str(),
        forgot_path: forgot_password_path(practice),
        sign_in_path: sign_in_path(practice),
        csrf,
        username,
        email,
        problem,
    };
    Page::render("page_forgot_password", status, &page).csrf_cookie(csrf_cookie)
}

/// The practice, when it lets clients start resets; else the 404 page (which says only that).
async fn open_practice(ctx: &Ctx, slug: &str) -> Result<Practice, Page> {
    match ctx.state.service.reset_requests_open(slug).await {
        Ok(practice) => Ok(practice),
        Err(ResetRequestError::PracticeNotFound) => {
            Err(Message::said(&texts().no_practice).page("page_forgot_password", StatusCode::NOT_FOUND))
        }
        Err(ResetRequestError::NotAvailable) => {
            Err(Message::said(&texts().resets_not_available).page("page_forgot_password", StatusCode::NOT_FOUND))
        }
        Err(ResetRequestError::Infrastructure(error)) => Err(trouble(ctx, &error)),
    }
}

/// `GET /portal/{practice}/forgot-password`.
#[handler]
pub(crate) async fn forgot_password_page(ctx: Ctx, req: &Request, Path(slug): Path<String>) -> Response {
    match open_practice(&ctx, &slug).await {
        Ok(practice) => form(req, &practice, "", "", None).into_response(),
        Err(page) => page.into_response(),
    }
}

/// `POST /portal/{practice}/forgot-password`: the neutral answer, the work after it.
#[handler]
pub(crate) async fn forgot_password_submit(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(submitted): Form<ForgotPasswordForm>,
) -> Response {
    if !csrf_ok(req, &submitted.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let practice = match open_practice(&ctx, &slug).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    let (Ok(username), Ok(email)) = (Username::parse(&submitted.username), EmailAddress::parse(&submitted.email))
    else {
        let problem = Some(ForgotPasswordProblem::Incomplete);
        return form(req, &practice, &submitted.username, &submitted.email, problem).into_response();
    };
    let lifetime = link_lifetime_words(&ctx.state, &practice);
    let name = practice.name.as_str().to_owned();
    let back = sign_in_path(&practice);
    let t = texts();
    match accept(&ctx.state, practice, username, email, ctx.meta.context()) {
        Ok(()) => Message::new(t.check_your_email_title, (t.check_your_email)(&lifetime))
            .link(back, t.back_to_sign_in)
            .brand(&name)
            .page("page_forgot_password", StatusCode::OK)
            .into_response(),
        Err(Busy) => Message::said(&t.busy_requests)
            .brand(&name)
            .page("page_busy", StatusCode::SERVICE_UNAVAILABLE)
            .retry_after(1)
            .into_response(),
    }
}
