//! Staff keys and the staff sessions of the bundled server's staff pages: creating, listing and
//! revoking keys (the command line), checking a key (the staff API), and signing in to and out
//! of the staff pages with one.
//!
//! An expired key stops working the moment it expires, and a key revoked through this service
//! on the very next request: a staff session is checked against its key (read from storage) on
//! each use, revoking a key ends its sessions in the same transaction, and the API's key check
//! answers from a short-lived memory of active keys (`staff_key_cache`) that revocation here
//! empties of the key at once. A key revoked by another process is read again, and refused,
//! within the recheck interval (one second by default).

use jiff::{SignedDuration, Timestamp};

use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, AuditEvent, AuditFailure, Practice, RequestContext, StaffMember};
use crate::staff::{StaffKeyRecord, StaffKeyState, StaffSession};
use crate::token::BearerSecret;
use crate::types::{DisplayName, InvalidInput, PracticeSlug, StaffId, StaffSessionId};

use super::{Infrastructure, PortalService, STAFF_KEY_PREFIX, STAFF_SESSION_TOKEN_PREFIX};

/// Refusals of creating, listing or revoking staff keys.
#[derive(Debug, thiserror::Error)]
pub enum StaffKeyError {
    /// A field (the slug or the label) is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// No practice has this slug.
    #[error("no practice has this slug")]
    PracticeNotFound,
    /// The practice has no key with this id.
    #[error("the practice has no staff key with this id")]
    KeyNotFound,
    /// The expiry is not a positive duration, or lies beyond any representable time.
    #[error("a key's lifetime must be a positive duration")]
    InvalidExpiry,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of signing in to the staff pages.
#[derive(Debug, thiserror::Error)]
pub enum StaffSignInError {
    /// Unknown, revoked or expired key: deliberately one answer.
    #[error("the staff key is not valid")]
    InvalidKey,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// A new key: its record and the secret, shown once and never stored.
#[derive(Debug)]
pub struct CreatedStaffKey {
    /// The key as stored.
    pub key: StaffKeyRecord,
    /// The key itself.
    pub secret: BearerSecret,
}

/// A staff sign-in to the pages: the session's bearer secret goes into the cookie, once.
#[derive(Debug)]
pub struct StaffSignedIn {
    /// The bearer secret (`pss_…`).
    pub token: BearerSecret,
    /// The session as stored.
    pub session: StaffSession,
    /// Who signed in.
    pub staff: StaffMember,
    /// When the session ends if unused (the idle deadline; the absolute one applies too).
    pub expires_at: Timestamp,
}

fn key_actor(staff: &StaffMember) -> Actor {
    Actor::Staff { id: staff.id, label: staff.label.clone() }
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    fn staff_event(
        &self,
        at: Timestamp,
        staff: &StaffMember,
        actor: Actor,
        action: AuditAction,
        context: &RequestContext,
    ) -> Result<AuditEvent, Infrastructure> {
        Ok(self.audit(at, staff.practice_id, None, actor, action, context)?)
    }

    async fn practice_named(&self, slug: &str) -> Result<Practice, StaffKeyError> {
        let slug = PracticeSlug::parse(slug)?;
        self.store.practice_by_slug(&slug).await?.ok_or(StaffKeyError::PracticeNotFound)
    }

    /// Creates a staff key for a practice (the command line). `expires_in` of `None` makes a key
    /// that works until it is revoked.
    ///
    /// # Errors
    /// `PracticeNotFound`, `Invalid` slug or label, `InvalidExpiry`, or infrastructure.
    pub async fn create_staff_key(
        &self,
        slug: &str,
        label: &str,
        expires_in: Option<SignedDuration>,
    ) -> Result<CreatedStaffKey, StaffKeyError> {
        let label = DisplayName::parse("label", label)?;
        let practice = self.practice_named(slug).await?;
        let now = self.clock.now();
        let expires_at = match expires_in {
            None => None,
            Some(ttl) if ttl.is_positive() => Some(now.checked_add(ttl).map_err(|_| StaffKeyError::InvalidExpiry)?),
            Some(_) => return Err(StaffKeyError::InvalidExpiry),
        };
        let staff =
            StaffMember { id: StaffId::generate(&self.random)?, practice_id: practice.id, label, created_at: now };
        let secret = BearerSecret::generate(STAFF_KEY_PREFIX, &self.random)?;
        let key = StaffKeyRecord { staff, expires_at, revoked_at: None, last_used_at: None };
        let mut audit =
            self.staff_event(now, &key.staff, Actor::System, AuditAction::StaffKeyCreated, &RequestContext::default())?;
        audit.detail = Some(format!("{} (key {})", key.staff.label, key.staff.id));
        match self.store.insert_staff_key(&key, &secret.hash(), &audit).await {
            Err(StoreError::NotFound(_)) => Err(StaffKeyError::PracticeNotFound),
            other => Ok(other?),
        }?;
        Ok(CreatedStaffKey { key, secret })
    }

    /// Every key of a practice, in every state, oldest first, with the practice.
    ///
    /// # Errors
    /// `PracticeNotFound`, `Invalid` slug, or infrastructure.
    pub async fn staff_keys(&self, slug: &str) -> Result<(Practice, Vec<StaffKeyRecord>), StaffKeyError> {
        let practice = self.practice_named(slug).await?;
        let keys = self.store.staff_keys(practice.id).await?;
        Ok((practice, keys))
    }

    /// Revokes a key of a practice: it stops working on the next request to this service, over
    /// the API and in the pages, and its staff sessions end at once. Another process that
    /// remembers the key (see [`Self::with_staff_key_recheck`]) refuses it within its recheck
    /// interval. Revoking a revoked key changes nothing in storage.
    ///
    /// # Errors
    /// `PracticeNotFound`, `KeyNotFound` (also for another practice's key or a malformed id),
    /// or infrastructure.
    pub async fn revoke_staff_key(&self, slug: &str, id: &str) -> Result<StaffKeyRecord, StaffKeyError> {
        let practice = self.practice_named(slug).await?;
        let id = StaffId::parse(id).map_err(|_| StaffKeyError::KeyNotFound)?;
        let keys = self.store.staff_keys(practice.id).await?;
        let key = keys.into_iter().find(|key| key.staff.id == id).ok_or(StaffKeyError::KeyNotFound)?;
        if key.revoked_at.is_some() {
            // Perhaps revoked by another process while this one still remembers it.
            self.staff_keys.forget_revoked(id);
            return Ok(key);
        }
        let now = self.clock.now();
        let mut audit =
            self.staff_event(now, &key.staff, Actor::System, AuditAction::StaffKeyRevoked, &RequestContext::default())?;
        audit.detail = Some(format!("{} (key {})", key.staff.label, key.staff.id));
        let revoked = self.store.revoke_staff_key(practice.id, id, now, &audit).await;
        // After the write, so no check that read the key before it can remember it again; and
        // whatever the answer, since a failed answer may still have committed.
        self.staff_keys.forget_revoked(id);
        match revoked {
            Err(StoreError::NotFound(_)) => Err(StaffKeyError::KeyNotFound),
            other => Ok(other?),
        }
    }

    /// Writes a key's use at `now` when its last use is older than the granularity.
    async fn note_key_use(&self, key: &StaffKeyRecord, now: Timestamp) -> Result<(), StoreError> {
        if key.use_is_worth_recording(now) {
            self.store.record_staff_key_use(key.staff.id, now).await?;
        }
        Ok(())
    }

    /// The staff member a presented key belongs to, when the key is active (neither revoked nor
    /// expired); records the use (at most once a minute).
    ///
    /// An active key read from storage less than the recheck interval ago
    /// ([`Self::with_staff_key_recheck`], one second by default) answers from memory, without a
    /// store read: a staff API request is otherwise two reads, the key and then what the request
    /// asks for. The key's expiry is still checked against `now` on every request, and a key
    /// revoked through this service is forgotten at once; a key revoked by another process (the
    /// `staff-key revoke` command, a second server on the same database) keeps working here
    /// until its entry is older than the interval. That staleness, one second by default, is
    /// the trade. Only active keys are remembered, found by the SHA-256 of the key, never the
    /// key: an unknown, revoked or expired key is a store read every time.
    ///
    /// # Errors
    /// Infrastructure only; an unknown, revoked or expired key is `Ok(None)`.
    pub async fn authenticate_staff(&self, presented_key: &str) -> Result<Option<StaffMember>, Infrastructure> {
        let now = self.clock.now();
        let hash = BearerSecret::presented(presented_key).hash();
        if let Some(key) = self.staff_keys.active(&hash, now) {
            return Ok(Some(key.staff));
        }
        let revocations = self.staff_keys.revocations_seen();
        let Some(key) = self.store.staff_key_by_hash(&hash).await? else { return Ok(None) };
        if key.state_at(now) != StaffKeyState::Active {
            return Ok(None);
        }
        self.note_key_use(&key, now).await?;
        self.staff_keys.remember(hash, &key, now, revocations);
        Ok(Some(key.staff))
    }

    /// Signs in to the staff pages with a key: opens a staff session and audits it. A revoked or
    /// expired key is refused and audited in its practice; an unknown key names no practice, so
    /// it is refused without an audit row (the HTTP layer logs it and limits the caller's IP).
    ///
    /// # Errors
    /// `InvalidKey` as above, or infrastructure.
    pub async fn staff_sign_in(
        &self,
        presented_key: &str,
        context: &RequestContext,
    ) -> Result<StaffSignedIn, StaffSignInError> {
        let now = self.clock.now();
        let hash = BearerSecret::presented(presented_key).hash();
        let Some(key) = self.store.staff_key_by_hash(&hash).await? else {
            return Err(StaffSignInError::InvalidKey);
        };
        let failure = match key.state_at(now) {
            StaffKeyState::Active => None,
            StaffKeyState::Expired => Some(AuditFailure::KeyExpired),
            StaffKeyState::Revoked => {
                // Revoked elsewhere: the API's memory of the key need not wait for its recheck.
                self.staff_keys.forget_revoked(key.staff.id);
                Some(AuditFailure::KeyRevoked)
            }
        };
        if let Some(failure) = failure {
            let mut event =
                self.staff_event(now, &key.staff, key_actor(&key.staff), AuditAction::StaffSignInFailed, context)?;
            event.failure = Some(failure);
            self.store.append(&[event]).await?;
            return Err(StaffSignInError::InvalidKey);
        }
        let token = BearerSecret::generate(STAFF_SESSION_TOKEN_PREFIX, &self.random)?;
        let session = StaffSession {
            id: StaffSessionId::generate(&self.random)?,
            token_hash: token.hash(),
            staff_id: key.staff.id,
            practice_id: key.staff.practice_id,
            created_at: now,
            last_seen_at: now,
        };
        let audit = self.staff_event(now, &key.staff, key_actor(&key.staff), AuditAction::StaffSignedIn, context)?;
        match self.store.create_staff_session(&session, &audit).await {
            // Revoked and deleted between the read and the write: as if it had been unknown.
            Err(StoreError::NotFound(_)) => return Err(StaffSignInError::InvalidKey),
            other => other.map_err(Infrastructure::from)?,
        }
        self.note_key_use(&key, now).await.map_err(Infrastructure::from)?;
        let expires_at = session.expires_at(&self.policy);
        Ok(StaffSignedIn { token, session, staff: key.staff, expires_at })
    }

    /// The staff member behind a staff session token, when the session is within its idle and
    /// absolute limits and its key is still active; records the use (the idle limit restarts).
    /// A session found past its limits, or whose key was revoked or has expired, is ended.
    ///
    /// # Errors
    /// Infrastructure only; a session that does not (or no longer) authenticate is `Ok(None)`.
    pub async fn authenticate_staff_session(&self, token: &str) -> Result<Option<StaffMember>, Infrastructure> {
        let now = self.clock.now();
        let hash = BearerSecret::presented(token).hash();
        let Some((session, key)) = self.store.staff_session_by_token(&hash).await? else { return Ok(None) };
        if !session.is_valid_at(now, &self.policy) || key.state_at(now) != StaffKeyState::Active {
            self.store.end_staff_session(session.id, &[]).await?;
            return Ok(None);
        }
        self.store.touch_staff_session(session.id, now).await?;
        self.note_key_use(&key, now).await?;
        Ok(Some(key.staff))
    }

    /// Signs out of the staff pages: ends the session and audits it. An unknown token is
    /// accepted silently (idempotent).
    ///
    /// # Errors
    /// Infrastructure only.
    pub async fn staff_sign_out(&self, token: &str, context: &RequestContext) -> Result<(), Infrastructure> {
        let hash = BearerSecret::presented(token).hash();
        if let Some((session, key)) = self.store.staff_session_by_token(&hash).await? {
            let now = self.clock.now();
            let audit =
                self.staff_event(now, &key.staff, key_actor(&key.staff), AuditAction::StaffSignedOut, context)?;
            self.store.end_staff_session(session.id, &[audit]).await?;
        }
        Ok(())
    }
}
