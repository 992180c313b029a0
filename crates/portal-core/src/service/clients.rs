//! Client records as staff see them: create, change, list, the portal panel and the audit trail.

use jiff::Timestamp;

use crate::account::{PortalAccount, PortalStatus};
use crate::client_list::{ClientListQuery, ClientPage};
use crate::date_of_birth::DateOfBirth;
use crate::ports::{ClientDirectory, Clock, PasswordHasher, PortalStore, Randomness, StoreError};
use crate::records::{AccountPanel, AuditAction, AuditEvent, Client, DeliveryState};
use crate::token::{IssuedToken, TokenState};
use crate::types::{ClientId, DisplayName, EmailAddress, InvalidInput, Language};

use super::{ClientRecords, Infrastructure, PortalService, StaffContext};

/// Refusals of client-record operations.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No such client in the staff member's practice.
    #[error("client not found")]
    ClientNotFound,
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// The most clients [`PortalService::portal_states`] answers for in one call.
pub const MAX_STATES_PER_CALL: usize = 500;

/// Refusals of [`PortalService::portal_states`].
#[derive(Debug, thiserror::Error)]
pub enum PortalStatesError {
    /// More ids than [`MAX_STATES_PER_CALL`] in one call.
    #[error("at most {max} clients per call")]
    TooManyClients {
        /// The cap.
        max: usize,
    },
    /// Infrastructure.
    #[error(transparent)]
    Infrastructure(#[from] Infrastructure),
}

/// A new client record, as typed by staff.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Full name.
    pub name: String,
    /// Email on file (`None` or empty: no email).
    pub email: Option<String>,
    /// `en` or `es` (default `en`).
    pub language: Option<String>,
    /// Whether the client agreed to receive email (default true when an email is given).
    pub email_consent: Option<bool>,
    /// Date of birth, `YYYY-MM-DD` (`None` or empty: none on file).
    pub date_of_birth: Option<String>,
}

/// Changes to a client record; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    /// New name.
    pub name: Option<String>,
    /// New email: `Some(None)` or `Some(Some(""))` removes it.
    pub email: Option<Option<String>>,
    /// New language.
    pub language: Option<String>,
    /// New consent.
    pub email_consent: Option<bool>,
    /// New date of birth, `YYYY-MM-DD`: `Some(None)` or `Some(Some(""))` removes it.
    pub date_of_birth: Option<Option<String>>,
}

/// A client with its portal status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The record.
    pub client: Client,
    /// The status at the time of the request.
    pub portal: PortalStatus,
}

/// A token as staff see it: when it was sent, when it stops working, and its mail's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// When it was issued.
    pub sent_at: Timestamp,
    /// When it stops (or stopped) working.
    pub expires_at: Timestamp,
    /// True once redeemed.
    pub used: bool,
    /// True when the link was closed after too many wrong dates of birth (staff send a new
    /// one).
    pub closed_after_date_of_birth_failures: bool,
    /// Delivery of the latest email that carried it (the invitation's reminder, once one was
    /// queued: it carries the same link).
    pub delivery: Option<DeliveryState>,
    /// When the invitation's one reminder was queued, if it was (always `None` for a reset).
    pub reminder_sent_at: Option<Timestamp>,
}

/// The portal panel of a client's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalView {
    /// The status.
    pub status: PortalStatus,
    /// The latest invitation, while the client has no account.
    pub invite: Option<TokenView>,
    /// The latest reset, while the account is active.
    pub reset: Option<TokenView>,
    /// True when the client's record holds a date of birth. With the practice's date-of-birth
    /// check on, links ask for it; without one on file they open without it (the panel says so).
    pub date_of_birth_on_file: bool,
}

