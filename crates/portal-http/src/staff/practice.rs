//! The practice's settings as staff read and change them: its name, time zone, mail discretion
//! and the portal settings (`portal_core::PracticeSettings`).

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::service::{PracticeChange, UpdatePracticeError};
use portal_core::{Policy, Practice, TokenPurpose};

use crate::ApiTags;
use crate::auth::{Ctx, StaffKey};
use crate::client_factors::PolicyBody;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::pages::known_time_zone;
use crate::text::Text;

/// A practice and its portal settings.
#[derive(Object, Debug, Clone)]
#[oai(rename = "PracticeSettings")]
pub(crate) struct PracticeSettingsBody {
    /// The practice's URL name (clients sign in at `/portal/{slug}/sign-in`); never changes.
    slug: String,
    /// The display name used in mail and pages.
    name: String,
    /// The IANA time zone mail and staff pages state times in.
    time_zone: String,
    /// Neutral mail subjects and sender names (no clinical words).
    discreet_mail: bool,
    /// Emailed links ask for the client's date of birth first (when the record has one).
    date_of_birth_check: bool,
    /// Clients may ask for a password reset from the sign-in page.
    client_started_resets: bool,
    /// One reminder goes out this many hours before an unused invitation expires; `null`: none.
    #[oai(nullable)]
    invitation_reminder_hours: Option<u32>,
    /// The practice's own invitation lifetime in hours; `null`: the server's setting applies.
    #[oai(nullable)]
    invite_link_hours: Option<u32>,
    /// The practice's own reset-link lifetime in hours; `null`: the server's setting applies.
    #[oai(nullable)]
    reset_link_hours: Option<u32>,
    /// Whether clients use a second factor: `off` (nobody enrols; a factor enrolled before is
    /// still asked for), `optional` (the default), `required` (a client without one enrols one
    /// right after the password at the next sign-in).
    second_factor_policy: PolicyBody,
    /// How long new invitation links work, in seconds (the practice's or the server's).
    invite_link_seconds: i64,
    /// How long new reset links work, in seconds (the practice's or the server's).
    reset_link_seconds: i64,
}

impl PracticeSettingsBody {
    fn of(practice: &Practice, policy: &Policy) -> Self {
        let settings = &practice.settings;
        let own = |purpose| settings.own_link_lifetime(purpose).map(portal_core::LinkLifetime::hours);
        Self {
            slug: practice.slug.as_str().to_owned(),
            name: practice.name.as_str().to_owned(),
            time_zone: practice.time_zone.as_str().to_owned(),
            discreet_mail: practice.discreet_mail,
            date_of_birth_check: settings.date_of_birth_check(),
            client_started_resets: settings.client_started_resets(),
            invitation_reminder_hours: settings.invitation_reminder().map(portal_core::ReminderLead::hours),
            invite_link_hours: own(TokenPurpose::Invite),
            reset_link_hours: own(TokenPurpose::Reset),
            second_factor_policy: PolicyBody::of(settings.second_factor_policy()),
            invite_link_seconds: settings.link_lifetime(TokenPurpose::Invite, policy).as_secs(),
            reset_link_seconds: settings.link_lifetime(TokenPurpose::Reset, policy).as_secs(),
        }
    }
}

/// Changes to the practice: absent fields stay as they are. `null` turns the reminder off and
/// returns a link lifetime to the server's setting; the other fields cannot be `null`.
#[derive(Object, Debug)]
#[oai(rename = "PracticeSettingsPatch")]
pub(crate) struct PracticeSettingsPatchBody {
    /// New display name: 1–200 characters, not only spaces, no control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    name: MaybeUndefined<Text>,
    /// New IANA time zone, e.g. `America/Chicago` (one the tz database knows).
    #[oai(validator(min_length = 1, max_length = 64))]
    time_zone: MaybeUndefined<Text>,
    /// Neutral mail subjects and sender names.
    discreet_mail: MaybeUndefined<bool>,
    /// Ask for the client's date of birth on emailed links.
    date_of_birth_check: MaybeUndefined<bool>,
    /// Let clients ask for a password reset from the sign-in page.
    client_started_resets: MaybeUndefined<bool>,
    /// Hours before expiry for the invitation reminder (1 to one less than the invitation's
    /// lifetime in hours); `null` for no reminder.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "167")))]
    invitation_reminder_hours: MaybeUndefined<i64>,
    /// The invitation lifetime in whole hours (1–168); `null` for the server's setting.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "168")))]
    invite_link_hours: MaybeUndefined<i64>,
    /// The reset-link lifetime in whole hours (1–168); `null` for the server's setting.
    #[oai(nullable, validator(minimum(value = "1"), maximum(value = "168")))]
    reset_link_hours: MaybeUndefined<i64>,
    /// Whether clients use a second factor: `off`, `optional` or `required`.
    second_factor_policy: MaybeUndefined<PolicyBody>,
}

