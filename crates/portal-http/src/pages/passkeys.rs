//! The client pages of passkeys: registering one ("Sign-in security"), one as the factor a
//! practice requires right after the password, and passkey-first sign-in. (The second step
//! with a passkey is part of the second step's page, in `factors`.)
//!
//! Each ceremony is two requests: a form POST starts it and answers [`PasskeyPage`], whose
//! form carries the relying party's options and the ceremony id; `passkeys.js` runs the
//! browser's ceremony when the button is pressed and posts the answer, which finishes it. A
//! refused answer shows the page again with a fresh ceremony.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{FactorError, PasskeyCeremonyStarted, PasskeySignInError, SecondStepError};
use portal_core::{PasskeyResponse, Practice};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::client::{disabled_page, ip_refusal, sign_in_path, trouble};
use super::factors::{
    CsrfOnly, codes_page, factor_refused, practice, practice_of_challenge, session_cookie, signed_in, step_refused,
};
use super::{Page, csrf_ok, csrf_refused, csrf_token, see_other, texts};
use crate::auth::Ctx;

/// `templates/passkey.html`: one passkey ceremony, run by `passkeys.js`.
#[derive(Template)]
#[template(path = "passkey.html", ext = "html")]
pub(super) struct PasskeyPage<'a> {
    practice: &'a str,
    title: &'static str,
    intro: &'static str,
    refused: Option<&'static str>,
    action: String,
    /// `create` (register) or `get` (sign in).
    mode: &'static str,
    options: String,
    ceremony: String,
    csrf: String,
    challenge: Option<&'a str>,
    kind: Option<&'static str>,
    named: bool,
    button: &'static str,
    back_path: String,
    back_text: &'static str,
}

/// What a passkey page's form posts.
#[derive(Deserialize)]
pub(crate) struct PasskeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    passkey_response: String,
    #[serde(default)]
    name: String,
}

impl PasskeyForm {
    fn response(&self) -> PasskeyResponse {
        PasskeyResponse::from_json(self.passkey_response.clone())
    }

    fn name(&self) -> Option<&str> {
        Some(self.name.as_str())
    }
}

/// Which ceremony a page runs.
#[derive(Clone, Copy)]
enum Ceremony {
    /// A signed-in client registers a passkey.
    Register,
    /// The factor a practice requires, right after the password.
    Required,
    /// Passkey-first sign-in.
    SignIn,
}

const REGISTER_FINISH: &str = "/portal/factors/passkeys/finish";
const REQUIRED_FINISH: &str = "/portal/second-factor/enrol/passkey/finish";

/// The page of a started ceremony.
fn ceremony_page(
    req: &Request,
    practice: &Practice,
    which: Ceremony,
    started: &PasskeyCeremonyStarted,
    challenge: Option<&str>,
    refused: Option<&'static str>,
) -> Page {
    let t = texts();
    let (csrf, csrf_cookie) = csrf_token(req);
    let (title, intro, mode, action, button, named, back_path, back_text) = match which {
        Ceremony::Register => (
            t.add_passkey,
            t.passkey_create_intro,
            "create",
            REGISTER_FINISH.to_owned(),
            t.create_passkey,
            true,
            "/portal/factors".to_owned(),
            t.sign_in_security,
        ),
        Ceremony::Required => (
            t.add_passkey,
            t.passkey_create_intro,
            "create",
            REQUIRED_FINISH.to_owned(),
            t.create_passkey,
            true,
            sign_in_path(practice),
            t.back_to_sign_in,
        ),
        Ceremony::SignIn => (
            t.sign_in_with_passkey,
            t.passkey_sign_in_intro,
            "get",
            format!("{}/passkey/finish", sign_in_path(practice)),
            t.use_passkey,
            false,
            sign_in_path(practice),
            t.back_to_sign_in,
        ),
    };
    let page = PasskeyPage {
        practice: practice.name.as_str(),
        title,
        intro,
        refused,
        action,
        mode,
        options: started.options.as_json().to_owned(),
        ceremony: started.ceremony.expose().expose_secret().to_owned(),
        csrf,
        challenge,
        kind: None,
        named,
        button,
        back_path,
        back_text,
    };
    let status = if refused.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Page::render("page_passkey", status, &page).csrf_cookie(csrf_cookie).with_passkey_script()
}

// ---- Registering (signed in) -------------------------------------------------------------------

