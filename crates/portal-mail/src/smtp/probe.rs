//! What a probe of the relay found ([`SmtpTransport::probe`](super::SmtpTransport::probe)),
//! and the failures of an SMTP session, typed.

use std::fmt;
use std::net::SocketAddr;

/// The steps of an SMTP session, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpStep {
    /// The TCP connection.
    Connect,
    /// TLS: the handshake (implicit or after `STARTTLS`), or the decision to go without.
    Tls,
    /// The relay's `220` greeting.
    Greeting,
    /// `EHLO`.
    Ehlo,
    /// `AUTH`.
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA` and the message.
    Data,
}

impl fmt::Display for SmtpStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Tls => "TLS",
            Self::Greeting => "greeting",
            Self::Ehlo => "EHLO",
            Self::Auth => "AUTH",
            Self::MailFrom => "MAIL FROM",
            Self::RcptTo => "RCPT TO",
            Self::Data => "DATA",
        })
    }
}

/// What went wrong at a step. Texts hold the relay's reply (the recipient masked, control
/// characters dropped) or the I/O or TLS error; never a password or a message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpFailure {
    /// TLS is required and the relay offers no `STARTTLS`.
    #[error("the relay offers no STARTTLS, and TLS is required for this relay")]
    StartTlsNotOffered,
    /// Credentials are configured and the relay offers no `STARTTLS`: the password is not sent
    /// (checked before any `AUTH`).
    #[error("the relay offers no STARTTLS, so the user name and password are not sent (never without TLS)")]
    CredentialsNeedTls,
    /// Credentials are configured and the relay offers no `AUTH` mechanism portal can use
    /// (PLAIN, LOGIN, CRAM-MD5, DIGEST-MD5).
    #[error("the relay offers no AUTH that portal can use, but the URL has a user name and password")]
    AuthNotOffered,
    /// The relay refused the user name or password.
    #[error("the relay refused the user name or password: {0}")]
    AuthRefused(String),
    /// The relay did not answer in time.
    #[error("timed out")]
    Timeout,
    /// The relay answered with an error: `550 5.1.1 no such user`.
    #[error("{text}")]
    Reply {
        /// The reply code.
        code: u16,
        /// The code, the enhanced status code when given, and the relay's words.
        text: String,
    },
    /// The connection or the TLS handshake failed (refused, reset, untrusted certificate…).
    #[error("{0}")]
    Connection(String),
}

/// How the connection to the relay was protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTls {
    /// TLS from the first byte (`smtps://`).
    Implicit {
        /// Protocol version and cipher suite, e.g. `TLS 1.3, TLS13_AES_256_GCM_SHA384`.
        session: String,
    },
    /// Upgraded with `STARTTLS`.
    StartTls {
        /// Protocol version and cipher suite.
        session: String,
    },
    /// Plain: the relay offers no `STARTTLS`, and the settings allow that (`tls=opportunistic`,
    /// or the default for a loopback host without credentials).
    NotOffered,
    /// Plain, as `tls=none` asks.
    Off,
}

/// What happened with `AUTH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAuth {
    /// The relay accepted the credentials of this user.
    Accepted {
        /// The user name (never the password).
        user: String,
    },
    /// The URL has no credentials, so none were sent.
    NotConfigured {
        /// Whether the relay offers `AUTH` (a relay that requires it refuses the sender later).
        offered: bool,
    },
}

/// What a probe found, step by step; a step not reached (or not asked for) is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// The relay as configured, `host:port`.
    pub relay: String,
    /// The address connected to.
    pub connected: Option<SocketAddr>,
    /// The relay's greeting (its first line).
    pub greeting: Option<String>,
    /// How the connection is protected.
    pub tls: Option<ProbeTls>,
    /// What happened with `AUTH`.
    pub auth: Option<ProbeAuth>,
    /// The recipient the relay accepted a test message for.
    pub test_message: Option<String>,
}

/// A probe that failed at `step`, after the steps in `report` worked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SMTP {step}: {failure}")]
pub struct ProbeError {
    /// What worked before the failure.
    pub report: ProbeReport,
    /// The step that failed.
    pub step: SmtpStep,
    /// Why.
    pub failure: SmtpFailure,
}

impl ProbeError {
    /// What to check or change, in a sentence, when there is a usual cause.
    #[must_use]
    pub fn advice(&self) -> Option<&'static str> {
        Some(match (&self.failure, self.step) {
            (SmtpFailure::StartTlsNotOffered, _) => {
                "for a relay on a network you trust, add ?tls=opportunistic (STARTTLS when offered) or \
                 ?tls=none to the SMTP URL; otherwise use the relay's TLS port (smtps://HOST:465)"
            }
            (SmtpFailure::CredentialsNeedTls, _) => {
                "use a relay port that offers STARTTLS or implicit TLS (smtps://HOST:465), or remove the \
                 user name and password from the URL if the relay needs no login"
            }
            (SmtpFailure::AuthNotOffered, _) => {
                "remove user:password@ from the SMTP URL if the relay needs no login; otherwise check \
                 host and port"
            }
            (SmtpFailure::AuthRefused(_), _) => {
                "check the user name and password in the SMTP URL (write @ : / % in them as %40 %3A %2F %25)"
            }
            (_, SmtpStep::Connect) => "check that the relay is running and that host and port are right",
            (SmtpFailure::Connection(_), SmtpStep::Tls) => {
                "the relay's certificate may not be trusted or not name this host: check the host name, \
                 or add ?ca_file=/path/to/ca.pem for a private CA"
            }
            (SmtpFailure::Reply { .. }, SmtpStep::MailFrom) => {
                "the relay refuses the sender: check --mail-from (and whether the relay needs a login)"
            }
            (SmtpFailure::Reply { .. }, SmtpStep::RcptTo) => {
                "the relay refuses the recipient (or needs a login to relay mail to other domains)"
            }
            _ => return None,
        })
    }
}