/// Answers of `GET /api/v1/practice/settings` and `PATCH /api/v1/practice/settings`.
#[derive(ApiResponse)]
pub(crate) enum PracticeSettingsResponse {
    /// The practice with its settings (after the change, for `PATCH`).
    #[oai(status = 200)]
    Ok(Json<PracticeSettingsBody>),
    /// `unauthenticated`: the staff key's practice no longer exists.
    #[oai(status = 401, content_type = "application/problem+json")]
    Gone(Json<Problem>),
}

/// The practice's settings.
pub(crate) struct PracticeApi;

/// `Some(None)` for `null`, `Some(Some(v))` for a value, `None` when absent.
fn nullable<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(Some(value)),
    }
}

impl Ctx {
    fn practice_gone(&self) -> PracticeSettingsResponse {
        PracticeSettingsResponse::Gone(self.problem(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated))
    }

    /// Maps an [`UpdatePracticeError`] that is not `PracticeNotFound`.
    pub(crate) fn practice_error(&self, error: &UpdatePracticeError) -> ApiError {
        match error {
            UpdatePracticeError::Invalid(invalid) => ApiError::invalid_input(invalid, self.rid()),
            UpdatePracticeError::Setting(setting) => ApiError::from_problem(
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed, self.rid())
                    .with_detail(setting.to_string()),
                None,
            ),
            UpdatePracticeError::PracticeNotFound => {
                ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, self.rid())
            }
            UpdatePracticeError::Infrastructure(infra) => ApiError::infrastructure(infra, self.rid()),
        }
    }
}

#[OpenApi(tag = "ApiTags::Staff")]
impl PracticeApi {
    /// Practice settings
    ///
    /// Your practice: its name, time zone and mail discretion, and the portal settings
    /// (date-of-birth check on emailed links, client-started resets, the invitation reminder,
    /// link lifetimes, the second-factor policy) with the lifetimes new links get.
    #[oai(path = "/api/v1/practice/settings", method = "get", operation_id = "get_practice_settings")]
    async fn get_practice_settings(&self, auth: StaffKey, ctx: Ctx) -> Result<PracticeSettingsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        match ctx.state.service.staff_practice(&staff).await {
            Ok(Some(practice)) => {
                Ok(PracticeSettingsResponse::Ok(Json(PracticeSettingsBody::of(&practice, ctx.state.service.policy()))))
            }
            Ok(None) => Ok(ctx.practice_gone()),
            Err(infra) => Err(ApiError::infrastructure(&infra, ctx.rid())),
        }
    }

    /// Change practice settings
    ///
    /// Changes what the body names, checked against the server's bounds (a link lifetime of
    /// 1–168 hours; a reminder at least an hour before the invitation in force expires), in one
    /// step with an audit event (`practice_updated`, naming the settings changed). Links already
    /// sent keep their lifetime. A body that changes nothing writes nothing.
    #[oai(path = "/api/v1/practice/settings", method = "patch", operation_id = "update_practice_settings")]
    async fn update_practice_settings(
        &self,
        auth: StaffKey,
        ctx: Ctx,
        body: Json<PracticeSettingsPatchBody>,
    ) -> Result<PracticeSettingsResponse, ApiError> {
        let staff = ctx.staff(&auth).await?;
        let Json(body) = body;
        let time_zone = ctx.not_null("time_zone", body.time_zone)?;
        let change = PracticeChange {
            name: ctx.not_null("name", body.name)?.map(|name| name.0),
            time_zone: time_zone
                .map(|zone| known_time_zone(zone.as_str()))
                .transpose()
                .map_err(|invalid| ApiError::invalid_input(&invalid, ctx.rid()))?,
            discreet_mail: ctx.not_null("discreet_mail", body.discreet_mail)?,
            date_of_birth_check: ctx.not_null("date_of_birth_check", body.date_of_birth_check)?,
            client_started_resets: ctx.not_null("client_started_resets", body.client_started_resets)?,
            invitation_reminder_hours: nullable(body.invitation_reminder_hours),
            invite_link_hours: nullable(body.invite_link_hours),
            reset_link_hours: nullable(body.reset_link_hours),
            second_factor_policy: ctx
                .not_null("second_factor_policy", body.second_factor_policy)?
                .map(PolicyBody::policy),
        };
        match ctx.state.service.update_practice(&staff, change).await {
            Ok(practice) => {
                Ok(PracticeSettingsResponse::Ok(Json(PracticeSettingsBody::of(&practice, ctx.state.service.policy()))))
            }
            Err(UpdatePracticeError::PracticeNotFound) => Ok(ctx.practice_gone()),
            Err(error) => Err(ctx.practice_error(&error)),
        }
    }
}
