//! Tunable rules (token lifetimes, sessions, throttling, password rules), validated once at
//! construction so the rest of the crate never meets a nonsensical setting.

use jiff::{SignedDuration, Timestamp};

/// Why a [`PolicySettings`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A duration lies outside its allowed range.
    #[error("{setting} must be between {min} and {max}, got {got}")]
    OutOfRange {
        /// The setting's name.
        setting: &'static str,
        /// Smallest allowed value, human readable.
        min: String,
        /// Largest allowed value, human readable.
        max: String,
        /// What was given, human readable.
        got: String,
    },
    /// Two settings contradict each other.
    #[error("{0}")]
    Inconsistent(&'static str),
}

/// Password rules (NIST SP 800-63B-4: length, no composition rules, a blocklist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRules {
    /// Fewest code points (default 15; configurable down to 8).
    pub min_chars: usize,
    /// Most code points accepted (default 128; never below 64). Longer is refused, not truncated.
    pub max_chars: usize,
    /// Most UTF-8 bytes accepted after normalisation (default 512), so a few code points of
    /// four bytes each cannot smuggle a large input to the hasher.
    pub max_bytes: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self { min_chars: 15, max_chars: 128, max_bytes: 512 }
    }
}

/// Growing delays after failed sign-ins, then a hard lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Consecutive failures allowed before any delay (default 5).
    pub free_failures: u32,
    /// The first delay; each further failure doubles it (default 1 s).
    pub base_delay: SignedDuration,
    /// The longest delay (default 15 min).
    pub max_delay: SignedDuration,
    /// Consecutive failures after which the account key is locked (default 50; at most 100,
    /// per NIST SP 800-63B-4).
    pub hard_lock_after: u32,
    /// How long a hard lock lasts unless staff act first (default 24 h).
    pub lock_cooldown: SignedDuration,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: SignedDuration::from_secs(1),
            max_delay: SignedDuration::from_mins(15),
            hard_lock_after: 50,
            lock_cooldown: SignedDuration::from_hours(24),
        }
    }
}

/// How long finished records are kept before the retention job deletes them (see
/// [`crate::retention`]). Live records (unexpired sessions, locks still in force, links that
/// still work or that an account still points at) are never deleted, whatever these say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRules {
    /// Invite and reset tokens are kept this long after they expired (default 30 days; 1 day
    /// to 10 years; a used or voided link expires within 7 days of issue too), so a late click
    /// still reads "already used" for a while. The token an account still points at is always
    /// kept.
    pub tokens_kept: SignedDuration,
    /// Delivered and failed mail rows are kept this long after their outcome (default 30 days;
    /// 1 day to 10 years). The row of the mail that carried an account's current link is
    /// always kept: the staff view shows its delivery state.
    pub outbox_kept: SignedDuration,
    /// Audit events are kept this long (default 6 years, 2192 days: the HIPAA documentation
    /// retention period, 45 CFR 164.316(b)(2)(i); 1 year to 100 years).
    pub audit_kept: SignedDuration,
}

/// One day, the unit retention periods are stated in.
const DAY: SignedDuration = SignedDuration::from_hours(24);

impl Default for RetentionRules {
    fn default() -> Self {
        Self {
            tokens_kept: SignedDuration::from_hours(24 * 30),
            outbox_kept: SignedDuration::from_hours(24 * 30),
            audit_kept: SignedDuration::from_hours(24 * 2192),
        }
    }
}

/// Everything configurable, before validation. Build one (or start from `Default`) and pass it
/// to [`Policy::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySettings {
    /// How long an invitation link works (default 48 h).
    pub invite_ttl: SignedDuration,
    /// How long a password-reset link works (default 48 h).
    pub reset_ttl: SignedDuration,
    /// A session ends after this long without use (default 30 min).
    pub session_idle: SignedDuration,
    /// A session ends this long after sign-in, however busy (default 12 h).
    pub session_absolute: SignedDuration,
    /// Sign-in throttling.
    pub throttle: ThrottleRules,
    /// Password rules.
    pub password: PasswordRules,
    /// How long finished records are kept.
    pub retention: RetentionRules,
}

impl Default for PolicySettings {
    fn default() -> Self {
        Self {
            invite_ttl: SignedDuration::from_hours(48),
            reset_ttl: SignedDuration::from_hours(48),
            session_idle: SignedDuration::from_mins(30),
            session_absolute: SignedDuration::from_hours(12),
            throttle: ThrottleRules::default(),
            password: PasswordRules::default(),
            retention: RetentionRules::default(),
        }
    }
}

