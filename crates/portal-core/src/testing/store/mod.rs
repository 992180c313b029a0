//! The in-memory store's state, its all-or-nothing commit, and the inspection helpers tests use;
//! the port implementations live in one submodule per port.

mod accounts;
mod audit;
mod directory;
mod factors;
mod outbox;
mod retention;
mod sessions;
mod staff;
mod throttle;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::account::PortalAccount;
use crate::delivery::DeliveryProblem;
use crate::ports::{AccountCommit, StoreError};
use crate::records::{
    AccountPanel, AuditEvent, Client, DeliveryState, MailKind, OutgoingMail, Practice, Session, StaffMember,
    ThrottleState,
};
use crate::staff::StaffSession;
use crate::token::{IssuedToken, TokenHash, TokenPurpose, TokenState};
use crate::types::{AuditId, ClientId, EmailAddress, MailId, PracticeId, SessionId, StaffId, StaffSessionId, TokenId};

use super::lock;

/// One entry of a client's token history: every invite or reset token an account ever held,
/// with the state storage last saw it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The practice of the account that held the token.
    pub practice_id: PracticeId,
    /// The client whose account held the token.
    pub client_id: ClientId,
    /// The token as last committed (live or used).
    pub token: IssuedToken,
    /// When a later token of the same purpose (or a commit that dropped it, such as disable)
    /// voided it. A voided token never comes back.
    pub voided_at: Option<Timestamp>,
}

impl StoredToken {
    /// True when the token is neither used nor voided (it may still be expired: expiry is a
    /// comparison with `now`, not a state).
    #[must_use]
    pub fn is_live(&self) -> bool {
        self.token.state == TokenState::Live && self.voided_at.is_none()
    }
}

/// What an address is replaced with once a mail is delivered.
pub(super) const PURGED_ADDRESS: &str = "purged@purged.invalid";

/// One outbox row.
#[derive(Debug, Clone)]
struct OutboxRow {
    /// The message; purged by `mark_sent` (see [`InMemoryStore`]).
    mail: OutgoingMail,
    /// The token the mail carried a link for, kept after the purge for the staff view.
    token_id: Option<TokenId>,
    delivery: DeliveryState,
    /// Held by a dispatcher until this instant.
    lease_until: Option<Timestamp>,
}

impl OutboxRow {
    fn queued(mail: OutgoingMail) -> Self {
        let delivery = DeliveryState::Pending { attempts: 0, next_attempt_at: mail.created_at, last_problem: None };
        Self { token_id: mail.kind.token_id(), mail, delivery, lease_until: None }
    }

    /// Drops what was needed only to render the message: the recipient's address, and
    /// the token id inside the body (the link could be re-derived from it).
    fn purge(&mut self) {
        self.mail.to = EmailAddress::parse(PURGED_ADDRESS).expect("the purged address is a valid address");
        let nil = TokenId::from_uuid(uuid::Uuid::nil());
        self.mail.kind = match self.mail.kind {
            MailKind::Invitation { expires_at, .. } => MailKind::Invitation { token_id: nil, expires_at },
            MailKind::PasswordReset { expires_at, .. } => MailKind::PasswordReset { token_id: nil, expires_at },
            MailKind::InvitationReminder { expires_at, .. } => {
                MailKind::InvitationReminder { token_id: nil, expires_at }
            }
            MailKind::PasswordChanged
            | MailKind::SecondFactorAdded
            | MailKind::SecondFactorRemoved
            | MailKind::RecoveryCodeUsed => self.mail.kind.clone(),
        };
    }
}

/// Everything the store holds.
#[derive(Default)]
struct State {
    practices: HashMap<PracticeId, Practice>,
    staff_keys: HashMap<TokenHash, StaffMember>,
    /// The lifetime of each key in `staff_keys` (a key without an entry: no expiry, never
    /// revoked, never used).
    staff_key_life: HashMap<StaffId, staff::KeyLife>,
    staff_sessions: HashMap<StaffSessionId, StaffSession>,
    /// How many times a key was read by its hash, so a test can see that an answer came from
    /// the service's memory of keys instead.
    staff_key_reads: usize,
    /// The bundled client records (the embedded default [`ClientDirectory`](crate::ClientDirectory)),
    /// by practice and the client's id.
    clients: HashMap<(PracticeId, ClientId), Client>,
    /// Stored accounts, at their stored version (`loaded version + 1`).
    accounts: HashMap<(PracticeId, ClientId), PortalAccount>,
    /// Every token ever committed, in the order first seen.
    tokens: Vec<StoredToken>,
    sessions: HashMap<SessionId, Session>,
    throttle: HashMap<(PracticeId, String), ThrottleState>,
    outbox: Vec<OutboxRow>,
    audit: Vec<AuditEvent>,
    audit_ids: HashSet<AuditId>,
    /// Second factors, confirmed or pending, in the order first stored.
    factors: Vec<crate::second_factor::SecondFactor>,
    /// Recovery codes by hash: the owner, and when it was used.
    recovery_codes: HashMap<TokenHash, factors::StoredCode>,
    /// Second-step challenges by hash.
    challenges: HashMap<TokenHash, crate::second_factor::FactorChallenge>,
    /// Passkey ceremonies by hash.
    ceremonies: HashMap<TokenHash, crate::second_factor::PasskeyCeremony>,
}

