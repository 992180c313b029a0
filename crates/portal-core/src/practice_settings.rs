//! What a practice decides for its clients' portal, changed by its staff: the date-of-birth check
//! on emailed links, client-started resets, invitation reminders and the lifetimes of its links.
//!
//! The server's [`Policy`] holds the bounds and the defaults; a practice may choose its own link
//! lifetimes within them. Everything here is validated at construction, so a stored or requested
//! setting outside its bounds never reaches the use cases.

use jiff::SignedDuration;

use crate::policy::{MAX_LINK_TTL, MIN_LINK_TTL, Policy};
use crate::second_factor::SecondFactorPolicy;
use crate::token::TokenPurpose;

/// Why a practice setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PracticeSettingError {
    /// A link lifetime outside the whole hours the policy allows.
    #[error("{setting} must be a whole number of hours between {min} and {max}, got {got}")]
    LinkLifetimeOutOfRange {
        /// The setting's wire name.
        setting: &'static str,
        /// Fewest hours allowed.
        min: u32,
        /// Most hours allowed.
        max: u32,
        /// What was given.
        got: i64,
    },
    /// A reminder lead outside 1 hour to one hour less than the invitation's lifetime.
    #[error("invitation_reminder_hours must be between 1 and {max} (less than the invitation's lifetime), got {got}")]
    ReminderOutOfRange {
        /// Most hours allowed with the invitation lifetime in force.
        max: u32,
        /// What was given.
        got: i64,
    },
}

/// A practice's own lifetime for one kind of link: whole hours, at least one, at most the
/// policy's longest ([`MAX_LINK_TTL`], seven days).
///
/// ```
/// use portal_core::LinkLifetime;
/// assert_eq!(LinkLifetime::from_hours("invite_link_hours", 72)?.hours(), 72);
/// assert!(LinkLifetime::from_hours("invite_link_hours", 0).is_err());
/// assert!(LinkLifetime::from_hours("invite_link_hours", 24 * 8).is_err());
/// # Ok::<(), portal_core::PracticeSettingError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkLifetime(u32);

impl LinkLifetime {
    /// Fewest hours a practice may choose (the policy allows shorter only for the server's
    /// own setting, which tests use).
    pub const MIN_HOURS: u32 = 1;
    /// Most hours a practice may choose: the policy's longest link lifetime.
    pub const MAX_HOURS: u32 = hours_of(MAX_LINK_TTL);

    /// Validates a number of hours.
    ///
    /// # Errors
    /// [`PracticeSettingError::LinkLifetimeOutOfRange`] naming `setting`.
    pub fn from_hours(setting: &'static str, hours: i64) -> Result<Self, PracticeSettingError> {
        u32::try_from(hours).ok().filter(|hours| (Self::MIN_HOURS..=Self::MAX_HOURS).contains(hours)).map(Self).ok_or(
            PracticeSettingError::LinkLifetimeOutOfRange {
                setting,
                min: Self::MIN_HOURS,
                max: Self::MAX_HOURS,
                got: hours,
            },
        )
    }

    /// The lifetime in hours.
    #[must_use]
    pub const fn hours(self) -> u32 {
        self.0
    }

    /// The lifetime as a duration.
    #[must_use]
    pub fn duration(self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.0))
    }
}

/// How long before an invitation expires its one reminder goes out: whole hours, at least one,
/// and less than the invitation's lifetime (checked against the lifetime in force by
/// [`PracticeSettings::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReminderLead(u32);

impl ReminderLead {
    /// The lead in hours.
    #[must_use]
    pub const fn hours(self) -> u32 {
        self.0
    }

    /// The lead as a duration.
    #[must_use]
    pub fn duration(self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.0))
    }
}

/// The whole hours in a duration (the bounds here are far below `u32::MAX` hours).
const fn hours_of(duration: SignedDuration) -> u32 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let hours = (duration.as_secs() / 3600) as u32;
    hours
}

/// A practice's portal settings. [`Default`] is what a new practice starts with: every
/// addition off, the server's link lifetimes, second factors optional.
///
/// ```
/// use portal_core::{LinkLifetime, Policy, PracticeSettings, PracticeSettingsInput, TokenPurpose};
/// use jiff::SignedDuration;
///
/// let policy = Policy::default();
/// let settings = PracticeSettings::new(
///     PracticeSettingsInput {
///         date_of_birth_check: true,
///         invite_link_hours: Some(72),
///         invitation_reminder_hours: Some(24),
///         ..PracticeSettingsInput::default()
///     },
///     &policy,
/// )?;
/// assert_eq!(settings.link_lifetime(TokenPurpose::Invite, &policy), SignedDuration::from_hours(72));
/// assert_eq!(settings.link_lifetime(TokenPurpose::Reset, &policy), SignedDuration::from_hours(48));
///
/// // A reminder must come before the link expires.
/// let late = PracticeSettingsInput { invitation_reminder_hours: Some(48), ..PracticeSettingsInput::default() };
/// assert!(PracticeSettings::new(late, &policy).is_err());
/// # Ok::<(), portal_core::PracticeSettingError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PracticeSettings {
    date_of_birth_check: bool,
    client_started_resets: bool,
    invitation_reminder: Option<ReminderLead>,
    invite_link: Option<LinkLifetime>,
    reset_link: Option<LinkLifetime>,
    second_factors: SecondFactorPolicy,
}

