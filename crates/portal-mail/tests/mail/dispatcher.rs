//! The dispatcher over the in-memory store, with a recording transport and a manual clock.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use portal_core::testing::{InMemoryStore, RecordingTransport};
use portal_core::{AccountPanel, AuditEvent, ClientId, ClientListQuery, ClientPage, Language};
use portal_core::{
    ClaimedMail, Client, DeliveryCause, DeliveryProblem, DeliveryState, Directory, LinkKey, MailId, MailOutbox,
    MailTransport, Password, PortalAccount, Practice, PracticeId, PracticeSlug, RenderedEmail, RequestContext,
    StaffMember, StoreError, TokenHash, TokenId, TokenPurpose, TransportError,
};
use portal_mail::{DispatchReport, Dispatcher, DispatcherConfig};
use tokio::sync::Notify;

use crate::helpers::{KEY, T0, TestResult, World, renderer, token_in};

fn report(claimed: usize, sent: usize, retried: usize, failed: usize) -> DispatchReport {
    DispatchReport { claimed, sent, retried, failed, deferred: 0 }
}

#[tokio::test]
async fn a_queued_invitation_is_sent_once_marked_sent_and_purged_and_its_link_works() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    let sent = world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    let dispatcher = world.dispatcher(transport.clone());

    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    assert_eq!(dispatcher.run_once().await?, report(0, 0, 0, 0));

    let emails = transport.sent();
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(email.to, "ada@example.org");
    assert_eq!(email.from_address, "no-reply@example.org");
    let (mail, state) = &world.outbox()[0];
    assert_eq!(*state, DeliveryState::Sent { at: T0 });
    assert_eq!(email.message_id, format!("{}@example.org", mail.id));
    assert_eq!(mail.to.as_str(), "purged@purged.invalid", "the recipient is purged once sent");
    assert_eq!(world.store.delivery_for_token(sent.token_id).await?, Some(DeliveryState::Sent { at: T0 }));

    // The link is the one the core expects: right purpose, right token, accepted by the service.
    let token = token_in(&email.text, "invitation").expect("a link in the text part");
    assert_eq!(token_in(&email.html, "invitation").as_deref(), Some(token.as_str()));
    let key = LinkKey::from_bytes(KEY);
    assert_eq!(key.verify(TokenPurpose::Invite, &token)?.id(), sent.token_id);
    assert!(key.verify(TokenPurpose::Reset, &token).is_err());
    assert_eq!(world.service.verify_invite(&token).await?.expires_at, sent.expires_at);
    Ok(())
}

#[tokio::test]
async fn a_transient_failure_retries_later_with_growing_backoff_then_succeeds_exactly_once() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    transport.fail_next_transient(3);
    let dispatcher = world.dispatcher(transport.clone());

    let mut previous_delay = SignedDuration::ZERO;
    for attempt in 1..=3u32 {
        let now = world.clock.now();
        assert_eq!(dispatcher.run_once().await?, report(1, 0, 1, 0), "attempt {attempt}");
        let DeliveryState::Pending { attempts, next_attempt_at, last_problem } = world.state_of(0) else {
            panic!("still pending after a transient failure");
        };
        assert_eq!(attempts, attempt);
        assert_eq!(last_problem, Some(DeliveryProblem::new(DeliveryCause::Other, "simulated temporary failure")));
        // 30 s × 2^(attempt-1), ± 20 % jitter.
        let delay = next_attempt_at.duration_since(now);
        let nominal = SignedDuration::from_secs(30 * (1 << (attempt - 1)));
        assert!(delay >= nominal.mul_f64(0.8) && delay <= nominal.mul_f64(1.2), "{delay:?} vs {nominal:?}");
        assert!(delay > previous_delay, "the backoff grows");
        previous_delay = delay;

        // Not due before its time.
        world.clock.set(next_attempt_at - SignedDuration::from_secs(1));
        assert_eq!(dispatcher.run_once().await?, report(0, 0, 0, 0));
        world.clock.set(next_attempt_at);
    }
    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    assert_eq!(dispatcher.run_once().await?, report(0, 0, 0, 0));
    assert_eq!(transport.sent().len(), 1, "delivered exactly once");
    assert_eq!(transport.attempts(), 4);
    assert!(matches!(world.state_of(0), DeliveryState::Sent { .. }));
    Ok(())
}

