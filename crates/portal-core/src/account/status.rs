//! What staff see of an account: its [`PortalStatus`] at a moment, and the five kinds the client
//! list filters by.

use jiff::Timestamp;

use crate::types::{DisableReason, Username};

/// What staff see (design §2's first column), computed at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortalStatus {
    /// No account and no invitation sent.
    NotInvited,
    /// Invitation sent and still usable.
    Invited {
        /// When it was sent.
        sent_at: Timestamp,
        /// When it stops working.
        expires_at: Timestamp,
    },
    /// Invitation sent but expired: staff may resend.
    InviteExpired {
        /// When it was sent.
        sent_at: Timestamp,
        /// When it stopped working.
        expired_at: Timestamp,
    },
    /// Registered and enabled (toggle on).
    Active {
        /// The username.
        username: Username,
    },
    /// Registered and disabled (toggle off).
    Disabled {
        /// The username.
        username: Username,
        /// Staff's note.
        reason: Option<DisableReason>,
    },
}

impl PortalStatus {
    /// Which of the five statuses this is, without its details.
    #[must_use]
    pub const fn kind(&self) -> PortalStatusKind {
        match self {
            Self::NotInvited => PortalStatusKind::NoAccount,
            Self::Invited { .. } => PortalStatusKind::Invited,
            Self::InviteExpired { .. } => PortalStatusKind::InviteExpired,
            Self::Active { .. } => PortalStatusKind::Active,
            Self::Disabled { .. } => PortalStatusKind::Disabled,
        }
    }
}

/// The kind of a [`PortalStatus`]: what staff filter the client list by. Its
/// [`name`](PortalStatusKind::name) is the one wire name of each kind, for the staff API's
/// `portal` field and filter and the staff pages' URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortalStatusKind {
    /// No account and no invitation sent.
    NoAccount,
    /// Invitation sent and still usable.
    Invited,
    /// Invitation sent but expired.
    InviteExpired,
    /// Registered and enabled.
    Active,
    /// Registered and disabled.
    Disabled,
}

impl PortalStatusKind {
    /// Every kind, in the order of design §2.
    pub const ALL: [Self; 5] = [Self::NoAccount, Self::Invited, Self::InviteExpired, Self::Active, Self::Disabled];

    /// The stable snake-case name (`no_account`, `invited`, `invite_expired`, `active`,
    /// `disabled`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoAccount => "no_account",
            Self::Invited => "invited",
            Self::InviteExpired => "invite_expired",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Inverse of [`PortalStatusKind::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }
}
