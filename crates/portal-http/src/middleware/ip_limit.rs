//! The per-IP rate limiter of the expensive client endpoints (sign-in, registration, reset
//! completion, link verification), on governor.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Mutex, TryLockError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{HashMapStateStore, ShrinkableKeyedStateStore};
use governor::{Quota, RateLimiter};

use crate::IpRateLimit;
use crate::error::ApiError;

/// Per-IP request budgets: governor's keyed GCRA limiter (the token bucket of
/// [`IpRateLimit`]: `burst` at once, refilled at `per_minute`) over a store that tracks at most
/// `max_tracked_ips` addresses. `None` when the limit is off (`per_minute` 0).
pub(crate) struct IpLimiter<C: Clock = DefaultClock> {
    limiter: Option<KeyedLimiter<C>>,
    /// Most addresses tracked at once (`max_tracked_ips`, at least 1).
    capacity: usize,
    /// When stale entries were last dropped (see [`IpLimiter::sweep_if_due`]).
    last_sweep: Mutex<C::Instant>,
}

/// governor's limiter over [`BoundedStore`], reading clock `C`.
type KeyedLimiter<C> = RateLimiter<IpKey, BoundedStore, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A full table is swept at most this often: a sweep visits every tracked address, so doing it
/// for each request of a flood from ever-new addresses would slow down every other request.
const SWEEP_WHEN_FULL_EVERY: Duration = Duration::from_secs(1);
/// Any table is swept this often, so the memory of a past flood is given back.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// IPv4 addresses as they are; IPv6 by /64 (one host usually holds a whole /64); unknown peers
/// (tests, unix sockets) share one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    Ip(IpAddr),
    Unknown,
    /// The one bucket every untracked address shares while the table is full (see
    /// [`BoundedStore`]).
    Overflow,
}

impl IpKey {
    fn of(ip: Option<IpAddr>) -> Self {
        match ip {
            Some(IpAddr::V6(v6)) => {
                let mask = u128::MAX << 64;
                Self::Ip(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)))
            }
            Some(v4) => Self::Ip(v4),
            None => Self::Unknown,
        }
    }
}

/// governor's keyed store (a locked map) with a cap on the addresses it remembers. While it is full
/// (every entry still within its refill time, so a sweep frees nothing), the addresses it does
/// not track share one overflow budget: memory stays bounded whatever the traffic, a flood from
/// ever-new addresses cannot buy unlimited password guesses by filling the table first (it
/// fails closed, with 429 and Retry-After, until the table has room again), and an address that
/// spent its budget stays refused, since tracked entries are only dropped once their budget has
/// refilled.
struct BoundedStore {
    tracked: HashMapStateStore<IpKey>,
    capacity: usize,
}

impl StateStore for BoundedStore {
    type Key = IpKey;

    fn measure_and_replace<T, F, E>(&self, key: &IpKey, decide: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let full = {
            let tracked = self.tracked.lock();
            !tracked.contains_key(key) && tracked.len() >= self.capacity
        };
        // The lock is not held across the store's own, which takes it again: requests racing
        // here can pass the cap by at most their number (and the overflow bucket is one more).
        let key = if full { &IpKey::Overflow } else { key };
        self.tracked.measure_and_replace(key, decide)
    }
}

impl ShrinkableKeyedStateStore<IpKey> for BoundedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        self.tracked.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.tracked);
    }

    fn len(&self) -> usize {
        ShrinkableKeyedStateStore::len(&self.tracked)
    }

    fn is_empty(&self) -> bool {
        ShrinkableKeyedStateStore::is_empty(&self.tracked)
    }
}

impl IpLimiter {
    /// A limiter on the monotonic clock (`std::time::Instant`).
    pub(crate) fn new(rule: IpRateLimit) -> Self {
        Self::with_clock(rule, DefaultClock::default())
    }
}

impl<C: Clock> IpLimiter<C> {
    fn with_clock(rule: IpRateLimit, clock: C) -> Self {
        let capacity = rule.max_tracked_ips.max(1);
        let last_sweep = Mutex::new(clock.now());
        let limiter = NonZeroU32::new(rule.per_minute).map(|per_minute| {
            let burst = NonZeroU32::new(rule.burst).unwrap_or(NonZeroU32::MIN);
            let store = BoundedStore { tracked: HashMapStateStore::default(), capacity };
            RateLimiter::new(Quota::per_minute(per_minute).allow_burst(burst), store, clock)
        });
        Self { limiter, capacity, last_sweep }
    }

