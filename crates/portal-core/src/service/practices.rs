//! Practices: creating one with its first staff key, and finding a practice by slug or by its
//! staff member. The keys' own use cases are in `staff`.

use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::practice_settings::{PracticeSettingError, PracticeSettings};
use crate::records::{AuditAction, Practice, StaffMember};
use crate::token::BearerSecret;
use crate::types::{DisplayName, InvalidInput, PracticeId, PracticeSlug, StaffId, TimeZoneName};

use super::{Infrastructure, PortalService, STAFF_KEY_PREFIX, StaffContext};

/// Refusals of creating a practice or a staff key.
#[derive(Debug, thiserror::Error)]
pub enum PracticeError {
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// The slug is taken.
    #[error("a practice with this slug already exists")]
    SlugTaken,
    /// No practice has this slug.
    #[error("no practice has this slug")]
    PracticeNotFound,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of changing a practice's settings.
#[derive(Debug, thiserror::Error)]
pub enum UpdatePracticeError {
    /// The name or time zone is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// A portal setting is outside its bounds.
    #[error(transparent)]
    Setting(#[from] PracticeSettingError),
    /// The staff member's practice is gone (its key outlived it).
    #[error("the practice no longer exists")]
    PracticeNotFound,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// What staff change about their practice: each `Some` replaces the current value, `None`
/// leaves it. The optional settings take `Some(None)` to turn them off (the reminder) or to
/// follow the server's setting again (the link lifetimes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PracticeChange {
    /// The display name in mail and pages.
    pub name: Option<String>,
    /// The zone mail and staff pages state times in (an IANA name the caller has resolved).
    pub time_zone: Option<TimeZoneName>,
    /// Neutral mail subjects and sender names.
    pub discreet_mail: Option<bool>,
    /// Ask for the client's date of birth on emailed links.
    pub date_of_birth_check: Option<bool>,
    /// Let clients start a password reset themselves.
    pub client_started_resets: Option<bool>,
    /// The reminder's lead in hours, or `Some(None)` for no reminder.
    pub invitation_reminder_hours: Option<Option<i64>>,
    /// The invitation lifetime in hours, or `Some(None)` for the server's.
    pub invite_link_hours: Option<Option<i64>>,
    /// The reset-link lifetime in hours, or `Some(None)` for the server's.
    pub reset_link_hours: Option<Option<i64>>,
    /// Whether clients use a second factor.
    pub second_factor_policy: Option<crate::SecondFactorPolicy>,
}

/// A practice created with its first staff key (shown once).
#[derive(Debug)]
pub struct CreatedPractice {
    /// The practice.
    pub practice: Practice,
    /// The first staff member (key).
    pub staff: StaffMember,
    /// The key itself: show it once, it is not stored.
    pub staff_key: BearerSecret,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Creates a practice with a first staff key (CLI and first-run bootstrap).
    ///
    /// # Errors
    /// `Invalid` for a bad name or slug, `SlugTaken`, or infrastructure.
    pub async fn create_practice(
        &self,
        name: &str,
        slug: Option<&str>,
        time_zone: TimeZoneName,
    ) -> Result<CreatedPractice, PracticeError> {
        let now = self.clock.now();
        let name = DisplayName::parse("name", name)?;
        let slug = match slug {
            Some(slug) => PracticeSlug::parse(slug)?,
            None => PracticeSlug::from_name(name.as_str())?,
        };
        let practice = Practice {
            id: PracticeId::generate(&self.random)?,
            slug,
            name,
            time_zone,
            discreet_mail: true,
            settings: crate::PracticeSettings::default(),
            created_at: now,
        };
        let staff = StaffMember {
            id: StaffId::generate(&self.random)?,
            practice_id: practice.id,
            label: DisplayName::parse("label", "First administrator key")?,
            created_at: now,
        };
        let staff_key = BearerSecret::generate(STAFF_KEY_PREFIX, &self.random)?;
        match self.store.create_practice(&practice, &staff, &staff_key.hash()).await {
            Err(StoreError::Duplicate(_)) => Err(PracticeError::SlugTaken),
            other => other.map_err(PracticeError::from),
        }?;
        Ok(CreatedPractice { practice, staff, staff_key })
    }

