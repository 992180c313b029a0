//! Rows ↔ `portal-core` records. Every value read back is re-validated through the core's
//! parsers, so a row edited by hand into an invalid state is reported as
//! [`StoreError::Corrupt`] instead of becoming a domain value that breaks an invariant.

use std::net::IpAddr;

use jiff::Timestamp;
use portal_core::{
    AccountState, Actor, AuditAction, AuditEvent, AuditFailure, AuditId, ClaimedMail, Client, ClientId, Credentials,
    DateOfBirth, DeliveryState, DisableReason, DisplayName, EmailAddress, InviteReminder, IssuedToken, Language,
    MailId, MailKind, OutgoingMail, PasswordHash, PortalAccount, Practice, PracticeId, PracticeSettings,
    PracticeSettingsInput, PracticeSlug, RequestContext, ResetRequestHistory, SecondFactorPolicy, Session, SessionId,
    StaffId, StaffMember, StoreError, TimeZoneName, TokenHash, TokenId, TokenPurpose, TokenState, Username, search_key,
};
use sea_orm::ActiveValue::{NotSet, Set};

use crate::entity::{audit_event, client, mail_outbox, portal_account, practice, session, staff_key, token};
use crate::error::corrupt;
use crate::time::UnixMicros;

pub(crate) fn micros(at: Timestamp) -> UnixMicros {
    UnixMicros(at)
}

pub(crate) fn hash_bytes(hash: &TokenHash) -> Vec<u8> {
    hash.as_bytes().to_vec()
}

pub(crate) fn token_hash(column: &str, bytes: Vec<u8>) -> Result<TokenHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenHash::from_bytes)
        .map_err(|bytes| corrupt(column, format!("expected a 32-byte hash, found {} bytes", bytes.len())))
}

fn display_name(column: &'static str, raw: &str) -> Result<DisplayName, StoreError> {
    DisplayName::parse(column, raw).map_err(|e| corrupt(column, e))
}

fn language(column: &str, raw: &str) -> Result<Language, StoreError> {
    Language::parse(raw).map_err(|e| corrupt(column, e))
}

/// A host's client id read back from `column`.
pub(crate) fn client_id(column: &str, raw: &str) -> Result<ClientId, StoreError> {
    ClientId::parse(raw).map_err(|e| corrupt(column, e))
}

fn required<T>(column: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(column, "missing"))
}

fn count(column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(column, format!("{value} is not a valid count")))
}

// --- practices, staff, clients -------------------------------------------------------------

/// Hours as stored: the settings bound them to a week, so they always fit.
fn small_hours(hours: i64) -> Option<i32> {
    i32::try_from(hours).ok()
}

pub(crate) fn practice_row(practice: &Practice) -> practice::ActiveModel {
    let settings = practice.settings.to_input();
    practice::ActiveModel {
        id: Set(practice.id.as_uuid()),
        slug: Set(practice.slug.as_str().to_owned()),
        name: Set(practice.name.as_str().to_owned()),
        time_zone: Set(practice.time_zone.as_str().to_owned()),
        discreet_mail: Set(practice.discreet_mail),
        date_of_birth_check: Set(settings.date_of_birth_check),
        client_started_resets: Set(settings.client_started_resets),
        invitation_reminder_hours: Set(settings.invitation_reminder_hours.and_then(small_hours)),
        invite_link_hours: Set(settings.invite_link_hours.and_then(small_hours)),
        reset_link_hours: Set(settings.reset_link_hours.and_then(small_hours)),
        second_factor_policy: Set(settings.second_factor_policy.name().to_owned()),
        created_at: Set(micros(practice.created_at)),
    }
}