#[tokio::test]
async fn a_permanent_failure_marks_the_row_failed_with_the_reason_and_it_is_never_retried() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    let sent = world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    transport.fail_next_permanent(1);
    let dispatcher = world.dispatcher(transport.clone());

    assert_eq!(dispatcher.run_once().await?, report(1, 0, 0, 1));
    let failed = DeliveryState::Failed {
        at: T0,
        problem: DeliveryProblem::new(DeliveryCause::Other, "simulated permanent failure"),
        gave_up_after: None,
    };
    assert_eq!(world.state_of(0), failed);
    assert_eq!(world.store.delivery_for_token(sent.token_id).await?, Some(failed));
    world.advance(SignedDuration::from_hours(2));
    assert_eq!(dispatcher.run_once().await?, report(0, 0, 0, 0));
    assert_eq!(transport.attempts(), 1);
    Ok(())
}

#[tokio::test]
async fn after_the_last_allowed_attempt_a_transient_failure_becomes_failed_with_the_last_error() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    transport.fail_next_transient(5);
    let dispatcher =
        world.dispatcher_with(transport.clone(), DispatcherConfig { max_attempts: 2, ..Default::default() });

    assert_eq!(dispatcher.run_once().await?, report(1, 0, 1, 0));
    world.advance(SignedDuration::from_mins(5));
    assert_eq!(dispatcher.run_once().await?, report(1, 0, 0, 1));
    let DeliveryState::Failed { problem, gave_up_after, .. } = world.state_of(0) else {
        panic!("failed after two attempts")
    };
    assert_eq!(gave_up_after, Some(2), "the attempts made, as a number");
    assert_eq!(problem, DeliveryProblem::new(DeliveryCause::Other, "simulated temporary failure"), "the last error");
    Ok(())
}

#[tokio::test]
async fn a_link_that_expired_before_it_could_be_delivered_is_failed_not_sent() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    world.advance(SignedDuration::from_hours(48));
    let transport = RecordingTransport::new();
    assert_eq!(world.dispatcher(transport.clone()).run_once().await?, report(1, 0, 0, 1));
    assert!(matches!(
        world.state_of(0),
        DeliveryState::Failed { problem, gave_up_after: None, .. }
            if problem.cause == DeliveryCause::LinkExpired && problem.detail.contains("expired")
    ));
    assert_eq!(transport.attempts(), 0);
    Ok(())
}

/// The world's practice with 24-hour invitation reminders on.
async fn reminding(world: &World) -> TestResult {
    let change = portal_core::service::PracticeChange {
        invitation_reminder_hours: Some(Some(24)),
        ..portal_core::service::PracticeChange::default()
    };
    world.service.update_practice(&world.staff, change).await?;
    Ok(())
}

#[tokio::test]
async fn a_due_reminder_is_delivered_with_the_invitations_own_link() -> TestResult {
    let world = World::new().await?;
    reminding(&world).await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    let sent = world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    let dispatcher = world.dispatcher(transport.clone());
    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    world.advance(SignedDuration::from_hours(24));
    assert_eq!(world.service.queue_due_reminders(10).await?.queued, 1);
    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));

    let emails = transport.sent();
    let invitation = token_in(&emails[0].text, "invitation").expect("the invitation's link");
    let reminder = token_in(&emails[1].text, "invitation").expect("the reminder's link");
    assert_eq!(reminder, invitation, "the same link: no new token");
    assert_eq!(emails[1].subject, "Reminder: your account invitation");
    assert!(emails[1].text.contains("(in 24 hours)"), "{}", emails[1].text);
    assert_eq!(world.service.verify_invite(&reminder).await?.expires_at, sent.expires_at);
    Ok(())
}

#[tokio::test]
async fn a_reminder_whose_link_expired_before_delivery_is_failed_not_sent() -> TestResult {
    let world = World::new().await?;
    reminding(&world).await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    assert_eq!(world.dispatcher(transport.clone()).run_once().await?, report(1, 1, 0, 0));
    world.advance(SignedDuration::from_hours(47));
    assert_eq!(world.service.queue_due_reminders(10).await?.queued, 1);
    world.advance(SignedDuration::from_hours(1));
    assert_eq!(world.dispatcher(transport.clone()).run_once().await?, report(1, 0, 0, 1));
    assert!(matches!(
        world.state_of(1),
        DeliveryState::Failed { problem, gave_up_after: None, .. } if problem.cause == DeliveryCause::LinkExpired
    ));
    assert_eq!(transport.attempts(), 1, "only the invitation went out");
    Ok(())
}

