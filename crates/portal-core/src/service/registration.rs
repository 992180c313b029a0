//! Registration: the client chooses a username and password from an invitation link.

use crate::account::InviteRedeemRefused;
use crate::password_policy::{PasswordContext, WeakPassword, check_password};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, Practice, RequestContext};
use crate::token::TokenPurpose;
use crate::types::{ClientId, InvalidInput, Password, Username};

use super::{Infrastructure, PortalService};

/// Refusals of registration.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// Unknown, voided or used; or expired.
    #[error(transparent)]
    Refused(#[from] InviteRedeemRefused),
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
    /// Registers a username and password from an invitation link (consumes it).
    ///
    /// # Errors
    /// `Refused` (not found / expired), `InvalidUsername`, `UsernameTaken`, `WeakPassword`, or
    /// infrastructure (`Busy` when the hashing pool is saturated).
    pub async fn register(
        &self,
        token: &str,
        username: &str,
        password: &Password,
        context: &RequestContext,
    ) -> Result<Registered, RegisterError> {
        let (verified, account) =
            self.account_for_link(TokenPurpose::Invite, token).await?.ok_or(InviteRedeemRefused::InviteNotFound)?;
        account.check_invite(&verified.hash(), self.clock.now())?;
        let username = Username::parse(username).map_err(RegisterError::InvalidUsername)?;
        let practice = self.practice_of(&account).await?;
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