/// `POST /portal/factors/passkeys`: starts registering a passkey.
#[handler]
pub(crate) async fn register_start(ctx: Ctx, req: &Request, Form(form): Form<CsrfOnly>) -> Response {
    if !csrf_ok(req, form.csrf()) {
        return csrf_refused(false).into_response();
    }
    let session = match signed_in(&ctx, req).await {
        Ok(session) => session,
        Err(page) => return page.into_response(),
    };
    match ctx.state.service.start_passkey_registration(&session.factor_owner()).await {
        Ok(started) => ceremony_page(req, &session.practice, Ceremony::Register, &started, None, None).into_response(),
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}

/// `POST /portal/factors/passkeys/finish`: the browser's answer registers the passkey; the
/// first factor's recovery codes are shown once, otherwise back to "Sign-in security".
#[handler]
pub(crate) async fn register_finish(ctx: Ctx, req: &Request, Form(form): Form<PasskeyForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let session = match signed_in(&ctx, req).await {
        Ok(session) => session,
        Err(page) => return page.into_response(),
    };
    let owner = session.factor_owner();
    let service = &ctx.state.service;
    let (response, context) = (form.response(), ctx.meta.context());
    let finished = service.finish_passkey_registration(&owner, &form.ceremony, &response, form.name(), &context);
    let refused = match finished.await {
        Ok(enrolled) => {
            ctx.mail_queued();
            return match enrolled.recovery_codes {
                Some(codes) => codes_page(&session.practice, &codes, "/portal/factors", None),
                None => see_other("page_passkey", "/portal/factors", Vec::new()),
            };
        }
        Err(FactorError::PasskeyRejected | FactorError::CeremonyInvalid | FactorError::Invalid(_)) => {
            texts().passkey_rejected
        }
        Err(FactorError::PasskeyInUse) => texts().passkey_in_use,
        Err(error) => return factor_refused(&ctx, &session, error).into_response(),
    };
    match service.start_passkey_registration(&owner).await {
        Ok(started) => {
            ceremony_page(req, &session.practice, Ceremony::Register, &started, None, Some(refused)).into_response()
        }
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}

// ---- The passkey a practice requires, right after the password ---------------------------------

/// The page of a sign-in step whose challenge names no live practice: sign in again.
fn step_expired() -> Response {
    super::Message::said(&texts().step_expired).page("page_passkey", StatusCode::UNAUTHORIZED).into_response()
}

/// `POST /portal/second-factor/enrol/passkey`: a passkey instead of an app, as the factor the
/// practice requires.
#[handler]
pub(crate) async fn required_start(ctx: Ctx, req: &Request, Form(form): Form<PasskeyForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let started = ctx.state.service.challenge_start_passkey_registration(&form.challenge, &ctx.meta.context()).await;
    let Some(practice) = practice_of_challenge(&ctx, &form.challenge).await else { return step_expired() };
    match started {
        Ok(started) => {
            ceremony_page(req, &practice, Ceremony::Required, &started, Some(&form.challenge), None).into_response()
        }
        Err(error) => step_refused(&ctx, &practice, error).into_response(),
    }
}

/// `POST /portal/second-factor/enrol/passkey/finish`: the required passkey registered; the
/// session opens and the recovery codes are shown once.
#[handler]
pub(crate) async fn required_finish(ctx: Ctx, req: &Request, Form(form): Form<PasskeyForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let service = &ctx.state.service;
    let context = ctx.meta.context();
    // Read before the finish: a finish that opens the session uses the challenge up.
    let Some(practice) = practice_of_challenge(&ctx, &form.challenge).await else { return step_expired() };
    let finished = service
        .challenge_finish_passkey_registration(&form.challenge, &form.ceremony, &form.response(), form.name(), &context)
        .await;
    let refused = match finished {
        Ok((signed_in, enrolled)) => {
            ctx.mail_queued();
            let codes = enrolled.recovery_codes.unwrap_or_default();
            return codes_page(&practice, &codes, "/portal/home", Some(session_cookie(&signed_in)));
        }
        Err(SecondStepError::PasskeyRejected) => texts().passkey_rejected,
        Err(SecondStepError::Enrolment(FactorError::PasskeyInUse)) => texts().passkey_in_use,
        Err(error) => return step_refused(&ctx, &practice, error).into_response(),
    };
    match service.challenge_start_passkey_registration(&form.challenge, &context).await {
        Ok(started) => {
            ceremony_page(req, &practice, Ceremony::Required, &started, Some(&form.challenge), Some(refused))
                .into_response()
        }
        Err(error) => step_refused(&ctx, &practice, error).into_response(),
    }
}

// ---- Passkey-first sign-in ---------------------------------------------------------------------

/// `POST /portal/{practice}/sign-in/passkey`: starts a passkey-first sign-in.
#[handler]
pub(crate) async fn sign_in_start(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf_ok(req, form.csrf()) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let practice = match practice(&ctx, &slug).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    sign_in_ceremony(&ctx, req, &practice, None).await
}

async fn sign_in_ceremony(ctx: &Ctx, req: &Request, practice: &Practice, refused: Option<&'static str>) -> Response {
    match ctx.state.service.start_passkey_sign_in(practice.slug.as_str()).await {
        Ok(started) => ceremony_page(req, practice, Ceremony::SignIn, &started, None, refused).into_response(),
        // Passkeys are off for this practice (or this server): the password form.
        Err(PasskeySignInError::Infrastructure(error)) => trouble(ctx, &error).into_response(),
        Err(_) => see_other("page_passkey", &sign_in_path(practice), Vec::new()),
    }
}

/// `POST /portal/{practice}/sign-in/passkey/finish`: the passkey opens the session.
#[handler]
pub(crate) async fn sign_in_finish(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(form): Form<PasskeyForm>,
) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let practice = match practice(&ctx, &slug).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    match ctx.state.service.finish_passkey_sign_in(&form.ceremony, &form.response(), &ctx.meta.context()).await {
        Ok(signed_in) => see_other("page_passkey", "/portal/home", vec![session_cookie(&signed_in)]),
        Err(PasskeySignInError::Rejected | PasskeySignInError::CeremonyInvalid) => {
            sign_in_ceremony(&ctx, req, &practice, Some(texts().passkey_rejected)).await
        }
        Err(PasskeySignInError::AccountDisabled) => {
            disabled_page().brand(practice.name.as_str()).page("page_passkey", StatusCode::FORBIDDEN).into_response()
        }
        Err(PasskeySignInError::Unavailable) => see_other("page_passkey", &sign_in_path(&practice), Vec::new()),
        Err(PasskeySignInError::Infrastructure(error)) => trouble(&ctx, &error).into_response(),
    }
}