    /// Takes one request from `ip`'s budget, or says how long until it has one again.
    pub(crate) fn check(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        // Sweep first, so an address that arrives when a sweep makes room is remembered.
        self.sweep_if_due(limiter);
        limiter.check_key(&IpKey::of(ip)).map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Drops the addresses whose budget has refilled (they are the same as untracked ones) and
    /// gives the memory back: when the table is full, at most once a second, else once a minute.
    /// One request sweeps; the others do not wait for it.
    fn sweep_if_due(&self, limiter: &KeyedLimiter<C>) {
        let now = limiter.clock().now();
        let mut last_sweep = match self.last_sweep.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let since: Duration = now.duration_since(*last_sweep).into();
        let full = || limiter.len() >= self.capacity;
        if since >= SWEEP_EVERY || (since >= SWEEP_WHEN_FULL_EVERY && full()) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
            *last_sweep = now;
        }
    }

    /// How many addresses are tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, RateLimiter::len)
    }
}

/// 429 `throttled` for the per-IP limit.
pub(crate) fn ip_throttled(retry_after: Duration, request_id: &str) -> ApiError {
    let retry_after = jiff::SignedDuration::try_from(retry_after).unwrap_or(jiff::SignedDuration::from_secs(60));
    let mut error = ApiError::throttled(retry_after, request_id);
    if let ApiError::Client(_, poem_openapi::payload::Json(problem), ..) = &mut error {
        problem.detail = Some("too many requests from this address; retry later".to_owned());
    }
    error
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limiter_on_a_fake_clock(
        per_minute: u32,
        burst: u32,
        max_tracked_ips: usize,
    ) -> (IpLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (IpLimiter::with_clock(IpRateLimit { per_minute, burst, max_tracked_ips }, clock.clone()), clock)
    }

    fn nth_address(n: u32) -> Option<IpAddr> {
        Some(IpAddr::from(n.to_be_bytes()))
    }

    #[test]
    fn the_limiter_allows_a_burst_then_refills() {
        let (limiter, clock) = limiter_on_a_fake_clock(60, 3, 100);
        let ip = Some(IpAddr::from([192, 0, 2, 1]));
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let wait = limiter.check(ip).err();
        assert!(wait.is_some_and(|w| w <= Duration::from_secs(1) && w > Duration::ZERO), "{wait:?}");
        // Another address has its own bucket.
        assert!(limiter.check(Some(IpAddr::from([192, 0, 2, 2]))).is_ok());
        // One request per second comes back.
        clock.advance(Duration::from_secs(1));
        assert!(limiter.check(ip).is_ok());
        assert!(limiter.check(ip).is_err());
    }

    #[test]
    fn a_zero_rate_turns_the_limit_off() {
        let (limiter, _clock) = limiter_on_a_fake_clock(0, 1, 100);
        for _ in 0..1000 {
            assert!(limiter.check(nth_address(1)).is_ok());
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn a_flood_from_new_addresses_stays_bounded_and_the_repeat_offender_stays_refused() {
        let (limiter, clock) = limiter_on_a_fake_clock(1, 3, 100);
        let offender = Some(IpAddr::from([198, 51, 100, 7]));
        for _ in 0..3 {
            assert!(limiter.check(offender).is_ok());
        }
        assert!(limiter.check(offender).is_err());
        // Ten thousand new addresses over ten seconds: the first hundred are tracked; then the
        // table is full and the rest share one overflow budget, which a burst uses up, so the
        // flood is refused instead of guessing without limit. The table never grows past its cap
        // (and the overflow bucket), and the sweeps of the full table keep the offender.
        let mut let_through = 0;
        for n in 0..10_000_u32 {
            clock.advance(Duration::from_millis(1));
            if limiter.check(nth_address(n)).is_ok() {
                let_through += 1;
            }
            assert!(limiter.tracked() <= 101, "{} addresses tracked", limiter.tracked());
            if n % 500 == 0 {
                assert!(limiter.check(offender).is_err(), "the offender got a fresh budget during the flood");
            }
        }
        // 99 tracked addresses (the offender is the hundredth) and the overflow's burst of 3.
        assert_eq!(let_through, 99 + 3, "untracked addresses share one budget while the table is full");
        // Once the flood's budgets have refilled, a sweep forgets them, and a new address is
        // tracked (so limited) again.
        clock.advance(Duration::from_secs(180));
        let newcomer = nth_address(1_000_000);
        for _ in 0..3 {
            assert!(limiter.check(newcomer).is_ok());
        }
        // The newcomer, and at most the offender and the overflow bucket: the flood is forgotten.
        assert!(limiter.tracked() <= 3, "{} addresses tracked", limiter.tracked());
        assert!(limiter.check(newcomer).is_err());
    }

    #[test]
    fn ipv6_addresses_share_a_bucket_per_64() -> Result<(), std::net::AddrParseError> {
        let a: IpAddr = "2001:db8:1:2::1".parse()?;
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse()?;
        let c: IpAddr = "2001:db8:1:3::1".parse()?;
        assert_eq!(IpKey::of(Some(a)), IpKey::of(Some(b)));
        assert_ne!(IpKey::of(Some(a)), IpKey::of(Some(c)));
        Ok(())
    }
}
