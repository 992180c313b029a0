//! Enabling and disabling a portal account (staff).

use crate::account::{PortalStatus, ToggleRefused, Toggled};
use crate::ports::{AccountCommit, ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness};
use crate::records::AuditAction;
use crate::types::{ClientId, DisableReason};

use super::{Infrastructure, PortalService, StaffContext};

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
        let practice = staff.practice();
        let toggled = self.serialised(practice, id, |mut account| {
            let now = self.clock.now();
            let toggled = if enabled { account.enable()? } else { account.disable(reason.clone(), now)? };
            let status = account.status(now);
            if toggled == Toggled::Unchanged {
                return Ok((None, status));
            }
            let event = |action| {
                self.audit(now, practice, Some(id.clone()), staff.actor(), action, &staff.request)
                    .map_err(Infrastructure::from)
            };
            let mut audit = Vec::new();
            if enabled {
                audit.push(event(AuditAction::AccountEnabled)?);
            } else {
                let mut disabled = event(AuditAction::AccountDisabled)?;
                disabled.detail = reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty());
                audit.push(disabled);
                audit.push(event(AuditAction::SessionsRevoked)?);
            }
            let change = AccountCommit {
                at: now,
                account,
                mail: vec![],
                audit,
                revoke_sessions: !enabled,
                clear_throttle: true,
            };
            Ok::<_, ToggleError>((Some(change), status))
        });
        toggled.await?
    }
}
