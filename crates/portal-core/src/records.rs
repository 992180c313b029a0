//! Plain records the service reads and writes through the ports: practices, staff, clients,
//! sessions, queued mail, audit events and throttle counters.

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};

use crate::account::PortalAccount;
use crate::date_of_birth::DateOfBirth;
use crate::delivery::DeliveryProblem;
pub use crate::mail_kind::MailKind;

#[path = "audit_names.rs"]
mod audit_names;
use crate::policy::{Policy, ThrottleRules};
use crate::practice_settings::PracticeSettings;
use crate::token::TokenHash;
use crate::types::{
    AuditId, ClientId, DisplayName, EmailAddress, Language, MailId, PracticeId, PracticeSlug, SessionId, StaffId,
    TimeZoneName,
};
pub use audit_names::{AuditAction, AuditFailure, UnrecognisedFailure};

/// A practice (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practice {
    /// Id.
    pub id: PracticeId,
    /// URL name used by clients when signing in.
    pub slug: PracticeSlug,
    /// Display name used in mail and pages.
    pub name: DisplayName,
    /// Zone in which mail states expiry times.
    pub time_zone: TimeZoneName,
    /// When true, mail subjects and sender names are neutral (no clinical words).
    pub discreet_mail: bool,
    /// What the practice chose for its clients' portal (date-of-birth check, client-started
    /// resets, reminders, link lifetimes).
    pub settings: PracticeSettings,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A staff member, as named by one staff key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// Id of the key (and of the member for the audit trail).
    pub id: StaffId,
    /// The practice the key belongs to.
    pub practice_id: PracticeId,
    /// Who holds the key ("Front desk – Maria").
    pub label: DisplayName,
    /// When the key was created.
    pub created_at: Timestamp,
}

/// A client (patient) record, as far as the portal needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// Id.
    pub id: ClientId,
    /// The practice.
    pub practice_id: PracticeId,
    /// Name shown to staff and in mail.
    pub name: DisplayName,
    /// The email on file; `None` means "no email": the client gets no mail at all.
    pub email: Option<EmailAddress>,
    /// The language mail is written in.
    pub language: Language,
    /// False when the client asked not to be emailed.
    pub email_consent: bool,
    /// The date of birth, when the record has one: asked for on emailed links when the
    /// practice has the check on.
    pub date_of_birth: Option<DateOfBirth>,
    /// When the record was created.
    pub created_at: Timestamp,
}

/// A signed-in client session. The bearer secret is never stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id.
    pub id: SessionId,
    /// SHA-256 of the bearer secret.
    pub token_hash: TokenHash,
    /// The practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_id: ClientId,
    /// Sign-in time (the absolute timeout counts from here).
    pub created_at: Timestamp,
    /// Last use (the idle timeout counts from here).
    pub last_seen_at: Timestamp,
}

impl Session {
    /// The first instant at which the session no longer works, given the policy.
    #[must_use]
    pub fn expires_at(&self, policy: &Policy) -> Timestamp {
        policy.session_end(self.created_at, self.last_seen_at)
    }

    /// True while `now` is before both the idle and the absolute deadline.
    #[must_use]
    pub fn is_valid_at(&self, now: Timestamp, policy: &Policy) -> bool {
        now < self.expires_at(policy)
    }
}

/// An email queued in the outbox, written in the same transaction as the change that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Id (also the basis of the Message-ID, so a resend after a crash is recognisable).
    pub id: MailId,
    /// The practice (its name, zone and discretion setting are read at send time).
    pub practice_id: PracticeId,
    /// The client it is about.
    pub client_id: ClientId,
    /// The recipient: the email on file when the mail was queued, kept until delivery. The
    /// name and language are read from the [`ClientDirectory`](crate::ClientDirectory) when
    /// the mail is rendered, so the outbox holds no more personal data than delivery needs.
    pub to: EmailAddress,
    /// What to send.
    pub kind: MailKind,
    /// When it was queued.
    pub created_at: Timestamp,
}

