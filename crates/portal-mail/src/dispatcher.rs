//! The outbox dispatcher: claims due rows, renders and sends them, and records the outcome.
//!
//! Every claimed row ends an attempt in exactly one of three places: sent (and purged by the
//! store), pending again with a later `next_attempt_at` (transient failure), or failed with a
//! typed [`portal_core::DeliveryProblem`] (permanent failure; too many attempts, with the count
//! and the last problem; practice gone; link expired; not renderable). A row the
//! dispatcher cannot finish safely (its lease is nearly over, the store failed, shutdown) is
//! left alone: its lease lapses and it is claimed again. Nothing is dropped.
//!
//! A message that went out is recorded as sent even through a store outage: the dispatcher
//! keeps trying (with growing pauses) for as long as its lease holds, because a row still
//! pending when the lease lapses is claimed and sent again. Only a shutdown, or an outage
//! longer than the lease, leaves the row to be sent a second time (with the same Message-ID).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portal_core::{
    ClaimedMail, ClientDirectory, Clock, DeliveryCause, DeliveryProblem, Directory, LinkKey, MailOutbox, MailTransport,
    Randomness, StoreError, TransportError,
};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::{ConfigError, Renderer};

/// The first pause before trying again to record a delivered message as sent; it doubles up to
/// [`RECORD_PAUSE_MAX`].
const RECORD_PAUSE_FIRST: Duration = Duration::from_millis(100);

/// The longest pause between two tries to record a delivered message as sent.
const RECORD_PAUSE_MAX: Duration = Duration::from_secs(2);

/// Tries to record a sent message after a shutdown was asked for: a few, then the row is left
/// (the process is going away; the lease decides).
const RECORD_TRIES_WHEN_STOPPING: u32 = 3;

/// Tuning of the dispatcher. [`Default`] suits a small practice server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// Rows claimed per round.
    pub batch_size: u32,
    /// How long a claim holds. MUST exceed `send_timeout`, so a row being sent is never taken
    /// by another dispatcher.
    pub lease: SignedDuration,
    /// Longest time one send may take before it counts as a transient failure.
    pub send_timeout: Duration,
    /// Fallback polling period when nobody calls [`MailWaker::wake`].
    pub poll_interval: Duration,
    /// After this many failed attempts a row is marked failed.
    pub max_attempts: u32,
    /// Delay after the first transient failure; doubled after each further one.
    pub base_backoff: SignedDuration,
    /// Longest delay between attempts (before jitter).
    pub max_backoff: SignedDuration,
    /// Random spread of each delay, in percent either way (0–50).
    pub jitter_percent: u8,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 20,
            lease: SignedDuration::from_mins(5),
            send_timeout: Duration::from_secs(90),
            poll_interval: Duration::from_secs(30),
            // 30 s, 1, 2, 4, … 32 min, then hourly: about 53 hours of trying, longer than the
            // 48-hour links (a link mail fails as "expired" first) and a weekend-length outage.
            max_attempts: 60,
            base_backoff: SignedDuration::from_secs(30),
            max_backoff: SignedDuration::from_hours(1),
            jitter_percent: 20,
        }
    }
}

impl DispatcherConfig {
    /// Checks the settings against each other.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first inconsistent setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |why: &str| Err(ConfigError::new("dispatcher", why.to_owned()));
        let send_timeout = SignedDuration::try_from(self.send_timeout).unwrap_or(SignedDuration::MAX);
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1");
        }
        if self.send_timeout.is_zero() || self.lease <= send_timeout {
            return bad("lease must be longer than a non-zero send_timeout");
        }
        if self.poll_interval.is_zero() {
            return bad("poll_interval must be positive");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if !self.base_backoff.is_positive() || self.max_backoff < self.base_backoff {
            return bad("backoff must be positive, and max_backoff at least base_backoff");
        }
        if self.jitter_percent > 50 {
            return bad("jitter_percent must be at most 50");
        }
        Ok(())
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Rows claimed.
    pub claimed: usize,
    /// Delivered and marked sent.
    pub sent: usize,
    /// Failed transiently, released for a later attempt.
    pub retried: usize,
    /// Marked failed with a reason.
    pub failed: usize,
    /// Left alone to be claimed again after the lease (store failure, lease nearly over,
    /// shutdown).
    pub deferred: usize,
}

enum Outcome {
    Sent,
    Retried,
    Failed,
    Deferred,
}

