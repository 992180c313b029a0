//! The client pages of second factors: the second step of sign-in (a code of the app or a
//! recovery code; or, when the practice requires a factor the account lacks, setting up an
//! app), the app's set-up with its QR code drawn on the server, the recovery codes shown once,
//! and "Sign-in security" (the factors with their remove buttons, new recovery codes).

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{
    ClientSession, FactorAnswer, FactorError, PasskeyCeremonyStarted, SecondStep, SecondStepError, SessionError,
    SignedIn, TotpEnrolment,
};
use portal_core::{FactorId, PasskeyResponse, Practice, RecoveryCode, SecondFactorKind, second_factor};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::client::{disabled_page, ip_refusal, sign_in_path, trouble};
use super::{
    Message, Page, SESSION_COOKIE, csrf_ok, csrf_refused, csrf_token, prefer_record_language, read_cookie, see_other,
    set_cookie, texts,
};
use crate::auth::Ctx;
use crate::client_factors::qr_svg;
use crate::error::retry_after_secs;

/// `templates/second_step.html`.
#[derive(Template)]
#[template(path = "second_step.html", ext = "html")]
struct SecondStepPage<'a> {
    practice: &'a str,
    action: String,
    sign_in_path: String,
    csrf: String,
    challenge: &'a str,
    totp: bool,
    recovery: bool,
    wrong_code: bool,
    /// The passkey ceremony started for this step, when the account has a passkey.
    passkey: Option<InlinePasskey>,
    passkey_refused: bool,
}

/// A passkey ceremony run from a page that also offers other ways (the second step).
struct InlinePasskey {
    ceremony: String,
    options: String,
}

impl InlinePasskey {
    fn of(started: &PasskeyCeremonyStarted) -> Self {
        Self {
            ceremony: started.ceremony.expose().expose_secret().to_owned(),
            options: started.options.as_json().to_owned(),
        }
    }
}

/// `templates/totp_enrol.html`.
#[derive(Template)]
#[template(path = "totp_enrol.html", ext = "html")]
struct EnrolPage<'a> {
    practice: &'a str,
    action: &'static str,
    csrf: String,
    /// The enrolment challenge, when the practice requires the app before the session.
    challenge: Option<&'a str>,
    factor_id: String,
    secret: String,
    qr_svg: String,
    wrong_code: bool,
    /// A passkey may be the required factor instead of the app.
    passkey_instead: bool,
}

/// `templates/recovery_codes.html`.
#[derive(Template)]
#[template(path = "recovery_codes.html", ext = "html")]
struct CodesPage<'a> {
    practice: &'a str,
    codes: Vec<String>,
    next: &'static str,
}

/// One factor on the "Sign-in security" page.
struct FactorRow {
    id: String,
    name: String,
    kind: &'static str,
    added: String,
}

/// `templates/factors.html`.
#[derive(Template)]
#[template(path = "factors.html", ext = "html")]
struct FactorsPage<'a> {
    practice: &'a str,
    csrf: String,
    factors: Vec<FactorRow>,
    codes_left: u32,
    can_enrol: bool,
    /// Passkeys can be registered here (this server has a relying party).
    passkeys: bool,
    factor_required: bool,
}

/// The second step's form.
#[derive(Deserialize)]
pub(crate) struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    passkey_response: String,
}

/// The app's confirmation form (with the challenge when the practice requires the app).
#[derive(Deserialize)]
pub(crate) struct EnrolForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    challenge: String,
    #[serde(default)]
    factor_id: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
}

/// A form with only the CSRF field.
#[derive(Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

impl CsrfOnly {
    pub(super) fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn step_path(practice: &Practice) -> String {
    format!("/portal/{}/second-factor", practice.slug.as_str())
}

const ENROL_REQUIRED_PATH: &str = "/portal/second-factor/enrol";
const ENROL_PATH: &str = "/portal/factors/totp/confirm";

/// What went wrong with the last answer of a second step shown again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StepProblem {
    None,
    WrongCode,
    PasskeyRefused,
}

/// The passkey ceremony of a second step, when the account has a passkey (`kinds` empty: not
/// known, the core decides).
async fn step_passkey(ctx: &Ctx, challenge: &str, kinds: &[SecondFactorKind]) -> Option<InlinePasskey> {
    if !(kinds.is_empty() || kinds.contains(&SecondFactorKind::Passkey)) {
        return None;
    }
    let started = ctx.state.service.challenge_start_passkey(challenge, &ctx.meta.context()).await.ok()?;
    Some(InlinePasskey::of(&started))
}

