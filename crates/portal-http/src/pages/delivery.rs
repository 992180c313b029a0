//! Where an invitation's or reset's email is, in words a receptionist can act on
//! (`templates/_delivery.html`).
//!
//! The core keeps a delivery failure as the mail adapter's text ("SMTP RCPT TO: 550 5.1.1 …");
//! [`Cause::of`] reads that text into a cause with its own words, and the text itself stays
//! available as the technical detail.

use portal_core::{DeliveryState, MAIL_CANCELLED_DISABLED, MAIL_CANCELLED_SUPERSEDED};

use super::zone::PracticeZone;

/// Where the email of an invitation or reset is.
pub(crate) enum Delivery {
    /// No email was queued for it.
    NotQueued,
    /// Queued, not tried yet.
    Waiting,
    /// Tried and not delivered; will be tried again.
    Retrying { attempts: u32, next: String, why: Option<Why> },
    /// Handed to the mail server.
    Sent { at: String },
    /// Given up.
    Failed { at: String, why: Why },
    /// Not sent on purpose: the core cancelled it.
    Cancelled { at: String, because: Cancelled },
}

/// Why the core cancelled a queued email.
pub(crate) enum Cancelled {
    /// Portal access was turned off (a disabled account gets no portal mail).
    AccessTurnedOff,
    /// A newer link replaced the one it carried, or that link was used.
    LinkReplaced,
}

impl Delivery {
    pub(crate) fn of(state: Option<&DeliveryState>, zone: &PracticeZone) -> Self {
        match state {
            None => Self::NotQueued,
            Some(DeliveryState::Pending { attempts: 0, .. }) => Self::Waiting,
            Some(DeliveryState::Pending { attempts, next_attempt_at, last_error }) => Self::Retrying {
                attempts: *attempts,
                next: zone.at(*next_attempt_at),
                why: last_error.as_deref().map(Why::of),
            },
            Some(DeliveryState::Sent { at }) => Self::Sent { at: zone.at(*at) },
            Some(DeliveryState::Failed { at, reason }) => {
                let at = zone.at(*at);
                match reason.as_str() {
                    MAIL_CANCELLED_DISABLED => Self::Cancelled { at, because: Cancelled::AccessTurnedOff },
                    MAIL_CANCELLED_SUPERSEDED => Self::Cancelled { at, because: Cancelled::LinkReplaced },
                    _ => Self::Failed { at, why: Why::of(reason) },
                }
            }
        }
    }
}

/// Why a delivery failed: the cause in words, and the mail system's own text as the detail.
pub(crate) struct Why {
    pub(crate) cause: Cause,
    /// When the dispatcher gave up after repeated temporary failures.
    pub(crate) gave_up_after: Option<u32>,
    /// The text the mail adapter recorded (recipient already masked).
    pub(crate) detail: String,
}

impl Why {
    fn of(text: &str) -> Self {
        // "gave up after 8 attempts; last error: SMTP connect: …" (portal-mail's dispatcher).
        let gave_up = text.strip_prefix("gave up after ").and_then(|rest| {
            let (count, last) = rest.split_once(" attempts; last error: ")?;
            Some((count.parse().ok()?, last))
        });
        let (gave_up_after, last) = match gave_up {
            Some((count, last)) => (Some(count), last),
            None => (None, text),
        };
        Self { cause: Cause::of(last), gave_up_after, detail: text.to_owned() }
    }
}

/// What went wrong, each with its words in `templates/_delivery.html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No connection to the mail server.
    Unreachable,
    /// TLS could not be set up (or the server offers none and the settings require it).
    NoSecureConnection,
    /// The server turned the session away at its greeting or EHLO.
    TurnedAway,
    /// The server refused the portal's credentials.
    SignInRefused,
    /// A temporary refusal (4xx): the server asked to try later.
    Deferred,
    /// The recipient's address was refused (5xx at RCPT TO).
    AddressRefused,
    /// The sender address was refused (5xx at MAIL FROM).
    SenderRefused,
    /// The message was refused (5xx at DATA).
    MessageRefused,
    /// The server did not answer in time.
    TimedOut,
    /// The link expired before the email went out.
    LinkExpired,
    /// The message could not be written to the mail folder (file delivery).
    NotWritten,
    /// The message could not be built.
    NotBuilt,
    /// Something else: the detail says what.
    Other,
}

impl Cause {
    /// Reads the mail adapter's text: `SMTP {stage}: {reply code} …` for SMTP, or the
    /// dispatcher's and the file transport's own sentences.
    fn of(text: &str) -> Self {
        if let Some(rest) = text.strip_prefix("SMTP ") {
            return Self::smtp(rest);
        }
        if text.contains("timed out") {
            Self::TimedOut
        } else if text.starts_with("the link expired") {
            Self::LinkExpired
        } else if text.contains("message file") || text.contains("file writer") {
            Self::NotWritten
        } else if text.starts_with("invalid message") || text.contains("could not be serialised") {
            Self::NotBuilt
        } else {
            Self::Other
        }
    }

    fn smtp(rest: &str) -> Self {
        let Some((stage, reply)) = rest.split_once(": ") else {
            // "SMTP delivery took longer than 60 s".
            return if rest.contains("took longer") { Self::TimedOut } else { Self::Other };
        };
        let code = reply.get(..3).and_then(|code| code.parse::<u16>().ok());
        let permanent = code.is_some_and(|code| (500..600).contains(&code));
        let temporary = code.is_some_and(|code| (400..500).contains(&code));
        match stage {
            _ if reply.contains("timed out") => Self::TimedOut,
            "connect" => Self::Unreachable,
            "TLS" => Self::NoSecureConnection,
            "AUTH" => Self::SignInRefused,
            "RCPT TO" if permanent => Self::AddressRefused,
            "MAIL FROM" if permanent => Self::SenderRefused,
            "DATA" if permanent => Self::MessageRefused,
            _ if temporary => Self::Deferred,
            "greeting" | "EHLO" => Self::TurnedAway,
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mail_adapters_texts_read_as_causes() {
        let cases = [
            ("SMTP connect: Connection refused (os error 111)", Cause::Unreachable),
            ("SMTP TLS: STARTTLS extension unavailable", Cause::NoSecureConnection),
            ("SMTP greeting: 554 no service", Cause::TurnedAway),
            ("SMTP AUTH: 535 5.7.8 bad credentials", Cause::SignInRefused),
            ("SMTP RCPT TO: 550 5.1.1 <<recipient>>: no such user", Cause::AddressRefused),
            ("SMTP RCPT TO: 451 4.3.0 try later", Cause::Deferred),
            ("SMTP MAIL FROM: 553 sender rejected", Cause::SenderRefused),
            ("SMTP DATA: 554 5.7.1 spam", Cause::MessageRefused),
            ("SMTP DATA: timed out", Cause::TimedOut),
            ("SMTP delivery took longer than 60 s", Cause::TimedOut),
            ("the send timed out", Cause::TimedOut),
            ("the link expired before the mail could be delivered", Cause::LinkExpired),
            ("cannot write the message file: disk full", Cause::NotWritten),
            ("invalid message: bad subject", Cause::NotBuilt),
            ("something new", Cause::Other),
        ];
        for (text, cause) in cases {
            assert_eq!(Cause::of(text), cause, "{text}");
        }
        let gave_up = Why::of("gave up after 8 attempts; last error: SMTP connect: refused");
        assert_eq!((gave_up.cause, gave_up.gave_up_after), (Cause::Unreachable, Some(8)));
        assert_eq!(gave_up.detail, "gave up after 8 attempts; last error: SMTP connect: refused");
    }
}
