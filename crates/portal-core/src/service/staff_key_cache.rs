//! A short-lived memory of active staff keys, so a staff API request costs one store read (its
//! own) instead of two: without it every request first reads the key by its hash.
//!
//! The trade-off is staleness across processes: a key revoked by another process (the
//! `staff-key revoke` command, a second server on the same database) keeps working here until
//! its entry is older than the recheck interval (one second by default). A revocation through
//! this service forgets the key at once, and a key's expiry is checked on every answer, so on a
//! single server nothing changes for revocation or expiry.
//!
//! Entries are found by the SHA-256 of the presented key, never the key itself, and only keys
//! that were active when read are kept: an unknown, revoked or expired key is a store read every
//! time, as before.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use jiff::{SignedDuration, Timestamp};

use crate::staff::{StaffKeyRecord, StaffKeyState};
use crate::token::TokenHash;
use crate::types::StaffId;

/// How long a staff key read from the store answers for itself before it is read again, unless
/// the embedder chooses otherwise
/// ([`PortalService::with_staff_key_recheck`](super::PortalService::with_staff_key_recheck)).
pub const DEFAULT_STAFF_KEY_RECHECK: SignedDuration = SignedDuration::from_secs(1);

/// The most keys remembered at once. Far more than the keys one server sees in a recheck
/// interval, so the bound only matters against a flood of distinct valid keys; each entry is a
/// few hundred bytes.
pub const STAFF_KEY_CACHE_CAPACITY: usize = 4_096;

/// One key as read from the store, and when.
#[derive(Debug)]
struct Entry {
    key: StaffKeyRecord,
    read_at: Timestamp,
}

#[derive(Debug, Default)]
struct Entries {
    by_hash: HashMap<TokenHash, Entry>,
    /// Moves on every revocation through the service. A store read that began before a
    /// revocation may have seen the key still active; it must not put the key back afterwards.
    revocations: u64,
}

/// The memory itself: bounded, behind a [`std::sync::Mutex`] (the core has no async runtime, and
/// no method awaits while holding it).
#[derive(Debug)]
pub(super) struct StaffKeyCache {
    recheck: SignedDuration,
    capacity: usize,
    entries: Mutex<Entries>,
}

/// What [`StaffKeyCache::revocations_seen`] returns: taken before a store read, handed to
/// [`StaffKeyCache::remember`] after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct RevocationMark(u64);

impl StaffKeyCache {
    /// A cache whose entries answer for `recheck`; zero or less remembers nothing.
    pub(super) fn new(recheck: SignedDuration, capacity: usize) -> Self {
        Self { recheck, capacity, entries: Mutex::new(Entries::default()) }
    }

    fn is_off(&self) -> bool {
        !self.recheck.is_positive() || self.capacity == 0
    }

    /// A clock that went backwards makes an entry stale rather than fresh for longer.
    fn is_fresh(&self, entry: &Entry, now: Timestamp) -> bool {
        now >= entry.read_at && now.duration_since(entry.read_at) < self.recheck
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        match self.entries.lock() {
            Ok(entries) => entries,
            // A panic while holding the lock may have left a change half made; forgetting
            // everything costs one store read per key, and never answers from a doubtful entry.
            Err(poisoned) => {
                let mut entries = poisoned.into_inner();
                entries.by_hash.clear();
                entries.revocations = entries.revocations.wrapping_add(1);
                self.entries.clear_poison();
                entries
            }
        }
    }

    /// The key with this hash when it was read less than the recheck interval ago and is still
    /// active at `now` (its expiry is checked here, on every answer). Anything else is
    /// forgotten, and the caller reads the store.
    pub(super) fn active(&self, hash: &TokenHash, now: Timestamp) -> Option<StaffKeyRecord> {
        if self.is_off() {
            return None;
        }
        let mut entries = self.lock();
        let entry = entries.by_hash.get(hash)?;
        if self.is_fresh(entry, now) && entry.key.state_at(now) == StaffKeyState::Active {
            return Some(entry.key.clone());
        }
        entries.by_hash.remove(hash);
        None
    }

    /// Where revocations stand, before a store read whose answer may be remembered.
    pub(super) fn revocations_seen(&self) -> RevocationMark {
        RevocationMark(if self.is_off() { 0 } else { self.lock().revocations })
    }

    /// Remembers a key read from the store at `now`, if it is active and no revocation went
    /// through the service since `mark` was taken (then the read may predate it).
    pub(super) fn remember(&self, hash: TokenHash, key: &StaffKeyRecord, now: Timestamp, mark: RevocationMark) {
        if self.is_off() || key.state_at(now) != StaffKeyState::Active {
            return;
        }
        let mut entries = self.lock();
        if entries.revocations != mark.0 {
            return;
        }
        if entries.by_hash.len() >= self.capacity && !entries.by_hash.contains_key(&hash) {
            self.make_room(&mut entries.by_hash, now);
        }
        entries.by_hash.insert(hash, Entry { key: key.clone(), read_at: now });
    }

