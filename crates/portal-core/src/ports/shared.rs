//! `Arc<T>` implements every port `T` implements, so one adapter can be shared between the
//! service, the mail dispatcher and readiness checks, and so callers that prefer type erasure can
//! use `Arc<dyn PortalStore>`, `Arc<dyn PasswordHasher>`, … as the service's type parameters.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use super::{
    AccountCommit, AccountDecision, AccountStore, AuditLog, ClientDirectory, Clock, Directory, DueReminder, MailOutbox,
    MailTransport, PasswordHasher, Randomness, RandomnessError, RenderedEmail, SessionStore, StoreError, ThrottleStore,
    TransportError,
};
use crate::account::PortalAccount;
use crate::client_list::{ClientListQuery, ClientPage};
use crate::delivery::DeliveryProblem;
use crate::hashing::{HashError, PasswordHash, Verification};
use crate::records::{
    AccountPanel, AuditEvent, ClaimedMail, Client, DeliveryState, Practice, Session, StaffMember, ThrottleState,
};
use crate::token::{TokenHash, TokenPurpose};
use crate::types::{ClientId, MailId, Password, PracticeId, PracticeSlug, SessionId, TokenId, Username};

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<T: Randomness + ?Sized> Randomness for Arc<T> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError> {
        (**self).fill(dest)
    }
}

#[async_trait]
impl<T: PasswordHasher + ?Sized> PasswordHasher for Arc<T> {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        (**self).hash(password).await
    }
    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<Verification, HashError> {
        (**self).verify(password, hash).await
    }
    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        (**self).verify_dummy(password).await
    }
}

#[async_trait]
impl<T: ClientDirectory + ?Sized> ClientDirectory for Arc<T> {
    async fn client(&self, practice: PracticeId, id: &ClientId) -> Result<Option<Client>, StoreError> {
        (**self).client(practice, id).await
    }
    async fn clients(&self, practice: PracticeId, ids: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        (**self).clients(practice, ids).await
    }
}

#[async_trait]
impl<T: Directory + ?Sized> Directory for Arc<T> {
    async fn create_practice(
        &self,
        practice: &Practice,
        first_staff: &StaffMember,
        key_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        (**self).create_practice(practice, first_staff, key_hash).await
    }
    async fn practice_by_slug(&self, slug: &PracticeSlug) -> Result<Option<Practice>, StoreError> {
        (**self).practice_by_slug(slug).await
    }
    async fn practice(&self, id: PracticeId) -> Result<Option<Practice>, StoreError> {
        (**self).practice(id).await
    }
    async fn update_practice(&self, practice: &Practice, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).update_practice(practice, audit).await
    }
    async fn practice_count(&self) -> Result<u64, StoreError> {
        (**self).practice_count().await
    }
    async fn create_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).create_client(client, audit).await
    }
    async fn import_clients(&self, clients: &[Client], audit: &[AuditEvent]) -> Result<(), StoreError> {
        (**self).import_clients(clients, audit).await
    }
    async fn update_client(&self, client: &Client, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).update_client(client, audit).await
    }
    async fn list_clients(
        &self,
        practice: PracticeId,
        query: &ClientListQuery,
        now: Timestamp,
    ) -> Result<ClientPage<(Client, PortalAccount)>, StoreError> {
        (**self).list_clients(practice, query, now).await
    }
    async fn client_panel(
        &self,
        practice: PracticeId,
        id: &ClientId,
    ) -> Result<Option<(Client, AccountPanel)>, StoreError> {
        (**self).client_panel(practice, id).await
    }
}