pub(crate) fn practice_from(row: practice::Model) -> Result<Practice, StoreError> {
    Ok(Practice {
        id: PracticeId::from_uuid(row.id),
        slug: PracticeSlug::parse(&row.slug).map_err(|e| corrupt("practices.slug", e))?,
        name: display_name("practices.name", &row.name)?,
        time_zone: TimeZoneName::parse(&row.time_zone).map_err(|e| corrupt("practices.time_zone", e))?,
        discreet_mail: row.discreet_mail,
        settings: PracticeSettings::restore(PracticeSettingsInput {
            date_of_birth_check: row.date_of_birth_check,
            client_started_resets: row.client_started_resets,
            invitation_reminder_hours: row.invitation_reminder_hours.map(i64::from),
            invite_link_hours: row.invite_link_hours.map(i64::from),
            reset_link_hours: row.reset_link_hours.map(i64::from),
            second_factor_policy: SecondFactorPolicy::from_name(&row.second_factor_policy)
                .ok_or_else(|| corrupt("practices.second_factor_policy", &row.second_factor_policy))?,
        })
        .map_err(|e| corrupt("practices.settings", e))?,
        created_at: row.created_at.into(),
    })
}

pub(crate) fn staff_row(staff: &StaffMember, key_hash: &TokenHash) -> staff_key::ActiveModel {
    staff_key::ActiveModel {
        id: Set(staff.id.as_uuid()),
        practice_id: Set(staff.practice_id.as_uuid()),
        label: Set(staff.label.as_str().to_owned()),
        key_hash: Set(hash_bytes(key_hash)),
        created_at: Set(micros(staff.created_at)),
        // A key made with its practice has no expiry; keys with a lifetime go through the
        // `StaffAccess` port (`store::staff`).
        expires_at: Set(None),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
}

pub(crate) fn staff_from(row: staff_key::Model) -> Result<StaffMember, StoreError> {
    Ok(StaffMember {
        id: StaffId::from_uuid(row.id),
        practice_id: PracticeId::from_uuid(row.practice_id),
        label: display_name("staff_keys.label", &row.label)?,
        created_at: row.created_at.into(),
    })
}

/// The one place a client row is built, so the search keys always match the name and email
/// they fold (every insert and update of `clients` goes through here).
pub(crate) fn client_row(client: &Client) -> client::ActiveModel {
    let email = client.email.as_ref().map(EmailAddress::as_str);
    client::ActiveModel {
        id: Set(client.id.as_str().to_owned()),
        practice_id: Set(client.practice_id.as_uuid()),
        name: Set(client.name.as_str().to_owned()),
        email: Set(email.map(str::to_owned)),
        language: Set(client.language.code().to_owned()),
        email_consent: Set(client.email_consent),
        date_of_birth: Set(client.date_of_birth.as_ref().map(DateOfBirth::to_iso)),
        created_at: Set(micros(client.created_at)),
        name_key: Set(search_key(client.name.as_str())),
        email_key: Set(email.map(search_key)),
    }
}

pub(crate) fn client_from(row: client::Model) -> Result<Client, StoreError> {
    Ok(Client {
        id: client_id("clients.id", &row.id)?,
        practice_id: PracticeId::from_uuid(row.practice_id),
        name: display_name("clients.name", &row.name)?,
        email: row.email.as_deref().map(EmailAddress::parse).transpose().map_err(|e| corrupt("clients.email", e))?,
        language: language("clients.language", &row.language)?,
        email_consent: row.email_consent,
        date_of_birth: row
            .date_of_birth
            .as_deref()
            .map(|text| text.parse::<jiff::civil::Date>().map(DateOfBirth::restore))
            .transpose()
            .map_err(|e| corrupt("clients.date_of_birth", e))?,
        created_at: row.created_at.into(),
    })
}

// --- accounts and tokens ---------------------------------------------------------------------

/// The account columns a commit writes (everything but the token references, which are set
/// once the tokens exist, and the version).
pub(crate) struct AccountColumns {
    pub(crate) state: &'static str,
    pub(crate) username: Option<String>,
    pub(crate) username_lower: Option<String>,
    pub(crate) password_hash: Option<String>,
    pub(crate) registered_at: Option<UnixMicros>,
    pub(crate) password_changed_at: Option<UnixMicros>,
    pub(crate) disabled_reason: Option<String>,
    pub(crate) disabled_at: Option<UnixMicros>,
}

pub(crate) fn account_columns(state: &AccountState) -> AccountColumns {
    let credentials = |state: &'static str, c: &Credentials| AccountColumns {
        state,
        username: Some(c.username.as_str().to_owned()),
        username_lower: Some(c.username.as_str().to_lowercase()),
        password_hash: Some(c.password_hash.as_phc().to_owned()),
        registered_at: Some(micros(c.registered_at)),
        password_changed_at: Some(micros(c.password_changed_at)),
        disabled_reason: None,
        disabled_at: None,
    };
    match state {
        AccountState::NoAccount => AccountColumns {
            state: portal_account::STATE_NO_ACCOUNT,
            username: None,
            username_lower: None,
            password_hash: None,
            registered_at: None,
            password_changed_at: None,
            disabled_reason: None,
            disabled_at: None,
        },
        AccountState::Active(c) => credentials(portal_account::STATE_ACTIVE, c),
        AccountState::Disabled { credentials: c, reason, since } => AccountColumns {
            disabled_reason: reason.as_ref().map(|r| r.as_str().to_owned()),
            disabled_at: Some(micros(*since)),
            ..credentials(portal_account::STATE_DISABLED, c)
        },
    }
}

