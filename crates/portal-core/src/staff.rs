//! Staff keys with their lifetime (expiry, revocation, last use) and the staff sessions of the
//! bundled server's staff pages. A host that authenticates its staff itself (an EHR with its own
//! sign-in) never uses these: they are the bundled server's answer to "which staff member is
//! this?".

use jiff::{SignedDuration, Timestamp};

use crate::policy::Policy;
use crate::records::StaffMember;
use crate::token::TokenHash;
use crate::types::{PracticeId, StaffId, StaffSessionId};

/// Last use of a key is written at most this often: a busy key would otherwise write on every
/// request, and "last used" only needs to say roughly when.
pub const STAFF_KEY_USE_GRANULARITY: SignedDuration = SignedDuration::from_secs(60);

/// A staff key as stored: the staff member it names and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffKeyRecord {
    /// The staff member (id, practice, label, creation time).
    pub staff: StaffMember,
    /// When the key stops working on its own; `None` for a key without expiry.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked; a revoked key never works again.
    pub revoked_at: Option<Timestamp>,
    /// Roughly when it was last used (written at most once per
    /// [`STAFF_KEY_USE_GRANULARITY`]), over the API or by a staff session.
    pub last_used_at: Option<Timestamp>,
}

/// What a key is good for at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffKeyState {
    /// It works.
    Active,
    /// `now >= expires_at`.
    Expired,
    /// Revoked (whether or not it had also expired).
    Revoked,
}

impl StaffKeyState {
    /// The stable name (`active`, `expired`, `revoked`), as the command line prints it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl StaffKeyRecord {
    /// The key's state at `now`. Expired means `now >= expires_at`.
    #[must_use]
    pub fn state_at(&self, now: Timestamp) -> StaffKeyState {
        if self.revoked_at.is_some() {
            StaffKeyState::Revoked
        } else if self.expires_at.is_some_and(|end| now >= end) {
            StaffKeyState::Expired
        } else {
            StaffKeyState::Active
        }
    }

    /// Whether a use at `now` should be written as the key's last use (the first use, or
    /// [`STAFF_KEY_USE_GRANULARITY`] after the last one written).
    #[must_use]
    pub fn use_is_worth_recording(&self, now: Timestamp) -> bool {
        self.last_used_at.is_none_or(|last| now.duration_since(last) >= STAFF_KEY_USE_GRANULARITY)
    }
}

/// A staff session of the staff pages, made by signing in with a key. The cookie holds a bearer
/// secret; only its hash is stored. It ends at sign-out, after the idle or absolute limit
/// ([`Policy::session_idle`], [`Policy::session_absolute`], the same as client sessions), and
/// with its key (revoked or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    /// Id.
    pub id: StaffSessionId,
    /// SHA-256 of the bearer secret.
    pub token_hash: TokenHash,
    /// The key it was opened with (and so the staff member).
    pub staff_id: StaffId,
    /// The key's practice.
    pub practice_id: PracticeId,
    /// Sign-in time (the absolute limit counts from here).
    pub created_at: Timestamp,
    /// Last use (the idle limit counts from here).
    pub last_seen_at: Timestamp,
}

impl StaffSession {
    /// When the session ends if unused: the earlier of the idle and the absolute deadline.
    #[must_use]
    pub fn expires_at(&self, policy: &Policy) -> Timestamp {
        policy.session_end(self.created_at, self.last_seen_at)
    }

    /// True while `now` is before both deadlines.
    #[must_use]
    pub fn is_valid_at(&self, now: Timestamp, policy: &Policy) -> bool {
        now < self.expires_at(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DisplayName;

    fn key(expires_at: Option<Timestamp>, revoked_at: Option<Timestamp>) -> StaffKeyRecord {
        StaffKeyRecord {
            staff: StaffMember {
                id: StaffId::from_uuid(uuid::Uuid::from_u128(1)),
                practice_id: PracticeId::from_uuid(uuid::Uuid::from_u128(2)),
                label: DisplayName::parse("label", "Front desk").unwrap(),
                created_at: Timestamp::UNIX_EPOCH,
            },
            expires_at,
            revoked_at,
            last_used_at: None,
        }
    }

    #[test]
    fn a_key_expires_exactly_at_its_expiry() {
        let end = Timestamp::from_second(1_000).unwrap();
        let key = key(Some(end), None);
        assert_eq!(key.state_at(end - SignedDuration::from_micros(1)), StaffKeyState::Active);
        assert_eq!(key.state_at(end), StaffKeyState::Expired);
    }

    #[test]
    fn revocation_wins_over_everything() {
        let at = Timestamp::from_second(10).unwrap();
        assert_eq!(key(None, Some(at)).state_at(Timestamp::UNIX_EPOCH), StaffKeyState::Revoked);
        assert_eq!(key(Some(at), Some(at)).state_at(at), StaffKeyState::Revoked);
        assert_eq!(key(None, None).state_at(Timestamp::MAX), StaffKeyState::Active);
    }

    #[test]
    fn last_use_is_written_at_most_once_a_minute() {
        let at = Timestamp::from_second(1_000).unwrap();
        let mut key = key(None, None);
        assert!(key.use_is_worth_recording(at));
        key.last_used_at = Some(at);
        assert!(!key.use_is_worth_recording(at + SignedDuration::from_secs(59)));
        assert!(key.use_is_worth_recording(at + STAFF_KEY_USE_GRANULARITY));
    }

    #[test]
    fn a_staff_session_ends_at_its_idle_or_absolute_limit() {
        let policy = Policy::default();
        let start = Timestamp::from_second(1_000_000).unwrap();
        let session = StaffSession {
            id: StaffSessionId::from_uuid(uuid::Uuid::from_u128(3)),
            token_hash: TokenHash::of(b"x"),
            staff_id: StaffId::from_uuid(uuid::Uuid::from_u128(1)),
            practice_id: PracticeId::from_uuid(uuid::Uuid::from_u128(2)),
            created_at: start,
            last_seen_at: start,
        };
        let idle_end = start + policy.session_idle();
        assert!(session.is_valid_at(idle_end - SignedDuration::from_secs(1), &policy));
        assert!(!session.is_valid_at(idle_end, &policy));
        let busy = StaffSession { last_seen_at: start + policy.session_absolute(), ..session };
        assert!(!busy.is_valid_at(start + policy.session_absolute(), &policy));
    }
}
