//! Why an email was not delivered, as a type: the mail adapter knows the cause (the SMTP step
//! and reply, a file it could not write, a link that expired), so it says so in a
//! [`DeliveryCause`] instead of leaving readers to parse its text. The text stays beside it as
//! the technical detail.

use std::fmt;

use crate::ports::{MAIL_CANCELLED_DISABLED, MAIL_CANCELLED_SUPERSEDED};

/// What kept an email from being delivered. Each code ([`DeliveryCause::as_str`]) is stable:
/// it is stored, and a code this version does not know reads back as [`DeliveryCause::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryCause {
    /// No connection to the mail server (refused, reset, no route).
    Unreachable,
    /// TLS could not be set up, or the server offers none and the settings require it.
    NoSecureConnection,
    /// The server turned the session away at its greeting or `EHLO`.
    TurnedAway,
    /// The server refused the portal's credentials (or offers no way to present them).
    SignInRefused,
    /// A temporary refusal (a 4xx reply): the server asked to try later.
    Deferred,
    /// The recipient's address was refused (a 5xx reply to `RCPT TO`).
    AddressRefused,
    /// The sender address was refused (a 5xx reply to `MAIL FROM`).
    SenderRefused,
    /// The message was refused (a 5xx reply to `DATA`).
    MessageRefused,
    /// The server did not answer in time, or the whole send took too long.
    TimedOut,
    /// The link the email carried expired before it could go out.
    LinkExpired,
    /// The message could not be written to the mail folder (file delivery).
    NotWritten,
    /// The message could not be built (rendering, a header that cannot be sent).
    NotBuilt,
    /// The practice the email belongs to no longer exists.
    PracticeGone,
    /// The client is no longer in the host's records (removed or merged) when the email was
    /// to be rendered, so there is nobody to write to.
    ClientGone,
    /// Cancelled by the core: the portal account was disabled (design §2: a disabled account
    /// receives no portal mail).
    CancelledAccountDisabled,
    /// Cancelled by the core: the link it carried was replaced (resend, new reset) or used.
    CancelledLinkSuperseded,
    /// Anything else, and every stored code this version does not know: the detail says what.
    Other,
}

impl DeliveryCause {
    /// Every cause, for adapters that map codes back and for tests.
    pub const ALL: [Self; 17] = [
        Self::Unreachable,
        Self::NoSecureConnection,
        Self::TurnedAway,
        Self::SignInRefused,
        Self::Deferred,
        Self::AddressRefused,
        Self::SenderRefused,
        Self::MessageRefused,
        Self::TimedOut,
        Self::LinkExpired,
        Self::NotWritten,
        Self::NotBuilt,
        Self::PracticeGone,
        Self::ClientGone,
        Self::CancelledAccountDisabled,
        Self::CancelledLinkSuperseded,
        Self::Other,
    ];

    /// The stable code, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::NoSecureConnection => "no_secure_connection",
            Self::TurnedAway => "turned_away",
            Self::SignInRefused => "sign_in_refused",
            Self::Deferred => "deferred",
            Self::AddressRefused => "address_refused",
            Self::SenderRefused => "sender_refused",
            Self::MessageRefused => "message_refused",
            Self::TimedOut => "timed_out",
            Self::LinkExpired => "link_expired",
            Self::NotWritten => "not_written",
            Self::NotBuilt => "not_built",
            Self::PracticeGone => "practice_gone",
            Self::ClientGone => "client_gone",
            Self::CancelledAccountDisabled => "cancelled_account_disabled",
            Self::CancelledLinkSuperseded => "cancelled_link_superseded",
            Self::Other => "other",
        }
    }

    /// The cause of a stored code. A code written by a newer version (or none at all) is
    /// [`DeliveryCause::Other`]: the detail text still says what happened.
    pub fn from_code(code: &str) -> Self {
        Self::ALL.into_iter().find(|cause| cause.as_str() == code).unwrap_or(Self::Other)
    }

    /// Whether the core cancelled the email on purpose (nothing went wrong with delivery).
    pub const fn is_cancellation(self) -> bool {
        matches!(self, Self::CancelledAccountDisabled | Self::CancelledLinkSuperseded)
    }
}

impl fmt::Display for DeliveryCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why one attempt (or the whole delivery) failed: the cause, and the adapter's own words as
/// the detail. The detail MUST hold no secret, no message body and no unmasked recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryProblem {
    /// What went wrong.
    pub cause: DeliveryCause,
    /// The adapter's text: `SMTP RCPT TO: 550 5.1.1 <<recipient>>: no such user`.
    pub detail: String,
}

impl DeliveryProblem {
    /// A problem with its cause and detail.
    pub fn new(cause: DeliveryCause, detail: impl Into<String>) -> Self {
        Self { cause, detail: detail.into() }
    }
}

impl DeliveryProblem {
    /// A mail the core cancelled because its portal account was disabled.
    pub fn account_disabled() -> Self {
        Self::new(DeliveryCause::CancelledAccountDisabled, MAIL_CANCELLED_DISABLED)
    }

    /// A mail the core cancelled because the link it carried was replaced or used.
    pub fn link_superseded() -> Self {
        Self::new(DeliveryCause::CancelledLinkSuperseded, MAIL_CANCELLED_SUPERSEDED)
    }
}

impl fmt::Display for DeliveryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The detail already names the cause in words; the code is for machines.
        f.write_str(&self.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_its_cause_and_unknown_codes_as_other() {
        for cause in DeliveryCause::ALL {
            assert_eq!(DeliveryCause::from_code(cause.as_str()), cause);
        }
        assert_eq!(DeliveryCause::from_code("a_cause_from_a_newer_version"), DeliveryCause::Other);
        assert_eq!(DeliveryCause::from_code(""), DeliveryCause::Other);
    }

    #[test]
    fn only_the_two_cancellations_are_cancellations() {
        let cancellations: Vec<_> = DeliveryCause::ALL.into_iter().filter(|cause| cause.is_cancellation()).collect();
        assert_eq!(cancellations, [DeliveryCause::CancelledAccountDisabled, DeliveryCause::CancelledLinkSuperseded]);
    }
}
