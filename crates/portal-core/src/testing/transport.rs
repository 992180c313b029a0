//! A mail transport that records what it was given and fails on request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::delivery::{DeliveryCause, DeliveryProblem};
use crate::ports::{MailTransport, RenderedEmail, TransportError};

use super::lock;

#[derive(Debug, Clone, Copy)]
enum Failure {
    Transient,
    Permanent,
}

#[derive(Debug, Default)]
struct TransportState {
    sent: Vec<RenderedEmail>,
    attempts: usize,
    failures: VecDeque<Failure>,
}

/// A [`MailTransport`] that delivers into a list instead of a mail server, and can be told to
/// fail the next sends (for dispatcher tests). Clones share the list.
///
/// ```
/// use portal_core::testing::RecordingTransport;
/// use portal_core::{MailTransport, RenderedEmail, TransportError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let transport = RecordingTransport::new();
/// let email = RenderedEmail {
///     message_id: "1@portal".into(),
///     from_name: "Sunrise Therapy".into(),
///     from_address: "no-reply@example.org".into(),
///     to: "ada@example.org".into(),
///     subject: "Your portal invitation".into(),
///     text: "…".into(),
///     html: "<p>…</p>".into(),
/// };
/// transport.fail_next_transient(1);
/// assert!(matches!(transport.send(&email).await, Err(TransportError::Transient(_))));
/// assert!(transport.send(&email).await.is_ok());
/// assert_eq!(transport.sent(), vec![email]);
/// assert_eq!(transport.attempts(), 2);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct RecordingTransport {
    state: Arc<Mutex<TransportState>>,
}

impl RecordingTransport {
    /// A transport that delivers everything.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` sends fail with [`TransportError::Transient`] (after any failures already
    /// queued).
    pub fn fail_next_transient(&self, n: usize) {
        lock(&self.state).failures.extend(std::iter::repeat_n(Failure::Transient, n));
    }

    /// The next `n` sends fail with [`TransportError::Permanent`] (after any failures already
    /// queued).
    pub fn fail_next_permanent(&self, n: usize) {
        lock(&self.state).failures.extend(std::iter::repeat_n(Failure::Permanent, n));
    }

    /// Every email delivered so far, in order (failed attempts are not included).
    #[must_use]
    pub fn sent(&self) -> Vec<RenderedEmail> {
        lock(&self.state).sent.clone()
    }

    /// How many times [`MailTransport::send`] was called, failures included.
    #[must_use]
    pub fn attempts(&self) -> usize {
        lock(&self.state).attempts
    }
}

#[async_trait]
impl MailTransport for RecordingTransport {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        let mut state = lock(&self.state);
        state.attempts += 1;
        match state.failures.pop_front() {
            Some(Failure::Transient) => Err(TransportError::Transient(simulated("simulated temporary failure"))),
            Some(Failure::Permanent) => Err(TransportError::Permanent(simulated("simulated permanent failure"))),
            None => {
                state.sent.push(email.clone());
                Ok(())
            }
        }
    }
}

/// A simulated failure has no real cause: it reads as [`DeliveryCause::Other`], as an
/// unclassified failure of a real transport would.
fn simulated(detail: &str) -> DeliveryProblem {
    DeliveryProblem::new(DeliveryCause::Other, detail)
}
