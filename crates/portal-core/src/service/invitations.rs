//! Portal invitations: staff send (or resend) the link; the client's page checks it.

use crate::account::{InviteRedeemRefused, InviteRefused};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness};
use crate::practice_settings::PracticeSettings;
use crate::records::{AuditAction, Client, MailKind};
use crate::token::TokenPurpose;
use crate::types::ClientId;

use super::{Infrastructure, LinkInfo, LinkSent, PortalService, StaffContext};

/// Refusals of sending or resending an invitation.
#[derive(Debug, thiserror::Error)]
pub enum SendInviteError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// The client registered already: send a password reset instead.
    #[error(transparent)]
    AccountExists(#[from] InviteRefused),
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

/// Refusals of checking an invitation link (never consumes it).
#[derive(Debug, thiserror::Error)]
pub enum VerifyInviteError {
    /// Unknown, voided or used; or expired.
    #[error(transparent)]
    Refused(#[from] InviteRedeemRefused),
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
    /// Sends the portal invitation, or resends it (voiding the previous link).
    ///
    /// # Errors
    /// `ClientNotFound`, `AccountExists` (send a reset instead), `NoEmailOnFile`,
    /// `EmailNotPermitted`, or infrastructure.
    pub async fn send_invite(&self, staff: &StaffContext, id: &ClientId) -> Result<LinkSent, SendInviteError> {
        let settings = self.settings_of(staff.practice()).await.map_err(Infrastructure::from)?;
        self.invite_client(staff, id, &settings).await.1
    }

    /// The path of [`PortalService::send_invite`] for one client, with the practice's settings
    /// already read (a bulk send reads them once): reads the client, checks its email and
    /// consent, and commits the link, its mail and its audit event serialised with every other
    /// change of the client. Answers the client as read, when it exists.
    pub(super) async fn invite_client(
        &self,
        staff: &StaffContext,
        id: &ClientId,
        settings: &PracticeSettings,
    ) -> (Option<Client>, Result<LinkSent, SendInviteError>) {
        let client = match self.client_of(staff.practice(), id).await {
            Ok(Some(client)) => client,
            Ok(None) => return (None, Err(SendInviteError::ClientNotFound)),
            Err(error) => return (None, Err(error.into())),
        };
        let sent = self.invite_read_client(staff, &client, settings).await;
        (Some(client), sent)
    }

    async fn invite_read_client(
        &self,
        staff: &StaffContext,
        client: &Client,
        settings: &PracticeSettings,
    ) -> Result<LinkSent, SendInviteError> {
        let id = &client.id;
        let email = client.email.clone().ok_or(SendInviteError::NoEmailOnFile)?;
        if !client.email_consent {
            return Err(SendInviteError::EmailNotPermitted);
        }
        let practice = staff.practice();
        let sent = self.serialised(practice, id, |mut account| {
            let now = self.clock.now();
            let replaced_previous = account.invite().is_some();
            let token = self.issue_token(TokenPurpose::Invite, settings, now).map_err(Infrastructure::from)?;
            let sent = LinkSent { token_id: token.id, sent_at: now, expires_at: token.expires_at, replaced_previous };
            account.issue_invite(token)?;
            let action = if replaced_previous { AuditAction::InviteResent } else { AuditAction::InviteSent };
            let kind = MailKind::Invitation { token_id: sent.token_id, expires_at: sent.expires_at };
            let change = AccountCommit {
                at: now,
                mail: vec![self.mail(client, &email, kind, now).map_err(Infrastructure::from)?],
                audit: vec![
                    self.audit(now, practice, Some(id.clone()), staff.actor(), action, &staff.request)
                        .map_err(Infrastructure::from)?,
                ],
                account,
                revoke_sessions: false,
                clear_throttle: false,
            };
            Ok::<_, SendInviteError>((Some(change), sent))
        });
        sent.await?
    }

    /// Checks an invitation link without consuming it (page loads, link previews).
    ///
    /// # Errors
    /// `InviteNotFound`, `InviteExpired`, or infrastructure.
    pub async fn verify_invite(&self, token: &str) -> Result<LinkInfo, VerifyInviteError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Invite, token).await?.ok_or(InviteRedeemRefused::InviteNotFound)?;
        let expires_at = account.check_invite(&verified.hash(), self.clock.now())?.expires_at;
        let practice = self.practice_of(&account).await?;
        let check = self.link_check(&practice, &account, TokenPurpose::Invite).await?;
        Ok(LinkInfo { practice, expires_at, date_of_birth_required: check.required(), language: check.language })
    }
}
