//! # portal-mail
//!
//! The mail adapter of portal: it fills the core's [`MailTransport`](portal_core::MailTransport)
//! port and delivers the core's [`MailOutbox`](portal_core::MailOutbox).
//!
//! - [`Renderer`]: turns an outbox row into an email from compiled-in askama templates (English
//!   and Spanish, plain text and HTML, discreet or not), re-deriving the link from the token id
//!   with the [`LinkKey`](portal_core::LinkKey): the database never holds a usable link.
//! - [`SmtpTransport`]: SMTP through mail-send (implicit TLS, STARTTLS, or plain for loopback;
//!   optional AUTH, never without TLS; timeouts), classifying failures as transient or
//!   permanent; [`SmtpTransport::probe`] checks the relay step by step.
//! - [`FileTransport`]: RFC 5322 `.eml` files in a folder, the embedded default.
//! - [`Dispatcher`]: the background task that claims due outbox rows, renders and sends them,
//!   retries with capped exponential backoff and jitter, and marks permanent failures.
//!
//! Call [`install_crypto_provider`] once at start-up before using TLS.

mod dispatcher;
mod file;
mod message;
mod render;
mod smtp;
mod templates;

pub use dispatcher::{DispatchReport, Dispatcher, DispatcherConfig, DispatcherHandle, MailWaker};
pub use file::FileTransport;
pub use render::{MailFrom, RenderError, Renderer};
pub use smtp::{
    ProbeAuth, ProbeError, ProbeReport, ProbeTls, SmtpConfig, SmtpFailure, SmtpStep, SmtpTransport, TlsMode,
};

/// A setting that cannot be used (a malformed URL, a bad address, an unreadable CA file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} setting: {why}")]
pub struct ConfigError {
    /// Which setting (`public-url`, `mail-from`, `smtp-url`, `mail-dir`, `dispatcher`).
    pub setting: &'static str,
    /// What is wrong with it (never a password).
    pub why: String,
}

impl ConfigError {
    pub(crate) fn new(setting: &'static str, why: impl Into<String>) -> Self {
        Self { setting, why: why.into() }
    }
}

/// Installs rustls's *ring* crypto provider as the process default, once; later calls (and a
/// provider someone else installed first) are fine.
///
/// Both sqlx and mail-send use rustls; when more than one provider is compiled in, rustls cannot
/// pick one and panics when a TLS client is built without an explicit provider. This crate
/// builds its own TLS configuration with *ring* explicitly, but the server calls this at
/// start-up anyway so every other rustls user in the process finds a default.
pub fn install_crypto_provider() {
    // Err means a provider is already installed: that is the idempotent case.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    #[test]
    fn installing_the_crypto_provider_twice_is_fine() {
        super::install_crypto_provider();
        super::install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
