//! What the staff pages show, in the shape their templates read and in words rather than codes
//! (the staff catalogue's, in the page's language): the client list's rows, the audit trail's
//! rows and the portal panel in its three looks. Times are in the practice's zone
//! ([`PracticeZone`]). The API keeps the codes and UTC.

use portal_core::service::{ClientView, PortalView, TokenView};
use portal_core::{AuditAction, AuditEvent, PortalStatus, PortalStatusKind, SecondFactorKind};

use super::delivery::Delivery;
use super::staff_texts;
use super::zone::PracticeZone;

/// One row of the client list.
pub(crate) struct ClientRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: String,
}

pub(crate) fn client_rows(clients: &[ClientView], zone: &PracticeZone) -> Vec<ClientRow> {
    clients
        .iter()
        .map(|view| ClientRow {
            id: view.client.id.to_string(),
            name: view.client.name.as_str().to_owned(),
            status: status_label(&view.portal, zone),
        })
        .collect()
}

/// A client's portal status in words, in the page's language.
fn status_label(status: &PortalStatus, zone: &PracticeZone) -> String {
    let sk = staff_texts();
    match status {
        PortalStatus::NotInvited => (sk.status_kind)(PortalStatusKind::NoAccount).to_owned(),
        PortalStatus::Invited { expires_at, .. } => (sk.invited_expires)(&zone.at(*expires_at)),
        PortalStatus::InviteExpired { .. } => (sk.status_kind)(PortalStatusKind::InviteExpired).to_owned(),
        PortalStatus::Active { username } => (sk.active_as)(username.as_str()),
        PortalStatus::Disabled { username, .. } => (sk.disabled_as)(username.as_str()),
    }
}

/// One row of the audit trail, in words.
pub(crate) struct AuditRow {
    pub(crate) when: String,
    pub(crate) what: String,
    pub(crate) who: String,
    pub(crate) outcome: String,
}

/// The audit trail, newest first, in the page's language: every action and refusal the core
/// records has its words in the staff catalogue (`texts::StaffTexts`).
pub(crate) fn audit_rows(events: &[AuditEvent], zone: &PracticeZone) -> Vec<AuditRow> {
    let sk = staff_texts();
    events
        .iter()
        .rev()
        .map(|event| {
            let action = (sk.action)(event.action);
            // The detail is a disable reason, the username chosen at registration, a link's
            // tries left, or the kind of a second factor (named in the catalogue's words).
            let what = match &event.detail {
                Some(detail) => format!("{action}: {}", detail_words(event.action, detail)),
                None => action.to_owned(),
            };
            AuditRow {
                when: zone.at(event.at),
                what,
                who: (sk.actor)(&event.actor),
                outcome: event.failure.as_ref().map_or_else(|| sk.done.to_owned(), sk.failure),
            }
        })
        .collect()
}

/// An audit event's detail in the page's language.
fn detail_words(action: AuditAction, detail: &str) -> String {
    let sk = staff_texts();
    let factor_event = matches!(
        action,
        AuditAction::SecondFactorEnrolled | AuditAction::SecondFactorRemoved | AuditAction::SecondFactorUsed
    );
    match SecondFactorKind::from_name(detail) {
        Some(kind) if factor_event => (sk.factor_kind)(kind).to_owned(),
        _ => (sk.audit_detail)(action, detail),
    }
}

/// One second factor on a client's profile: its kind in words, its name and dates.
pub(crate) struct FactorRow {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) added: String,
    pub(crate) last_used: Option<String>,
}

/// A client's second factors as the profile shows them (never a secret: the view has none).
pub(crate) fn factor_rows(view: &portal_core::service::FactorsView, zone: &PracticeZone) -> Vec<FactorRow> {
    let sk = staff_texts();
    view.factors
        .iter()
        .map(|factor| FactorRow {
            kind: (sk.factor_kind)(factor.kind),
            name: factor.name.as_str().to_owned(),
            added: zone.at(factor.created_at),
            last_used: factor.last_used_at.map(|at| zone.at(at)),
        })
        .collect()
}

/// The portal panel in its three looks (`templates/_panel*.html`).
pub(crate) enum Panel {
    /// Not registered: invite, or resend.
    NoAccount {
        /// The status in words.
        status: String,
        /// The latest invitation.
        invite: Option<TokenFacts>,
        /// Never invited (the button says "Send" rather than "Resend").
        first: bool,
        /// The practice asks for the date of birth on links but none is on file.
        date_of_birth_skipped: bool,
    },
    /// Registered and on: the toggle and the reset button.
    Active { username: String, reset: Option<TokenFacts>, date_of_birth_skipped: bool },
    /// Registered and off: the toggle, and why it was turned off.
    Disabled { username: String, reason: Option<String> },
}

/// An invitation or reset: when it was sent, when it expires, where its email is.
pub(crate) struct TokenFacts {
    pub(crate) sent: String,
    pub(crate) expires: String,
    pub(crate) delivery: Delivery,
    /// Closed after too many wrong dates of birth: staff send a new one.
    pub(crate) closed: bool,
    /// When the invitation's reminder was queued, in the practice's zone.
    pub(crate) reminder_sent: Option<String>,
}

fn token_facts(view: &TokenView, zone: &PracticeZone) -> TokenFacts {
    let delivery = Delivery::of(view.delivery.as_ref(), zone);
    TokenFacts {
        sent: zone.at(view.sent_at),
        expires: zone.at(view.expires_at),
        delivery,
        closed: view.closed_after_date_of_birth_failures,
        reminder_sent: view.reminder_sent_at.map(|at| zone.at(at)),
    }
}

/// The panel of `view`; `date_of_birth_check` is the practice's setting (with it on and no date
/// on file, the panel says the client's links open without one).
pub(crate) fn panel(view: &PortalView, zone: &PracticeZone, date_of_birth_check: bool) -> Panel {
    let date_of_birth_skipped = date_of_birth_check && !view.date_of_birth_on_file;
    match &view.status {
        PortalStatus::NotInvited | PortalStatus::Invited { .. } | PortalStatus::InviteExpired { .. } => {
            Panel::NoAccount {
                status: status_label(&view.status, zone),
                invite: view.invite.as_ref().map(|token| token_facts(token, zone)),
                // A link closed after wrong dates of birth reads as no invitation, but one was sent.
                first: matches!(view.status, PortalStatus::NotInvited) && view.invite.is_none(),
                date_of_birth_skipped,
            }
        }
        PortalStatus::Active { username } => Panel::Active {
            username: username.to_string(),
            reset: view.reset.as_ref().map(|token| token_facts(token, zone)),
            date_of_birth_skipped,
        },
        PortalStatus::Disabled { username, reason } => Panel::Disabled {
            username: username.to_string(),
            reason: reason.as_ref().map(|reason| reason.as_str().to_owned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use portal_core::{AuditFailure, Language};

    use super::super::texts::staff_texts_in;

    #[test]
    fn each_known_refusal_has_its_own_words_and_an_unknown_stored_code_is_shown_as_it_is() {
        for (language, refused) in [(Language::En, "Refused"), (Language::Es, "Rechazado")] {
            let failure = staff_texts_in(language).failure;
            let words: BTreeSet<String> = AuditFailure::KNOWN.iter().map(failure).collect();
            assert_eq!(words.len(), AuditFailure::KNOWN.len(), "two refusals read the same: {words:?}");
            assert!(words.iter().all(|words| words.starts_with(&format!("{refused}: "))), "{words:?}");
            assert_eq!(failure(&AuditFailure::parse("mfa_required")), format!("{refused} (mfa_required)"));
        }
    }
}