/// The row of `account` at `version`, its token references included (the tokens must be
/// stored first: the references are foreign keys).
pub(crate) fn account_row(account: &PortalAccount, version: i64) -> portal_account::ActiveModel {
    let columns = account_columns(account.state());
    portal_account::ActiveModel {
        practice_id: Set(account.practice_id().as_uuid()),
        client_id: Set(account.client_id().as_str().to_owned()),
        state: Set(columns.state.to_owned()),
        username: Set(columns.username),
        username_lower: Set(columns.username_lower),
        password_hash: Set(columns.password_hash),
        registered_at: Set(columns.registered_at),
        password_changed_at: Set(columns.password_changed_at),
        disabled_reason: Set(columns.disabled_reason),
        disabled_at: Set(columns.disabled_at),
        invite_token_id: Set(account.invite().map(|t| t.id.as_uuid())),
        reset_token_id: Set(account.reset().map(|t| t.id.as_uuid())),
        reset_requests_day_started_at: Set(account.reset_requests().day_started_at().map(micros)),
        reset_requests_in_day: Set(reset_requests_in_day(account)),
        reset_request_last_at: Set(account.reset_requests().last_sent_at().map(micros)),
        version: Set(version),
    }
}

/// The count of client-started reset mails of the account's current day, as stored (the
/// count never passes a handful; a larger one is stored as the largest `INTEGER`).
pub(crate) fn reset_requests_in_day(account: &PortalAccount) -> i32 {
    i32::try_from(account.reset_requests().sent_in_day()).unwrap_or(i32::MAX)
}

fn credentials_from(row: &portal_account::Model) -> Result<Credentials, StoreError> {
    let username = required("portal_accounts.username", row.username.as_deref())?;
    Ok(Credentials {
        username: Username::parse(username).map_err(|e| corrupt("portal_accounts.username", e))?,
        password_hash: PasswordHash::from_phc(required("portal_accounts.password_hash", row.password_hash.clone())?),
        registered_at: required("portal_accounts.registered_at", row.registered_at)?.into(),
        password_changed_at: required("portal_accounts.password_changed_at", row.password_changed_at)?.into(),
    })
}

fn state_from(row: &portal_account::Model) -> Result<AccountState, StoreError> {
    match row.state.as_str() {
        portal_account::STATE_NO_ACCOUNT => Ok(AccountState::NoAccount),
        portal_account::STATE_ACTIVE => Ok(AccountState::Active(credentials_from(row)?)),
        portal_account::STATE_DISABLED => Ok(AccountState::Disabled {
            credentials: credentials_from(row)?,
            reason: row
                .disabled_reason
                .as_deref()
                .map(DisableReason::parse)
                .transpose()
                .map_err(|e| corrupt("portal_accounts.disabled_reason", e))?,
            since: required("portal_accounts.disabled_at", row.disabled_at)?.into(),
        }),
        other => Err(corrupt("portal_accounts.state", format!("unknown state {other:?}"))),
    }
}