/// Fails with `Duplicate(what)` when an id is already `taken` or appears twice in `ids`.
fn check_unique<T: Copy + Eq + Hash>(
    ids: impl IntoIterator<Item = T>,
    taken: impl Fn(T) -> bool,
    what: &'static str,
) -> Result<(), StoreError> {
    let mut batch = HashSet::new();
    for id in ids {
        if taken(id) || !batch.insert(id) {
            return Err(StoreError::Duplicate(what));
        }
    }
    Ok(())
}

impl State {
    fn client_in(&self, practice: PracticeId, client: &ClientId) -> Option<&Client> {
        self.clients.get(&(practice, client.clone()))
    }

    fn account_or_new(&self, practice: PracticeId, client: &ClientId) -> PortalAccount {
        self.accounts
            .get(&(practice, client.clone()))
            .cloned()
            .unwrap_or_else(|| PortalAccount::new(practice, client.clone()))
    }

    /// The account with the delivery of the latest mail that carried each current link.
    fn account_panel(&self, practice: PracticeId, client: &ClientId) -> AccountPanel {
        let account = self.account_or_new(practice, client);
        let delivery = |token: Option<&IssuedToken>| {
            let token = token?.id;
            self.outbox.iter().rev().find(|row| row.token_id == Some(token)).map(|row| row.delivery.clone())
        };
        AccountPanel { invite_delivery: delivery(account.invite()), reset_delivery: delivery(account.reset()), account }
    }

    fn check_new_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        check_unique(events.iter().map(|e| e.id), |id| self.audit_ids.contains(&id), "audit event")
    }

    fn check_new_mail(&self, mail: &[OutgoingMail]) -> Result<(), StoreError> {
        check_unique(mail.iter().map(|m| m.id), |id| self.outbox.iter().any(|row| row.mail.id == id), "mail")
    }

    fn push_audit(&mut self, events: impl IntoIterator<Item = AuditEvent>) {
        for event in events {
            self.audit_ids.insert(event.id);
            self.audit.push(event);
        }
    }

    /// A pending row by id; rows already sent or failed are final and ignore further reports.
    fn pending_row(&mut self, id: MailId) -> Option<&mut OutboxRow> {
        self.outbox.iter_mut().find(|row| row.mail.id == id && matches!(row.delivery, DeliveryState::Pending { .. }))
    }

    fn commit(&mut self, change: AccountCommit) -> Result<(), StoreError> {
        let AccountCommit { at, account, mail, audit, revoke_sessions, clear_throttle } = change;
        let (practice, client) = (account.practice_id(), account.client_id().clone());
        let key = (practice, client.clone());

        // Validate everything first: nothing is written unless all of it can be. The client
        // itself is the host's: the store neither knows nor checks it (design §7).
        let stored_version = self.accounts.get(&key).map_or(0, PortalAccount::version);
        if stored_version != account.version() {
            return Err(StoreError::Conflict);
        }
        let new_version =
            account.version().checked_add(1).ok_or_else(|| StoreError::Corrupt("version overflow".into()))?;
        if let Some(username) = account.username() {
            let taken = self.accounts.values().any(|other| {
                other.practice_id() == practice
                    && *other.client_id() != client
                    && other.username().is_some_and(|u| u.as_str().eq_ignore_ascii_case(username.as_str()))
            });
            if taken {
                return Err(StoreError::UsernameTaken);
            }
        }
        let current: Vec<&IssuedToken> = [account.invite(), account.reset()].into_iter().flatten().collect();
        let foreign = |id: TokenId| {
            self.tokens.iter().any(|t| t.token.id == id && (t.practice_id, &t.client_id) != (practice, &client))
        };
        check_unique(current.iter().map(|t| t.id), foreign, "token")?;
        self.check_new_mail(&mail)?;
        self.check_new_audit(&audit)?;

        let live: Vec<TokenId> =
            current.iter().filter(|t| t.state == TokenState::Live && !t.is_closed()).map(|t| t.id).collect();

        // Write. Nothing below can fail.
        for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
            let keep = account.token(purpose).map(|t| t.id);
            self.tokens
                .iter_mut()
                .filter(|t| t.practice_id == practice && t.client_id == client)
                .filter(|t| t.token.purpose == purpose && t.is_live())
                .filter(|t| Some(t.token.id) != keep)
                .for_each(|t| t.voided_at = Some(at));
        }
        for token in current {
            match self.tokens.iter_mut().find(|t| t.token.id == token.id) {
                Some(stored) => stored.token = token.clone(),
                None => self.tokens.push(StoredToken {
                    practice_id: practice,
                    client_id: client.clone(),
                    token: token.clone(),
                    voided_at: None,
                }),
            }
        }
        if revoke_sessions {
            self.sessions.retain(|_, s| !(s.practice_id == practice && s.client_id == client));
        }
        if let Some(username) = account.username().filter(|_| clear_throttle) {
            self.throttle.remove(&(practice, username.as_str().to_owned()));
        }
        let disabled = matches!(account.state(), crate::AccountState::Disabled { .. });
        for row in self.outbox.iter_mut().filter(|row| row.mail.practice_id == practice && row.mail.client_id == client)
        {
            let dead_link = row.mail.kind.token_id().is_some_and(|id| !live.contains(&id));
            if matches!(row.delivery, DeliveryState::Pending { .. }) && (disabled || dead_link) {
                let problem =
                    if disabled { DeliveryProblem::account_disabled() } else { DeliveryProblem::link_superseded() };
                row.delivery = DeliveryState::Failed { at, problem, gave_up_after: None };
            }
        }
        self.outbox.extend(mail.into_iter().map(OutboxRow::queued));
        self.push_audit(audit);
        let stored = PortalAccount::restore(
            practice,
            client.clone(),
            new_version,
            account.state().clone(),
            account.invite().cloned(),
            account.reset().cloned(),
        )
        .with_reset_requests(*account.reset_requests());
        self.accounts.insert(key, stored);
        Ok(())
    }
}

