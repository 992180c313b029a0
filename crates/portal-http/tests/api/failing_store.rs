//! A store that fails on demand, wrapping the in-memory store: for the infrastructure answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::sync::Notify;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use portal_core::testing::InMemoryStore;
use portal_core::{
    AccountCommit, AccountDecision, AccountPanel, AccountStore, AuditEvent, AuditLog, ClaimedMail, Client,
    ClientDirectory, ClientId, ClientListQuery, ClientPage, DeliveryState, Directory, DueReminder, MailId, MailOutbox,
    PortalAccount, Practice, PracticeId, PracticeSlug, Session, SessionId, SessionStore, StaffMember, StoreError,
    ThrottleState, ThrottleStore, TokenHash, TokenId, TokenPurpose, Username,
};

/// Text that must never reach a response body.
pub const SECRET_TEXT: &str = "db.internal:5432 password=hunter2";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Everything works.
    Healthy = 0,
    /// Every call fails as if the database were down.
    Unavailable = 1,
    /// Every call fails as if a row were unreadable.
    Corrupt = 2,
    /// Reads work; every account commit loses the optimistic-concurrency race.
    CommitConflict = 3,
}

/// Wraps an [`InMemoryStore`]; fails according to the current [`Mode`].
#[derive(Clone)]
pub struct FailingStore {
    inner: InMemoryStore,
    mode: Arc<AtomicU8>,
    /// While set, username lookups wait for [`FailingStore::release_username_lookups`].
    holding: Arc<AtomicBool>,
    released: Arc<Notify>,
}

impl FailingStore {
    pub fn new(inner: InMemoryStore) -> Self {
        Self {
            inner,
            mode: Arc::new(AtomicU8::new(Mode::Healthy as u8)),
            holding: Arc::new(AtomicBool::new(false)),
            released: Arc::new(Notify::new()),
        }
    }

    /// Makes every username lookup wait until [`FailingStore::release_username_lookups`].
    pub fn hold_username_lookups(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Lets held and later username lookups go on.
    pub fn release_username_lookups(&self) {
        self.holding.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    /// Waits while username lookups are held.
    async fn wait_if_held(&self) {
        loop {
            // Registered before the check, so a release in between is not missed.
            let released = self.released.notified();
            if !self.holding.load(Ordering::SeqCst) {
                return;
            }
            released.await;
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            1 => Err(StoreError::Unavailable(format!("connection to {SECRET_TEXT} refused").into())),
            2 => Err(StoreError::Corrupt(format!("row 17 of accounts is unreadable near {SECRET_TEXT}"))),
            _ => Ok(()),
        }
    }

    fn check_commit(&self) -> Result<(), StoreError> {
        self.check()?;
        if self.mode.load(Ordering::SeqCst) == Mode::CommitConflict as u8 {
            return Err(StoreError::Conflict);
        }
        Ok(())
    }
}

#[async_trait]
impl Directory for FailingStore {
    async fn create_practice(&self, p: &Practice, s: &StaffMember, k: &TokenHash) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_practice(p, s, k).await
    }
    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        self.check()?;
        self.inner.practice_by_slug(slug).await
    }
    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        self.check()?;
        self.inner.practice(id).await
    }
    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.update_practice(practice, audit).await
    }
    async fn practice_count(&self) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.practice_count().await
    }
    async fn create_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_client(c, a).await
    }
    async fn import_clients(&self, c: &[Client], a: &[AuditEvent]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.import_clients(c, a).await
    }
    async fn update_client(&self, c: &Client, a: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.update_client(c, a).await
    }
    async fn list_clients(
        &self,
        p: PracticeId,
        q: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        self.check()?;
        self.inner.list_clients(p, q, now).await
    }
    async fn client_panel(&self, p: PracticeId, id: &ClientId) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        self.check()?;
        self.inner.client_panel(p, id).await
    }
}

