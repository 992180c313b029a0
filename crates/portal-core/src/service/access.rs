//! Enabling and disabling a portal account (staff).

use crate::account::{PortalStatus, ToggleRefused, Toggled};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::AuditAction;
use crate::types::{ClientId, DisableReason};

use super::{CONFLICT_ATTEMPTS, Infrastructure, PortalService, StaffContext};

/// Refusals of enabling or disabling.
#[derive(Debug, thiserror::Error)]
pub enum ToggleError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// No account to toggle.
    #[error(transparent)]
    Refused(#[from] ToggleRefused),
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
    /// Turns an account on or off. Disabling voids a pending reset and revokes every session;
    /// enabling clears the sign-in lock. Repeating a toggle changes nothing.
    ///
    /// # Errors
    /// `ClientNotFound`, `NoAccount`, or infrastructure.
    pub async fn set_enabled(
        &self,
        staff: &StaffContext,
        id: &ClientId,
        enabled: bool,
        reason: Option<DisableReason>,
    ) -> Result<PortalStatus, ToggleError> {
        self.client_of(staff.practice(), id).await?.ok_or(ToggleError::ClientNotFound)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let now = self.clock.now();
            let mut account = self.store.account(staff.practice(), id).await?;
            let toggled = if enabled { account.enable()? } else { account.disable(reason.clone(), now)? };
            let status = account.status(now);
            if toggled == Toggled::Unchanged {
                return Ok(status);
            }
            let mut audit = Vec::new();
            if enabled {
                audit.push(self.audit(
                    now,
                    staff.practice(),
                    Some(id.clone()),
                    staff.actor(),
                    AuditAction::AccountEnabled,
                    &staff.request,
                )?);
            } else {
                let mut disabled = self.audit(
                    now,
                    staff.practice(),
                    Some(id.clone()),
                    staff.actor(),
                    AuditAction::AccountDisabled,
                    &staff.request,
                )?;
                disabled.detail = reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty());
                audit.push(disabled);
                audit.push(self.audit(
                    now,
                    staff.practice(),
                    Some(id.clone()),
                    staff.actor(),
                    AuditAction::SessionsRevoked,
                    &staff.request,
                )?);
            }
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit,
                revoke_sessions: !enabled,
                clear_throttle: true,
            };
            match self.store.commit(change).await {
                Err(StoreError::Conflict) if attempt < CONFLICT_ATTEMPTS => continue,
                other => other?,
            }
            return Ok(status);
        }
    }
}
