//! Invitation reminders: one mail, with the invitation's own link, a practice-chosen number of
//! hours before an unused invitation expires (`PracticeSettings::invitation_reminder`).
//!
//! A background job calls [`PortalService::queue_due_reminders`] on an interval. The store
//! names candidates ([`AccountStore::due_invitation_reminders`]); each is decided again on the
//! account under its lock, so two servers running the job at once queue one reminder, and a
//! resend, a registration or an expiry that came in between leaves the invitation alone.
//!
//! [`AccountStore::due_invitation_reminders`]: crate::AccountStore::due_invitation_reminders

use std::collections::HashMap;

use jiff::SignedDuration;

use crate::AuditFailure;
use crate::ports::{AccountCommit, ClientDirectory, Clock, DueReminder, PasswordHasher, PortalStore, Randomness};
use crate::records::{Actor, AuditAction, MailKind, RequestContext};
use crate::token::InviteReminder;
use crate::types::{EmailAddress, PracticeId};

use super::{Infrastructure, PortalService};

/// What one run of [`PortalService::queue_due_reminders`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemindersQueued {
    /// Reminder mails queued.
    pub queued: u64,
    /// Invitations whose reminder fell due but could not be mailed (no email on file, no
    /// consent, client gone from the host's records); they are not considered again.
    pub skipped: u64,
    /// Candidates the store named that were no longer due when checked under the account's
    /// lock (resent, used, reminded by another server, expired in between).
    pub passed_over: u64,
}

impl RemindersQueued {
    /// How many candidates the run looked at (a run that looked at `limit` of them may have
    /// left more for the next).
    #[must_use]
    pub fn considered(&self) -> u64 {
        self.queued + self.skipped + self.passed_over
    }
}

/// What one candidate came to.
enum Outcome {
    Queued,
    Skipped,
    PassedOver,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Queues the reminders that are due now, at most `limit` of them (soonest expiry first):
    /// for each invitation the store names, re-checks the rules on the account as stored
    /// ([`PortalAccount::reminder_due`](crate::PortalAccount::reminder_due)), reads the client
    /// from the directory (email on file, consent), and commits, in one [`AccountCommit`], the
    /// reminder mail with the invitation's link, an [`AuditAction::InviteReminderQueued`]
    /// event by the system, and the invitation marked as reminded. A client who cannot be
    /// emailed gets no mail; the invitation is marked as passed over, so it is not looked at
    /// again.
    ///
    /// # Errors
    /// Infrastructure (the store or the directory failed); what was committed before stays.
    pub async fn queue_due_reminders(&self, limit: u32) -> Result<RemindersQueued, Infrastructure> {
        let due = self.store.due_invitation_reminders(self.clock.now(), limit).await?;
        let mut leads: HashMap<PracticeId, Option<SignedDuration>> = HashMap::new();
        let mut report = RemindersQueued::default();
        for item in due {
            let lead = match leads.get(&item.practice_id) {
                Some(lead) => *lead,
                None => {
                    let practice = self.store.practice(item.practice_id).await?;
                    let lead =
                        practice.and_then(|p| p.settings.invitation_reminder()).map(crate::ReminderLead::duration);
                    leads.insert(item.practice_id, lead);
                    lead
                }
            };
            let outcome = match lead {
                Some(lead) => self.remind(&item, lead).await?,
                None => Outcome::PassedOver,
            };
            match outcome {
                Outcome::Queued => report.queued += 1,
                Outcome::Skipped => report.skipped += 1,
                Outcome::PassedOver => report.passed_over += 1,
            }
        }
        Ok(report)
    }

    /// Decides one candidate under its account's lock.
    async fn remind(&self, item: &DueReminder, lead: SignedDuration) -> Result<Outcome, Infrastructure> {
        let client = self.client_of(item.practice_id, &item.client_id).await?;
        let recipient: Option<(&crate::Client, &EmailAddress)> = client
            .as_ref()
            .filter(|client| client.email_consent)
            .and_then(|client| client.email.as_ref().map(|email| (client, email)));
        // Why a client on record gets no reminder, for the trail staff read (a client gone
        // from the records has no trail to read).
        let not_sent = match &client {
            Some(client) if !client.email_consent => Some(AuditFailure::EmailNotPermitted),
            Some(client) if client.email.is_none() => Some(AuditFailure::NoEmailOnFile),
            _ => None,
        };
        self.serialised(item.practice_id, &item.client_id, |mut account| {
            let now = self.clock.now();
            let Ok(invite) = account.reminder_due(item.token_id, lead, now) else {
                return Ok((None, Outcome::PassedOver));
            };
            let expires_at = invite.expires_at;
            let (reminder, mail, audit, outcome) = match recipient {
                // No mail, but the invitation is marked, so it is not looked at again; the trail
                // says why.
                None => {
                    let mut audit = Vec::new();
                    if let Some(failure) = not_sent.clone() {
                        let mut skipped = self.audit(
                            now,
                            item.practice_id,
                            Some(item.client_id.clone()),
                            Actor::System,
                            AuditAction::InviteReminderQueued,
                            &RequestContext::default(),
                        )?;
                        skipped.failure = Some(failure);
                        audit.push(skipped);
                    }
                    (InviteReminder::Skipped { at: now }, Vec::new(), audit, Outcome::Skipped)
                }
                Some((client, email)) => {
                    let kind = MailKind::InvitationReminder { token_id: item.token_id, expires_at };
                    let audit = self.audit(
                        now,
                        item.practice_id,
                        Some(item.client_id.clone()),
                        Actor::System,
                        AuditAction::InviteReminderQueued,
                        &RequestContext::default(),
                    )?;
                    let mail = self.mail(client, email, kind, now)?;
                    (InviteReminder::Queued { at: now }, vec![mail], vec![audit], Outcome::Queued)
                }
            };
            if account.record_reminder(item.token_id, lead, reminder).is_err() {
                return Ok((None, Outcome::PassedOver));
            }
            let change = AccountCommit { at: now, account, mail, audit, revoke_sessions: false, clear_throttle: false };
            Ok::<_, Infrastructure>((Some(change), outcome))
        })
        .await?
    }
}