pub(crate) fn token_row(practice: PracticeId, client: &ClientId, token: &IssuedToken) -> token::ActiveModel {
    token::ActiveModel {
        id: Set(token.id.as_uuid()),
        practice_id: Set(practice.as_uuid()),
        client_id: Set(client.as_str().to_owned()),
        purpose: Set(token.purpose.as_str().to_owned()),
        hash: Set(hash_bytes(&token.hash)),
        issued_at: Set(micros(token.issued_at)),
        expires_at: Set(micros(token.expires_at)),
        used_at: Set(used_at(token)),
        voided_at: Set(None),
        date_of_birth_failures: Set(i32::from(token.date_of_birth_failures)),
        reminded_at: Set(token.reminder.map(|reminder| micros(reminder.at()))),
        reminder: Set(token.reminder.map(|reminder| reminder_name(reminder).to_owned())),
    }
}

/// The stored name of what became of an invitation's reminder.
pub(crate) const fn reminder_name(reminder: InviteReminder) -> &'static str {
    match reminder {
        InviteReminder::Queued { .. } => token::REMINDER_QUEUED,
        InviteReminder::Skipped { .. } => token::REMINDER_SKIPPED,
    }
}

fn reminder_from(row: &token::Model) -> Result<Option<InviteReminder>, StoreError> {
    match (row.reminded_at, row.reminder.as_deref()) {
        (None, None) => Ok(None),
        (Some(at), Some(token::REMINDER_QUEUED)) => Ok(Some(InviteReminder::Queued { at: at.into() })),
        (Some(at), Some(token::REMINDER_SKIPPED)) => Ok(Some(InviteReminder::Skipped { at: at.into() })),
        (_, other) => {
            Err(corrupt("tokens.reminder", format!("unexpected reminder {other:?} (with its time or without)")))
        }
    }
}

pub(crate) fn used_at(token: &IssuedToken) -> Option<UnixMicros> {
    match token.state {
        TokenState::Live => None,
        TokenState::Used { at } => Some(micros(at)),
    }
}

pub(crate) fn token_from(row: token::Model) -> Result<IssuedToken, StoreError> {
    let reminder = reminder_from(&row)?;
    Ok(IssuedToken {
        id: TokenId::from_uuid(row.id),
        purpose: TokenPurpose::from_name(&row.purpose)
            .ok_or_else(|| corrupt("tokens.purpose", format!("unknown purpose {:?}", row.purpose)))?,
        hash: token_hash("tokens.hash", row.hash)?,
        issued_at: row.issued_at.into(),
        expires_at: row.expires_at.into(),
        state: match row.used_at {
            None => TokenState::Live,
            Some(at) => TokenState::Used { at: at.into() },
        },
        date_of_birth_failures: u8::try_from(row.date_of_birth_failures)
            .map_err(|e| corrupt("tokens.date_of_birth_failures", e))?,
        reminder,
    })
}

/// Rebuilds the aggregate from its row and its current tokens (looked up by id in `tokens`).
pub(crate) fn account_from(row: &portal_account::Model, tokens: &[token::Model]) -> Result<PortalAccount, StoreError> {
    let current = |column: &str, id: Option<uuid::Uuid>, purpose: TokenPurpose| {
        let Some(id) = id else { return Ok(None) };
        let row = tokens.iter().find(|t| t.id == id).ok_or_else(|| corrupt(column, "the token row is missing"))?;
        let token = token_from(row.clone())?;
        if token.purpose != purpose {
            return Err(corrupt(column, "the token has another purpose"));
        }
        Ok(Some(token))
    };
    let version = u64::try_from(row.version).map_err(|_| corrupt("portal_accounts.version", "negative"))?;
    Ok(PortalAccount::restore(
        PracticeId::from_uuid(row.practice_id),
        client_id("portal_accounts.client_id", &row.client_id)?,
        version,
        state_from(row)?,
        current("portal_accounts.invite_token_id", row.invite_token_id, TokenPurpose::Invite)?,
        current("portal_accounts.reset_token_id", row.reset_token_id, TokenPurpose::Reset)?,
    )
    .with_reset_requests(ResetRequestHistory::restore(
        row.reset_requests_day_started_at.map(Into::into),
        u32::try_from(row.reset_requests_in_day)
            .map_err(|_| corrupt("portal_accounts.reset_requests_in_day", "negative"))?,
        row.reset_request_last_at.map(Into::into),
    )))
}