/// [`PracticeSettings`] before validation: what a request or a stored row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PracticeSettingsInput {
    /// Ask for the client's date of birth before an emailed link can be used.
    pub date_of_birth_check: bool,
    /// Let clients start a password reset from the sign-in page.
    pub client_started_resets: bool,
    /// Send one reminder this many hours before an unused invitation expires; `None` is off.
    pub invitation_reminder_hours: Option<i64>,
    /// The practice's invitation lifetime in hours; `None` follows the server's setting.
    pub invite_link_hours: Option<i64>,
    /// The practice's reset-link lifetime in hours; `None` follows the server's setting.
    pub reset_link_hours: Option<i64>,
    /// Whether clients use a second factor (off, optional: the default, required).
    pub second_factor_policy: SecondFactorPolicy,
}

impl PracticeSettings {
    /// Validates settings against the server's policy (the invitation lifetime in force bounds
    /// the reminder).
    ///
    /// # Errors
    /// The first setting outside its bounds.
    pub fn new(input: PracticeSettingsInput, policy: &Policy) -> Result<Self, PracticeSettingError> {
        let invite_link =
            input.invite_link_hours.map(|h| LinkLifetime::from_hours("invite_link_hours", h)).transpose()?;
        let reset_link = input.reset_link_hours.map(|h| LinkLifetime::from_hours("reset_link_hours", h)).transpose()?;
        let mut settings = Self {
            date_of_birth_check: input.date_of_birth_check,
            client_started_resets: input.client_started_resets,
            invitation_reminder: None,
            invite_link,
            reset_link,
            second_factors: input.second_factor_policy,
        };
        if let Some(hours) = input.invitation_reminder_hours {
            // The reminder must leave the client time to act: at least an hour before the end,
            // and after the link was sent.
            let max = hours_of(settings.link_lifetime(TokenPurpose::Invite, policy)).saturating_sub(1);
            let lead = u32::try_from(hours)
                .ok()
                .filter(|hours| (1..=max).contains(hours))
                .ok_or(PracticeSettingError::ReminderOutOfRange { max, got: hours })?;
            settings.invitation_reminder = Some(ReminderLead(lead));
        }
        Ok(settings)
    }

    /// Reads stored settings back without the policy check: a practice's stored choice stays in
    /// force even when the server's own link lifetime changes later (a reminder due before the
    /// link was sent is simply sent at once). Link lifetimes are still bounded.
    ///
    /// # Errors
    /// A link lifetime or reminder lead that no version could have stored (corrupt data).
    pub fn restore(input: PracticeSettingsInput) -> Result<Self, PracticeSettingError> {
        let invite_link =
            input.invite_link_hours.map(|h| LinkLifetime::from_hours("invite_link_hours", h)).transpose()?;
        let reset_link = input.reset_link_hours.map(|h| LinkLifetime::from_hours("reset_link_hours", h)).transpose()?;
        let invitation_reminder = input
            .invitation_reminder_hours
            .map(|hours| {
                u32::try_from(hours)
                    .ok()
                    .filter(|hours| (1..LinkLifetime::MAX_HOURS).contains(hours))
                    .map(ReminderLead)
                    .ok_or(PracticeSettingError::ReminderOutOfRange { max: LinkLifetime::MAX_HOURS - 1, got: hours })
            })
            .transpose()?;
        Ok(Self {
            date_of_birth_check: input.date_of_birth_check,
            client_started_resets: input.client_started_resets,
            invitation_reminder,
            invite_link,
            reset_link,
            second_factors: input.second_factor_policy,
        })
    }

    /// The settings as plain values (for storage and the API).
    #[must_use]
    pub fn to_input(&self) -> PracticeSettingsInput {
        PracticeSettingsInput {
            date_of_birth_check: self.date_of_birth_check,
            client_started_resets: self.client_started_resets,
            invitation_reminder_hours: self.invitation_reminder.map(|lead| i64::from(lead.hours())),
            invite_link_hours: self.invite_link.map(|lifetime| i64::from(lifetime.hours())),
            reset_link_hours: self.reset_link.map(|lifetime| i64::from(lifetime.hours())),
            second_factor_policy: self.second_factors,
        }
    }