#[tokio::test]
async fn the_reset_mail_never_names_the_username_and_its_link_completes_the_reset() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    let dispatcher = world.dispatcher(transport.clone());
    dispatcher.run_once().await?;
    let invite = token_in(&transport.sent()[0].text, "invitation").expect("an invitation link");
    let username = "zebra.quokka";
    world.register(&invite, username).await?;

    world.advance(SignedDuration::from_hours(1));
    let reset = world.service.send_reset(&world.staff, &ada).await?;
    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    let email = transport.sent()[1].clone();
    for part in [&email.subject, &email.text, &email.html, &email.from_name] {
        assert!(!part.to_lowercase().contains(username), "the reset mail names the username: {part}");
        assert!(!part.contains("zebra") && !part.contains("quokka"));
    }
    let token = token_in(&email.text, "password-reset").expect("a reset link");
    assert_eq!(LinkKey::from_bytes(KEY).verify(TokenPurpose::Reset, &token)?.id(), reset.token_id);
    assert!(token_in(&email.text, "invitation").is_none());

    // Completing the reset queues "your password was changed", which carries no link at all.
    let password = Password::new("another long passphrase, quite new");
    world.service.complete_reset(&token, &password, &RequestContext::default()).await?;
    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    let notice = transport.sent()[2].clone();
    assert_eq!(notice.subject, "Your account password was changed");
    assert!(!notice.text.contains("token=") && !notice.html.contains("token="));
    assert!(notice.text.contains("was changed on Friday 15 January 2027, 03:00 (America/Chicago)"), "{}", notice.text);
    Ok(())
}

#[test]
fn backoff_doubles_from_30_seconds_caps_at_an_hour_and_jitters_within_20_percent() {
    let world = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(World::new()).unwrap();
    let dispatcher = world.dispatcher(RecordingTransport::new());
    for attempts in 0..40u32 {
        let nominal = SignedDuration::from_secs(30 * (1i64 << attempts.min(20))).min(SignedDuration::from_hours(1));
        for _ in 0..20 {
            let delay = dispatcher.backoff(attempts);
            assert!(delay >= nominal.mul_f64(0.8) && delay <= nominal.mul_f64(1.2), "{attempts}: {delay:?}");
        }
    }
    let exact =
        world.dispatcher_with(RecordingTransport::new(), DispatcherConfig { jitter_percent: 0, ..Default::default() });
    assert_eq!(exact.backoff(0), SignedDuration::from_secs(30));
    assert_eq!(exact.backoff(3), SignedDuration::from_secs(240));
    assert_eq!(exact.backoff(31), SignedDuration::from_hours(1));
}

#[test]
fn inconsistent_settings_are_refused() {
    let world = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(World::new()).unwrap();
    for config in [
        DispatcherConfig {
            lease: SignedDuration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        DispatcherConfig { batch_size: 0, ..Default::default() },
        DispatcherConfig { max_attempts: 0, ..Default::default() },
        DispatcherConfig { jitter_percent: 60, ..Default::default() },
        DispatcherConfig { max_backoff: SignedDuration::from_secs(1), ..Default::default() },
    ] {
        let result = Dispatcher::new(
            world.store.clone(),
            world.store.clone(),
            RecordingTransport::new(),
            Arc::clone(&world.clock),
            portal_core::testing::SeededRandom::new(3),
            renderer(),
            LinkKey::from_bytes(KEY),
            config.clone(),
        );
        assert!(result.is_err(), "{config:?}");
    }
}

// ------------------------------------------------------------------------ a vanished practice

/// The in-memory store, except that it has forgotten every practice.
struct ForgetfulStore(InMemoryStore);

#[async_trait]
impl MailOutbox for ForgetfulStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        self.0.claim_due(now, lease, limit).await
    }
    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        self.0.mark_sent(id, at).await
    }
    async fn retry_later(&self, id: MailId, next: Timestamp, problem: &DeliveryProblem) -> Result<(), StoreError> {
        self.0.retry_later(id, next, problem).await
    }
    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        self.0.mark_failed(id, at, problem, gave_up_after).await
    }
    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        self.0.delivery_for_token(token).await
    }
    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.0.pending_count().await
    }
}