impl<S, H, C, R, D> PortalService<S, H, C, R, D>
where
    S: PortalStore,
    H: PasswordHasher,
    C: Clock,
    R: Randomness,
    D: ClientDirectory,
{
    /// Creates a client record. Needs no portal set-up.
    ///
    /// # Errors
    /// `Invalid` for a bad field, or infrastructure.
    pub async fn create_client(&self, staff: &StaffContext, new: NewClient) -> Result<ClientView, ClientError> {
        let now = self.clock.now();
        let email = parse_email(new.email.as_deref())?;
        let client = Client {
            id: ClientId::generate(&self.random)?,
            practice_id: staff.practice(),
            name: DisplayName::parse("name", &new.name)?,
            email_consent: new.email_consent.unwrap_or(true),
            email,
            date_of_birth: parse_date_of_birth(new.date_of_birth.as_deref(), now)?,
            language: new.language.as_deref().map(Language::parse).transpose()?.unwrap_or_default(),
            created_at: now,
        };
        let audit = self.audit(
            now,
            client.practice_id,
            Some(client.id.clone()),
            staff.actor(),
            AuditAction::ClientCreated,
            &staff.request,
        )?;
        self.store.create_client(&client, &audit).await?;
        Ok(ClientView { client, portal: PortalStatus::NotInvited })
    }

    /// Changes a client's name, email, language or consent.
    ///
    /// # Errors
    /// `ClientNotFound` (also for another practice's client), `Invalid`, or infrastructure.
    pub async fn update_client(
        &self,
        staff: &StaffContext,
        id: &ClientId,
        patch: ClientPatch,
    ) -> Result<ClientView, ClientError> {
        let now = self.clock.now();
        let mut client = self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
        if let Some(name) = patch.name {
            client.name = DisplayName::parse("name", &name)?;
        }
        if let Some(email) = patch.email {
            client.email = parse_email(email.as_deref())?;
        }
        if let Some(language) = patch.language {
            client.language = Language::parse(&language)?;
        }
        if let Some(consent) = patch.email_consent {
            client.email_consent = consent;
        }
        if let Some(date_of_birth) = patch.date_of_birth {
            client.date_of_birth = parse_date_of_birth(date_of_birth.as_deref(), now)?;
        }
        let audit = self.audit(
            now,
            client.practice_id,
            Some(client.id.clone()),
            staff.actor(),
            AuditAction::ClientUpdated,
            &staff.request,
        )?;
        match self.store.update_client(&client, &audit).await {
            Err(StoreError::NotFound(_)) => return Err(ClientError::ClientNotFound),
            other => other?,
        }
        let account = self.store.account(staff.practice(), id).await?;
        Ok(ClientView { client, portal: account.status(now) })
    }

    /// One client with its portal status: with the bundled records one read of the store
    /// ([`Directory::client_panel`](crate::Directory::client_panel)), otherwise the host's
    /// directory and then the portal's tables.
    ///
    /// # Errors
    /// `ClientNotFound` (also for another practice's client), or infrastructure.
    pub async fn client(&self, staff: &StaffContext, id: &ClientId) -> Result<ClientView, ClientError> {
        let (client, account) = match self.records {
            ClientRecords::Bundled => {
                let (client, panel) =
                    self.store.client_panel(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
                (client, panel.account)
            }
            ClientRecords::Host => {
                let client = self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
                (client, self.store.account(staff.practice(), id).await?)
            }
        };
        Ok(ClientView { client, portal: account.status(self.clock.now()) })
    }

    /// One page of the clients of the staff member's practice (the bundled records), each with
    /// its portal status: those matching the query's search and status, in list order (name,
    /// case-insensitively, then id), from the query's cursor. One read of the store.
    ///
    /// # Errors
    /// Infrastructure.
    pub async fn list_clients(
        &self,
        staff: &StaffContext,
        query: &ClientListQuery,
    ) -> Result<ClientPage<ClientView>, ClientError> {
        let now = self.clock.now();
        let page = self.store.list_clients(staff.practice(), query, now).await?;
        Ok(page.map(|(client, account)| ClientView { client, portal: account.status(now) }))
    }

    /// The portal state of many clients at once, for a host's client lists: one read of the
    /// portal's own tables, however many ids (at most [`MAX_STATES_PER_CALL`]). The directory
    /// is not consulted: the host asks about its own clients, and an id the portal has never
    /// seen is simply a client with no account ([`PortalStatus::NotInvited`]). Answers follow the
    /// order of `ids`; a repeated id is answered once.
    ///
    /// # Errors
    /// `TooManyClients` above the cap, or infrastructure.
    pub async fn portal_states(
        &self,
        staff: &StaffContext,
        ids: &[ClientId],
    ) -> Result<Vec<(ClientId, PortalStatus)>, PortalStatesError> {
        if ids.len() > MAX_STATES_PER_CALL {
            return Err(PortalStatesError::TooManyClients { max: MAX_STATES_PER_CALL });
        }
        let mut unique = std::collections::HashSet::with_capacity(ids.len());
        let ids: Vec<ClientId> = ids.iter().filter(|id| unique.insert(*id)).cloned().collect();
        let stored = self.store.accounts(staff.practice(), &ids).await.map_err(Infrastructure::from)?;
        let now = self.clock.now();
        let mut by_client: std::collections::HashMap<ClientId, PortalAccount> =
            stored.into_iter().map(|account| (account.client_id().clone(), account)).collect();
        Ok(ids
            .into_iter()
            .map(|id| {
                let status = by_client.remove(&id).map_or(PortalStatus::NotInvited, |account| account.status(now));
                (id, status)
            })
            .collect())
    }

    /// The portal panel: status plus the latest invite or reset and its mail's delivery. With
    /// the bundled records, one read of the store ([`Directory::client_panel`]); with a host's
    /// directory, the host's lookup and one read of the portal's tables
    /// ([`AccountStore::account_panel`]).
    ///
    /// [`Directory::client_panel`]: crate::Directory::client_panel
    /// [`AccountStore::account_panel`]: crate::AccountStore::account_panel
    ///
    /// # Errors
    /// `ClientNotFound`, or infrastructure.
    pub async fn portal(&self, staff: &StaffContext, id: &ClientId) -> Result<PortalView, ClientError> {
        let (client, panel) = match self.records {
            ClientRecords::Bundled => {
                self.store.client_panel(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?
            }
            ClientRecords::Host => {
                let client = self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
                (client, self.store.account_panel(staff.practice(), id).await?)
            }
        };
        Ok(PortalView {
            date_of_birth_on_file: client.date_of_birth.is_some(),
            ..portal_view(&panel, self.clock.now())
        })
    }

    /// The client's audit trail, oldest first.
    ///
    /// # Errors
    /// `ClientNotFound`, or infrastructure.
    pub async fn audit_trail(&self, staff: &StaffContext, id: &ClientId) -> Result<Vec<AuditEvent>, ClientError> {
        self.client_of(staff.practice(), id).await?.ok_or(ClientError::ClientNotFound)?;
        Ok(self.store.trail(staff.practice(), id).await?)
    }
}

/// What the panel shows of an account at `now`: the invitation while there is no account, the
/// reset while the account is active, each with its mail's delivery.
fn portal_view(panel: &AccountPanel, now: Timestamp) -> PortalView {
    let account = &panel.account;
    let view = |token: &IssuedToken, delivery: &Option<DeliveryState>| TokenView {
        sent_at: token.issued_at,
        expires_at: token.expires_at,
        used: matches!(token.state, TokenState::Used { .. }),
        closed_after_date_of_birth_failures: token.is_closed(),
        delivery: delivery.clone(),
        reminder_sent_at: token.reminder.and_then(crate::InviteReminder::queued_at),
    };
    let invite = match (account.state(), account.invite()) {
        (crate::AccountState::NoAccount, Some(token)) => Some(view(token, &panel.invite_delivery)),
        _ => None,
    };
    let reset = match (account.is_active(), account.reset()) {
        (true, Some(token)) => Some(view(token, &panel.reset_delivery)),
        _ => None,
    };
    PortalView { status: account.status(now), invite, reset, date_of_birth_on_file: false }
}

/// An email as staff typed it: empty means none on file.
pub(super) fn parse_email(raw: Option<&str>) -> Result<Option<EmailAddress>, InvalidInput> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(email) => EmailAddress::parse(email).map(Some),
    }
}

/// A date of birth as staff typed it: empty means none on file. "Today" is the UTC date; the
/// day's slack [`DateOfBirth::parse`] allows covers every zone.
pub(super) fn parse_date_of_birth(raw: Option<&str>, now: Timestamp) -> Result<Option<DateOfBirth>, InvalidInput> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateOfBirth::parse(text, jiff::tz::Offset::UTC.to_datetime(now).date()).map(Some),
    }
}
