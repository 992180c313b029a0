//! The portal state staff see, shared by the client records and the portal panel.

use poem_openapi::Enum;
use portal_core::PortalStatus;

/// A client's portal state, as staff see it (design §2).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "snake_case")]
pub(crate) enum PortalState {
    /// No account and no invitation sent.
    NoAccount,
    /// Invitation sent and still usable.
    Invited,
    /// Invitation sent but expired: resend it.
    InviteExpired,
    /// Registered; the toggle is on.
    Active,
    /// Registered; the toggle is off.
    Disabled,
}

impl PortalState {
    pub(super) fn filter_name(self) -> &'static str {
        match self {
            Self::NoAccount => "no_account",
            Self::Invited => "invited",
            Self::InviteExpired => "invite_expired",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }
}

/// What the client record and the portal panel both show of a portal status.
pub(super) struct StatusParts {
    pub(super) state: PortalState,
    pub(super) enabled: bool,
    pub(super) username: Option<String>,
    pub(super) disabled_reason: Option<String>,
}

/// The shown parts of `status`: `enabled` only while active, a blank disable reason as none.
pub(super) fn status_parts(status: &PortalStatus) -> StatusParts {
    let (state, username, disabled_reason) = match status {
        PortalStatus::NotInvited => (PortalState::NoAccount, None, None),
        PortalStatus::Invited { .. } => (PortalState::Invited, None, None),
        PortalStatus::InviteExpired { .. } => (PortalState::InviteExpired, None, None),
        PortalStatus::Active { username } => (PortalState::Active, Some(username.to_string()), None),
        PortalStatus::Disabled { username, reason } => (
            PortalState::Disabled,
            Some(username.to_string()),
            reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty()),
        ),
    };
    StatusParts { state, enabled: state == PortalState::Active, username, disabled_reason }
}