    /// Whether the practice's clients use a second factor.
    #[must_use]
    pub const fn second_factor_policy(&self) -> SecondFactorPolicy {
        self.second_factors
    }

    /// Whether emailed links ask for the client's date of birth (when one is on file).
    #[must_use]
    pub const fn date_of_birth_check(&self) -> bool {
        self.date_of_birth_check
    }

    /// Whether clients may start a password reset themselves.
    #[must_use]
    pub const fn client_started_resets(&self) -> bool {
        self.client_started_resets
    }

    /// How long before an unused invitation expires its reminder goes out; `None` is off.
    #[must_use]
    pub const fn invitation_reminder(&self) -> Option<ReminderLead> {
        self.invitation_reminder
    }

    /// The practice's own lifetime for a kind of link; `None` follows the server's policy.
    #[must_use]
    pub const fn own_link_lifetime(&self, purpose: TokenPurpose) -> Option<LinkLifetime> {
        match purpose {
            TokenPurpose::Invite => self.invite_link,
            TokenPurpose::Reset => self.reset_link,
        }
    }

    /// The lifetime a new link of this kind gets: the practice's own, else the policy's.
    #[must_use]
    pub fn link_lifetime(&self, purpose: TokenPurpose, policy: &Policy) -> SignedDuration {
        let server = match purpose {
            TokenPurpose::Invite => policy.invite_ttl(),
            TokenPurpose::Reset => policy.reset_ttl(),
        };
        // The practice's hours are within the policy's absolute bounds by construction.
        self.own_link_lifetime(purpose).map_or(server, LinkLifetime::duration).clamp(MIN_LINK_TTL, MAX_LINK_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_practice_has_every_addition_off_and_the_servers_lifetimes() {
        let policy = Policy::default();
        let settings = PracticeSettings::default();
        assert!(!settings.date_of_birth_check());
        assert!(!settings.client_started_resets());
        assert_eq!(settings.invitation_reminder(), None);
        assert_eq!(settings.second_factor_policy(), SecondFactorPolicy::Optional);
        assert_eq!(settings.link_lifetime(TokenPurpose::Invite, &policy), policy.invite_ttl());
        assert_eq!(settings.link_lifetime(TokenPurpose::Reset, &policy), policy.reset_ttl());
    }

    #[test]
    fn link_lifetimes_are_whole_hours_from_one_to_seven_days() {
        for hours in [1, 48, 168] {
            assert_eq!(
                LinkLifetime::from_hours("x", hours).map(LinkLifetime::hours),
                Ok(u32::try_from(hours).unwrap())
            );
        }
        for hours in [-1, 0, 169, i64::MAX] {
            assert!(matches!(
                LinkLifetime::from_hours("reset_link_hours", hours),
                Err(PracticeSettingError::LinkLifetimeOutOfRange { setting: "reset_link_hours", min: 1, max: 168, .. })
            ));
        }
    }

    #[test]
    fn the_reminder_lead_is_bounded_by_the_invitation_lifetime_in_force() {
        let policy = Policy::default();
        let with = |reminder: i64, invite: Option<i64>| {
            PracticeSettings::new(
                PracticeSettingsInput {
                    invitation_reminder_hours: Some(reminder),
                    invite_link_hours: invite,
                    ..PracticeSettingsInput::default()
                },
                &policy,
            )
        };
        assert_eq!(with(47, None).map(|s| s.invitation_reminder().map(ReminderLead::hours)), Ok(Some(47)));
        assert_eq!(with(48, None), Err(PracticeSettingError::ReminderOutOfRange { max: 47, got: 48 }));
        assert_eq!(with(0, None), Err(PracticeSettingError::ReminderOutOfRange { max: 47, got: 0 }));
        assert!(with(100, Some(168)).is_ok());
        assert!(with(2, Some(1)).is_err());
    }

    #[test]
    fn settings_round_trip_through_their_plain_values() {
        let policy = Policy::default();
        let input = PracticeSettingsInput {
            date_of_birth_check: true,
            client_started_resets: true,
            invitation_reminder_hours: Some(12),
            invite_link_hours: Some(72),
            reset_link_hours: Some(2),
            second_factor_policy: SecondFactorPolicy::Required,
        };
        let settings = PracticeSettings::new(input, &policy).unwrap();
        assert_eq!(settings.to_input(), input);
        assert_eq!(PracticeSettings::restore(input), Ok(settings));
    }
}