/// Validated policy. `Policy::default()` is the product's promise: 48-hour links.
///
/// ```
/// use jiff::SignedDuration;
/// use portal_core::{Policy, PolicySettings};
///
/// let policy = Policy::new(PolicySettings { invite_ttl: SignedDuration::from_hours(24), ..Default::default() })?;
/// assert_eq!(policy.invite_ttl(), SignedDuration::from_hours(24));
///
/// let too_long = PolicySettings { reset_ttl: SignedDuration::from_hours(24 * 8), ..Default::default() };
/// assert!(Policy::new(too_long).is_err());
/// # Ok::<(), portal_core::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy(PolicySettings);

/// Shortest allowed link lifetime.
pub const MIN_LINK_TTL: SignedDuration = SignedDuration::from_mins(1);
/// Longest allowed link lifetime.
pub const MAX_LINK_TTL: SignedDuration = SignedDuration::from_hours(24 * 7);

fn within(
    setting: &'static str,
    got: SignedDuration,
    min: SignedDuration,
    max: SignedDuration,
) -> Result<(), PolicyError> {
    if got < min || got > max {
        return Err(PolicyError::OutOfRange {
            setting,
            min: format!("{min:#}"),
            max: format!("{max:#}"),
            got: format!("{got:#}"),
        });
    }
    Ok(())
}

fn within_count(setting: &'static str, got: usize, min: usize, max: usize) -> Result<(), PolicyError> {
    if got < min || got > max {
        return Err(PolicyError::OutOfRange {
            setting,
            min: min.to_string(),
            max: max.to_string(),
            got: got.to_string(),
        });
    }
    Ok(())
}

impl Policy {
    /// Validates settings.
    ///
    /// # Errors
    /// [`PolicyError`] naming the first setting outside its bounds: link lifetimes 1 min–7 days;
    /// session idle 1 min–24 h and not longer than the absolute limit (≤ 30 days); minimum
    /// password length 8–64; maximum ≥ 64 and ≥ the minimum; hard lock after 1–100 failures;
    /// tokens and mail kept 1 day–10 years, audit events 1–100 years.
    pub fn new(settings: PolicySettings) -> Result<Self, PolicyError> {
        within("invite_ttl", settings.invite_ttl, MIN_LINK_TTL, MAX_LINK_TTL)?;
        within("reset_ttl", settings.reset_ttl, MIN_LINK_TTL, MAX_LINK_TTL)?;
        within("session_idle", settings.session_idle, SignedDuration::from_mins(1), SignedDuration::from_hours(24))?;
        within(
            "session_absolute",
            settings.session_absolute,
            SignedDuration::from_mins(1),
            SignedDuration::from_hours(24 * 30),
        )?;
        if settings.session_idle > settings.session_absolute {
            return Err(PolicyError::Inconsistent("session_idle must not exceed session_absolute"));
        }
        let pw = &settings.password;
        within_count("password.min_chars", pw.min_chars, 8, 64)?;
        within_count("password.max_chars", pw.max_chars, 64.max(pw.min_chars), 4096)?;
        within_count("password.max_bytes", pw.max_bytes, pw.max_chars, 16 * 1024)?;
        let th = &settings.throttle;
        within_count("throttle.hard_lock_after", th.hard_lock_after as usize, 1, 100)?;
        within_count("throttle.free_failures", th.free_failures as usize, 0, th.hard_lock_after as usize)?;
        within("throttle.base_delay", th.base_delay, SignedDuration::from_millis(1), SignedDuration::from_hours(1))?;
        within("throttle.max_delay", th.max_delay, th.base_delay, SignedDuration::from_hours(24))?;
        within(
            "throttle.lock_cooldown",
            th.lock_cooldown,
            SignedDuration::from_mins(1),
            SignedDuration::from_hours(24 * 30),
        )?;
        let kept = &settings.retention;
        within("retention.tokens_kept", kept.tokens_kept, DAY, DAY * 3653)?;
        within("retention.outbox_kept", kept.outbox_kept, DAY, DAY * 3653)?;
        within("retention.audit_kept", kept.audit_kept, DAY * 365, DAY * 36525)?;
        Ok(Self(settings))
    }