#[async_trait]
impl<T: AccountStore + ?Sized> AccountStore for Arc<T> {
    async fn account(&self, practice: PracticeId, client: &ClientId) -> Result<PortalAccount, StoreError> {
        (**self).account(practice, client).await
    }
    async fn accounts(&self, practice: PracticeId, clients: &[ClientId]) -> Result<Vec<PortalAccount>, StoreError> {
        (**self).accounts(practice, clients).await
    }
    async fn account_panel(&self, practice: PracticeId, client: &ClientId) -> Result<AccountPanel, StoreError> {
        (**self).account_panel(practice, client).await
    }
    async fn account_by_username(
        &self,
        practice: PracticeId,
        username: &Username,
    ) -> Result<Option<PortalAccount>, StoreError> {
        (**self).account_by_username(practice, username).await
    }
    async fn account_by_token(
        &self,
        purpose: TokenPurpose,
        hash: &TokenHash,
    ) -> Result<Option<PortalAccount>, StoreError> {
        (**self).account_by_token(purpose, hash).await
    }
    async fn commit(&self, change: AccountCommit) -> Result<(), StoreError> {
        (**self).commit(change).await
    }
    async fn due_invitation_reminders(&self, now: Timestamp, limit: u32) -> Result<Vec<DueReminder>, StoreError> {
        (**self).due_invitation_reminders(now, limit).await
    }
    async fn update_account(
        &self,
        practice: PracticeId,
        client: &ClientId,
        decide: &mut (dyn FnMut(PortalAccount) -> AccountDecision + Send),
    ) -> Result<(), StoreError> {
        (**self).update_account(practice, client, decide).await
    }
}

#[async_trait]
impl<T: SessionStore + ?Sized> SessionStore for Arc<T> {
    async fn create_session(&self, session: &Session, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).create_session(session, audit).await
    }
    async fn session_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        (**self).session_by_token(hash).await
    }
    async fn touch_session(&self, id: SessionId, at: Timestamp) -> Result<(), StoreError> {
        (**self).touch_session(id, at).await
    }
    async fn revoke_session(&self, id: SessionId, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).revoke_session(id, audit).await
    }
}

#[async_trait]
impl<T: ThrottleStore + ?Sized> ThrottleStore for Arc<T> {
    async fn throttle(&self, practice: PracticeId, key: &str) -> Result<ThrottleState, StoreError> {
        (**self).throttle(practice, key).await
    }
    async fn record_failure(
        &self,
        practice: PracticeId,
        key: &str,
        at: Timestamp,
    ) -> Result<ThrottleState, StoreError> {
        (**self).record_failure(practice, key, at).await
    }
    async fn clear_throttle(&self, practice: PracticeId, key: &str) -> Result<(), StoreError> {
        (**self).clear_throttle(practice, key).await
    }
}

#[async_trait]
impl<T: AuditLog + ?Sized> AuditLog for Arc<T> {
    async fn append(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        (**self).append(events).await
    }
    async fn trail(&self, practice: PracticeId, client: &ClientId) -> Result<Vec<AuditEvent>, StoreError> {
        (**self).trail(practice, client).await
    }
}

#[async_trait]
impl<T: MailOutbox + ?Sized> MailOutbox for Arc<T> {
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> Result<Vec<ClaimedMail>, StoreError> {
        (**self).claim_due(now, lease, limit).await
    }
    async fn mark_sent(&self, id: MailId, at: Timestamp) -> Result<(), StoreError> {
        (**self).mark_sent(id, at).await
    }
    async fn retry_later(
        &self,
        id: MailId,
        next_attempt_at: Timestamp,
        problem: &DeliveryProblem,
    ) -> Result<(), StoreError> {
        (**self).retry_later(id, next_attempt_at, problem).await
    }
    async fn mark_failed(
        &self,
        id: MailId,
        at: Timestamp,
        problem: &DeliveryProblem,
        gave_up_after: Option<u32>,
    ) -> Result<(), StoreError> {
        (**self).mark_failed(id, at, problem, gave_up_after).await
    }
    async fn delivery_for_token(&self, token: TokenId) -> Result<Option<DeliveryState>, StoreError> {
        (**self).delivery_for_token(token).await
    }
    async fn pending_count(&self) -> Result<u64, StoreError> {
        (**self).pending_count().await
    }
}

#[async_trait]
impl<T: MailTransport + ?Sized> MailTransport for Arc<T> {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        (**self).send(email).await
    }
}