// --- sessions --------------------------------------------------------------------------------

pub(crate) fn session_row(session: &Session) -> session::ActiveModel {
    session::ActiveModel {
        id: Set(session.id.as_uuid()),
        token_hash: Set(hash_bytes(&session.token_hash)),
        practice_id: Set(session.practice_id.as_uuid()),
        client_id: Set(session.client_id.as_str().to_owned()),
        created_at: Set(micros(session.created_at)),
        last_seen_at: Set(micros(session.last_seen_at)),
    }
}

pub(crate) fn session_from(row: session::Model) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(row.id),
        token_hash: token_hash("sessions.token_hash", row.token_hash)?,
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: client_id("sessions.client_id", &row.client_id)?,
        created_at: row.created_at.into(),
        last_seen_at: row.last_seen_at.into(),
    })
}

// --- audit -----------------------------------------------------------------------------------

pub(crate) fn audit_row(event: &AuditEvent) -> audit_event::ActiveModel {
    let (kind, id, label) = match &event.actor {
        Actor::Staff { id, label } => ("staff", Some(id.as_uuid()), Some(label.as_str().to_owned())),
        Actor::Client => ("client", None, None),
        Actor::Anonymous => ("anonymous", None, None),
        Actor::System => ("system", None, None),
    };
    audit_event::ActiveModel {
        seq: NotSet,
        id: Set(event.id.as_uuid()),
        at: Set(micros(event.at)),
        practice_id: Set(event.practice_id.as_uuid()),
        client_id: Set(event.client_id.as_ref().map(|c| c.as_str().to_owned())),
        actor_kind: Set(kind.to_owned()),
        actor_id: Set(id),
        actor_label: Set(label),
        action: Set(event.action.name().to_owned()),
        failure: Set(event.failure.as_ref().map(|failure| failure.as_str().to_owned())),
        detail: Set(event.detail.clone()),
        request_id: Set(event.context.request_id.clone()),
        source_ip: Set(event.context.source_ip.map(|ip| ip.to_string())),
    }
}

pub(crate) fn audit_from(row: audit_event::Model) -> Result<AuditEvent, StoreError> {
    let actor = match row.actor_kind.as_str() {
        "staff" => Actor::Staff {
            id: StaffId::from_uuid(required("audit_events.actor_id", row.actor_id)?),
            label: display_name("audit_events.actor_label", &required("audit_events.actor_label", row.actor_label)?)?,
        },
        "client" => Actor::Client,
        "anonymous" => Actor::Anonymous,
        "system" => Actor::System,
        other => return Err(corrupt("audit_events.actor_kind", format!("unknown actor {other:?}"))),
    };
    Ok(AuditEvent {
        id: AuditId::from_uuid(row.id),
        at: row.at.into(),
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: row.client_id.as_deref().map(|raw| client_id("audit_events.client_id", raw)).transpose()?,
        actor,
        action: AuditAction::from_name(&row.action)
            .ok_or_else(|| corrupt("audit_events.action", format!("unknown action {:?}", row.action)))?,
        // An unknown code (from another version) reads as `Unrecognised`, never as corruption.
        failure: row.failure.as_deref().map(AuditFailure::parse),
        detail: row.detail,
        context: RequestContext {
            request_id: row.request_id,
            source_ip: row
                .source_ip
                .as_deref()
                .map(str::parse::<IpAddr>)
                .transpose()
                .map_err(|e| corrupt("audit_events.source_ip", e))?,
        },
    })
}

// --- outbox ----------------------------------------------------------------------------------