/// Delivers the outbox. Build it, then either [`spawn`](Self::spawn) it as a background task or
/// call [`run_once`](Self::run_once) (tests, a CLI "flush").
///
/// Generic over the ports like the core's service; `Arc<T>` implements every port, so the
/// server shares one store between both.
///
/// ```
/// use portal_core::testing::{InMemoryStore, RecordingTransport};
/// use portal_core::{LinkKey, OsRandom, SystemClock};
/// use portal_mail::{Dispatcher, DispatcherConfig, MailFrom, Renderer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new(); // the server passes its SeaOrmStore (or an Arc of it)
/// let renderer = Renderer::new("https://portal.example.org", MailFrom::parse("no-reply@example.org")?)?;
/// let dispatcher = Dispatcher::new(
///     store.clone(),
///     store.clone(), // the client directory: an EHR passes its own
///     RecordingTransport::new(), // SmtpTransport or FileTransport in the server
///     SystemClock,
///     OsRandom,
///     renderer,
///     LinkKey::from_bytes([7; 32]), // the service's key
///     DispatcherConfig::default(),
/// )?;
/// let handle = dispatcher.spawn();
/// let waker = handle.waker(); // call waker.wake() after a commit that queued mail
/// waker.wake();
/// handle.shutdown().await; // on SIGTERM
/// # Ok(())
/// # }
/// ```
pub struct Dispatcher<S, D, T, C, R> {
    store: S,
    directory: D,
    transport: T,
    clock: C,
    random: R,
    renderer: Renderer,
    link_key: Arc<LinkKey>,
    config: DispatcherConfig,
}

