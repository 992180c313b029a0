//! The portal state staff see, shared by the client records and the portal panel.

use poem_openapi::Enum;
use portal_core::{PortalStatus, PortalStatusKind};

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

/// The API's name for each kind is the core's [`PortalStatusKind::name`]: the derive spells the
/// variant names in snake case, and `the_api_names_each_state_as_the_core_does` holds the two
/// together.
impl From<PortalStatusKind> for PortalState {
    fn from(kind: PortalStatusKind) -> Self {
        match kind {
            PortalStatusKind::NoAccount => Self::NoAccount,
            PortalStatusKind::Invited => Self::Invited,
            PortalStatusKind::InviteExpired => Self::InviteExpired,
            PortalStatusKind::Active => Self::Active,
            PortalStatusKind::Disabled => Self::Disabled,
        }
    }
}

impl From<PortalState> for PortalStatusKind {
    fn from(state: PortalState) -> Self {
        match state {
            PortalState::NoAccount => Self::NoAccount,
            PortalState::Invited => Self::Invited,
            PortalState::InviteExpired => Self::InviteExpired,
            PortalState::Active => Self::Active,
            PortalState::Disabled => Self::Disabled,
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
    let (username, disabled_reason) = match status {
        PortalStatus::NotInvited | PortalStatus::Invited { .. } | PortalStatus::InviteExpired { .. } => (None, None),
        PortalStatus::Active { username } => (Some(username.to_string()), None),
        PortalStatus::Disabled { username, reason } => {
            (Some(username.to_string()), reason.as_ref().map(|r| r.as_str().to_owned()).filter(|r| !r.is_empty()))
        }
    };
    let state = PortalState::from(status.kind());
    StatusParts { state, enabled: state == PortalState::Active, username, disabled_reason }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::{ParseFromParameter, ToJSON};

    use super::*;

    #[test]
    fn the_api_names_each_state_as_the_core_does() {
        for kind in PortalStatusKind::ALL {
            let state = PortalState::from(kind);
            assert_eq!(state.to_json(), Some(serde_json::Value::from(kind.name())), "{kind:?}");
            let parsed = PortalState::parse_from_parameter(kind.name()).map_err(|e| e.into_message());
            assert_eq!(parsed.map(PortalStatusKind::from), Ok(kind));
        }
    }
}
