//! What the staff pages show, in the shape their templates read: the client list's rows and
//! filters, the audit trail's rows and the portal panel in its three looks.

use portal_core::service::{ClientView, PortalView, TokenView};
use portal_core::{Actor, AuditEvent, DeliveryState, PortalStatus};

fn when(at: jiff::Timestamp) -> String {
    at.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

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

pub(crate) fn client_rows(clients: &[ClientView]) -> Vec<ClientRow> {
    clients
        .iter()
        .map(|view| ClientRow {
            id: view.client.id.to_string(),
            name: view.client.name.as_str().to_owned(),
            status: status_label(&view.portal),
        })
        .collect()
}

fn status_label(status: &PortalStatus) -> String {
    match status {
        PortalStatus::NotInvited => "No account".to_owned(),
        PortalStatus::Invited { expires_at, .. } => format!("Invited, expires {}", when(*expires_at)),
        PortalStatus::InviteExpired { .. } => "Invite expired".to_owned(),
        PortalStatus::Active { username } => format!("Active ({username})"),
        PortalStatus::Disabled { username, .. } => format!("Disabled ({username})"),
    }
}

/// One row of the audit trail.
pub(crate) struct AuditRow {
    pub(crate) when: String,
    pub(crate) what: String,
    pub(crate) who: String,
    pub(crate) outcome: String,
}

/// The audit trail, newest first.
pub(crate) fn audit_rows(events: &[AuditEvent]) -> Vec<AuditRow> {
    events
        .iter()
        .rev()
        .map(|event| {
            let who = match &event.actor {
                Actor::Staff { label, .. } => format!("staff: {label}"),
                Actor::Client => "client".to_owned(),
                Actor::Anonymous => "anonymous".to_owned(),
                Actor::System => "system".to_owned(),
            };
            let mut outcome = event.failure.clone().map_or_else(|| "ok".to_owned(), |f| format!("refused: {f}"));
            if let Some(detail) = &event.detail {
                outcome = format!("{outcome} ({detail})");
            }
            AuditRow { when: when(event.at), what: event.action.name().to_owned(), who, outcome }
        })
        .collect()
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

/// Where the email of an invitation or reset is.
pub(crate) enum Delivery {
    NotQueued,
    Queued,
    Retrying { attempts: u32 },
    Sent { at: String },
    Failed { at: String, reason: String },
}

fn token_facts(view: &TokenView) -> TokenFacts {
    let delivery = match &view.delivery {
        None => Delivery::NotQueued,
        Some(DeliveryState::Pending { attempts: 0, .. }) => Delivery::Queued,
        Some(DeliveryState::Pending { attempts, .. }) => Delivery::Retrying { attempts: *attempts },
        Some(DeliveryState::Sent { at }) => Delivery::Sent { at: when(*at) },
        Some(DeliveryState::Failed { at, reason }) => Delivery::Failed { at: when(*at), reason: reason.clone() },
    };
    TokenFacts { sent: when(view.sent_at), expires: when(view.expires_at), delivery }
}

pub(crate) fn panel(view: &PortalView) -> Panel {
    match &view.status {
        PortalStatus::NotInvited | PortalStatus::Invited { .. } | PortalStatus::InviteExpired { .. } => {
            Panel::NoAccount {
                status: status_label(&view.status),
                invite: view.invite.as_ref().map(token_facts),
                first: matches!(view.status, PortalStatus::NotInvited),
            }
        }
        PortalStatus::Active { username } => {
            Panel::Active { username: username.to_string(), reset: view.reset.as_ref().map(token_facts) }
        }
        PortalStatus::Disabled { username, reason } => Panel::Disabled {
            username: username.to_string(),
            reason: reason.as_ref().map(|reason| reason.as_str().to_owned()),
        },
    }
}