impl<S, D, T, C, R> std::fmt::Debug for Dispatcher<S, D, T, C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("renderer", &self.renderer)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, D, T, C, R> Dispatcher<S, D, T, C, R>
where
    S: MailOutbox + Directory,
    D: ClientDirectory,
    T: MailTransport,
    C: Clock,
    R: Randomness,
{
    /// Wires the dispatcher. `store` holds the outbox and the practices; `directory` is the
    /// host's client records, read when each mail is rendered (the greeting and the language
    /// are the client's current ones). `random` only spreads retry times (jitter). `link_key`
    /// is the service's key (a `LinkKey` or an `Arc<LinkKey>`): links are re-derived with it.
    ///
    /// # Errors
    /// [`ConfigError`] when `config` fails [`DispatcherConfig::validate`].
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a distinct port or setting; a builder would only rename them"
    )]
    pub fn new(
        store: S,
        directory: D,
        transport: T,
        clock: C,
        random: R,
        renderer: Renderer,
        link_key: impl Into<Arc<LinkKey>>,
        config: DispatcherConfig,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self { store, directory, transport, clock, random, renderer, link_key: link_key.into(), config })
    }

    /// The configuration.
    pub fn config(&self) -> &DispatcherConfig {
        &self.config
    }

    /// The delay before the next attempt after a transient failure of an attempt that had
    /// `attempts_before` attempts before it: `base × 2^attempts_before`, capped at
    /// `max_backoff`, spread by ± `jitter_percent`.
    pub fn backoff(&self, attempts_before: u32) -> SignedDuration {
        let config = &self.config;
        let factor = 1i32 << attempts_before.min(30);
        let delay = config.base_backoff.checked_mul(factor).map_or(config.max_backoff, |d| d.min(config.max_backoff));
        let mut bytes = [0u8; 8];
        // Jitter only spreads load; without randomness the plain delay is still correct.
        if config.jitter_percent == 0 || self.random.fill(&mut bytes).is_err() {
            return delay;
        }
        // A uniform value in [-1, 1), scaled to the jitter.
        let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let spread = unit * f64::from(config.jitter_percent) / 100.0;
        delay.mul_f64(1.0 + spread).max(SignedDuration::from_secs(1))
    }

    /// Claims one batch of due rows and delivers them. Returns what happened.
    ///
    /// # Errors
    /// Only when the claim itself fails; per-row store failures are logged and the row is
    /// deferred.
    pub async fn run_once(&self) -> Result<DispatchReport, StoreError> {
        self.round(None).await
    }

    async fn round(&self, stop: Option<&watch::Receiver<bool>>) -> Result<DispatchReport, StoreError> {
        let now = self.clock.now();
        let claimed = self.store.claim_due(now, self.config.lease, self.config.batch_size).await?;
        let mut report = DispatchReport { claimed: claimed.len(), ..DispatchReport::default() };
        for row in claimed {
            let outcome = if stop.is_some_and(|stop| *stop.borrow()) {
                tracing::debug!(mail_id = %row.mail.id, "shutting down; the row is left for its lease to lapse");
                Outcome::Deferred
            } else {
                self.deliver(row, stop).await
            };
            match outcome {
                Outcome::Sent => report.sent += 1,
                Outcome::Retried => report.retried += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Deferred => report.deferred += 1,
            }
        }
        Ok(report)
    }

    async fn deliver(&self, row: ClaimedMail, stop: Option<&watch::Receiver<bool>>) -> Outcome {
        let ClaimedMail { mail, attempts, lease_until } = row;
        let id = mail.id;
        let kind = mail.kind.name();
        let now = self.clock.now();
        let send_timeout = SignedDuration::try_from(self.config.send_timeout).unwrap_or(SignedDuration::MAX);
        if now.checked_add(send_timeout).map_or(true, |done_by| done_by >= lease_until) {
            tracing::debug!(mail_id = %id, kind, "the lease is too short to finish a send; leaving the row");
            return Outcome::Deferred;
        }
        let practice = match self.store.practice(mail.practice_id).await {
            Ok(Some(practice)) => practice,
            Ok(None) => {
                let gone = DeliveryProblem::new(DeliveryCause::PracticeGone, "the practice no longer exists");
                return self.fail(id, kind, &gone, None).await;
            }
            Err(error) => {
                tracing::warn!(mail_id = %id, kind, error = %error, "cannot read the practice; will try again");
                return Outcome::Deferred;
            }
        };
        if let Some(expires_at) = mail.kind.link_expires_at()
            && now >= expires_at
        {
            let expired =
                DeliveryProblem::new(DeliveryCause::LinkExpired, "the link expired before the mail could be delivered");
            return self.fail(id, kind, &expired, None).await;
        }
        let client = match self.directory.client(mail.practice_id, &mail.client_id).await {
            Ok(Some(client)) => client,
            Ok(None) => {
                let gone = DeliveryProblem::new(
                    DeliveryCause::ClientGone,
                    "the client is no longer in the practice's records",
                );
                return self.fail(id, kind, &gone, None).await;
            }
            Err(error) => {
                tracing::warn!(mail_id = %id, kind, error = %error, "cannot read the client record; will try again");
                return Outcome::Deferred;
            }
        };
        let email = match self.renderer.render(&mail, &practice, &client, &self.link_key) {
            Ok(email) => email,
            Err(error) => {
                let not_built = DeliveryProblem::new(DeliveryCause::NotBuilt, error.to_string());
                return self.fail(id, kind, &not_built, None).await;
            }
        };
        let result =
            tokio::time::timeout(self.config.send_timeout, self.transport.send(&email)).await.unwrap_or_else(|_| {
                Err(TransportError::Transient(DeliveryProblem::new(DeliveryCause::TimedOut, "the send timed out")))
            });
        drop(email);
        match result {
            Ok(()) => self.sent(id, kind, lease_until, stop).await,
            Err(TransportError::Permanent(problem)) => self.fail(id, kind, &problem, None).await,
            Err(TransportError::Transient(problem)) => {
                let made = attempts.saturating_add(1);
                if made >= self.config.max_attempts {
                    return self.fail(id, kind, &problem, Some(made)).await;
                }
                let delay = self.backoff(attempts);
                let next = self.clock.now().checked_add(delay).unwrap_or(Timestamp::MAX);
                tracing::warn!(
                    mail_id = %id, kind, attempt = made, retry_at = %next, cause = %problem.cause, error = %problem.detail,
                    "delivery failed; will retry"
                );
                if let Err(store_error) = self.store.retry_later(id, next, &problem).await {
                    tracing::error!(mail_id = %id, error = %store_error, "cannot record the retry; the lease will lapse instead");
                }
                Outcome::Retried
            }
        }
    }

    /// Records a delivered message. The message is out, so recording it matters: a row still
    /// pending when its lease lapses is sent again. A failing store (an outage, a database that
    /// stopped answering) is tried again with growing pauses for as long as the lease holds,
    /// or a few times once a shutdown was asked for.
    async fn sent(
        &self,
        id: portal_core::MailId,
        kind: &'static str,
        lease_until: Timestamp,
        stop: Option<&watch::Receiver<bool>>,
    ) -> Outcome {
        let mut pause = RECORD_PAUSE_FIRST;
        let mut tries = 0u32;
        loop {
            tries += 1;
            let error = match self.store.mark_sent(id, self.clock.now()).await {
                Ok(()) => {
                    if tries > 1 {
                        tracing::info!(mail_id = %id, kind, tries, "mail delivered; recorded once the store answered");
                    } else {
                        tracing::info!(mail_id = %id, kind, "mail delivered");
                    }
                    return Outcome::Sent;
                }
                Err(error) => error,
            };
            let stopping = stop.is_some_and(|stop| *stop.borrow());
            let lease_over = self.clock.now() >= lease_until;
            if lease_over || (stopping && tries >= RECORD_TRIES_WHEN_STOPPING) {
                tracing::error!(
                    mail_id = %id, kind, tries, error = %error,
                    "delivered but cannot mark it sent before {}; it may be sent again",
                    if lease_over { "its lease ended" } else { "the shutdown" },
                );
                return Outcome::Sent;
            }
            tracing::warn!(mail_id = %id, kind, tries, error = %error, "delivered but cannot mark it sent yet; retrying");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RECORD_PAUSE_MAX);
        }
    }

    /// Gives a row up: `gave_up_after` is the attempts made when temporary failures ran out
    /// the allowed attempts, `None` when the failure itself was final.
    async fn fail(
        &self,
        id: portal_core::MailId,
        kind: &'static str,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Outcome {
        tracing::warn!(
            mail_id = %id, kind, cause = %problem.cause, reason = %problem.detail, gave_up_after,
            "mail failed permanently"
        );
        if let Err(error) = self.store.mark_failed(id, self.clock.now(), problem, gave_up_after).await {
            tracing::error!(mail_id = %id, error = %error, "cannot mark the mail failed; the lease will lapse instead");
        }
        Outcome::Failed
    }
}

