//! The EHR's own pages: sign-in, sign-out, the patient list and a patient's page. Every page is
//! an askama template (`examples/ehr/templates/`), so every value is escaped by the engine.
//!
//! | path | page |
//! |---|---|
//! | `GET /` | 303 to `/patients` |
//! | `GET/POST /login`, `POST /logout` | the EHR's staff sign-in |
//! | `GET /patients` | every patient with their portal state (one `portal_states` call) |
//! | `GET /patients/{id}` | one patient, linking to the portal panel |

use std::sync::Arc;

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path};
use poem::{Request, Response, Route, get, handler, post};
use portal_core::service::{MAX_STATES_PER_CALL, StaffContext};
use portal_core::{ClientId, DynPortalService, OsRandom, PortalStatus, RequestContext};
use portal_http::BlockingHasher;
use sea_orm::{DatabaseConnection, EntityTrait as _, QueryOrder as _, QuerySelect as _};
use serde::Deserialize;

use crate::EhrError;
use crate::auth::{SESSION_COOKIE, SignedIn, StaffSessions, is_busy, read_cookie, session_cookie};
use crate::db::patient;

/// The EHR's pages run no script, load styles only from this origin (the portal's stylesheet),
/// post forms only here, and are never framed.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the EHR's handlers share.
pub(crate) struct EhrState {
    pub(crate) db: DatabaseConnection,
    pub(crate) sessions: StaffSessions,
    pub(crate) service: Arc<DynPortalService>,
    pub(crate) hasher: BlockingHasher,
    pub(crate) secure_cookies: bool,
    /// Where the portal is nested (`/client-portal`).
    pub(crate) portal_base: String,
    pub(crate) practice_slug: String,
}

/// The EHR's routes; the caller adds the state and nests the portal beside them.
pub(crate) fn routes() -> Route {
    Route::new()
        .at("/", get(home))
        .at("/login", get(login_page).post(login))
        .at("/logout", post(logout))
        .at("/patients", get(patient_list))
        .at("/patients/:id", get(patient_page))
}

/// Why the sign-in form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginError {
    WrongCredentials,
    Busy,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    portal_base: &'a str,
    username: &'a str,
    error: Option<LoginError>,
}

/// A portal state as the EHR's pages show it.
struct StateView {
    /// The API's name (`no_account`, `invited`, …), for styling and tests.
    name: &'static str,
    words: String,
}

impl StateView {
    fn of(status: &PortalStatus) -> Self {
        let words = match status {
            PortalStatus::NotInvited => "No account".to_owned(),
            PortalStatus::Invited { expires_at, .. } => {
                format!("Invited (link valid until {} UTC)", expires_at.strftime("%Y-%m-%d %H:%M"))
            }
            PortalStatus::InviteExpired { .. } => "Invitation expired".to_owned(),
            PortalStatus::Active { username } => format!("Active: {username}"),
            PortalStatus::Disabled { username, .. } => format!("Turned off: {username}"),
        };
        Self { name: status.kind().name(), words }
    }
}

struct PatientRow {
    id: i64,
    name: String,
    date_of_birth: String,
    email: String,
    state: StateView,
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage<'a> {
    portal_base: &'a str,
    staff_name: &'a str,
    rows: Vec<PatientRow>,
    capped: bool,
}

#[derive(Template)]
#[template(path = "patient.html")]
struct PatientPage<'a> {
    portal_base: &'a str,
    staff_name: &'a str,
    practice_slug: &'a str,
    patient: PatientRow,
    language: &'a str,
    consent: bool,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    portal_base: &'a str,
    title: &'a str,
    text: &'a str,
}

/// An HTML page with the EHR's security headers.
fn page(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("content-security-policy", CONTENT_SECURITY_POLICY)
            .header("cache-control", "no-store")
            .header("referrer-policy", "no-referrer")
            .header("x-content-type-options", "nosniff")
            .body(html),
        Err(error) => failure(&error),
    }
}

fn see_other(location: &str) -> Response {
    Response::builder().status(StatusCode::SEE_OTHER).header("location", location).finish()
}

/// An unexpected failure: logged with its chain, answered with a generic page.
fn failure(error: &dyn std::error::Error) -> Response {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error = %text, "EHR page failed");
    Response::builder()
        .status(StatusCode::INTERNAL_SERVER_ERROR)
        .content_type("text/plain; charset=utf-8")
        .body("Something went wrong. Please try again.")
}

/// The signed-in staff user, or the response to send instead (to the sign-in page, or a
/// failure).
async fn signed_in(state: &EhrState, req: &Request) -> Result<SignedIn, Response> {
    let Some(token) = read_cookie(req, SESSION_COOKIE) else { return Err(see_other("/login")) };
    match state.sessions.signed_in(&token).await {
        Ok(Some(signed_in)) => Ok(signed_in),
        Ok(None) => Err(see_other("/login")),
        Err(error) => Err(failure(&error)),
    }
}

fn staff_context(signed_in: &SignedIn, req: &Request) -> StaffContext {
    let source_ip = req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip);
    StaffContext { staff: signed_in.member.clone(), request: RequestContext { request_id: None, source_ip } }
}

#[handler]
fn home() -> Response {
    see_other("/patients")
}

#[handler]
async fn login_page(req: &Request, Data(state): Data<&Arc<EhrState>>) -> Response {
    if let Some(token) = read_cookie(req, SESSION_COOKIE)
        && matches!(state.sessions.signed_in(&token).await, Ok(Some(_)))
    {
        return see_other("/patients");
    }
    page(StatusCode::OK, &LoginPage { portal_base: &state.portal_base, username: "", error: None })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
}

