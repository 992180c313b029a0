//! The staff settings page: the practice's name, time zone, mail discretion and portal settings
//! (`GET`/`POST /staff/settings`), calling the same use case as `PATCH /api/v1/practice/settings`.
//! The form always posts every field; the use case writes (and audits) only what differs.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Form, Query};
use poem::{IntoResponse, Request, Response, handler};
use portal_core::service::{PracticeChange, StaffContext, UpdatePracticeError};
use portal_core::{InvalidInput, Policy, Practice, PracticeSettingError, SecondFactorPolicy, TokenPurpose};
use serde::Deserialize;

use super::staff::{staff, trouble};
use super::{Message, Page, csrf_ok, csrf_refused, csrf_token, known_time_zone, see_other};
use crate::auth::Ctx;
use crate::reset_requests::lifetime_words;

/// The settings form as posted. A checkbox that is not ticked is not sent at all.
#[derive(Deserialize, Default)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    discreet_mail: Option<String>,
    #[serde(default)]
    date_of_birth_check: Option<String>,
    #[serde(default)]
    client_started_resets: Option<String>,
    /// Empty: no reminder.
    #[serde(default)]
    invitation_reminder_hours: String,
    /// Empty: the server's lifetime.
    #[serde(default)]
    invite_link_hours: String,
    /// Empty: the server's lifetime.
    #[serde(default)]
    reset_link_hours: String,
    /// `off`, `optional` or `required`; anything else leaves the setting as it is.
    #[serde(default)]
    second_factor_policy: String,
}

#[derive(Deserialize)]
pub(crate) struct SavedQuery {
    done: Option<String>,
}

/// Why the form came back. Each has its words in `templates/staff_settings.html`.
pub(crate) enum SettingsProblem {
    /// The name breaks its rules.
    Name(InvalidInput),
    /// The zone is malformed or unknown.
    TimeZone(InvalidInput),
    /// A number field does not hold a whole number.
    NotANumber(&'static str),
    /// A setting outside its bounds.
    Setting(PracticeSettingError),
}

impl SettingsProblem {
    /// The form field the problem is about, for `aria-invalid` and the error's link.
    fn field(&self) -> &'static str {
        match self {
            Self::Name(_) => "name",
            Self::TimeZone(_) => "time_zone",
            Self::NotANumber(field) => field,
            Self::Setting(PracticeSettingError::LinkLifetimeOutOfRange { setting, .. }) => setting,
            Self::Setting(PracticeSettingError::ReminderOutOfRange { .. }) => "invitation_reminder_hours",
        }
    }
}

/// `templates/staff_settings.html`.
#[derive(Template)]
#[template(path = "staff_settings.html", ext = "html")]
struct SettingsPage {
    csrf: String,
    slug: String,
    form: SettingsForm,
    problem: Option<SettingsProblem>,
    saved: bool,
    /// The server's invitation lifetime, in words ("48h"), for the field's hint.
    server_invite: String,
    /// The server's reset-link lifetime, in words.
    server_reset: String,
}

impl SettingsPage {
    fn invalid(&self, field: &str) -> bool {
        self.problem.as_ref().is_some_and(|problem| problem.field() == field)
    }

    fn checked(value: Option<&String>) -> bool {
        value.is_some()
    }

    /// The second-factor policies with their words, for the form's choice.
    fn policies(&self) -> [(&'static str, &'static str, bool); 3] {
        let chosen = |policy: SecondFactorPolicy| self.form.second_factor_policy == policy.name();
        let [off, optional, required] = crate::pages::staff_texts().second_factor_policies;
        [
            ("off", off, chosen(SecondFactorPolicy::Off)),
            ("optional", optional, chosen(SecondFactorPolicy::Optional)),
            ("required", required, chosen(SecondFactorPolicy::Required)),
        ]
    }
}

/// The form filled from the stored practice.
fn form_of(practice: &Practice) -> SettingsForm {
    let settings = &practice.settings;
    let hours = |value: Option<u32>| value.map(|hours| hours.to_string()).unwrap_or_default();
    let on = |flag: bool| flag.then(|| "on".to_owned());
    SettingsForm {
        csrf: String::new(),
        name: practice.name.as_str().to_owned(),
        time_zone: practice.time_zone.as_str().to_owned(),
        discreet_mail: on(practice.discreet_mail),
        date_of_birth_check: on(settings.date_of_birth_check()),
        client_started_resets: on(settings.client_started_resets()),
        invitation_reminder_hours: hours(settings.invitation_reminder().map(portal_core::ReminderLead::hours)),
        invite_link_hours: hours(
            settings.own_link_lifetime(TokenPurpose::Invite).map(portal_core::LinkLifetime::hours),
        ),
        reset_link_hours: hours(settings.own_link_lifetime(TokenPurpose::Reset).map(portal_core::LinkLifetime::hours)),
        second_factor_policy: settings.second_factor_policy().name().to_owned(),
    }
}

