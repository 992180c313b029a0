//! The typed refusals of the account's transitions, one enum per transition, and what a toggle
//! changed.

use jiff::Timestamp;

/// Refusals of "send (or resend) an invitation".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteRefused {
    /// A username and password exist: send a password reset instead.
    #[error("the client already has a portal account; send a password reset instead")]
    AccountExists,
}

/// Refusals of redeeming an invitation (verify or register).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteRedeemRefused {
    /// Unknown, voided by a resend, or already used.
    #[error("this invitation link is not valid; ask your provider to resend the invitation")]
    InviteNotFound,
    /// `now >= expires_at`.
    #[error("this invitation link has expired; ask your provider to resend the invitation")]
    InviteExpired,
    /// Closed after too many wrong dates of birth. The API answers it like `InviteNotFound`
    /// (a voided link); the page says why.
    #[error("this invitation link was closed after too many wrong answers; ask your provider to resend the invitation")]
    InviteClosed,
}

/// Why an invitation gets no reminder at a given moment (the reminder is not an error anyone
/// sees: the reminder job passes over the invitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReminderNotDue {
    /// The account's current invitation is not this one (resent since), or there is none.
    #[error("the invitation was replaced or never sent")]
    NotCurrent,
    /// The client registered already.
    #[error("the client has a portal account")]
    AccountExists,
    /// The invitation was used, or its link expired (`now >= expires_at`).
    #[error("the invitation link was used or has expired")]
    LinkNotLive,
    /// Its one reminder was queued or passed over already.
    #[error("the invitation had its reminder already")]
    AlreadyReminded,
    /// `now < expires_at - lead`.
    #[error("the reminder is not due yet")]
    NotYet,
}

/// Refusals of "send a password reset".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetRefused {
    /// The client has not registered: send an invitation instead.
    #[error("the client has no portal account; send an invitation instead")]
    NoAccount,
    /// Disabled accounts get no mail: enable first.
    #[error("the portal account is disabled; enable it first")]
    AccountDisabled,
}

/// Refusals of a reset the client asked for ([`super::PortalAccount::request_reset`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetRequestRefused {
    /// No registered account.
    #[error("the client has no portal account")]
    NoAccount,
    /// Disabled accounts get no mail.
    #[error("the portal account is disabled")]
    AccountDisabled,
    /// The per-account limit holds until `until`.
    #[error("a reset was requested too recently or too often")]
    Throttled {
        /// When a request may queue a mail again.
        until: Timestamp,
    },
}

/// Refusals of redeeming a reset link (verify or complete).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResetRedeemRefused {
    /// Unknown, voided (by a newer reset or by disable) or already used.
    #[error("this password-reset link is not valid")]
    ResetNotFound,
    /// `now >= expires_at`.
    #[error("this password-reset link has expired")]
    ResetExpired,
    /// Closed after too many wrong dates of birth. The API answers it like `ResetNotFound`
    /// (a voided link); the page says why.
    #[error("this password-reset link was closed after too many wrong answers")]
    ResetClosed,
    /// The account was disabled.
    #[error("the portal account is disabled")]
    AccountDisabled,
}

/// Refusals of enabling or disabling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToggleRefused {
    /// Nothing to toggle before registration.
    #[error("the client has no portal account")]
    NoAccount,
}

/// Refusals of a sign-in, once the password has been checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefused {
    /// No account, or the password does not match.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Right password, but staff turned the account off.
    #[error("the portal account is disabled")]
    AccountDisabled,
}

/// Whether a toggle changed anything (a repeated toggle is accepted and changes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggled {
    /// The state changed.
    Changed,
    /// It was already so.
    Unchanged,
}
