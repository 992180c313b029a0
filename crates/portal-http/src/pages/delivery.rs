//! Where an invitation's or reset's email is, in words a receptionist can act on
//! (`templates/_delivery.html`).
//!
//! The core keeps a delivery failure as a typed [`DeliveryCause`] beside the mail adapter's
//! text: cancellations read as such here, the staff catalogue's `delivery_cause` gives every
//! other cause its words in each language, and the text stays available as the technical
//! detail.

use portal_core::{DeliveryCause, DeliveryProblem, DeliveryState};

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
            Some(DeliveryState::Pending { attempts, next_attempt_at, last_problem }) => Self::Retrying {
                attempts: *attempts,
                next: zone.at(*next_attempt_at),
                why: last_problem.as_ref().map(|problem| Why::of(problem, None)),
            },
            Some(DeliveryState::Sent { at }) => Self::Sent { at: zone.at(*at) },
            Some(DeliveryState::Failed { at, problem, gave_up_after }) => {
                let at = zone.at(*at);
                match problem.cause {
                    DeliveryCause::CancelledAccountDisabled => {
                        Self::Cancelled { at, because: Cancelled::AccessTurnedOff }
                    }
                    DeliveryCause::CancelledLinkSuperseded => Self::Cancelled { at, because: Cancelled::LinkReplaced },
                    _ => Self::Failed { at, why: Why::of(problem, *gave_up_after) },
                }
            }
        }
    }
}

/// Why a delivery failed: the cause in words, and the mail system's own text as the detail.
pub(crate) struct Why {
    /// What went wrong: the staff catalogue words every cause (its `match` is exhaustive, so a
    /// new cause cannot go unworded).
    pub(crate) cause: DeliveryCause,
    /// When the dispatcher gave up after repeated temporary failures: the attempts it made.
    pub(crate) gave_up_after: Option<u32>,
    /// The text the mail adapter recorded (recipient already masked).
    pub(crate) detail: String,
}

impl Why {
    fn of(problem: &DeliveryProblem, gave_up_after: Option<u32>) -> Self {
        Self { cause: problem.cause, gave_up_after, detail: problem.detail.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> PracticeZone {
        PracticeZone::of(None)
    }

    #[test]
    fn a_failure_keeps_its_cause_its_detail_and_the_attempts_made() {
        let problem = DeliveryProblem::new(DeliveryCause::Unreachable, "SMTP connect: refused");
        let state = DeliveryState::Failed { at: jiff::Timestamp::UNIX_EPOCH, problem, gave_up_after: Some(8) };
        let Delivery::Failed { why, .. } = Delivery::of(Some(&state), &zone()) else { panic!("failed") };
        assert_eq!((why.cause, why.gave_up_after), (DeliveryCause::Unreachable, Some(8)));
        assert_eq!(why.detail, "SMTP connect: refused");
    }

    #[test]
    fn cancellations_read_as_cancelled_not_failed() {
        for (problem, expected) in [
            (DeliveryProblem::account_disabled(), "AccessTurnedOff"),
            (DeliveryProblem::link_superseded(), "LinkReplaced"),
        ] {
            let state = DeliveryState::Failed { at: jiff::Timestamp::UNIX_EPOCH, problem, gave_up_after: None };
            let because = match Delivery::of(Some(&state), &zone()) {
                Delivery::Cancelled { because: Cancelled::AccessTurnedOff, .. } => "AccessTurnedOff",
                Delivery::Cancelled { because: Cancelled::LinkReplaced, .. } => "LinkReplaced",
                _ => "not cancelled",
            };
            assert_eq!(because, expected);
        }
    }
}