async fn step_page(ctx: &Ctx, req: &Request, practice: &Practice, step: &SecondStep) -> Page {
    let challenge = step.challenge.expose().expose_secret();
    let passkey = step_passkey(ctx, challenge, &step.factors).await;
    step_form(req, practice, challenge, &step.factors, StepProblem::None, passkey)
}

fn step_form(
    req: &Request,
    practice: &Practice,
    challenge: &str,
    kinds: &[SecondFactorKind],
    problem: StepProblem,
    passkey: Option<InlinePasskey>,
) -> Page {
    let (csrf, csrf_cookie) = csrf_token(req);
    let scripted = passkey.is_some();
    let page = SecondStepPage {
        practice: practice.name.as_str(),
        action: step_path(practice),
        sign_in_path: sign_in_path(practice),
        csrf,
        challenge,
        // Without the kinds (a form sent back), offer the codes: the core decides.
        totp: kinds.is_empty() || kinds.contains(&SecondFactorKind::Totp),
        recovery: kinds.is_empty() || kinds.contains(&SecondFactorKind::RecoveryCode),
        wrong_code: problem == StepProblem::WrongCode,
        passkey,
        passkey_refused: problem == StepProblem::PasskeyRefused,
    };
    let status = if problem == StepProblem::None { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
    let page = Page::render("page_second_step", status, &page).csrf_cookie(csrf_cookie);
    if scripted { page.with_passkey_script() } else { page }
}

fn enrol_page(
    req: &Request,
    practice: &Practice,
    enrolment: &TotpEnrolment,
    challenge: Option<&str>,
    wrong_code: bool,
    passkey_instead: bool,
) -> Page {
    let (csrf, csrf_cookie) = csrf_token(req);
    let url = enrolment.otpauth_url.expose_secret();
    let page = EnrolPage {
        practice: practice.name.as_str(),
        action: if challenge.is_some() { ENROL_REQUIRED_PATH } else { ENROL_PATH },
        csrf,
        challenge,
        factor_id: enrolment.factor_id.to_string(),
        secret: second_factor::grouped(enrolment.secret.expose_secret()),
        qr_svg: qr_svg(url).unwrap_or_default(),
        wrong_code,
        passkey_instead: passkey_instead && challenge.is_some(),
    };
    let status = if wrong_code { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Page::render("page_totp_enrol", status, &page).csrf_cookie(csrf_cookie)
}

pub(super) fn codes_page(
    practice: &Practice,
    codes: &[RecoveryCode],
    next: &'static str,
    cookie: Option<String>,
) -> Response {
    let page = CodesPage {
        practice: practice.name.as_str(),
        codes: codes.iter().map(|code| code.expose().to_owned()).collect(),
        next,
    };
    let page = Page::render("page_recovery_codes", StatusCode::OK, &page);
    match cookie {
        Some(cookie) => page.cookie(cookie).into_response(),
        None => page.into_response(),
    }
}

pub(super) fn session_cookie(signed_in: &SignedIn) -> String {
    set_cookie(SESSION_COOKIE, signed_in.token.expose().expose_secret(), "Strict", None)
}

pub(super) fn expired_step(practice: &Practice) -> Page {
    let t = texts();
    Message::said(&t.step_expired)
        .link(sign_in_path(practice), t.back_to_sign_in)
        .brand(practice.name.as_str())
        .page("page_second_step", StatusCode::UNAUTHORIZED)
}

/// What the sign-in page answers when a second step must follow: the step's form, or the app's
/// set-up when the practice requires one the account lacks.
pub(super) async fn after_password(ctx: &Ctx, req: &Request, practice: &Practice, step: &SecondStep) -> Response {
    if !step.enrolment_required {
        return step_page(ctx, req, practice, step).await.into_response();
    }
    let challenge = step.challenge.expose().expose_secret();
    let passkey_instead = step.factors.contains(&SecondFactorKind::Passkey);
    match ctx.state.service.challenge_start_totp(challenge, &ctx.meta.context()).await {
        Ok(enrolment) => enrol_page(req, practice, &enrolment, Some(challenge), false, passkey_instead).into_response(),
        Err(error) => step_refused(ctx, practice, error).into_response(),
    }
}

/// The page of a refused step (not a wrong code, which shows its form again).
pub(super) fn step_refused(ctx: &Ctx, practice: &Practice, error: SecondStepError) -> Page {
    let t = texts();
    match error {
        SecondStepError::ChallengeInvalid | SecondStepError::InvalidCode | SecondStepError::PasskeyRejected => {
            expired_step(practice)
        }
        SecondStepError::AccountDisabled => {
            disabled_page().brand(practice.name.as_str()).page("page_second_step", StatusCode::FORBIDDEN)
        }
        SecondStepError::Throttled { retry_after } => {
            let seconds = retry_after_secs(retry_after);
            Message::new(t.too_many_attempts, (t.too_many_sign_ins)(seconds))
                .link(sign_in_path(practice), t.back_to_sign_in)
                .brand(practice.name.as_str())
                .page("page_second_step", StatusCode::TOO_MANY_REQUESTS)
                .retry_after(seconds)
        }
        SecondStepError::Enrolment(FactorError::Infrastructure(error)) | SecondStepError::Infrastructure(error) => {
            trouble(ctx, &error)
        }
        SecondStepError::Enrolment(_) => Message::said(&t.enrolment_lapsed)
            .link(sign_in_path(practice), t.back_to_sign_in)
            .brand(practice.name.as_str())
            .page("page_totp_enrol", StatusCode::NOT_FOUND),
    }
}

pub(super) async fn practice(ctx: &Ctx, slug: &str) -> Result<Practice, Page> {
    match ctx.state.service.practice_by_slug(slug).await {
        Ok(Some(practice)) => Ok(practice),
        Ok(None) => Err(Message::said(&texts().no_practice).page("page_second_step", StatusCode::NOT_FOUND)),
        Err(error) => Err(trouble(ctx, &error)),
    }
}

/// `POST /portal/{practice}/second-factor`: the code opens the session.
#[handler]
pub(crate) async fn second_step_submit(
    ctx: Ctx,
    req: &Request,
    Path(slug): Path<String>,
    Form(form): Form<StepForm>,
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
    let passkey_answer = PasskeyResponse::from_json(form.passkey_response.clone());
    let answer = match form.kind.as_str() {
        "recovery_code" => FactorAnswer::RecoveryCode(&form.code),
        "passkey" => FactorAnswer::Passkey { ceremony: &form.ceremony, response: &passkey_answer },
        _ => FactorAnswer::Totp(&form.code),
    };
    let problem = match ctx.state.service.complete_second_step(&form.challenge, answer, &ctx.meta.context()).await {
        Ok(signed_in) => {
            ctx.mail_queued();
            return see_other("page_second_step", "/portal/home", vec![session_cookie(&signed_in)]);
        }
        Err(SecondStepError::InvalidCode) => StepProblem::WrongCode,
        Err(SecondStepError::PasskeyRejected) => StepProblem::PasskeyRefused,
        Err(error) => return step_refused(&ctx, &practice, error).into_response(),
    };
    let passkey = step_passkey(&ctx, &form.challenge, &[]).await;
    step_form(req, &practice, &form.challenge, &[], problem, passkey).into_response()
}

/// `POST /portal/second-factor/enrol`: the app a practice requires, confirmed; the session opens
/// and the recovery codes are shown once.
#[handler]
pub(crate) async fn required_enrol_submit(ctx: Ctx, req: &Request, Form(form): Form<EnrolForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    if let Some(page) = ip_refusal(&ctx) {
        return page.into_response();
    }
    let service = &ctx.state.service;
    let context = ctx.meta.context();
    let Ok(factor_id) = FactorId::parse(&form.factor_id) else {
        return Message::said(&texts().step_expired).page("page_totp_enrol", StatusCode::UNAUTHORIZED).into_response();
    };
    let name = Some(form.name.as_str());
    match service.challenge_confirm_totp(&form.challenge, factor_id, &form.code, name, &context).await {
        Ok((signed_in, enrolled)) => {
            ctx.mail_queued();
            let practice = match service.authenticate_session(signed_in.token.expose().expose_secret()).await {
                Ok(session) => session.practice,
                Err(SessionError::Unauthenticated) => {
                    return Message::said(&texts().signed_out)
                        .page("page_totp_enrol", StatusCode::UNAUTHORIZED)
                        .into_response();
                }
                Err(SessionError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
            };
            let codes = enrolled.recovery_codes.unwrap_or_default();
            codes_page(&practice, &codes, "/portal/home", Some(session_cookie(&signed_in)))
        }
        Err(SecondStepError::InvalidCode) => {
            match service.challenge_pending_totp(&form.challenge, factor_id, &context).await {
                Ok(enrolment) => {
                    let practice = match practice_of_challenge(&ctx, &form.challenge).await {
                        Some(practice) => practice,
                        None => {
                            return Message::said(&texts().step_expired)
                                .page("page_totp_enrol", StatusCode::UNAUTHORIZED)
                                .into_response();
                        }
                    };
                    let passkey_instead = ctx.state.service.passkeys_available();
                    enrol_page(req, &practice, &enrolment, Some(&form.challenge), true, passkey_instead).into_response()
                }
                Err(_) => Message::said(&texts().step_expired)
                    .page("page_totp_enrol", StatusCode::UNAUTHORIZED)
                    .into_response(),
            }
        }
        Err(SecondStepError::Throttled { retry_after }) => {
            let seconds = retry_after_secs(retry_after);
            let t = texts();
            Message::new(t.too_many_attempts, (t.too_many_sign_ins)(seconds))
                .page("page_totp_enrol", StatusCode::TOO_MANY_REQUESTS)
                .retry_after(seconds)
                .into_response()
        }
        Err(SecondStepError::AccountDisabled) => {
            disabled_page().page("page_totp_enrol", StatusCode::FORBIDDEN).into_response()
        }
        Err(
            SecondStepError::Infrastructure(error) | SecondStepError::Enrolment(FactorError::Infrastructure(error)),
        ) => trouble(&ctx, &error).into_response(),
        Err(_) => {
            Message::said(&texts().step_expired).page("page_totp_enrol", StatusCode::UNAUTHORIZED).into_response()
        }
    }
}

/// The practice a live challenge belongs to (to name it on the page shown again).
pub(super) async fn practice_of_challenge(ctx: &Ctx, challenge: &str) -> Option<Practice> {
    ctx.state.service.challenge_practice(challenge).await.ok().flatten()
}

// ---- Sign-in security (signed in) -------------------------------------------------------------

/// The signed-in client behind the session cookie, or the page to answer instead.
pub(super) async fn signed_in(ctx: &Ctx, req: &Request) -> Result<ClientSession, Page> {
    let signed_out = || Message::said(&texts().signed_out).page("page_factors", StatusCode::UNAUTHORIZED);
    let token = read_cookie(req, SESSION_COOKIE).ok_or_else(signed_out)?;
    match ctx.state.service.authenticate_session(&token).await {
        Ok(session) => {
            prefer_record_language(session.language);
            Ok(session)
        }
        Err(SessionError::Unauthenticated) => Err(signed_out()),
        Err(SessionError::Infrastructure(error)) => Err(trouble(ctx, &error)),
    }
}

async fn factors_page(ctx: &Ctx, req: &Request, session: &ClientSession, factor_required: bool) -> Page {
    let view = match ctx.state.service.factors(&session.factor_owner()).await {
        Ok(view) => view,
        Err(error) => return trouble(ctx, &error),
    };
    let (csrf, csrf_cookie) = csrf_token(req);
    let page = FactorsPage {
        practice: session.practice.name.as_str(),
        csrf,
        factors: view
            .factors
            .iter()
            .map(|f| FactorRow {
                id: f.id.to_string(),
                name: f.name.as_str().to_owned(),
                kind: match f.kind {
                    SecondFactorKind::Passkey => texts().kind_passkey,
                    SecondFactorKind::Totp | SecondFactorKind::RecoveryCode => texts().kind_app,
                },
                added: f.created_at.strftime("%Y-%m-%d").to_string(),
            })
            .collect(),
        codes_left: view.recovery_codes_left,
        can_enrol: view.policy.allows_enrolment(),
        passkeys: ctx.state.service.passkeys_available(),
        factor_required,
    };
    let status = if factor_required { StatusCode::CONFLICT } else { StatusCode::OK };
    Page::render("page_factors", status, &page).csrf_cookie(csrf_cookie)
}

/// `GET /portal/factors`: "Sign-in security".
#[handler]
pub(crate) async fn factors(ctx: Ctx, req: &Request) -> Response {
    match signed_in(&ctx, req).await {
        Ok(session) => factors_page(&ctx, req, &session, false).await.into_response(),
        Err(page) => page.into_response(),
    }
}

/// A factor refusal on a signed-in page.
pub(super) fn factor_refused(ctx: &Ctx, session: &ClientSession, error: FactorError) -> Page {
    match error {
        FactorError::Infrastructure(error) => trouble(ctx, &error),
        FactorError::FactorNotFound => Message::said(&texts().enrolment_lapsed)
            .link("/portal/factors".to_owned(), texts().sign_in_security)
            .brand(session.practice.name.as_str())
            .page("page_factors", StatusCode::NOT_FOUND),
        _ => Message::new(texts().sign_in_security, texts().factors_off)
            .link("/portal/factors".to_owned(), texts().sign_in_security)
            .brand(session.practice.name.as_str())
            .page("page_factors", StatusCode::CONFLICT),
    }
}

/// `POST /portal/factors/totp`: starts setting up an app.
#[handler]
pub(crate) async fn enrol_start(ctx: Ctx, req: &Request, Form(form): Form<CsrfOnly>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    let session = match signed_in(&ctx, req).await {
        Ok(session) => session,
        Err(page) => return page.into_response(),
    };
    match ctx.state.service.start_totp(&session.factor_owner()).await {
        Ok(enrolment) => enrol_page(req, &session.practice, &enrolment, None, false, false).into_response(),
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}

/// `POST /portal/factors/totp/confirm`: the app confirmed; the first factor's recovery codes are
/// shown once, otherwise back to "Sign-in security".
#[handler]
pub(crate) async fn enrol_confirm(ctx: Ctx, req: &Request, Form(form): Form<EnrolForm>) -> Response {
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
    let Ok(factor_id) = FactorId::parse(&form.factor_id) else {
        return factor_refused(&ctx, &session, FactorError::FactorNotFound).into_response();
    };
    let service = &ctx.state.service;
    match service.confirm_totp(&owner, factor_id, &form.code, Some(&form.name), &ctx.meta.context()).await {
        Ok(enrolled) => {
            ctx.mail_queued();
            match enrolled.recovery_codes {
                Some(codes) => codes_page(&session.practice, &codes, "/portal/factors", None),
                None => see_other("page_totp_enrol", "/portal/factors", Vec::new()),
            }
        }
        Err(FactorError::InvalidCode | FactorError::Invalid(_)) => {
            match service.pending_totp(&owner, factor_id).await {
                Ok(enrolment) => enrol_page(req, &session.practice, &enrolment, None, true, false).into_response(),
                Err(error) => factor_refused(&ctx, &session, error).into_response(),
            }
        }
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}

/// `POST /portal/factors/{id}/remove`.
#[handler]
pub(crate) async fn remove(ctx: Ctx, req: &Request, Path(id): Path<String>, Form(form): Form<CsrfOnly>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    let session = match signed_in(&ctx, req).await {
        Ok(session) => session,
        Err(page) => return page.into_response(),
    };
    let Ok(factor_id) = FactorId::parse(&id) else {
        return factor_refused(&ctx, &session, FactorError::FactorNotFound).into_response();
    };
    match ctx.state.service.remove_factor(&session.factor_owner(), factor_id, &ctx.meta.context()).await {
        Ok(()) => {
            ctx.mail_queued();
            see_other("page_factors", "/portal/factors", Vec::new())
        }
        Err(FactorError::FactorRequired) => factors_page(&ctx, req, &session, true).await.into_response(),
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}

/// `POST /portal/factors/recovery-codes`: ten new codes, shown once.
#[handler]
pub(crate) async fn new_codes(ctx: Ctx, req: &Request, Form(form): Form<CsrfOnly>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(false).into_response();
    }
    let session = match signed_in(&ctx, req).await {
        Ok(session) => session,
        Err(page) => return page.into_response(),
    };
    match ctx.state.service.regenerate_recovery_codes(&session.factor_owner(), &ctx.meta.context()).await {
        Ok(codes) => codes_page(&session.practice, &codes, "/portal/factors", None),
        Err(error) => factor_refused(&ctx, &session, error).into_response(),
    }
}