    /// Drops the stale entries; when that frees less than a quarter of the room, drops them all.
    /// Either way the next sweep is at least a quarter of the capacity of inserts away, so the
    /// sweep's cost is amortised O(1) per insert.
    fn make_room(&self, by_hash: &mut HashMap<TokenHash, Entry>, now: Timestamp) {
        by_hash.retain(|_, entry| self.is_fresh(entry, now));
        if by_hash.len() > self.capacity - self.capacity / 4 {
            by_hash.clear();
        }
    }

    /// Forgets a key by its id (revocation knows the id, not the hash), and stops reads that
    /// began before from remembering it. A scan, but revocation is rare and the cache bounded.
    pub(super) fn forget_revoked(&self, id: StaffId) {
        if self.is_off() {
            return;
        }
        let mut entries = self.lock();
        entries.revocations = entries.revocations.wrapping_add(1);
        entries.by_hash.retain(|_, entry| entry.key.staff.id != id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::StaffMember;
    use crate::types::{DisplayName, PracticeId};

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn key(n: u128, expires_at: Option<Timestamp>) -> (TokenHash, StaffKeyRecord) {
        let record = StaffKeyRecord {
            staff: StaffMember {
                id: StaffId::from_uuid(uuid::Uuid::from_u128(n)),
                practice_id: PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
                label: DisplayName::parse("label", "Front desk").unwrap(),
                created_at: at(0),
            },
            expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        (TokenHash::of(&n.to_le_bytes()), record)
    }

    fn cache() -> StaffKeyCache {
        StaffKeyCache::new(DEFAULT_STAFF_KEY_RECHECK, 8)
    }

    #[test]
    fn an_entry_answers_until_the_recheck_interval_and_not_at_it() {
        let cache = cache();
        let (hash, record) = key(1, None);
        cache.remember(hash, &record, at(0), cache.revocations_seen());
        let almost = at(1) - SignedDuration::from_micros(1);
        assert_eq!(cache.active(&hash, almost), Some(record));
        assert_eq!(cache.active(&hash, at(1)), None);
        assert_eq!(cache.len(), 0, "a stale entry is forgotten when met");
    }

    #[test]
    fn a_clock_that_went_backwards_makes_an_entry_stale() {
        let cache = cache();
        let (hash, record) = key(1, None);
        cache.remember(hash, &record, at(10), cache.revocations_seen());
        assert_eq!(cache.active(&hash, at(10) - SignedDuration::from_micros(1)), None);
    }

    #[test]
    fn an_expired_key_is_refused_on_a_hit_and_never_remembered() {
        let cache = cache();
        let (hash, record) = key(1, Some(at(0) + SignedDuration::from_millis(500)));
        cache.remember(hash, &record, at(0), cache.revocations_seen());
        assert!(cache.active(&hash, at(0) + SignedDuration::from_millis(499)).is_some());
        assert_eq!(cache.active(&hash, at(0) + SignedDuration::from_millis(500)), None);
        cache.remember(hash, &record, at(1), cache.revocations_seen());
        assert_eq!(cache.len(), 0);
        let revoked = StaffKeyRecord { revoked_at: Some(at(0)), ..key(2, None).1 };
        cache.remember(TokenHash::of(b"2"), &revoked, at(1), cache.revocations_seen());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_read_that_began_before_a_revocation_is_not_remembered() {
        let cache = cache();
        let (hash, record) = key(1, None);
        let mark = cache.revocations_seen();
        cache.forget_revoked(record.staff.id);
        cache.remember(hash, &record, at(0), mark);
        assert_eq!(cache.active(&hash, at(0)), None);
        cache.remember(hash, &record, at(0), cache.revocations_seen());
        assert!(cache.active(&hash, at(0)).is_some());
        cache.forget_revoked(record.staff.id);
        assert_eq!(cache.active(&hash, at(0)), None);
    }

    #[test]
    fn zero_remembers_nothing() {
        let (hash, record) = key(1, None);
        for recheck in [SignedDuration::ZERO, SignedDuration::from_secs(-1)] {
            let cache = StaffKeyCache::new(recheck, 8);
            cache.remember(hash, &record, at(0), cache.revocations_seen());
            assert_eq!(cache.active(&hash, at(0)), None);
            assert_eq!(cache.len(), 0);
        }
    }

    #[test]
    fn when_full_the_stale_entries_go_first_and_else_everything() {
        let cache = cache();
        for n in 0..6 {
            let (hash, record) = key(n, None);
            cache.remember(hash, &record, at(0), cache.revocations_seen());
        }
        for n in 6..8 {
            let (hash, record) = key(n, None);
            cache.remember(hash, &record, at(2), cache.revocations_seen());
        }
        assert_eq!(cache.len(), 8);
        // Six stale entries make room: the two fresh ones stay.
        let (ninth, record) = key(8, None);
        cache.remember(ninth, &record, at(2), cache.revocations_seen());
        assert_eq!(cache.len(), 3);
        assert!(cache.active(&key(7, None).0, at(2)).is_some());

        // All fresh: everything goes, and the bound still holds.
        for n in 9..30 {
            let (hash, record) = key(n, None);
            cache.remember(hash, &record, at(2), cache.revocations_seen());
            assert!(cache.len() <= 8);
        }
        assert!(cache.active(&key(29, None).0, at(2)).is_some());
    }
}