#[async_trait]
impl ClientDirectory for FailingStore {
    async fn client(&self, p: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.check()?;
        ClientDirectory::client(&self.inner, p, id).await
    }
    async fn clients(&self, p: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        self.check()?;
        self.inner.clients(p, ids).await
    }
}

#[async_trait]
impl AccountStore for FailingStore {
    async fn account(&self, p: PracticeId, c: &ClientId) -> Result<PortalAccount, StoreError> {
        self.check()?;
        self.inner.account(p, c).await
    }
    async fn accounts(&self, p: PracticeId, c: &[ClientId]) -> Result<Vec<PortalAccount>, StoreError> {
        self.check()?;
        self.inner.accounts(p, c).await
    }
    async fn account_panel(&self, p: PracticeId, c: &ClientId) -> Result<AccountPanel, StoreError> {
        self.check()?;
        self.inner.account_panel(p, c).await
    }
    async fn account_by_username(&self, p: PracticeId, u: &Username) -> Result<Option<PortalAccount>, StoreError> {
        self.wait_if_held().await;
        self.check()?;
        self.inner.account_by_username(p, u).await
    }
    async fn account_by_token(&self, t: TokenPurpose, h: &TokenHash) -> Result<Option<PortalAccount>, StoreError> {
        self.check()?;
        self.inner.account_by_token(t, h).await
    }
    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        self.check_commit()?;
        self.inner.commit(change).await
    }
    async fn due_invitation_reminders(&self, now: Timestamp, limit: u32) -> Result<Vec<DueReminder>, StoreError> {
        self.check()?;
        self.inner.due_invitation_reminders(now, limit).await
    }
    async fn update_account(
        &self,
        p: PracticeId,
        c: &ClientId,
        decide: &mut (dyn FnMut(PortalAccount) -> AccountDecision + Send),
    ) -> Result<(), StoreError> {
        self.check_commit()?;
        self.inner.update_account(p, c, decide).await
    }
}

#[async_trait]
impl SessionStore for FailingStore {
    async fn create_session(&self, s: &Session, a: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_session(s, a).await
    }
    async fn session_by_token(&self, h: &TokenHash) -> Result<Option<Session>, StoreError> {
        self.check()?;
        self.inner.session_by_token(h).await
    }
    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.check()?;
        self.inner.touch_session(id, at).await
    }
    async fn revoke_session(&self, id: SessionId, a: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.revoke_session(id, a).await
    }
}

#[async_trait]
impl ThrottleStore for FailingStore {
    async fn throttle(&self, p: PracticeId, key: &str) -> Result<ThrottleState, StoreError> {
        self.check()?;
        self.inner.throttle(p, key).await
    }
    async fn record_failure(&self, p: PracticeId, key: &str, at: Timestamp) -> Result<ThrottleState, StoreError> {
        self.check()?;
        self.inner.record_failure(p, key, at).await
    }
    async fn clear_throttle(&self, p: PracticeId, key: &str) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear_throttle(p, key).await
    }
}

#[async_trait]
impl AuditLog for FailingStore {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.append(events).await
    }
    async fn trail(&self, p: PracticeId, c: &ClientId) -> Result<Vec<AuditEvent>, StoreError> {
        self.check()?;
        self.inner.trail(p, c).await
    }
}

#[async_trait]
impl MailOutbox for FailingStore {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        self.check()?;
        self.inner.claim_due(now, lease, limit).await
    }
    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        self.check()?;
        self.inner.mark_sent(id, at).await
    }
    async fn retry_later(
        &self,
        id: MailId,
        next: Timestamp,
        problem: &portal_core::DeliveryProblem,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.retry_later(id, next, problem).await
    }
    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &portal_core::DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.mark_failed(id, at, problem, gave_up_after).await
    }
    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        self.check()?;
        self.inner.delivery_for_token(token).await
    }
    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.check()?;
        self.inner.pending_count().await
    }
}

