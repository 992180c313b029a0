//! The mail transport port: a rendered email and what delivers it.

use async_trait::async_trait;

use crate::delivery::DeliveryProblem;

/// A rendered email, ready for a transport.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// `Message-ID` value without angle brackets; stable per outbox row.
    pub message_id: String,
    /// Sender display name.
    pub from_name: String,
    /// Sender address (the configured no-reply address).
    pub from_address: String,
    /// Recipient address.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
}

impl std::fmt::Debug for RenderedEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body holds a live link: never print it.
        f.debug_struct("RenderedEmail")
            .field("message_id", &self.message_id)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a transport could not deliver: whether to try again, and the typed problem.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Worth retrying later (connection refused, timeout, 4xx).
    #[error("temporary delivery failure: {0}")]
    Transient(DeliveryProblem),
    /// Never worth retrying (5xx, rejected address).
    #[error("permanent delivery failure: {0}")]
    Permanent(DeliveryProblem),
}

impl TransportError {
    /// The problem, whether temporary or permanent.
    pub fn problem(&self) -> &DeliveryProblem {
        match self {
            Self::Transient(problem) | Self::Permanent(problem) => problem,
        }
    }
}

/// Something that delivers a rendered email (SMTP, a folder of `.eml` files).
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// Delivers one message.
    ///
    /// # Errors
    /// [`TransportError::Transient`] when a later attempt may succeed,
    /// [`TransportError::Permanent`] when it never will, each with the [`DeliveryCause`] the
    /// transport knows and a detail that MUST NOT contain the body, a secret or the recipient
    /// unmasked.
    ///
    /// [`DeliveryCause`]: crate::DeliveryCause
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError>;
}