#[async_trait]
impl Directory for ForgetfulStore {
    async fn create_practice(&self, p: &Practice, s: &StaffMember, k: &TokenHash) -> Result<(), StoreError> {
        self.0.create_practice(p, s, k).await
    }
    async fn practice_by_slug(&self, _: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        Ok(None)
    }
    async fn practice(&self, _: PracticeId) -> Result<Option<Practice>, StoreError> {
        Ok(None)
    }
    async fn update_practice(&self, _: &Practice, _: &AuditEvent) -> Result<(), StoreError> {
        Err(StoreError::NotFound("practice"))
    }
    async fn practice_count(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn create_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.0.create_client(c, a).await
    }
    async fn import_clients(&self, c: &[Client], a: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.import_clients(c, a).await
    }
    async fn update_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.0.update_client(c, a).await
    }
    async fn list_clients(
        &self,
        p: PracticeId,
        q: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        self.0.list_clients(p, q, now).await
    }
    async fn client_panel(&self, p: PracticeId, id: &ClientId) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        self.0.client_panel(p, id).await
    }
}

#[tokio::test]
async fn mail_of_a_practice_that_no_longer_exists_is_failed_with_a_reason() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    let transport = RecordingTransport::new();
    let dispatcher = Dispatcher::new(
        ForgetfulStore(world.store.clone()),
        world.store.clone(),
        transport.clone(),
        Arc::clone(&world.clock),
        portal_core::testing::SeededRandom::new(3),
        renderer(),
        LinkKey::from_bytes(KEY),
        DispatcherConfig::default(),
    )?;
    assert_eq!(dispatcher.run_once().await?, report(1, 0, 0, 1));
    let gone = DeliveryProblem::new(DeliveryCause::PracticeGone, "the practice no longer exists");
    assert_eq!(world.state_of(0), DeliveryState::Failed { at: T0, problem: gone, gave_up_after: None });
    assert_eq!(transport.attempts(), 0);
    Ok(())
}

// ------------------------------------------------------------- recording through an outage

/// The in-memory store, except that recording a sent mail fails `failures` times (as a database
/// that stopped answering would), each failure moving the clock on by `each`.
struct SlowToRecord {
    inner: InMemoryStore,
    clock: Arc<portal_core::testing::ManualClock>,
    failures: std::sync::atomic::AtomicU32,
    each: SignedDuration,
    tries: std::sync::atomic::AtomicU32,
}

impl SlowToRecord {
    fn new(world: &World, failures: u32, each: SignedDuration) -> Self {
        Self {
            inner: world.store.clone(),
            clock: Arc::clone(&world.clock),
            failures: failures.into(),
            each,
            tries: 0.into(),
        }
    }

    fn tries(&self) -> u32 {
        self.tries.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl MailOutbox for SlowToRecord {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        self.inner.claim_due(now, lease, limit).await
    }
    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering;
        self.tries.fetch_add(1, Ordering::SeqCst);
        let failing = self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1));
        if failing.is_ok() {
            self.clock.advance(self.each);
            return Err(StoreError::Unavailable("the database did not answer within 3s".into()));
        }
        self.inner.mark_sent(id, at).await
    }
    async fn retry_later(&self, id: MailId, next: Timestamp, problem: &DeliveryProblem) -> Result<(), StoreError> {
        self.inner.retry_later(id, next, problem).await
    }
    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        self.inner.mark_failed(id, at, problem, gave_up_after).await
    }
    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        self.inner.delivery_for_token(token).await
    }
    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.inner.pending_count().await
    }
}

#[async_trait]
impl Directory for SlowToRecord {
    async fn create_practice(&self, p: &Practice, s: &StaffMember, k: &TokenHash) -> Result<(), StoreError> {
        self.inner.create_practice(p, s, k).await
    }
    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        self.inner.practice_by_slug(slug).await
    }
    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        self.inner.practice(id).await
    }
    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError> {
        self.inner.update_practice(practice, audit).await
    }
    async fn practice_count(&self) -> Result<u64, StoreError> {
        self.inner.practice_count().await
    }
    async fn create_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.inner.create_client(c, a).await
    }
    async fn import_clients(&self, c: &[Client], a: &[AuditEvent]) -> Result<(), StoreError> {
        self.inner.import_clients(c, a).await
    }
    async fn update_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.inner.update_client(c, a).await
    }
    async fn list_clients(
        &self,
        p: PracticeId,
        q: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        self.inner.list_clients(p, q, now).await
    }
    async fn client_panel(&self, p: PracticeId, id: &ClientId) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        self.inner.client_panel(p, id).await
    }
}

fn dispatcher_over(
    world: &World,
    store: Arc<SlowToRecord>,
    transport: RecordingTransport,
) -> Dispatcher<
    Arc<SlowToRecord>,
    InMemoryStore,
    RecordingTransport,
    Arc<portal_core::testing::ManualClock>,
    portal_core::testing::SeededRandom,