/// An optional whole number of hours: empty is `None`.
fn hours_field(field: &'static str, text: &str) -> Result<Option<i64>, SettingsProblem> {
    match text.trim() {
        "" => Ok(None),
        number => number.parse::<i64>().map(Some).map_err(|_| SettingsProblem::NotANumber(field)),
    }
}

/// The change the form asks for: every field, so the use case compares them all.
fn change_of(form: &SettingsForm) -> Result<PracticeChange, SettingsProblem> {
    Ok(PracticeChange {
        name: Some(form.name.clone()),
        time_zone: Some(known_time_zone(&form.time_zone).map_err(SettingsProblem::TimeZone)?),
        discreet_mail: Some(form.discreet_mail.is_some()),
        date_of_birth_check: Some(form.date_of_birth_check.is_some()),
        client_started_resets: Some(form.client_started_resets.is_some()),
        invitation_reminder_hours: Some(hours_field("invitation_reminder_hours", &form.invitation_reminder_hours)?),
        invite_link_hours: Some(hours_field("invite_link_hours", &form.invite_link_hours)?),
        reset_link_hours: Some(hours_field("reset_link_hours", &form.reset_link_hours)?),
        second_factor_policy: SecondFactorPolicy::from_name(&form.second_factor_policy),
    })
}

fn render(
    req: &Request,
    policy: &Policy,
    slug: &str,
    form: SettingsForm,
    problem: Option<SettingsProblem>,
    saved: bool,
) -> Page {
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let (csrf, cookie) = csrf_token(req);
    let page = SettingsPage {
        csrf,
        slug: slug.to_owned(),
        form,
        problem,
        saved,
        server_invite: lifetime_words(policy.invite_ttl()),
        server_reset: lifetime_words(policy.reset_ttl()),
    };
    Page::render("page_staff_settings", status, &page).csrf_cookie(cookie)
}

/// The signed-in member's practice, or the page to answer instead.
async fn practice(ctx: &Ctx, staff: &StaffContext) -> Result<Practice, Page> {
    match ctx.state.service.staff_practice(staff).await {
        Ok(Some(practice)) => Ok(practice),
        Ok(None) => Err(gone()),
        Err(error) => Err(trouble(ctx, &error)),
    }
}

fn gone() -> Page {
    Message::said(&super::staff_texts().practice_gone).wide().page("page_staff_settings", StatusCode::NOT_FOUND)
}

/// `GET /staff/settings`.
#[handler]
pub(crate) async fn settings_page(ctx: Ctx, req: &Request, Query(query): Query<SavedQuery>) -> Response {
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let practice = match practice(&ctx, &staff).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    let saved = query.done.as_deref() == Some("saved");
    render(req, ctx.state.service.policy(), practice.slug.as_str(), form_of(&practice), None, saved).into_response()
}

/// `POST /staff/settings`: saves, then back to the page with "Settings saved"; a refused value
/// shows the form again as typed, with the problem named.
#[handler]
pub(crate) async fn settings_submit(ctx: Ctx, req: &Request, Form(form): Form<SettingsForm>) -> Response {
    if !csrf_ok(req, &form.csrf) {
        return csrf_refused(true).into_response();
    }
    let staff = match staff(&ctx, req).await {
        Ok(staff) => staff,
        Err(response) => return response,
    };
    let practice = match practice(&ctx, &staff).await {
        Ok(practice) => practice,
        Err(page) => return page.into_response(),
    };
    let policy = ctx.state.service.policy();
    let change = match change_of(&form) {
        Ok(change) => change,
        Err(problem) => return render(req, policy, practice.slug.as_str(), form, Some(problem), false).into_response(),
    };
    let problem = match ctx.state.service.update_practice(&staff, change).await {
        Ok(_) => return see_other("page_staff_settings", "/staff/settings?done=saved", Vec::new()),
        Err(UpdatePracticeError::Invalid(invalid)) => SettingsProblem::Name(invalid),
        Err(UpdatePracticeError::Setting(setting)) => SettingsProblem::Setting(setting),
        Err(UpdatePracticeError::PracticeNotFound) => return gone().into_response(),
        Err(UpdatePracticeError::Infrastructure(error)) => return trouble(&ctx, &error).into_response(),
    };
    render(req, policy, practice.slug.as_str(), form, Some(problem), false).into_response()
}