    /// The practice a staff member works for (its name and time zone, for staff pages that state
    /// times in the practice's zone).
    ///
    /// # Errors
    /// Infrastructure only; a practice that is gone (its key outlived it) is `Ok(None)`.
    pub async fn staff_practice(&self, staff: &StaffContext) -> Result<Option<Practice>, Infrastructure> {
        Ok(self.store.practice(staff.practice()).await?)
    }

    /// Changes the staff member's practice: its name, zone, mail discretion and portal
    /// settings. Only what differs is written, in one transaction with an audit event naming
    /// the settings changed (never their old values); a change that changes nothing writes
    /// nothing. Two staff changing different settings at once may see one change win, never an
    /// error.
    ///
    /// # Errors
    /// `Invalid` (name), `Setting` (a bound, checked against the server's policy: a reminder
    /// must come at least an hour before the invitation in force expires), `PracticeNotFound`,
    /// or infrastructure.
    pub async fn update_practice(
        &self,
        staff: &StaffContext,
        change: PracticeChange,
    ) -> Result<Practice, UpdatePracticeError> {
        let current = self.store.practice(staff.practice()).await?.ok_or(UpdatePracticeError::PracticeNotFound)?;
        let mut settings = current.settings.to_input();
        let PracticeChange {
            name,
            time_zone,
            discreet_mail,
            date_of_birth_check,
            client_started_resets,
            invitation_reminder_hours,
            invite_link_hours,
            reset_link_hours,
            second_factor_policy,
        } = change;
        settings.date_of_birth_check = date_of_birth_check.unwrap_or(settings.date_of_birth_check);
        settings.client_started_resets = client_started_resets.unwrap_or(settings.client_started_resets);
        settings.invitation_reminder_hours = invitation_reminder_hours.unwrap_or(settings.invitation_reminder_hours);
        settings.invite_link_hours = invite_link_hours.unwrap_or(settings.invite_link_hours);
        settings.reset_link_hours = reset_link_hours.unwrap_or(settings.reset_link_hours);
        settings.second_factor_policy = second_factor_policy.unwrap_or(settings.second_factor_policy);
        let updated = Practice {
            name: name
                .map(|name| DisplayName::parse("name", &name))
                .transpose()?
                .unwrap_or_else(|| current.name.clone()),
            time_zone: time_zone.unwrap_or_else(|| current.time_zone.clone()),
            discreet_mail: discreet_mail.unwrap_or(current.discreet_mail),
            settings: PracticeSettings::new(settings, &self.policy)?,
            ..current.clone()
        };
        let changed = changed_fields(&current, &updated);
        if changed.is_empty() {
            return Ok(current);
        }
        let now = self.clock.now();
        let mut audit =
            self.audit(now, updated.id, None, staff.actor(), AuditAction::PracticeUpdated, &staff.request)?;
        audit.detail = Some(changed.join(", "));
        match self.store.update_practice(&updated, &audit).await {
            Err(StoreError::NotFound(_)) => Err(UpdatePracticeError::PracticeNotFound),
            other => other.map_err(|e| UpdatePracticeError::Infrastructure(e.into())),
        }?;
        Ok(updated)
    }

    /// A practice by slug (for pages).
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn practice_by_slug(&self, slug: &str) -> Result<Option<Practice>, Infrastructure> {
        match PracticeSlug::parse(slug) {
            Ok(slug) => Ok(self.store.practice_by_slug(&slug).await?),
            Err(_) => Ok(None),
        }
    }
}

/// The wire names of the settings that differ between two versions of a practice, for the audit
/// trail (which records what changed, not the values).
fn changed_fields(before: &Practice, after: &Practice) -> Vec<&'static str> {
    let (old, new) = (before.settings.to_input(), after.settings.to_input());
    [
        ("name", before.name != after.name),
        ("time_zone", before.time_zone != after.time_zone),
        ("discreet_mail", before.discreet_mail != after.discreet_mail),
        ("date_of_birth_check", old.date_of_birth_check != new.date_of_birth_check),
        ("client_started_resets", old.client_started_resets != new.client_started_resets),
        ("invitation_reminder_hours", old.invitation_reminder_hours != new.invitation_reminder_hours),
        ("invite_link_hours", old.invite_link_hours != new.invite_link_hours),
        ("reset_link_hours", old.reset_link_hours != new.reset_link_hours),
        ("second_factor_policy", old.second_factor_policy != new.second_factor_policy),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect()
}
