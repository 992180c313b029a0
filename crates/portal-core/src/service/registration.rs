//! Registration: the client chooses a username and password from an invitation link.

use crate::account::InviteRedeemRefused;
use crate::password_policy::{PasswordContext, WeakPassword, check_password};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{Actor, AuditAction, Practice, RequestContext};
use crate::token::TokenPurpose;
use crate::types::{ClientId, InvalidInput, Password, Username};

use super::{CONFLICT_ATTEMPTS, Infrastructure, PortalService};

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
        let mut account = account;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            account.register(&verified.hash(), username.clone(), password_hash.clone(), now)?;
            let mut audit = self.audit(
                now,
                practice.id,
                Some(account.client_id().clone()),
                Actor::Client,
                AuditAction::Registered,
                context,
            )?;
            audit.detail = Some(format!("username {username}"));
            let client_id = account.client_id().clone();
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit: vec![audit],
                revoke_sessions: false,
                clear_throttle: true,
            };
            match self.store.commit(change).await {
                Err(StoreError::UsernameTaken) => return Err(RegisterError::UsernameTaken),
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => {
                    account = self
                        .store
                        .account_by_token(TokenPurpose::Invite, &verified.hash())
                        .await?
                        .ok_or(InviteRedeemRefused::InviteNotFound)?;
                    continue;
                }
                other => other?,
            }
            return Ok(Registered { practice, client_id, username });
        }
    }
}
