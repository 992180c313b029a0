//! What a queued email is ([`MailKind`]): the kinds of portal mail, each with what it needs to
//! be rendered at send time.

use jiff::Timestamp;

use crate::types::TokenId;

/// What a queued email is, and what it needs to be rendered at send time. Links are not stored:
/// the dispatcher derives them from the token id with the link key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailKind {
    /// A portal invitation.
    Invitation {
        /// The invite token.
        token_id: TokenId,
        /// When the link stops working.
        expires_at: Timestamp,
    },
    /// A password-reset link. Never carries the username.
    PasswordReset {
        /// The reset token.
        token_id: TokenId,
        /// When the link stops working.
        expires_at: Timestamp,
    },
    /// "Your password was changed".
    PasswordChanged,
    /// The one reminder of an unused invitation: the same link as the invitation (the same
    /// token), sent a practice-chosen number of hours before it expires.
    InvitationReminder {
        /// The invite token (the invitation's own: no new link is made).
        token_id: TokenId,
        /// When the link stops working.
        expires_at: Timestamp,
    },
    /// "A second sign-in step was added to your account" (a factor was enrolled). Names no
    /// kind of factor: mail is discreet.
    SecondFactorAdded,
    /// "A second sign-in step was removed from your account" (by the client or by staff).
    SecondFactorRemoved,
    /// "A recovery code was used to sign in to your account".
    RecoveryCodeUsed,
}

impl MailKind {
    /// Stable lower-case name, for storage.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Invitation { .. } => "invitation",
            Self::PasswordReset { .. } => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::InvitationReminder { .. } => "invitation_reminder",
            Self::SecondFactorAdded => "second_factor_added",
            Self::SecondFactorRemoved => "second_factor_removed",
            Self::RecoveryCodeUsed => "recovery_code_used",
        }
    }

    /// The token the mail carries a link for, if any.
    #[must_use]
    pub const fn token_id(&self) -> Option<TokenId> {
        match self {
            Self::Invitation { token_id, .. }
            | Self::PasswordReset { token_id, .. }
            | Self::InvitationReminder { token_id, .. } => Some(*token_id),
            Self::PasswordChanged | Self::SecondFactorAdded | Self::SecondFactorRemoved | Self::RecoveryCodeUsed => {
                None
            }
        }
    }

    /// When the link the mail carries stops working, if it carries one: a mail whose link
    /// expired before delivery is never sent.
    #[must_use]
    pub const fn link_expires_at(&self) -> Option<Timestamp> {
        match self {
            Self::Invitation { expires_at, .. }
            | Self::PasswordReset { expires_at, .. }
            | Self::InvitationReminder { expires_at, .. } => Some(*expires_at),
            Self::PasswordChanged | Self::SecondFactorAdded | Self::SecondFactorRemoved | Self::RecoveryCodeUsed => {
                None
            }
        }
    }
}
