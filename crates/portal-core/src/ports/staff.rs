//! [`StaffAccess`]: the bundled server's staff keys with their lifetime, and the staff sessions
//! of its staff pages. Kept apart from [`Directory`](super::Directory) (practices and clients)
//! because a host that authenticates its own staff has no use for it.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;
use crate::records::AuditEvent;
use crate::staff::{StaffKeyRecord, StaffSession};
use crate::token::TokenHash;
use crate::types::{PracticeId, StaffId, StaffSessionId};

/// Staff keys (stored only as hashes) and staff sessions (stored only as hashes).
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait StaffAccess: Send + Sync + 'static {
    /// Stores a new key with its lifetime (`revoked_at` and `last_used_at` as given, normally
    /// `None`) and its audit event, atomically.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`]`("practice")` when the practice does not exist and
    /// [`StoreError::Duplicate`] when the id or the hash is taken, writing nothing.
    async fn insert_staff_key(
        &self,
        key: &StaffKeyRecord,
        key_hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The key whose hash this is, in whatever state (the domain decides what a revoked or
    /// expired key means). The key created with [`Directory::create_practice`] reads back with
    /// no expiry, never revoked, never used.
    ///
    /// [`Directory::create_practice`]: super::Directory::create_practice
    ///
    /// # Errors
    /// Only infrastructure failures; an unknown hash is `Ok(None)`.
    async fn staff_key_by_hash(&self, key_hash: &TokenHash) -> Result<Option<StaffKeyRecord>, StoreError>;

    /// Every key of a practice, in every state, oldest first (then by id).
    ///
    /// # Errors
    /// Only infrastructure failures.
    async fn staff_keys(&self, practice: PracticeId) -> Result<Vec<StaffKeyRecord>, StoreError>;

    /// Revokes a key of the practice at `at` and ends every staff session opened with it, with
    /// the audit event, in **one transaction**; returns the key as it now stands. Revoking a
    /// key again keeps its first revocation time and writes no new event.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`]`("staff key")` when the practice has no key with this
    /// id (another practice's key included), writing nothing.
    async fn revoke_staff_key(
        &self,
        practice: PracticeId,
        id: StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<StaffKeyRecord, StoreError>;

    /// Records that a key was used at `at`. Only ever moves the time forward.
    ///
    /// # Errors
    /// Only infrastructure failures; a vanished key is not an error.
    async fn record_staff_key_use(&self, id: StaffId, at: Timestamp) -> Result<(), StoreError>;

    /// Stores a new staff session with its audit event, atomically.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`]`("staff key")` when its key does not exist, writing
    /// nothing.
    async fn create_staff_session(&self, session: &StaffSession, audit: &AuditEvent) -> Result<(), StoreError>;

    /// The staff session whose bearer secret hashes to `hash`, with its key as it stands now
    /// (so a revoked or expired key is seen on the very next request).
    ///
    /// # Errors
    /// Only infrastructure failures; an unknown or ended session is `Ok(None)`.
    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(StaffSession, StaffKeyRecord)>, StoreError>;

    /// Records use of a staff session at `at` (the idle limit restarts). Only ever moves the
    /// time forward.
    ///
    /// # Errors
    /// Only infrastructure failures; a vanished session is not an error.
    async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<(), StoreError>;

    /// Ends one staff session (sign-out, or found past its limits) with its audit events
    /// (none for a session that simply ran out), atomically.
    ///
    /// # Errors
    /// Only infrastructure failures; a vanished session is not an error.
    async fn end_staff_session(&self, id: StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError>;
}

#[async_trait]
impl<T: StaffAccess + ?Sized> StaffAccess for Arc<T> {
    async fn insert_staff_key(
        &self,
        key: &StaffKeyRecord,
        key_hash: &TokenHash,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        (**self).insert_staff_key(key, key_hash, audit).await
    }
    async fn staff_key_by_hash(&self, key_hash: &TokenHash) -> Result<Option<StaffKeyRecord>, StoreError> {
        (**self).staff_key_by_hash(key_hash).await
    }
    async fn staff_keys(&self, practice: PracticeId) -> Result<Vec<StaffKeyRecord>, StoreError> {
        (**self).staff_keys(practice).await
    }
    async fn revoke_staff_key(
        &self,
        practice: PracticeId,
        id: StaffId,
        at: Timestamp,
        audit: &AuditEvent,
    ) -> Result<StaffKeyRecord, StoreError> {
        (**self).revoke_staff_key(practice, id, at, audit).await
    }
    async fn record_staff_key_use(&self, id: StaffId, at: Timestamp) -> Result<(), StoreError> {
        (**self).record_staff_key_use(id, at).await
    }
    async fn create_staff_session(&self, session: &StaffSession, audit: &AuditEvent) -> Result<(), StoreError> {
        (**self).create_staff_session(session, audit).await
    }
    async fn staff_session_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(StaffSession, StaffKeyRecord)>, StoreError> {
        (**self).staff_session_by_token(hash).await
    }
    async fn touch_staff_session(&self, id: StaffSessionId, at: Timestamp) -> Result<(), StoreError> {
        (**self).touch_staff_session(id, at).await
    }
    async fn end_staff_session(&self, id: StaffSessionId, audit: &[AuditEvent]) -> Result<(), StoreError> {
        (**self).end_staff_session(id, audit).await
    }
}