pub(crate) fn outbox_row(mail: &OutgoingMail) -> mail_outbox::ActiveModel {
    let link_expires_at = mail.kind.link_expires_at().map(micros);
    mail_outbox::ActiveModel {
        id: Set(mail.id.as_uuid()),
        practice_id: Set(mail.practice_id.as_uuid()),
        client_id: Set(mail.client_id.as_str().to_owned()),
        kind: Set(mail.kind.name().to_owned()),
        token_id: Set(mail.kind.token_id().map(|t| t.as_uuid())),
        link_expires_at: Set(link_expires_at),
        recipient: Set(Some(mail.to.as_str().to_owned())),
        status: Set(mail_outbox::STATUS_PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(micros(mail.created_at)),
        lease_until: Set(None),
        last_error: Set(None),
        last_error_cause: Set(None),
        gave_up_after: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
        created_at: Set(micros(mail.created_at)),
    }
}

fn mail_kind(row: &mail_outbox::Model) -> Result<MailKind, StoreError> {
    let link = || -> Result<(TokenId, Timestamp), StoreError> {
        Ok((
            TokenId::from_uuid(required("mail_outbox.token_id", row.token_id)?),
            required("mail_outbox.link_expires_at", row.link_expires_at)?.into(),
        ))
    };
    match row.kind.as_str() {
        "invitation" => link().map(|(token_id, expires_at)| MailKind::Invitation { token_id, expires_at }),
        "password_reset" => link().map(|(token_id, expires_at)| MailKind::PasswordReset { token_id, expires_at }),
        "invitation_reminder" => {
            link().map(|(token_id, expires_at)| MailKind::InvitationReminder { token_id, expires_at })
        }
        "password_changed" => Ok(MailKind::PasswordChanged),
        "second_factor_added" => Ok(MailKind::SecondFactorAdded),
        "second_factor_removed" => Ok(MailKind::SecondFactorRemoved),
        "recovery_code_used" => Ok(MailKind::RecoveryCodeUsed),
        other => Err(corrupt("mail_outbox.kind", format!("unknown kind {other:?}"))),
    }
}

/// A pending row as the dispatcher receives it (only pending rows still hold a recipient).
pub(crate) fn claimed_from(row: mail_outbox::Model, lease_until: Timestamp) -> Result<ClaimedMail, StoreError> {
    let mail = OutgoingMail {
        id: MailId::from_uuid(row.id),
        practice_id: PracticeId::from_uuid(row.practice_id),
        client_id: client_id("mail_outbox.client_id", &row.client_id)?,
        to: EmailAddress::parse(required("mail_outbox.recipient", row.recipient.as_deref())?)
            .map_err(|e| corrupt("mail_outbox.recipient", e))?,
        kind: mail_kind(&row)?,
        created_at: row.created_at.into(),
    };
    Ok(ClaimedMail { mail, attempts: count("mail_outbox.attempts", row.attempts)?, lease_until })
}

pub(crate) fn delivery_from(row: mail_outbox::Model) -> Result<DeliveryState, StoreError> {
    match row.status.as_str() {
        mail_outbox::STATUS_PENDING => Ok(DeliveryState::Pending {
            attempts: count("mail_outbox.attempts", row.attempts)?,
            next_attempt_at: row.next_attempt_at.into(),
            last_problem: row.last_error.map(|detail| problem(row.last_error_cause.as_deref(), detail)),
        }),
        mail_outbox::STATUS_SENT => {
            Ok(DeliveryState::Sent { at: required("mail_outbox.sent_at", row.sent_at)?.into() })
        }
        mail_outbox::STATUS_FAILED => Ok(DeliveryState::Failed {
            at: required("mail_outbox.failed_at", row.failed_at)?.into(),
            problem: problem(row.last_error_cause.as_deref(), row.last_error.unwrap_or_default()),
            gave_up_after: row.gave_up_after.map(|n| count("mail_outbox.gave_up_after", n)).transpose()?,
        }),
        other => Err(corrupt("mail_outbox.status", format!("unknown status {other:?}"))),
    }
}

/// A stored problem: a missing or unknown cause code (rows from before the cause was stored,
/// codes from a newer version) is [`portal_core::DeliveryCause::Other`], with the text as the
/// detail.
fn problem(cause: Option<&str>, detail: String) -> portal_core::DeliveryProblem {
    use portal_core::{DeliveryCause, DeliveryProblem};
    DeliveryProblem { cause: cause.map_or(DeliveryCause::Other, DeliveryCause::from_code), detail }
}
