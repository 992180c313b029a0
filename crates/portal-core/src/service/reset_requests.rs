//! Client-started password resets: a client who forgot their password asks, from the sign-in
//! page, with their username and the email their practice has on file.
//!
//! Whoever knows a username and an email can ask, so the answer must not tell whether they
//! matched anything. The use case reports what it did ([`ResetRequested`]) for the audit trail
//! and tests; the HTTP layer answers the same whatever it reports, and answers before the work
//! is done (`portal-http` runs it after the answer), so neither the answer nor its timing
//! depends on the accounts. Only the practice's setting shows: a practice that does not take
//! client-started resets refuses them before any account is looked at.

use jiff::Timestamp;

use crate::account::ResetRequestRefused;
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness};
use crate::records::{Actor, AuditAction, AuditFailure, MailKind, Practice, RequestContext};
use crate::token::TokenPurpose;
use crate::types::{ClientId, EmailAddress, Username};

use super::{Infrastructure, LinkSent, PortalService};

/// Refusals of a client-started reset that the requester may be told: they depend on the
/// practice only, never on an account.
#[derive(Debug, thiserror::Error)]
pub enum ResetRequestError {
    /// No practice has this slug.
    #[error("practice not found")]
    PracticeNotFound,
    /// The practice does not let clients start password resets.
    #[error("the practice does not take password-reset requests from clients")]
    NotAvailable,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// What a client-started reset request did. Recorded in the audit trail; **never shown to the
/// requester**, who is answered the same in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequested {
    /// A reset mail was queued (voiding any earlier reset link).
    Sent(LinkSent),
    /// No registered account has the username, or the email is not the one on file.
    NoMatch,
    /// The username and email match a disabled account: it gets no mail.
    AccountDisabled,
    /// They match, but the client asked not to be emailed.
    EmailNotPermitted,
    /// They match an active account whose per-account limit holds until `until`.
    Throttled {
        /// When a request may queue a mail again.
        until: Timestamp,
    },
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// The practice with this slug, when it takes client-started resets: what the HTTP layer
    /// checks before it answers, so the answer reveals the practice's setting and nothing else.
    ///
    /// # Errors
    /// `PracticeNotFound`, `NotAvailable`, or infrastructure.
    pub async fn reset_requests_open(&self, practice_slug: &str) -> Result<Practice, ResetRequestError> {
        let practice = self.practice_by_slug(practice_slug).await?.ok_or(ResetRequestError::PracticeNotFound)?;
        if !practice.settings.client_started_resets() {
            return Err(ResetRequestError::NotAvailable);
        }
        Ok(practice)
    }

    /// A client asks for a password-reset mail with their username and the email on file
    /// (compared ignoring case). The mail (the same [`MailKind::PasswordReset`] and link as a
    /// staff-started reset, voiding any earlier reset link) is queued only when the username
    /// names an **active** account of the practice, the email is the client's on file, the
    /// client agreed to be emailed, and the account's limit
    /// ([`ResetRequestHistory`](crate::ResetRequestHistory)) allows another mail. Every request
    /// writes one [`AuditAction::ResetRequested`] event (actor anonymous, the client when
    /// known, never the typed username or email), failed with `NoMatch`, `AccountDisabled`,
    /// `EmailNotPermitted` or `Throttled` when no mail was queued.
    ///
    /// The account is decided on under the client's lock, so concurrent requests queue one mail.
    ///
    /// # Errors
    /// `NotAvailable` when the practice does not take client-started resets, or infrastructure.
    /// Whether anything matched is the [`ResetRequested`] answer, not an error.
    pub async fn request_reset(
        &self,
        practice: &Practice,
        username: &Username,
        email: &EmailAddress,
        context: &RequestContext,
    ) -> Result<ResetRequested, ResetRequestError> {
        if !practice.settings.client_started_resets() {
            return Err(ResetRequestError::NotAvailable);
        }
        let Some(account) = self.store.account_by_username(practice.id, username).await? else {
            self.record_request(practice, None, ResetRequested::NoMatch, context).await?;
            return Ok(ResetRequested::NoMatch);
        };
        let client_id = account.client_id().clone();
        let client = self.directory.client(practice.id, &client_id).await?;
        let typed = email.as_str().to_lowercase();
        let Some((client, on_file)) = client
            .as_ref()
            .and_then(|client| client.email.as_ref().map(|on_file| (client, on_file)))
            .filter(|(_, on_file)| on_file.as_str().to_lowercase() == typed)
        else {
            self.record_request(practice, Some(&client_id), ResetRequested::NoMatch, context).await?;
            return Ok(ResetRequested::NoMatch);
        };
        if !client.email_consent {
            self.record_request(practice, Some(&client_id), ResetRequested::EmailNotPermitted, context).await?;
            return Ok(ResetRequested::EmailNotPermitted);
        }
        let settings = practice.settings;
        let outcome = self.serialised(practice.id, &client_id, |mut account| {
            let now = self.clock.now();
            let token = self.issue_token(TokenPurpose::Reset, &settings, now)?;
            let sent =
                LinkSent { token_id: token.id, sent_at: now, expires_at: token.expires_at, replaced_previous: false };
            let replaced_previous = account.reset().is_some_and(|t| t.is_live_at(now));
            let refused = match account.request_reset(token, now) {
                Ok(()) => None,
                Err(ResetRequestRefused::NoAccount) => Some(ResetRequested::NoMatch),
                Err(ResetRequestRefused::AccountDisabled) => Some(ResetRequested::AccountDisabled),
                Err(ResetRequestRefused::Throttled { until }) => Some(ResetRequested::Throttled { until }),
            };
            if let Some(refused) = refused {
                // Nothing to write under the lock; the refusal is audited below.
                return Ok::<_, Infrastructure>((None, refused));
            }
            let kind = MailKind::PasswordReset { token_id: sent.token_id, expires_at: sent.expires_at };
            let event = self.audit(
                now,
                practice.id,
                Some(client_id.clone()),
                Actor::Anonymous,
                AuditAction::ResetRequested,
                context,
            )?;
            let change = AccountCommit {
                at: now,
                mail: vec![self.mail(client, on_file, kind, now)?],
                audit: vec![event],
                account,
                revoke_sessions: false,
                clear_throttle: false,
            };
            Ok((Some(change), ResetRequested::Sent(LinkSent { replaced_previous, ..sent })))
        });
        let outcome = outcome.await.map_err(Infrastructure::from)??;
        if !matches!(outcome, ResetRequested::Sent(_)) {
            self.record_request(practice, Some(&client_id), outcome, context).await?;
        }
        Ok(outcome)
    }

    /// Writes the audit event of a request that queued nothing.
    async fn record_request(
        &self,
        practice: &Practice,
        client: Option<&ClientId>,
        outcome: ResetRequested,
        context: &RequestContext,
    ) -> Result<(), Infrastructure> {
        let failure = match outcome {
            ResetRequested::Sent(_) => None,
            ResetRequested::NoMatch => Some(AuditFailure::NoMatch),
            ResetRequested::AccountDisabled => Some(AuditFailure::AccountDisabled),
            ResetRequested::EmailNotPermitted => Some(AuditFailure::EmailNotPermitted),
            ResetRequested::Throttled { .. } => Some(AuditFailure::Throttled),
        };
        let mut event = self.audit(
            self.clock.now(),
            practice.id,
            client.cloned(),
            Actor::Anonymous,
            AuditAction::ResetRequested,
            context,
        )?;
        event.failure = failure;
        self.store.append(&[event]).await?;
        Ok(())
    }
}
