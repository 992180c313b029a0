//! Registration: the client chooses a username and password from an invitation link.

use crate::account::{InviteRedeemRefused, PortalAccount};
use crate::password_policy::{PasswordContext, WeakPassword, check_password};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, Practice, RequestContext};
use crate::token::TokenPurpose;
use crate::types::{ClientId, InvalidInput, Password, Username};

use super::{DateOfBirthMismatch, Infrastructure, PortalService};

/// Refusals of registration.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Unknown, voided or used; or expired.
    #[error(transparent)]
    Refused(#[from] InviteRedeemRefused),
    /// The link needs the client's date of birth and it was missing or wrong (counted on the
    /// link; at none left the link is closed).
    #[error(transparent)]
    DateOfBirthMismatch(#[from] DateOfBirthMismatch),
    /// The username breaks the rules.
    #[error(transparent)]
    InvalidUsername(InvalidInput),
    /// Another account of the practice has this username.
    #[error("this username is already taken")]
    UsernameTaken,
    /// The password breaks the rules (every reason listed).
    #[error(transparent)]
    WeakPassword(#[from] WeakPassword),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// A successful registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The practice.
    pub practice: Practice,
    /// The client.
    pub client_id: ClientId,
    /// The chosen username.
    pub username: Username,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Registers from an invitation link without a date of birth: as
    /// [`PortalService::register_with_date_of_birth`] with no answer, so a link that needs one
    /// is refused.
    ///
    /// # Errors
    /// As [`PortalService::register_with_date_of_birth`].
    pub async fn register(
        &self,
        token: &str,
        username: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<Registered, RegisterError> {
        self.register_with_date_of_birth(token, None, username, password, context).await
    }

    /// Registers a username and password from an invitation link (consumes it). When the link
    /// needs the client's date of birth, `date_of_birth` (`YYYY-MM-DD`) is checked first,
    /// before the username or password is looked at (no hashing, no "username taken" answer
    /// for a wrong date).
    ///
    /// # Errors
    /// `Refused` (not found / expired), `DateOfBirthMismatch`, `InvalidUsername`,
    /// `UsernameTaken`, `WeakPassword`, or infrastructure (`Busy` when the hashing pool is
    /// saturated).
    pub async fn register_with_date_of_birth(
        &self,
        token: &str,
        date_of_birth: Option<&str>,
        username: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<Registered, RegisterError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Invite, token).await?.ok_or(InviteRedeemRefused::InviteNotFound)?;
        account.check_invite(&verified.hash(), self.clock.now())?;
        let practice = self.practice_of(&account).await?;
        let check = self.link_check(&practice, &account, TokenPurpose::Invite).await?;
        let recheck = |account: &PortalAccount, now| {
            account.check_invite(&verified.hash(), now).map(|_| ()).map_err(RegisterError::from)
        };
        self.answer_date_of_birth(check, date_of_birth, &practice, account.client_id(), &verified, context, recheck)
            .await?;
        let username = Username::parse(username).map_err(RegisterError::InvalidUsername)?;
        check_password(
            password,
            self.policy.password(),
            &PasswordContext { username: Some(&username), practice_name: practice.name.as_str() },
        )?;
        // Fail fast before the expensive hash; the unique index decides races at commit.
        if self.store.account_by_username(practice.id, &username).await?.is_some() {
            return Err(RegisterError::UsernameTaken);
        }
        let password_hash = self.hasher.hash(password).await?;
        let client_id = account.client_id().clone();
        // The link is checked again on the account as it is under the lock: of two
        // registrations with one link, the second sees it used.
        let registered = self.serialised(practice.id, &client_id, |mut account| {
            let now = self.clock.now();
            account.register(&verified.hash(), username.clone(), password_hash.clone(), now)?;
            let mut audit = self
                .audit(now, practice.id, Some(client_id.clone()), Actor::Client, AuditAction::Registered, context)
                .map_err(Infrastructure::from)?;
            audit.detail = Some(format!("username {username}"));
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit: vec![audit],
                revoke_sessions: false,
                clear_throttle: true,
            };
            Ok::<_, RegisterError>((Some(change), ()))
        });
        match registered.await {
            // The unique index decides a race for one username between two accounts.
            Err(StoreError::UsernameTaken) => Err(RegisterError::UsernameTaken),
            Err(other) => Err(other.into()),
            Ok(Err(refused)) => Err(refused),
            Ok(Ok(())) => Ok(Registered { practice, client_id, username }),
        }
    }
}
