//! The date-of-birth check on emailed links: when the practice has it on and the client's
//! record holds a date of birth, an invitation or reset link works only with that date.
//!
//! The answer is checked before anything expensive or revealing (the password hash, the
//! username lookup). A wrong answer is counted on the link, under the account's lock, so
//! concurrent wrong answers are each counted; at [`DATE_OF_BIRTH_TRIES`] the link is closed and
//! reads as voided from then on. The date itself never reaches an error, a log or the audit
//! trail.

use jiff::Timestamp;

use crate::account::PortalAccount;
use crate::date_of_birth::DateOfBirth;
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, Practice, RequestContext};
use crate::token::{DATE_OF_BIRTH_TRIES, TokenPurpose, VerifiedToken};
use crate::types::{ClientId, Language};

use super::{Infrastructure, PortalService};

/// A missing or wrong date of birth on a link that needs one. It never says which part was
/// wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the date of birth does not match our records ({tries_left} tries left)")]
pub struct DateOfBirthMismatch {
    /// Wrong answers the link still takes; 0: it is now closed (ask for a new link).
    pub tries_left: u8,
}

/// What a link asks before it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LinkCheck {
    /// The date on file, when the practice has the check on and the record holds one.
    on_file: Option<DateOfBirth>,
    /// Wrong answers the link still takes.
    tries_left: u8,
    /// The language of the client's record (English when the record is gone), for the link's
    /// pages.
    pub(super) language: Language,
}

impl LinkCheck {
    /// True when the link needs the date of birth.
    pub(super) fn required(&self) -> bool {
        self.on_file.is_some()
    }
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// What the link of `purpose` on `account` asks (the date of birth on file when the practice
    /// has the check on) and the language of its pages: one directory read.
    pub(super) async fn link_check(
        &self,
        practice: &Practice,
        account: &PortalAccount,
        purpose: TokenPurpose,
    ) -> Result<LinkCheck, StoreError> {
        let tries_left = account.token(purpose).map_or(DATE_OF_BIRTH_TRIES, |t| t.date_of_birth_tries_left());
        let client = self.directory.client(practice.id, account.client_id()).await?;
        let language = client.as_ref().map_or_else(Language::default, |client| client.language);
        let on_file = if practice.settings.date_of_birth_check() { client.and_then(|c| c.date_of_birth) } else { None };
        Ok(LinkCheck { on_file, tries_left, language })
    }

    /// Checks `answer` (`YYYY-MM-DD`) against the link's check. A missing answer is refused
    /// without being counted; any other answer that does not match (malformed included) is
    /// counted on the link under the account's lock, with a `DateOfBirthRefused` audit row, and a
    /// `LinkVoided` one when it closes the link. `recheck` decides the link again on the
    /// account as it is under the lock (it may have been used, voided or closed meanwhile).
    ///
    /// # Errors
    /// `DateOfBirthMismatch` with the tries left, `recheck`'s refusal, or infrastructure.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn answer_date_of_birth<E>(
        &self,
        check: LinkCheck,
        answer: Option<&str>,
        practice: &Practice,
        client_id: &ClientId,
        verified: &VerifiedToken,
        context: &RequestContext,
        recheck: impl Fn(&PortalAccount, Timestamp) -> Result<(), E> + Send + Sync,
    ) -> Result<(), E>
    where
        E: From<DateOfBirthMismatch> + From<Infrastructure> + From<StoreError> + Send,
    {
        let Some(on_file) = check.on_file else { return Ok(()) };
        let Some(answer) = answer.map(str::trim).filter(|answer| !answer.is_empty()) else {
            return Err(DateOfBirthMismatch { tries_left: check.tries_left }.into());
        };
        let now = self.clock.now();
        // "Today" in UTC: the day's slack `DateOfBirth::parse` allows covers every zone.
        let today = jiff::tz::Offset::UTC.to_datetime(now).date();
        if DateOfBirth::parse(answer, today).is_ok_and(|given| on_file.matches(&given)) {
            return Ok(());
        }
        let (purpose, hash) = (verified.purpose(), verified.hash());
        let counted = self.serialised(practice.id, client_id, |mut account| {
            let now = self.clock.now();
            recheck(&account, now)?;
            let tries_left = account.count_date_of_birth_failure(purpose, &hash).ok_or_else(|| {
                Infrastructure::from(StoreError::Corrupt("a checked link was not the account's".into()))
            })?;
            let event = |action| {
                self.audit(now, practice.id, Some(client_id.clone()), Actor::Anonymous, action, context)
                    .map_err(Infrastructure::from)
            };
            let mut refused = event(AuditAction::DateOfBirthRefused)?;
            refused.detail = Some(format!("{} link, {tries_left} tries left", purpose.as_str()));
            let mut audit = vec![refused];
            if tries_left == 0 {
                let mut voided = event(AuditAction::LinkVoided)?;
                voided.detail =
                    Some(format!("{} link closed after {DATE_OF_BIRTH_TRIES} wrong dates of birth", purpose.as_str()));
                audit.push(voided);
            }
            let change =
                AccountCommit { at: now, account, mail: vec![], audit, revoke_sessions: false, clear_throttle: false };
            Ok::<_, E>((Some(change), tries_left))
        });
        let tries_left = counted.await??;
        Err(DateOfBirthMismatch { tries_left }.into())
    }
}