#[async_trait]
impl portal_core::StaffAccess for FailingStore {
    async fn insert_staff_key(
        &self,
        key: &portal_core::StaffKeyRecord,
        hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.insert_staff_key(key, hash, audit).await
    }
    async fn staff_key_by_hash(&self, hash: &TokenHash) -> Result<Option<portal_core::StaffKeyRecord>, StoreError> {
        self.check()?;
        self.inner.staff_key_by_hash(hash).await
    }
    async fn staff_keys(&self, p: PracticeId) -> Result<Vec<portal_core::StaffKeyRecord>, StoreError> {
        self.check()?;
        self.inner.staff_keys(p).await
    }
    async fn revoke_staff_key(
        &self,
        p: PracticeId,
        id: portal_core::StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<portal_core::StaffKeyRecord, StoreError> {
        self.check()?;
        self.inner.revoke_staff_key(p, id, at, audit).await
    }
    async fn record_staff_key_use(&self, id: portal_core::StaffId, at: Timestamp) -> Result<(), StoreError> {
        self.check()?;
        self.inner.record_staff_key_use(id, at).await
    }
    async fn create_staff_session(&self, s: &portal_core::StaffSession, audit: &AuditEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_staff_session(s, audit).await
    }
    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(portal_core::StaffSession, portal_core::StaffKeyRecord)>, StoreError> {
        self.check()?;
        self.inner.staff_session_by_token(hash).await
    }
    async fn touch_staff_session(&self, id: portal_core::StaffSessionId, at: Timestamp) -> Result<(), StoreError> {
        self.check()?;
        self.inner.touch_staff_session(id, at).await
    }
    async fn end_staff_session(&self, id: portal_core::StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError> {
        self.check()?;
        self.inner.end_staff_session(id, audit).await
    }
}

#[async_trait]
impl portal_core::FactorStore for FailingStore {
    async fn factors(&self, p: PracticeId, c: &ClientId) -> Result<Vec<portal_core::SecondFactor>, StoreError> {
        self.check()?;
        self.inner.factors(p, c).await
    }
    async fn recovery_codes_left(&self, p: PracticeId, c: &ClientId) -> Result<u32, StoreError> {
        self.check()?;
        self.inner.recovery_codes_left(p, c).await
    }
    async fn commit_factors(&self, change: portal_core::FactorCommit) -> Result<(), StoreError> {
        self.check()?;
        self.inner.commit_factors(change).await
    }
    async fn use_totp_step(
        &self,
        f: portal_core::FactorId,
        step: u64,
        at: Timestamp,
        a: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.use_totp_step(f, step, at, a).await
    }
    async fn use_recovery_code(
        &self,
        p: PracticeId,
        c: &ClientId,
        h: &TokenHash,
        at: Timestamp,
        a: &[AuditEvent],
        m: &[portal_core::OutgoingMail],
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.use_recovery_code(p, c, h, at, a, m).await
    }
    async fn create_challenge(&self, ch: &portal_core::FactorChallenge) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_challenge(ch).await
    }
    async fn challenge(&self, h: &TokenHash) -> Result<Option<portal_core::FactorChallenge>, StoreError> {
        self.check()?;
        self.inner.challenge(h).await
    }
    async fn consume_challenge(&self, h: &TokenHash) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.consume_challenge(h).await
    }
    async fn passkey_factor(
        &self,
        credential: &portal_core::PasskeyCredentialId,
    ) -> Result<Option<portal_core::SecondFactor>, StoreError> {
        self.check()?;
        self.inner.passkey_factor(credential).await
    }
    async fn use_passkey(
        &self,
        f: portal_core::FactorId,
        updated: Option<portal_core::StoredPasskey>,
        at: Timestamp,
        a: &[AuditEvent],
    ) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.use_passkey(f, updated, at, a).await
    }
    async fn create_ceremony(&self, ceremony: &portal_core::PasskeyCeremony) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_ceremony(ceremony).await
    }
    async fn take_ceremony(&self, h: &TokenHash) -> Result<Option<portal_core::PasskeyCeremony>, StoreError> {
        self.check()?;
        self.inner.take_ceremony(h).await
    }
}