> {
    Dispatcher::new(
        store,
        world.store.clone(),
        transport,
        Arc::clone(&world.clock),
        portal_core::testing::SeededRandom::new(3),
        renderer(),
        LinkKey::from_bytes(KEY),
        DispatcherConfig::default(),
    )
    .expect("a valid dispatcher")
}

/// A database that stops answering between the send and its record: the dispatcher keeps
/// trying to record the send (a row still pending when its lease lapses would go out again),
/// and the mail is sent once.
#[tokio::test]
async fn a_sent_mail_is_recorded_once_the_store_answers_again_and_never_sent_twice() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    // Five failures, 30 s apart: more than a few quick retries, within the 5-minute lease.
    let store = Arc::new(SlowToRecord::new(&world, 5, SignedDuration::from_secs(30)));
    let transport = RecordingTransport::new();
    let dispatcher = dispatcher_over(&world, Arc::clone(&store), transport.clone());

    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    assert_eq!(store.tries(), 6);
    assert!(matches!(world.state_of(0), DeliveryState::Sent { .. }), "{:?}", world.state_of(0));
    world.advance(SignedDuration::from_hours(2));
    assert_eq!(dispatcher.run_once().await?, report(0, 0, 0, 0), "nothing left to send again");
    assert_eq!(transport.sent().len(), 1);
    Ok(())
}

/// Recording stops when the lease ends: from then on another dispatcher may take the row, and
/// the message may go out again (with the same Message-ID); nothing is lost.
#[tokio::test]
async fn a_store_silent_for_longer_than_the_lease_leaves_the_row_to_be_sent_again() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    // The default lease is 5 minutes; each failure takes 2.
    let store = Arc::new(SlowToRecord::new(&world, u32::MAX, SignedDuration::from_mins(2)));
    let transport = RecordingTransport::new();
    let dispatcher = dispatcher_over(&world, Arc::clone(&store), transport.clone());

    assert_eq!(dispatcher.run_once().await?, report(1, 1, 0, 0));
    assert_eq!(store.tries(), 3, "tried at 0, 2 and 4 minutes; the lease ended at 5");
    assert!(matches!(world.state_of(0), DeliveryState::Pending { .. }), "{:?}", world.state_of(0));
    Ok(())
}

// ------------------------------------------------------------------------ the background task

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_wake_delivers_promptly_even_with_a_long_poll_interval() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    let transport = RecordingTransport::new();
    let config = DispatcherConfig { poll_interval: Duration::from_secs(3600), ..Default::default() };
    let handle = world.dispatcher_with(transport.clone(), config).spawn();
    // Let the first (empty) round pass, so only the wake can explain a delivery.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(transport.attempts(), 0);

    world.invite(&ada).await?;
    handle.waker().wake();
    eventually("the woken dispatcher delivered", || transport.sent().len() == 1).await;
    handle.shutdown().await;
    assert!(matches!(world.state_of(0), DeliveryState::Sent { .. }));
    Ok(())
}

#[tokio::test]
async fn without_a_wake_polling_still_delivers() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    let transport = RecordingTransport::new();
    let config = DispatcherConfig { poll_interval: Duration::from_millis(50), ..Default::default() };
    let handle = world.dispatcher_with(transport.clone(), config).spawn();
    tokio::time::sleep(Duration::from_millis(100)).await;
    world.invite(&ada).await?;
    eventually("the polling dispatcher delivered", || transport.sent().len() == 1).await;
    handle.shutdown().await;
    Ok(())
}

/// A transport that holds each send until released.
#[derive(Clone, Default)]
struct GatedTransport {
    inner: RecordingTransport,
    started: Arc<Notify>,
    release: Arc<Notify>,
}

#[async_trait]
impl MailTransport for GatedTransport {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        self.started.notify_one();
        self.release.notified().await;
        self.inner.send(email).await
    }
}

#[tokio::test]
async fn shutdown_lets_the_delivery_in_progress_finish_and_leaves_the_rest_pending() -> TestResult {
    let world = World::new().await?;
    for (name, email) in [("Ada", "ada@example.org"), ("Grace", "grace@example.org")] {
        let client = world.client(name, email, Language::En).await?;
        world.invite(&client).await?;
    }
    let transport = GatedTransport::default();
    let handle = world.dispatcher(transport.clone()).spawn();
    transport.started.notified().await;

    let shutdown = tokio::spawn(handle.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished(), "shutdown waits for the delivery in progress");
    transport.release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), shutdown).await??;

    assert_eq!(transport.inner.sent().len(), 1);
    let states: Vec<_> = world.outbox().into_iter().map(|(_, state)| state).collect();
    assert!(matches!(states[0], DeliveryState::Sent { .. }), "{states:?}");
    assert!(matches!(states[1], DeliveryState::Pending { attempts: 0, .. }), "{states:?}");
    Ok(())
}

