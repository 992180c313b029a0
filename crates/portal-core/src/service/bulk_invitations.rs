//! Invitations in bulk: staff pick clients (or "every client with no account and an email on
//! file") and send in one action. Each client goes through the very path of
//! [`PortalService::send_invite`]: its own serialised transaction, its own audit event, its own
//! mail. The answer says, client by client, what happened.
//!
//! One client's refusal (an account exists, no email, no consent, unknown) never stops the
//! others. An infrastructure failure is reported for the client it happened on; then:
//! - a failure confined to that client (its record unreadable, its account contended) lets the
//!   rest go on;
//! - a failure that says the database or the host's records are unavailable (or that no secure
//!   randomness is left) stops the call there, cleanly: the clients after it are
//!   [`BulkOutcome::NotAttempted`], and everything sent before stays sent. Going on would only
//!   wait out the database timeout once per remaining client.

use crate::account::{PortalStatus, PortalStatusKind};
use crate::client_list::{ClientListQuery, PageSize};
use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::Client;
use crate::types::ClientId;

use super::{ClientRecords, Infrastructure, LinkSent, PortalService, SendInviteError, StaffContext};

/// The most clients one bulk send invites (explicit ids, or the share of "every client
/// without an account" one call takes).
pub const MAX_INVITES_PER_CALL: usize = 500;

/// Which clients a bulk send invites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkSelection {
    /// These clients (1 to [`MAX_INVITES_PER_CALL`]; a repeated id is invited once), in this
    /// order. Works with a host's directory as with the bundled records.
    Clients(Vec<ClientId>),
    /// Every client of the bundled records with no portal account (never invited, or whose
    /// invitation expired) and an email on file they agreed to be written to, in list order,
    /// at most [`MAX_INVITES_PER_CALL`] per call; the answer says how many remain. Clients
    /// whose invitation is still pending are not included (they have a live link).
    EveryClientWithoutAccount,
}

/// Why a client was skipped: the refusals of [`PortalService::send_invite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// The client registered already (a reset is what they need).
    AccountExists,
    /// No email address on file.
    NoEmailOnFile,
    /// The client asked not to be emailed.
    EmailNotPermitted,
    /// No such client in the staff member's practice.
    ClientNotFound,
}

/// What happened to one client of a bulk send.
#[derive(Debug)]
pub enum BulkOutcome {
    /// Invited for the first time.
    Sent(LinkSent),
    /// Invited again: the previous link is void.
    Resent(LinkSent),
    /// Not invited, by the rules.
    Skipped(SkipReason),
    /// Not invited: the infrastructure failed for this client (nothing was written for it).
    Failed(Infrastructure),
    /// Not tried: an earlier client's failure said the database is unavailable, so the call
    /// stopped there. Sending again tries these clients.
    NotAttempted,
}

/// One client's line of a bulk send.
#[derive(Debug)]
pub struct BulkInviteResult {
    /// The client, as named.
    pub client_id: ClientId,
    /// The client's record as read, when it was (for showing the name).
    pub client: Option<Client>,
    /// What happened.
    pub outcome: BulkOutcome,
}

/// The answer of a bulk send.
#[derive(Debug)]
pub struct BulkInvites {
    /// One line per client, in the order of the selection.
    pub results: Vec<BulkInviteResult>,
    /// For [`BulkSelection::EveryClientWithoutAccount`]: how many more clients matched than
    /// this call took (send again for the next share). `None` for explicit ids.
    pub remaining: Option<u64>,
}

