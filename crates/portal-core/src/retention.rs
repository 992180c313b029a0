//! Retention: what finished records are deleted, and when. The [`Retention`] port deletes one
//! bounded batch of one kind at a time; [`prune`] computes the cutoffs from the [`Policy`] and
//! the [`Clock`] and drains each kind batch by batch, so a request never waits behind more than
//! one batch.
//!
//! What is kept (the cutoffs are computed by [`PruneCutoffs::at`]):
//!
//! | Kind | Deleted when |
//! |---|---|
//! | client and staff sessions | past their idle or absolute limit |
//! | throttle counters | no failure for the lock cooldown (a lock has lifted; counting starts again) |
//! | delivered and failed mail | outcome older than `outbox_kept`, unless it carried an account's current link |
//! | invite and reset tokens | expired more than `tokens_kept` ago (used or voided ones too: every link expires within 7 days of issue), unless an account still points at it or kept mail carries it |
//! | audit events | older than `audit_kept` (default 6 years) |
//! | second-step challenges and passkey ceremonies | expired (five minutes after they started; each is also swept when a new one is made) |
//!
//! Pending mail and live tokens are never deleted.

use jiff::{SignedDuration, Timestamp};

use crate::policy::Policy;
use crate::ports::{Clock, Retention, StoreError};

/// What one batch deletes. The order of [`PruneKind::ALL`] matters: mail goes before tokens,
/// because kept mail keeps the token it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PruneKind {
    /// Client sessions past their idle or absolute limit.
    Sessions,
    /// Staff-page sessions past their idle or absolute limit.
    StaffSessions,
    /// Sign-in throttle counters with no failure for the lock cooldown.
    Throttle,
    /// Delivered and failed mail rows past `outbox_kept`.
    Outbox,
    /// Invite and reset tokens expired (so also used or voided) more than `tokens_kept` ago.
    Tokens,
    /// Audit events older than `audit_kept`.
    Audit,
    /// Second-step challenges and passkey ceremonies past their expiry.
    SignInSteps,
}

impl PruneKind {
    /// Every kind, in the order [`prune`] drains them.
    pub const ALL: [Self; 7] = [
        Self::Sessions,
        Self::StaffSessions,
        Self::Throttle,
        Self::Outbox,
        Self::Tokens,
        Self::Audit,
        Self::SignInSteps,
    ];

    /// A stable lowercase name (`sessions`, `staff_sessions`, `throttle`, `outbox`, `tokens`,
    /// `audit`, `sign_in_steps`), for metrics labels and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sessions => "sessions",
            Self::StaffSessions => "staff_sessions",
            Self::Throttle => "throttle",
            Self::Outbox => "outbox",
            Self::Tokens => "tokens",
            Self::Audit => "audit",
            Self::SignInSteps => "sign_in_steps",
        }
    }
}

/// The instants a prune run compares against. Every cutoff is inclusive: a record whose time is
/// at or before its cutoff is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneCutoffs {
    /// When the run started.
    pub now: Timestamp,
    /// Sessions (client and staff) last used at or before this are past the idle limit.
    pub sessions_seen_before: Timestamp,
    /// Sessions (client and staff) started at or before this are past the absolute limit.
    pub sessions_started_before: Timestamp,
    /// Throttle counters whose last failure is at or before this have been idle for the lock
    /// cooldown.
    pub throttle_idle_since: Timestamp,
    /// Tokens that expired at or before this are finished long enough (a used or voided one
    /// is finished by its expiry at the latest).
    pub tokens_done_before: Timestamp,
    /// Mail delivered or failed at or before this is finished long enough.
    pub outbox_done_before: Timestamp,
    /// Audit events at or before this are past their retention.
    pub audit_before: Timestamp,
}

fn minus(now: Timestamp, kept: SignedDuration) -> Timestamp {
    now.checked_sub(kept).unwrap_or(Timestamp::MIN)
}