#[tokio::test]
async fn dropping_the_handle_stops_the_task() -> TestResult {
    let world = World::new().await?;
    let transport = RecordingTransport::new();
    let config = DispatcherConfig { poll_interval: Duration::from_millis(10), ..Default::default() };
    let handle = world.dispatcher_with(transport.clone(), config).spawn();
    drop(handle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ada = world.client("Ada", "ada@example.org", Language::En).await?;
    world.invite(&ada).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(transport.attempts(), 0, "a stopped dispatcher sends nothing");
    Ok(())
}

#[async_trait]
impl portal_core::StaffAccess for ForgetfulStore {
    async fn insert_staff_key(
        &self,
        key: &portal_core::StaffKeyRecord,
        hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.0.insert_staff_key(key, hash, audit).await
    }
    async fn staff_key_by_hash(&self, hash: &TokenHash) -> Result<Option<portal_core::StaffKeyRecord>, StoreError> {
        self.0.staff_key_by_hash(hash).await
    }
    async fn staff_keys(&self, p: PracticeId) -> Result<Vec<portal_core::StaffKeyRecord>, StoreError> {
        self.0.staff_keys(p).await
    }
    async fn revoke_staff_key(
        &self,
        p: PracticeId,
        id: portal_core::StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<portal_core::StaffKeyRecord, StoreError> {
        self.0.revoke_staff_key(p, id, at, audit).await
    }
    async fn record_staff_key_use(&self, id: portal_core::StaffId, at: Timestamp) -> Result<(), StoreError> {
        self.0.record_staff_key_use(id, at).await
    }
    async fn create_staff_session(&self, s: &portal_core::StaffSession, audit: &AuditEvent) -> Result<(), StoreError> {
        self.0.create_staff_session(s, audit).await
    }
    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(portal_core::StaffSession, portal_core::StaffKeyRecord)>, StoreError> {
        self.0.staff_session_by_token(hash).await
    }
    async fn touch_staff_session(&self, id: portal_core::StaffSessionId, at: Timestamp) -> Result<(), StoreError> {
        self.0.touch_staff_session(id, at).await
    }
    async fn end_staff_session(&self, id: portal_core::StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError> {
        self.0.end_staff_session(id, audit).await
    }
}

// ------------------------------------------------------------- the host's client directory

#[tokio::test]
async fn mail_is_written_from_the_clients_current_record_and_failed_when_the_client_is_gone() -> TestResult {
    let world = World::new().await?;
    let ada = world.client("Ada Lovelace", "ada@example.org", Language::En).await?;
    let grace = world.client("Grace Hopper", "grace@example.org", Language::En).await?;
    world.invite(&ada).await?;
    world.invite(&grace).await?;

    // The host's records when the mail goes out: Ada renamed and now reading Spanish, Grace
    // removed. The queued rows hold neither the name nor the language.
    let directory = portal_core::testing::InMemoryDirectory::new();
    let mut now_known = portal_core::ClientDirectory::client(&world.store, world.practice.id, &ada)
        .await?
        .ok_or("Ada is in the bundled records")?;
    now_known.name = portal_core::DisplayName::parse("name", "Ada King")?;
    now_known.language = Language::Es;
    directory.insert(now_known);

    let transport = RecordingTransport::new();
    let dispatcher = Dispatcher::new(
        world.store.clone(),
        directory,
        transport.clone(),
        Arc::clone(&world.clock),
        portal_core::testing::SeededRandom::new(3),
        renderer(),
        LinkKey::from_bytes(KEY),
        DispatcherConfig::default(),
    )?;
    assert_eq!(dispatcher.run_once().await?, report(2, 1, 0, 1));
    let sent = transport.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "ada@example.org");
    assert_eq!(sent[0].subject, "Invitación a su cuenta");
    assert!(sent[0].text.contains("Ada King"), "{}", sent[0].text);
    let gone = DeliveryProblem::new(DeliveryCause::ClientGone, "the client is no longer in the practice's records");
    assert_eq!(world.state_of(1), DeliveryState::Failed { at: T0, problem: gone, gave_up_after: None });
    Ok(())
}