    /// Invitation link lifetime.
    #[must_use]
    pub fn invite_ttl(&self) -> SignedDuration {
        self.0.invite_ttl
    }
    /// Reset link lifetime.
    #[must_use]
    pub fn reset_ttl(&self) -> SignedDuration {
        self.0.reset_ttl
    }
    /// Session idle timeout.
    #[must_use]
    pub fn session_idle(&self) -> SignedDuration {
        self.0.session_idle
    }
    /// Session absolute timeout.
    #[must_use]
    pub fn session_absolute(&self) -> SignedDuration {
        self.0.session_absolute
    }
    /// The first instant at which a session (a client's or a staff member's) signed in at
    /// `created_at` and last used at `last_seen_at` no longer works: the earlier of the idle
    /// and the absolute deadline.
    #[must_use]
    pub fn session_end(&self, created_at: Timestamp, last_seen_at: Timestamp) -> Timestamp {
        let idle_end = last_seen_at.saturating_add(self.session_idle()).unwrap_or(last_seen_at);
        let absolute_end = created_at.saturating_add(self.session_absolute()).unwrap_or(created_at);
        idle_end.min(absolute_end)
    }
    /// Throttle rules.
    #[must_use]
    pub fn throttle(&self) -> &ThrottleRules {
        &self.0.throttle
    }
    /// Password rules.
    #[must_use]
    pub fn password(&self) -> &PasswordRules {
        &self.0.password
    }
    /// How long finished records are kept.
    #[must_use]
    pub fn retention(&self) -> &RetentionRules {
        &self.0.retention
    }
    /// The settings this policy was built from.
    #[must_use]
    pub fn settings(&self) -> &PolicySettings {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_products_promise() {
        let policy = Policy::default();
        assert_eq!(policy.invite_ttl(), SignedDuration::from_hours(48));
        assert_eq!(policy.reset_ttl(), SignedDuration::from_hours(48));
        assert_eq!(policy.session_idle(), SignedDuration::from_mins(30));
        assert_eq!(policy.session_absolute(), SignedDuration::from_hours(12));
        assert_eq!(policy.password().min_chars, 15);
        assert!(policy.throttle().hard_lock_after <= 100);
        assert_eq!(Policy::new(PolicySettings::default()), Ok(policy));
    }

    #[test]
    fn link_lifetimes_are_bounded_to_one_minute_through_seven_days() {
        for (ttl, ok) in [(59, false), (60, true), (7 * 24 * 3600, true), (7 * 24 * 3600 + 1, false)] {
            let settings = PolicySettings { invite_ttl: SignedDuration::from_secs(ttl), ..Default::default() };
            assert_eq!(Policy::new(settings).is_ok(), ok, "invite ttl {ttl}s");
            let settings = PolicySettings { reset_ttl: SignedDuration::from_secs(ttl), ..Default::default() };
            assert_eq!(Policy::new(settings).is_ok(), ok, "reset ttl {ttl}s");
        }
    }

    #[test]
    fn the_hard_lock_cannot_exceed_one_hundred_failures() {
        let mut settings = PolicySettings::default();
        settings.throttle.hard_lock_after = 101;
        assert!(matches!(
            Policy::new(settings),
            Err(PolicyError::OutOfRange { setting: "throttle.hard_lock_after", .. })
        ));
    }

    #[test]
    fn password_bounds_are_checked() {
        let mut settings = PolicySettings::default();
        settings.password.min_chars = 7;
        assert!(Policy::new(settings.clone()).is_err());
        settings.password.min_chars = 8;
        assert!(Policy::new(settings.clone()).is_ok());
        settings.password.max_chars = 63;
        assert!(Policy::new(settings).is_err());
    }

    #[test]
    fn retention_defaults_and_bounds() {
        let kept = Policy::default().retention().clone();
        assert_eq!(kept.audit_kept, SignedDuration::from_hours(24 * 2192), "six years of audit");
        assert_eq!(kept.tokens_kept, SignedDuration::from_hours(24 * 30));
        assert_eq!(kept.outbox_kept, SignedDuration::from_hours(24 * 30));
        let mut settings = PolicySettings::default();
        settings.retention.audit_kept = DAY * 364;
        assert!(matches!(
            Policy::new(settings.clone()),
            Err(PolicyError::OutOfRange { setting: "retention.audit_kept", .. })
        ));
        settings.retention.audit_kept = DAY * 365;
        settings.retention.tokens_kept = DAY;
        settings.retention.outbox_kept = DAY;
        assert!(Policy::new(settings.clone()).is_ok());
        settings.retention.outbox_kept = SignedDuration::from_hours(23);
        assert!(Policy::new(settings).is_err());
    }

    #[test]
    fn idle_may_not_exceed_absolute() {
        let settings = PolicySettings {
            session_idle: SignedDuration::from_hours(2),
            session_absolute: SignedDuration::from_hours(1),
            ..Default::default()
        };
        assert_eq!(
            Policy::new(settings),
            Err(PolicyError::Inconsistent("session_idle must not exceed session_absolute"))
        );
    }
}