/// A queued email claimed by one dispatcher for a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    /// The message.
    pub mail: OutgoingMail,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The claim lapses at this instant; another dispatcher may then take the row.
    pub lease_until: Timestamp,
}

/// Where a queued email is in its delivery, for the staff view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered; will be tried (again) at `next_attempt_at`.
    Pending {
        /// Attempts so far.
        attempts: u32,
        /// Next try.
        next_attempt_at: Timestamp,
        /// Why the last attempt failed, if one did.
        last_problem: Option<DeliveryProblem>,
    },
    /// Handed to the mail server.
    Sent {
        /// When.
        at: Timestamp,
    },
    /// Given up: the reason is permanent (a rejected address, a 5xx), the dispatcher ran out of
    /// attempts, or the core cancelled the mail ([`crate::DeliveryCause::is_cancellation`]).
    Failed {
        /// When.
        at: Timestamp,
        /// Why: for a delivery given up after repeated temporary failures, the last one.
        problem: DeliveryProblem,
        /// How many attempts the dispatcher made before it gave up on temporary failures;
        /// `None` when the failure itself was final.
        gave_up_after: Option<u32>,
    },
}

/// A client's portal account as the staff's portal panel shows it, read at once: the account
/// with its current links, and the delivery of the latest mail that carried each of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPanel {
    /// The account ([`PortalAccount::new`] when none was stored).
    pub account: PortalAccount,
    /// The delivery of the latest mail carrying the account's current invitation, if any.
    pub invite_delivery: Option<DeliveryState>,
    /// The delivery of the latest mail carrying the account's current reset link, if any.
    pub reset_delivery: Option<DeliveryState>,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff member, by key.
    Staff {
        /// The key id.
        id: StaffId,
        /// Its label at the time.
        label: DisplayName,
    },
    /// The client themself.
    Client,
    /// Someone not (yet) identified, e.g. a failed sign-in.
    Anonymous,
    /// The system (the mail dispatcher, the bootstrap).
    System,
}

/// Where a request came from, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id the HTTP layer assigned.
    pub request_id: Option<String>,
    /// The peer address.
    pub source_ip: Option<IpAddr>,
}

/// One audit-trail entry (HIPAA 164.312(b)). Never holds a password, token or session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Id.
    pub id: AuditId,
    /// When (UTC).
    pub at: Timestamp,
    /// The practice.
    pub practice_id: PracticeId,
    /// The client concerned, when known.
    pub client_id: Option<ClientId>,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// `None` for success, or why the attempt was refused.
    pub failure: Option<AuditFailure>,
    /// Free detail safe to show staff (a disable reason, the username on registration).
    pub detail: Option<String>,
    /// Request id and source IP.
    pub context: RequestContext,
}

/// Consecutive sign-in failures for one (practice, username-as-typed) key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Consecutive failures since the last success or staff action.
    pub failures: u32,
    /// When the last failure happened.
    pub last_failure_at: Option<Timestamp>,
}

/// What the throttle says about an attempt at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleDecision {
    /// Go ahead and check the password.
    Allow,
    /// Too soon after the last failure: answer 429 without hashing.
    Wait {
        /// How long until the next attempt is allowed.
        retry_after: SignedDuration,
    },
    /// Locked after too many failures: answer exactly as for a wrong password.
    Locked {
        /// When the lock lapses on its own.
        until: Timestamp,
    },
}

impl ThrottleState {
    /// The delay owed after `failures` consecutive failures under `rules`.
    #[must_use]
    pub fn delay_after(failures: u32, rules: &ThrottleRules) -> SignedDuration {
        if failures <= rules.free_failures {
            return SignedDuration::ZERO;
        }
        let doublings = (failures - rules.free_failures - 1).min(30);
        let factor = 1i32 << doublings;
        rules.base_delay.checked_mul(factor).map_or(rules.max_delay, |delay| delay.min(rules.max_delay))
    }

