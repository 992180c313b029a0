//! Password resets: staff send the link; the client checks it and sets a new password.

use crate::account::{PortalAccount, ResetRedeemRefused, ResetRefused};
use crate::password_policy::{PasswordContext, WeakPassword, check_password};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness};
use crate::records::{Actor, AuditAction, MailKind, RequestContext};
use crate::token::TokenPurpose;
use crate::types::{ClientId, Password};

use super::{DateOfBirthMismatch, Infrastructure, LinkInfo, LinkSent, PortalService, StaffContext};

/// Refusals of sending a password reset.
#[derive(Debug, thiserror::Error)]
pub enum SendResetError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// No account (send an invite), or disabled (enable first).
    #[error(transparent)]
    Refused(#[from] ResetRefused),
    /// No email address on file.
    #[error("the client has no email address on file")]
    NoEmailOnFile,
    /// The client asked not to be emailed.
    #[error("the client has asked not to be emailed")]
    EmailNotPermitted,
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// Refusals of checking or completing a reset.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, voided, used, expired, or the account is disabled.
    #[error(transparent)]
    Refused(#[from] ResetRedeemRefused),
    /// The link needs the client's date of birth and it was missing or wrong (counted on the
    /// link; at none left the link is closed).
    #[error(transparent)]
    DateOfBirthMismatch(#[from] DateOfBirthMismatch),
    /// The new password breaks the rules.
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Sends a password-reset link (voiding any earlier one). The mail never shows the username.
    ///
    /// # Errors
    /// `ClientNotFound`, `NoAccount`, `AccountDisabled`, `NoEmailOnFile`, `EmailNotPermitted`,
    /// or infrastructure.
    pub async fn send_reset(&self, staff: &StaffContext, id: &ClientId) -> Result<LinkSent, SendResetError> {
        let client = self.client_of(staff.practice(), id).await?.ok_or(SendResetError::ClientNotFound)?;
        let practice = staff.practice();
        let settings = self.settings_of(practice).await.map_err(Infrastructure::from)?;
        let sent = self.serialised(practice, id, |mut account| {
            let now = self.clock.now();
            let replaced_previous = account.reset().is_some_and(|t| t.is_live_at(now));
            let token = self.issue_token(TokenPurpose::Reset, &settings, now).map_err(Infrastructure::from)?;
            let sent = LinkSent { token_id: token.id, sent_at: now, expires_at: token.expires_at, replaced_previous };
            // The account's state decides first: "no account" must win over "no email".
            account.issue_reset(token)?;
            let email = client.email.clone().ok_or(SendResetError::NoEmailOnFile)?;
            if !client.email_consent {
                return Err(SendResetError::EmailNotPermitted);
            }
            let kind = MailKind::PasswordReset { token_id: sent.token_id, expires_at: sent.expires_at };
            let change = AccountCommit {
                at: now,
                mail: vec![self.mail(&client, &email, kind, now).map_err(Infrastructure::from)?],
                audit: vec![
                    self.audit(now, practice, Some(id.clone()), staff.actor(), AuditAction::ResetSent, &staff.request)
                        .map_err(Infrastructure::from)?,
                ],
                account,
                revoke_sessions: false,
                clear_throttle: false,
            };
            Ok((Some(change), sent))
        });
        sent.await?
    }

    /// Checks a reset link without consuming it.
    ///
    /// # Errors
    /// `ResetNotFound`, `ResetExpired`, `AccountDisabled`, or infrastructure.
    pub async fn verify_reset(&self, token: &str) -> Result<LinkInfo, ResetError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Reset, token).await?.ok_or(ResetRedeemRefused::ResetNotFound)?;
        let expires_at = account.check_reset(&verified.hash(), self.clock.now())?.expires_at;
        let practice = self.practice_of(&account).await?;
        let check = self.link_check(&practice, &account, TokenPurpose::Reset).await?;
        Ok(LinkInfo { practice, expires_at, date_of_birth_required: check.required(), language: check.language })
    }

    /// Sets a new password from a reset link without a date of birth: as
    /// [`PortalService::complete_reset_with_date_of_birth`] with no answer, so a link that
    /// needs one is refused.
    ///
    /// # Errors
    /// As [`PortalService::complete_reset_with_date_of_birth`].
    pub async fn complete_reset(
        &self,
        token: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), ResetError> {
        self.complete_reset_with_date_of_birth(token, None, password, context).await
    }

    /// Sets a new password from a reset link: consumes the link, revokes every session (the
    /// client is not signed in), clears the sign-in throttle and mails a "password changed"
    /// notice. When the link needs the client's date of birth, `date_of_birth` (`YYYY-MM-DD`)
    /// is checked first, before the password is looked at or hashed.
    ///
    /// # Errors
    /// `ResetNotFound`, `ResetExpired`, `AccountDisabled`, `DateOfBirthMismatch`,
    /// `WeakPassword`, or infrastructure.
    pub async fn complete_reset_with_date_of_birth(
        &self,
        token: &str,
        date_of_birth: Option<&str>,
        password: &Password,
        context: &RequestContext,
    ) -> Result<(), ResetError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Reset, token).await?.ok_or(ResetRedeemRefused::ResetNotFound)?;
        account.check_reset(&verified.hash(), self.clock.now())?;
        let practice = self.practice_of(&account).await?;
        let check = self.link_check(&practice, &account, TokenPurpose::Reset).await?;
        let recheck = |account: &PortalAccount, now| {
            account.check_reset(&verified.hash(), now).map(|_| ()).map_err(ResetError::from)
        };
        self.answer_date_of_birth(check, date_of_birth, &practice, account.client_id(), &verified, context, recheck)
            .await?;
        check_password(
            password,
            self.policy.password(),
            &PasswordContext { username: account.username(), practice_name: practice.name.as_str() },
        )?;
        let password_hash = self.hasher.hash(password).await?;
        let client_id = account.client_id().clone();
        let client = self.directory.client(practice.id, &client_id).await?;
        // The link is checked again on the account as it is under the lock: of two uses of one
        // link, the second sees it used.
        let done = self.serialised(practice.id, &client_id, |mut account| {
            let now = self.clock.now();
            account.complete_reset(&verified.hash(), password_hash.clone(), now)?;
            let mut mail = Vec::new();
            if let Some(client) = client.as_ref().filter(|c| c.email_consent)
                && let Some(email) = &client.email
            {
                mail.push(self.mail(client, email, MailKind::PasswordChanged, now).map_err(Infrastructure::from)?);
            }
            let event = |action| {
                self.audit(now, practice.id, Some(client_id.clone()), Actor::Client, action, context)
                    .map_err(Infrastructure::from)
            };
            let audit = vec![event(AuditAction::ResetCompleted)?, event(AuditAction::SessionsRevoked)?];
            let change = AccountCommit { at: now, account, mail, audit, revoke_sessions: true, clear_throttle: true };
            Ok::<_, ResetError>((Some(change), ()))
        });
        done.await?
    }
}