#[handler]
async fn login(Data(state): Data<&Arc<EhrState>>, Form(form): Form<LoginForm>) -> Response {
    let again = |status, error| {
        page(status, &LoginPage { portal_base: &state.portal_base, username: &form.username, error: Some(error) })
    };
    match state.sessions.sign_in(&state.hasher, &OsRandom, &form.username, &form.password).await {
        Ok(Some(token)) => {
            let mut response = see_other("/patients");
            let cookie = session_cookie(Some(&token), state.sessions.lifetime(), state.secure_cookies);
            if let Ok(value) = cookie.parse() {
                response.headers_mut().append("set-cookie", value);
            }
            response
        }
        Ok(None) => again(StatusCode::UNAUTHORIZED, LoginError::WrongCredentials),
        Err(error) if is_busy(&error) => {
            let mut response = again(StatusCode::SERVICE_UNAVAILABLE, LoginError::Busy);
            response.headers_mut().insert("retry-after", poem::http::HeaderValue::from_static("2"));
            response
        }
        Err(error) => failure(&error),
    }
}

/// Ends the session. A cross-site form cannot do it for someone: the cookie is
/// `SameSite=Strict`, so such a POST arrives without it and ends nothing.
#[handler]
async fn logout(req: &Request, Data(state): Data<&Arc<EhrState>>) -> Response {
    if let Some(token) = read_cookie(req, SESSION_COOKIE)
        && let Err(error) = state.sessions.sign_out(&token).await
    {
        return failure(&error);
    }
    let mut response = see_other("/login");
    if let Ok(value) = session_cookie(None, state.sessions.lifetime(), state.secure_cookies).parse() {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

fn row(patient: patient::Model, status: &PortalStatus) -> PatientRow {
    PatientRow {
        id: patient.id,
        name: patient.name,
        date_of_birth: patient.date_of_birth.unwrap_or_default(),
        email: patient.email.unwrap_or_else(|| "(no email)".to_owned()),
        state: StateView::of(status),
    }
}

/// The portal states of `patients`, in one call, in their order.
async fn states(
    state: &EhrState,
    context: &StaffContext,
    patients: &[patient::Model],
) -> Result<Vec<PortalStatus>, Response> {
    let ids: Vec<ClientId> = patients.iter().filter_map(|p| ClientId::parse(&p.id.to_string()).ok()).collect();
    let answered = state.service.portal_states(context, &ids).await.map_err(|error| failure(&error))?;
    let mut by_id: std::collections::HashMap<String, PortalStatus> =
        answered.into_iter().map(|(id, status)| (id.as_str().to_owned(), status)).collect();
    Ok(patients.iter().map(|p| by_id.remove(&p.id.to_string()).unwrap_or(PortalStatus::NotInvited)).collect())
}

#[handler]
async fn patient_list(req: &Request, Data(state): Data<&Arc<EhrState>>) -> Response {
    let signed_in = match signed_in(state, req).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    // One page of at most what one `portal_states` call answers; a real EHR paginates.
    let limit = u64::try_from(MAX_STATES_PER_CALL).unwrap_or(500);
    let found = patient::Entity::find().order_by_asc(patient::Column::Name).limit(limit + 1).all(&state.db).await;
    let mut patients = match found {
        Ok(patients) => patients,
        Err(error) => return failure(&EhrError::from(error)),
    };
    let capped = patients.len() > MAX_STATES_PER_CALL;
    patients.truncate(MAX_STATES_PER_CALL);
    let statuses = match states(state, &staff_context(&signed_in, req), &patients).await {
        Ok(statuses) => statuses,
        Err(response) => return response,
    };
    let rows = patients.into_iter().zip(&statuses).map(|(patient, status)| row(patient, status)).collect();
    let staff_name = &signed_in.user.display_name;
    page(StatusCode::OK, &PatientsPage { portal_base: &state.portal_base, staff_name, rows, capped })
}

#[handler]
async fn patient_page(req: &Request, Path(id): Path<String>, Data(state): Data<&Arc<EhrState>>) -> Response {
    let signed_in = match signed_in(state, req).await {
        Ok(signed_in) => signed_in,
        Err(response) => return response,
    };
    let found = match id.parse::<i64>() {
        Ok(number) => patient::Entity::find_by_id(number).one(&state.db).await,
        Err(_) => Ok(None),
    };
    let patient = match found {
        Ok(Some(patient)) => patient,
        Ok(None) => {
            let text = "There is no patient with this number.";
            return page(
                StatusCode::NOT_FOUND,
                &MessagePage { portal_base: &state.portal_base, title: "Patient not found", text },
            );
        }
        Err(error) => return failure(&EhrError::from(error)),
    };
    let status = match states(state, &staff_context(&signed_in, req), std::slice::from_ref(&patient)).await {
        Ok(mut statuses) => statuses.pop().unwrap_or(PortalStatus::NotInvited),
        Err(response) => return response,
    };
    let language = if patient.preferred_language == "es" { "Spanish" } else { "English" };
    let consent = patient.email_consent;
    page(
        StatusCode::OK,
        &PatientPage {
            portal_base: &state.portal_base,
            staff_name: &signed_in.user.display_name,
            practice_slug: &state.practice_slug,
            patient: row(patient, &status),
            language,
            consent,
        },
    )
}