impl PruneCutoffs {
    /// The cutoffs of a run at `now` under `policy`.
    #[must_use]
    pub fn at(now: Timestamp, policy: &Policy) -> Self {
        let kept = policy.retention();
        Self {
            now,
            sessions_seen_before: minus(now, policy.session_idle()),
            sessions_started_before: minus(now, policy.session_absolute()),
            throttle_idle_since: minus(now, policy.throttle().lock_cooldown),
            tokens_done_before: minus(now, kept.tokens_kept),
            outbox_done_before: minus(now, kept.outbox_kept),
            audit_before: minus(now, kept.audit_kept),
        }
    }
}

/// How many rows a prune run deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Client sessions.
    pub sessions: u64,
    /// Staff-page sessions.
    pub staff_sessions: u64,
    /// Throttle counters.
    pub throttle: u64,
    /// Mail rows.
    pub outbox: u64,
    /// Tokens.
    pub tokens: u64,
    /// Audit events.
    pub audit: u64,
    /// Second-step challenges and passkey ceremonies.
    pub sign_in_steps: u64,
}

impl PruneReport {
    /// The count of one kind.
    #[must_use]
    pub fn get(&self, kind: PruneKind) -> u64 {
        match kind {
            PruneKind::Sessions => self.sessions,
            PruneKind::StaffSessions => self.staff_sessions,
            PruneKind::Throttle => self.throttle,
            PruneKind::Outbox => self.outbox,
            PruneKind::Tokens => self.tokens,
            PruneKind::Audit => self.audit,
            PruneKind::SignInSteps => self.sign_in_steps,
        }
    }

    fn add(&mut self, kind: PruneKind, count: u64) {
        let slot = match kind {
            PruneKind::Sessions => &mut self.sessions,
            PruneKind::StaffSessions => &mut self.staff_sessions,
            PruneKind::Throttle => &mut self.throttle,
            PruneKind::Outbox => &mut self.outbox,
            PruneKind::Tokens => &mut self.tokens,
            PruneKind::Audit => &mut self.audit,
            PruneKind::SignInSteps => &mut self.sign_in_steps,
        };
        *slot = slot.saturating_add(count);
    }

    /// Every kind with its count, in [`PruneKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (PruneKind, u64)> + '_ {
        PruneKind::ALL.into_iter().map(|kind| (kind, self.get(kind)))
    }

    /// All kinds together.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.iter().fold(0, |sum, (_, count)| sum.saturating_add(count))
    }
}

/// The batch size the server uses: small enough that one batch is a short transaction.
pub const DEFAULT_PRUNE_BATCH: u32 = 1000;

/// Deletes every finished record the policy no longer keeps, one batch of at most `batch` rows
/// at a time (each batch is its own short write, so requests interleave between batches), and
/// reports how many of each kind went. `on_batch` is called after every batch that deleted
/// something (for metrics that move while a long run goes on). Last, the store refreshes its
/// planner statistics ([`Retention::refresh_statistics`]), since the run may have changed the
/// tables' sizes a lot.
///
/// # Errors
/// The first store failure; what earlier batches deleted stays deleted (each batch is
/// complete in itself), and the next run carries on.
pub async fn prune<R: Retention + ?Sized, C: Clock + ?Sized>(
    store: &R,
    policy: &Policy,
    clock: &C,
    batch: u32,
    mut on_batch: impl FnMut(PruneKind, u64) + Send,
) -> Result<PruneReport, StoreError> {
    let batch = batch.max(1);
    let cutoffs = PruneCutoffs::at(clock.now(), policy);
    let mut report = PruneReport::default();
    for kind in PruneKind::ALL {
        loop {
            let deleted = store.prune_batch(kind, &cutoffs, batch).await?;
            if deleted > 0 {
                report.add(kind, deleted);
                on_batch(kind, deleted);
            }
            if deleted < u64::from(batch) {
                break;
            }
        }
    }
    store.refresh_statistics().await?;
    Ok(report)
}
