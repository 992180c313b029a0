//! What the staff pages show, in the shape their templates read and in words rather than codes:
//! the client list's rows and filters, the audit trail's rows and the portal panel in its three
//! looks. Times are in the practice's zone ([`PracticeZone`]). The API keeps the codes and UTC.

use portal_core::service::{ClientView, PortalView, TokenView};
use portal_core::{Actor, AuditAction, AuditEvent, PortalStatus};

use super::delivery::Delivery;
use super::zone::PracticeZone;

/// The client list's filters by portal status (`?portal=…`), in the order of the tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortalFilter {
    NoAccount,
    Invited,
    InviteExpired,
    Active,
    Disabled,
}

impl PortalFilter {
    pub(crate) const ALL: [Self; 5] =
        [Self::NoAccount, Self::Invited, Self::InviteExpired, Self::Active, Self::Disabled];

    /// The filter's name in the URL and for `list_clients`.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::NoAccount => "no_account",
            Self::Invited => "invited",
            Self::InviteExpired => "invite_expired",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// The tab's label.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Self::NoAccount => "No account",
            Self::Invited => "Invited",
            Self::InviteExpired => "Invite expired",
            Self::Active => "Active",
            Self::Disabled => "Disabled",
        }
    }

    /// The filter named in a URL; anything else lists every client.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|filter| filter.name() == name)
    }
}

/// One row of the client list.
pub(crate) struct ClientRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: String,
}

pub(crate) fn client_rows(clients: &[ClientView], zone: &PracticeZone) -> Vec<ClientRow> {
    clients
        .iter()
        .map(|view| ClientRow {
            id: view.client.id.to_string(),
            name: view.client.name.as_str().to_owned(),
            status: status_label(&view.portal, zone),
        })
        .collect()
}

fn status_label(status: &PortalStatus, zone: &PracticeZone) -> String {
    match status {
        PortalStatus::NotInvited => "No account".to_owned(),
        PortalStatus::Invited { expires_at, .. } => format!("Invited, expires {}", zone.at(*expires_at)),
        PortalStatus::InviteExpired { .. } => "Invite expired".to_owned(),
        PortalStatus::Active { username } => format!("Active ({username})"),
        PortalStatus::Disabled { username, .. } => format!("Disabled ({username})"),
    }
}

/// One row of the audit trail, in words.
pub(crate) struct AuditRow {
    pub(crate) when: String,
    pub(crate) what: String,
    pub(crate) who: String,
    pub(crate) outcome: String,
}

/// The audit trail, newest first.
pub(crate) fn audit_rows(events: &[AuditEvent], zone: &PracticeZone) -> Vec<AuditRow> {
    events
        .iter()
        .rev()
        .map(|event| {
            let action = action_words(event.action);
            // The detail is a disable reason or the username chosen at registration.
            let what = match &event.detail {
                Some(detail) => format!("{action}: {detail}"),
                None => action.to_owned(),
            };
            AuditRow {
                when: zone.at(event.at),
                what,
                who: actor_words(&event.actor),
                outcome: event.failure.as_deref().map_or_else(|| "Done".to_owned(), failure_words),
            }
        })
        .collect()
}

/// What happened, in words. Every action is named here, so a new one does not compile until it
/// has its words.
const fn action_words(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ClientCreated => "Client record created",
        AuditAction::ClientUpdated => "Client record changed",
        AuditAction::InviteSent => "Invitation sent",
        AuditAction::InviteResent => "Invitation resent",
        AuditAction::Registered => "Portal account created",
        AuditAction::AccountDisabled => "Portal access turned off",
        AuditAction::AccountEnabled => "Portal access turned on",
        AuditAction::ResetSent => "Password reset sent",
        AuditAction::ResetCompleted => "Password changed with a reset link",
        AuditAction::SignInSucceeded => "Signed in",
        AuditAction::SignInFailed => "Sign-in failed",
        AuditAction::SignInLocked => "Sign-in locked after repeated failures",
        AuditAction::SignedOut => "Signed out",
        AuditAction::SessionsRevoked => "Sessions revoked",
        AuditAction::PasswordHashUpgraded => "Stored password upgraded to stronger hashing",
    }
}

/// Who acted, in words.
fn actor_words(actor: &Actor) -> String {
    match actor {
        Actor::Staff { label, .. } => format!("Staff: {label}"),
        Actor::Client => "The client".to_owned(),
        Actor::Anonymous => "Someone not signed in".to_owned(),
        Actor::System => "The portal".to_owned(),
    }
}

/// Why something was refused, in words. The core records a short code as text: the codes it
/// writes today are named; any other is shown as it is rather than hidden.
fn failure_words(code: &str) -> String {
    match code {
        "invalid_credentials" => "Refused: wrong username or password".to_owned(),
        "account_disabled" => "Refused: portal access is off".to_owned(),
        "throttled" => "Refused: too soon after a failed attempt".to_owned(),
        "locked" => "Refused: locked after too many failed attempts".to_owned(),
        other => format!("Refused ({other})"),
    }
}

/// The portal panel in its three looks (`templates/_panel*.html`).
pub(crate) enum Panel {
    /// Not registered: invite, or resend.
    NoAccount {
        /// The status in words.
        status: String,
        /// The latest invitation.
        invite: Option<TokenFacts>,
        /// Never invited (the button says "Send" rather than "Resend").
        first: bool,
    },
    /// Registered and on: the toggle and the reset button.
    Active { username: String, reset: Option<TokenFacts> },
    /// Registered and off: the toggle, and why it was turned off.
    Disabled { username: String, reason: Option<String> },
}

/// An invitation or reset: when it was sent, when it expires, where its email is.
pub(crate) struct TokenFacts {
    pub(crate) sent: String,
    pub(crate) expires: String,
    pub(crate) delivery: Delivery,
}

fn token_facts(view: &TokenView, zone: &PracticeZone) -> TokenFacts {
    let delivery = Delivery::of(view.delivery.as_ref(), zone);
    TokenFacts { sent: zone.at(view.sent_at), expires: zone.at(view.expires_at), delivery }
}

pub(crate) fn panel(view: &PortalView, zone: &PracticeZone) -> Panel {
    match &view.status {
        PortalStatus::NotInvited | PortalStatus::Invited { .. } | PortalStatus::InviteExpired { .. } => {
            Panel::NoAccount {
                status: status_label(&view.status, zone),
                invite: view.invite.as_ref().map(|token| token_facts(token, zone)),
                first: matches!(view.status, PortalStatus::NotInvited),
            }
        }
        PortalStatus::Active { username } => Panel::Active {
            username: username.to_string(),
            reset: view.reset.as_ref().map(|token| token_facts(token, zone)),
        },
        PortalStatus::Disabled { username, reason } => Panel::Disabled {
            username: username.to_string(),
            reason: reason.as_ref().map(|reason| reason.as_str().to_owned()),
        },
    }
}