/// An in-memory, fully working [`PortalStore`](crate::PortalStore): practices, staff keys,
/// clients, accounts with their token history, sessions, throttle counters, the mail outbox and
/// the audit trail. Clones share one state.
///
/// It keeps every contract of the ports as a database would, including the ones the port docs
/// leave to the database itself: ids are primary keys (a reused mail, audit-event, client,
/// session or staff-key id is [`StoreError::Duplicate`]), and references must resolve (a
/// session or account of an unknown client is [`StoreError::NotFound`]`("client")`). Every
/// write validates first and then applies all of its effects under one lock, so it is atomic and
/// never half done.
///
/// **Outbox purge.** [`MailOutbox::mark_sent`](crate::MailOutbox::mark_sent) keeps the row's
/// metadata for the staff view (id, practice, client, language, kind, link expiry, creation
/// time, delivery state, and the token id in a separate column so
/// [`MailOutbox::delivery_for_token`](crate::MailOutbox::delivery_for_token) keeps working) and
/// replaces what was needed only to render the message: the recipient address becomes
/// `purged@purged.invalid`, the recipient name `(purged)`, and the token id inside the kind the
/// nil id. Rows marked failed are not purged.
///
/// Not durable: everything is lost when the last clone is dropped.
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::testing::{InMemoryStore, SeededRandom};
/// use portal_core::{
///     AccountCommit, AccountStore, Actor, AuditAction, AuditEvent, AuditId, Client, ClientId, Directory,
///     DisplayName, EmailAddress, IssuedToken, Language, MailId, MailKind, MailOutbox, OutgoingMail,
///     PortalStatus, Practice, PracticeId, PracticeSlug, RequestContext, StaffId, StaffMember, TimeZoneName,
///     TokenHash, TokenId, TokenPurpose, TokenState,
/// };
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = InMemoryStore::new();
/// let random = SeededRandom::new(7);
/// let now = Timestamp::from_second(1_800_000_000)?;
///
/// // A practice with its first staff key, and a client.
/// let practice = Practice {
///     id: PracticeId::generate(&random)?,
///     slug: PracticeSlug::parse("sunrise")?,
///     name: DisplayName::parse("name", "Sunrise Therapy")?,
///     time_zone: TimeZoneName::utc(),
///     discreet_mail: true,
///     settings: portal_core::PracticeSettings::default(),
///     created_at: now,
/// };
/// let label = DisplayName::parse("label", "Front desk")?;
/// let staff = StaffMember { id: StaffId::generate(&random)?, practice_id: practice.id, label, created_at: now };
/// store.create_practice(&practice, &staff, &TokenHash::of(b"pst_staff-key")).await?;
/// let client = Client {
///     id: ClientId::generate(&random)?,
///     practice_id: practice.id,
///     name: DisplayName::parse("name", "Ada Lovelace")?,
///     email: Some(EmailAddress::parse("ada@example.org")?),
///     language: Language::En,
///     email_consent: true,
///     date_of_birth: None,
///     created_at: now,
/// };
/// let created = AuditEvent {
///     id: AuditId::generate(&random)?,
///     at: now,
///     practice_id: practice.id,
///     client_id: Some(client.id.clone()),
///     actor: Actor::Staff { id: staff.id, label: staff.label.clone() },
///     action: AuditAction::ClientCreated,
///     failure: None,
///     detail: None,
///     context: RequestContext::default(),
/// };
/// store.create_client(&client, &created).await?;
///
/// // Invite the client: the account, its token and the mail carrying it in one commit.
/// let mut account = store.account(practice.id, &client.id).await?;
/// assert_eq!(account.version(), 0);
/// let invite = IssuedToken {
///     id: TokenId::generate(&random)?,
///     purpose: TokenPurpose::Invite,
///     hash: TokenHash::of(b"link secret"),
///     issued_at: now,
///     expires_at: now + SignedDuration::from_hours(48),
///     state: TokenState::Live,
///     date_of_birth_failures: 0,
///     reminder: None,
/// };
/// account.issue_invite(invite.clone())?;
/// let mail = OutgoingMail {
///     id: MailId::generate(&random)?,
///     practice_id: practice.id,
///     client_id: client.id.clone(),
///     to: EmailAddress::parse("ada@example.org")?,
///     kind: MailKind::Invitation { token_id: invite.id, expires_at: invite.expires_at },
///     created_at: now,
/// };
/// store
///     .commit(AccountCommit {
///         at: now,
///         account,
///         mail: vec![mail],
///         audit: vec![],
///         revoke_sessions: false,
///         clear_throttle: false,
///     })
///     .await?;
///
/// // Read it back.
/// let stored = store.account(practice.id, &client.id).await?;
/// assert_eq!(stored.version(), 1);
/// assert!(matches!(stored.status(now), PortalStatus::Invited { .. }));
/// assert_eq!(store.account_by_token(TokenPurpose::Invite, &invite.hash).await?, Some(stored));
/// assert_eq!(store.pending_count().await?, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("InMemoryStore")
            .field("practices", &state.practices.len())
            .field("clients", &state.clients.len())
            .field("accounts", &state.accounts.len())
            .field("sessions", &state.sessions.len())
            .field("outbox", &state.outbox.len())
            .field("audit", &state.audit.len())
            .finish_non_exhaustive()
    }
}