impl<S, D, T, C, R> Dispatcher<S, D, T, C, R>
where
    S: MailOutbox + Directory,
    D: ClientDirectory,
    T: MailTransport,
    C: Clock,
    R: Randomness,
{
    /// Starts the dispatcher as a tokio task: a round at once, then a round whenever woken or
    /// every `poll_interval`, and straight away again after a full batch. Must be called inside
    /// a tokio runtime.
    pub fn spawn(self) -> DispatcherHandle {
        let notify = Arc::new(Notify::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(self.run(Arc::clone(&notify), stop_rx));
        DispatcherHandle { waker: MailWaker(notify), stop: stop_tx, task }
    }

    async fn run(self, notify: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        tracing::info!(poll_interval = ?self.config.poll_interval, "mail dispatcher started");
        loop {
            if *stop.borrow() {
                break;
            }
            let again = match self.round(Some(&stop)).await {
                Ok(report) => {
                    if report.claimed > 0 {
                        tracing::debug!(?report, "dispatch round");
                    }
                    report.claimed >= usize::try_from(self.config.batch_size).unwrap_or(usize::MAX)
                        && report.deferred == 0
                }
                Err(error) => {
                    tracing::warn!(error = %error, "cannot claim outbox rows; will try again");
                    false
                }
            };
            if again {
                continue;
            }
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
                changed = stop.changed() => {
                    // A dropped handle counts as a shutdown.
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::info!("mail dispatcher stopped");
    }
}

/// Wakes a running dispatcher (cheap to clone; give one to whatever queues mail).
#[derive(Debug, Clone)]
pub struct MailWaker(Arc<Notify>);

impl MailWaker {
    /// Asks for a round now. Wakes sent while a round runs are remembered, so a row committed
    /// during a round is picked up right after it.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Controls a spawned dispatcher. Dropping it stops the dispatcher after the current delivery,
/// without waiting.
#[derive(Debug)]
pub struct DispatcherHandle {
    waker: MailWaker,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl DispatcherHandle {
    /// Asks for a round now (see [`MailWaker::wake`]).
    pub fn wake(&self) {
        self.waker.wake();
    }

    /// A waker to hand to whatever queues mail.
    #[must_use]
    pub fn waker(&self) -> MailWaker {
        self.waker.clone()
    }

    /// Stops the dispatcher: the delivery in progress finishes and is recorded, rows claimed but
    /// not yet started are left to their lease, then this returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "the mail dispatcher task failed");
        }
    }
}
