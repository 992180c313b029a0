//! The per-account limit on password-reset mail that clients ask for themselves (the "Forgot
//! your password?" page): whoever knows a client's username and email on file can ask, so each
//! account remembers when its requests last queued a mail and how many did so today, and a
//! request beyond the limit queues nothing (the requester is answered the same either way).
//!
//! The state lives on the account ([`PortalAccount`](crate::PortalAccount)), so it is read and
//! written under the same per-client lock as the reset it guards: two requests racing for one
//! account queue one mail, not two.

use jiff::{SignedDuration, Timestamp};

/// The shortest time between two reset mails one account's requests queue: 15 minutes. A reset
/// link lives for hours, so a second mail within minutes only helps someone who wants to fill
/// the client's inbox; a client whose mail is slow waits a quarter of an hour at most.
pub const RESET_REQUEST_SPACING: SignedDuration = SignedDuration::from_mins(15);

/// The most reset mails one account's requests queue in a day ([`RESET_REQUEST_DAY`]): 3.
/// Enough for a mail lost to a spam folder and a second try; beyond that the client's provider
/// can still send a reset, which no limit here affects.
pub const RESET_REQUESTS_PER_DAY: u32 = 3;

/// The day of [`RESET_REQUESTS_PER_DAY`]: 24 hours from the first mail it counts.
pub const RESET_REQUEST_DAY: SignedDuration = SignedDuration::from_hours(24);

/// What an account remembers of the reset mails its client asked for: when the current day of
/// counting began, how many mails were queued in it, and when the latest was queued.
/// [`Default`]: none yet.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::ResetRequestHistory;
///
/// let t0 = Timestamp::from_second(1_800_000_000)?;
/// let mut history = ResetRequestHistory::default();
/// assert_eq!(history.next_allowed_at(t0), None);
/// history.record(t0);
/// // The next one waits 15 minutes.
/// assert_eq!(history.next_allowed_at(t0), Some(t0 + SignedDuration::from_mins(15)));
/// assert_eq!(history.next_allowed_at(t0 + SignedDuration::from_mins(15)), None);
/// # Ok::<(), jiff::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResetRequestHistory {
    day_started_at: Option<Timestamp>,
    sent_in_day: u32,
    last_sent_at: Option<Timestamp>,
}

impl ResetRequestHistory {
    /// Rebuilds the history from storage. Adapters only.
    #[must_use]
    pub const fn restore(day_started_at: Option<Timestamp>, sent_in_day: u32, last_sent_at: Option<Timestamp>) -> Self {
        Self { day_started_at, sent_in_day, last_sent_at }
    }

    /// When the current day of counting began (`None`: no mail yet).
    #[must_use]
    pub const fn day_started_at(&self) -> Option<Timestamp> {
        self.day_started_at
    }

    /// How many mails the requests queued in the current day.
    #[must_use]
    pub const fn sent_in_day(&self) -> u32 {
        self.sent_in_day
    }

    /// When the latest mail was queued.
    #[must_use]
    pub const fn last_sent_at(&self) -> Option<Timestamp> {
        self.last_sent_at
    }

    /// `None` when a request at `now` may queue a mail; otherwise the first moment one may.
    #[must_use]
    pub fn next_allowed_at(&self, now: Timestamp) -> Option<Timestamp> {
        let after = |at: Timestamp, wait: SignedDuration| at.saturating_add(wait).unwrap_or(at);
        let spaced = self.last_sent_at.map(|last| after(last, RESET_REQUEST_SPACING)).filter(|next| now < *next);
        let day_end = self.day_started_at.map(|start| after(start, RESET_REQUEST_DAY)).filter(|end| now < *end);
        let day_full = day_end.filter(|_| self.sent_in_day >= RESET_REQUESTS_PER_DAY);
        match (spaced, day_full) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Counts a mail queued at `now` (a new day begins when the last one ended).
    pub fn record(&mut self, now: Timestamp) {
        let day_over =
            self.day_started_at.is_none_or(|start| now >= start.saturating_add(RESET_REQUEST_DAY).unwrap_or(start));
        if day_over {
            self.day_started_at = Some(now);
            self.sent_in_day = 0;
        }
        self.sent_in_day = self.sent_in_day.saturating_add(1);
        self.last_sent_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap() + SignedDuration::from_mins(minutes)
    }

    #[test]
    fn mails_are_fifteen_minutes_apart_and_three_a_day_at_most() {
        let mut history = ResetRequestHistory::default();
        for minute in [0, 15, 30] {
            assert_eq!(history.next_allowed_at(at(minute)), None, "minute {minute}");
            history.record(at(minute));
            if history.sent_in_day() < RESET_REQUESTS_PER_DAY {
                assert_eq!(history.next_allowed_at(at(minute + 14)), Some(at(minute + 15)));
            }
        }
        // The day (from minute 0) is full: the fourth waits for its end, not for the spacing.
        assert_eq!(history.next_allowed_at(at(45)), Some(at(24 * 60)));
        assert_eq!(history.next_allowed_at(at(24 * 60 - 1)), Some(at(24 * 60)));
        assert_eq!(history.next_allowed_at(at(24 * 60)), None);
        history.record(at(24 * 60));
        assert_eq!(history.sent_in_day(), 1, "a new day began");
        assert_eq!(history.day_started_at(), Some(at(24 * 60)));
        assert_eq!(history.next_allowed_at(at(24 * 60 + 15)), None);
    }

    #[test]
    fn the_history_round_trips_through_its_stored_parts() {
        let mut history = ResetRequestHistory::default();
        history.record(at(0));
        history.record(at(20));
        let restored =
            ResetRequestHistory::restore(history.day_started_at(), history.sent_in_day(), history.last_sent_at());
        assert_eq!(restored, history);
    }
}