impl InMemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` under the lock. Never awaits, so the lock is never held across an await point.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    /// Every outbox row, oldest first, with its delivery state (delivered rows are purged; see
    /// the type's documentation).
    #[must_use]
    pub fn outbox(&self) -> Vec<(OutgoingMail, DeliveryState)> {
        self.with(|s| s.outbox.iter().map(|row| (row.mail.clone(), row.delivery.clone())).collect())
    }

    /// Every audit event of every practice, in the order written.
    #[must_use]
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.with(|s| s.audit.clone())
    }

    /// Every bundled client record, in no particular order. Empty when a host's own
    /// [`ClientDirectory`](crate::ClientDirectory) holds the clients: the portal copies none.
    #[must_use]
    pub fn client_records(&self) -> Vec<Client> {
        self.with(|s| s.clients.values().cloned().collect())
    }

    /// Every stored (unrevoked) session, ordered by creation time then id.
    #[must_use]
    pub fn sessions(&self) -> Vec<Session> {
        let mut sessions: Vec<Session> = self.with(|s| s.sessions.values().cloned().collect());
        sessions.sort_by_key(|s| (s.created_at, s.id));
        sessions
    }

    /// The client's tokens that are neither used nor voided (possibly expired), oldest first.
    /// After any commit there is at most one per purpose.
    #[must_use]
    pub fn live_tokens(&self, client: &ClientId) -> Vec<IssuedToken> {
        self.token_history(client).into_iter().filter(StoredToken::is_live).map(|t| t.token).collect()
    }

    /// Every token the client's account ever held, in the order first committed.
    #[must_use]
    pub fn token_history(&self, client: &ClientId) -> Vec<StoredToken> {
        self.with(|s| s.tokens.iter().filter(|t| t.client_id == *client).cloned().collect())
    }
}