    /// Decides whether an attempt may proceed at `now`.
    ///
    /// ```
    /// use jiff::{SignedDuration, Timestamp};
    /// use portal_core::{Policy, ThrottleDecision, ThrottleState};
    /// let rules = Policy::default().throttle().clone();
    /// let t0 = Timestamp::UNIX_EPOCH;
    /// let state = ThrottleState { failures: 6, last_failure_at: Some(t0) };
    /// assert_eq!(state.decide(t0, &rules), ThrottleDecision::Wait { retry_after: SignedDuration::from_secs(1) });
    /// assert_eq!(state.decide(t0 + SignedDuration::from_secs(1), &rules), ThrottleDecision::Allow);
    /// ```
    #[must_use]
    pub fn decide(&self, now: Timestamp, rules: &ThrottleRules) -> ThrottleDecision {
        let Some(last) = self.last_failure_at else {
            return ThrottleDecision::Allow;
        };
        if self.failures >= rules.hard_lock_after {
            let until = last.saturating_add(rules.lock_cooldown).unwrap_or(last);
            return if now < until { ThrottleDecision::Locked { until } } else { ThrottleDecision::Allow };
        }
        let next_allowed = last.saturating_add(Self::delay_after(self.failures, rules)).unwrap_or(last);
        if now < next_allowed {
            ThrottleDecision::Wait { retry_after: next_allowed.duration_since(now) }
        } else {
            ThrottleDecision::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn delays_grow_then_cap_and_the_hard_lock_holds_until_cooldown() {
        let rules = ThrottleRules::default();
        assert_eq!(ThrottleState::delay_after(5, &rules), SignedDuration::ZERO);
        assert_eq!(ThrottleState::delay_after(6, &rules), SignedDuration::from_secs(1));
        assert_eq!(ThrottleState::delay_after(8, &rules), SignedDuration::from_secs(4));
        assert_eq!(ThrottleState::delay_after(49, &rules), rules.max_delay);
        let locked = ThrottleState { failures: rules.hard_lock_after, last_failure_at: Some(at(0)) };
        let cooldown = rules.lock_cooldown.as_secs();
        assert!(matches!(locked.decide(at(cooldown - 1), &rules), ThrottleDecision::Locked { .. }));
        assert_eq!(locked.decide(at(cooldown), &rules), ThrottleDecision::Allow);
    }

    #[test]
    fn a_session_ends_at_the_earlier_of_idle_and_absolute() {
        let policy = Policy::default();
        let session = Session {
            id: SessionId::from_uuid(uuid::Uuid::nil()),
            token_hash: TokenHash::of(b"x"),
            practice_id: PracticeId::from_uuid(uuid::Uuid::nil()),
            client_id: ClientId::parse("42").expect("a valid host id"),
            created_at: at(0),
            last_seen_at: at(0),
        };
        assert!(session.is_valid_at(at(30 * 60 - 1), &policy));
        assert!(!session.is_valid_at(at(30 * 60), &policy));
        let busy = Session { last_seen_at: at(12 * 3600 - 60), ..session };
        assert!(busy.is_valid_at(at(12 * 3600 - 1), &policy));
        assert!(!busy.is_valid_at(at(12 * 3600), &policy));
    }

    #[test]
    fn every_known_audit_failure_code_parses_back_to_itself() {
        for failure in AuditFailure::KNOWN {
            assert_eq!(AuditFailure::parse(failure.as_str()), failure);
        }
    }

    #[test]
    fn an_unknown_stored_failure_code_still_reads_as_it_was_stored() {
        let failure = AuditFailure::parse("password_expired");
        assert!(matches!(&failure, AuditFailure::Unrecognised(code) if code.as_str() == "password_expired"));
        assert_eq!(failure.as_str(), "password_expired");
        assert_eq!(AuditFailure::parse(""), AuditFailure::Unrecognised(UnrecognisedFailure(String::new())));
    }

    #[test]
    fn audit_action_names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::from_name(action.name()), Some(action));
        }
    }
}