/// Refusals of a bulk send as a whole (nothing was sent).
#[derive(Debug, thiserror::Error)]
pub enum BulkInviteError {
    /// An empty list of clients.
    #[error("no clients were named")]
    NoClients,
    /// More clients than [`MAX_INVITES_PER_CALL`].
    #[error("at most {max} clients per call")]
    TooManyClients {
        /// The cap.
        max: usize,
    },
    /// "Every client without an account" needs the bundled client records: with a host's
    /// directory the portal cannot list the host's clients.
    #[error("the portal does not keep the client records here, so it cannot list every client")]
    NoClientRecords,
    /// Infrastructure, while choosing the clients (nothing was sent).
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

impl From<StoreError> for BulkInviteError {
    fn from(error: StoreError) -> Self {
        Self::Infrastructure(error.into())
    }
}

/// Whether a failure says the whole store (or the host's records, or randomness) is out, so
/// the clients after it would fail the same way.
fn stops_the_rest(error: &Infrastructure) -> bool {
    matches!(error, Infrastructure::Store(StoreError::Unavailable(_)) | Infrastructure::Randomness(_))
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Sends (or resends) the invitation of each selected client, each in its own serialised
    /// transaction with its own audit event and mail, as [`PortalService::send_invite`] does.
    /// A client with an account, without an email or consent, or unknown is skipped with the
    /// reason; see the module documentation for infrastructure failures.
    ///
    /// # Errors
    /// `NoClients` or `TooManyClients` for explicit ids, `NoClientRecords` for
    /// [`BulkSelection::EveryClientWithoutAccount`] over a host's directory, or infrastructure
    /// while reading the practice or listing its clients (nothing sent).
    pub async fn send_invites(
        &self,
        staff: &StaffContext,
        selection: BulkSelection,
    ) -> Result<BulkInvites, BulkInviteError> {
        let (ids, remaining) = match selection {
            BulkSelection::Clients(ids) => {
                if ids.is_empty() {
                    return Err(BulkInviteError::NoClients);
                }
                if ids.len() > MAX_INVITES_PER_CALL {
                    return Err(BulkInviteError::TooManyClients { max: MAX_INVITES_PER_CALL });
                }
                let mut seen = std::collections::HashSet::with_capacity(ids.len());
                (ids.into_iter().filter(|id| seen.insert(id.clone())).collect::<Vec<_>>(), None)
            }
            BulkSelection::EveryClientWithoutAccount => {
                if self.records != ClientRecords::Bundled {
                    return Err(BulkInviteError::NoClientRecords);
                }
                let (ids, remaining) = self.clients_to_invite(staff).await?;
                (ids, Some(remaining))
            }
        };
        let settings = self.settings_of(staff.practice()).await?;
        let mut results = Vec::with_capacity(ids.len());
        let mut stopped = false;
        for id in ids {
            if stopped {
                results.push(BulkInviteResult { client_id: id, client: None, outcome: BulkOutcome::NotAttempted });
                continue;
            }
            let (client, sent) = self.invite_client(staff, &id, &settings).await;
            let outcome = match sent {
                Ok(sent) if sent.replaced_previous => BulkOutcome::Resent(sent),
                Ok(sent) => BulkOutcome::Sent(sent),
                Err(SendInviteError::AccountExists(_)) => BulkOutcome::Skipped(SkipReason::AccountExists),
                Err(SendInviteError::NoEmailOnFile) => BulkOutcome::Skipped(SkipReason::NoEmailOnFile),
                Err(SendInviteError::EmailNotPermitted) => BulkOutcome::Skipped(SkipReason::EmailNotPermitted),
                Err(SendInviteError::ClientNotFound) => BulkOutcome::Skipped(SkipReason::ClientNotFound),
                Err(SendInviteError::Infrastructure(error)) => {
                    stopped = stops_the_rest(&error);
                    BulkOutcome::Failed(error)
                }
            };
            results.push(BulkInviteResult { client_id: id, client, outcome });
        }
        Ok(BulkInvites { results, remaining })
    }

    /// The bundled clients with no account (never invited, then invitation expired) and an
    /// email they may be written to, in list order: the first [`MAX_INVITES_PER_CALL`], and
    /// how many more there are. Pages through the client list with its status filter.
    async fn clients_to_invite(&self, staff: &StaffContext) -> Result<(Vec<ClientId>, u64), StoreError> {
        let mut chosen = Vec::new();
        let mut remaining = 0_u64;
        let size = PageSize::new(u64::from(PageSize::MAX)).unwrap_or_default();
        for status in [PortalStatusKind::NoAccount, PortalStatusKind::InviteExpired] {
            let mut query = ClientListQuery { status: Some(status), size, ..ClientListQuery::default() };
            loop {
                let now = self.clock.now();
                let page = self.store.list_clients(staff.practice(), &query, now).await?;
                for (client, account) in &page.items {
                    let status = account.status(now);
                    let wanted = matches!(status, PortalStatus::NotInvited | PortalStatus::InviteExpired { .. })
                        && client.email.is_some()
                        && client.email_consent;
                    if !wanted {
                        continue;
                    }
                    if chosen.len() < MAX_INVITES_PER_CALL {
                        chosen.push(client.id.clone());
                    } else {
                        remaining += 1;
                    }
                }
                match page.next {
                    Some(next) => query.cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok((chosen, remaining))
    }
}
