//! What the staff pages show, in the shape their templates read and in words rather than codes:
//! the client list's rows and filters, the audit trail's rows and the portal panel in its three
//! looks. Times are in the practice's zone ([`PracticeZone`]). The API keeps the codes and UTC.

use portal_core::service::{ClientView, PortalView, TokenView};
use portal_core::{Actor, AuditAction, AuditEvent, AuditFailure, PortalStatus, PortalStatusKind};

use super::delivery::Delivery;
use super::zone::PracticeZone;

/// The client list's tab for a portal status kind (`?portal=` and the kind's name), in words.
pub(crate) const fn filter_label(kind: PortalStatusKind) -> &'static str {
    match kind {
        PortalStatusKind::NoAccount => "No account",
        PortalStatusKind::Invited => "Invited",
        PortalStatusKind::InviteExpired => "Invite expired",
        PortalStatusKind::Active => "Active",
        PortalStatusKind::Disabled => "Disabled",
    }
}

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

fn status_label(status: &PortalStatus, zone: &PracticeZone) -> String {
    match status {
        PortalStatus::NotInvited => "No account".to_owned(),
        PortalStatus::Invited { expires_at, .. } => format!("Invited, expires {}", zone.at(*expires_at)),
        PortalStatus::InviteExpired { .. } => "Invite expired".to_owned(),
        PortalStatus::Active { username } => format!("Active ({username})"),
        PortalStatus::Disabled { username, .. } => format!("Disabled ({username})"),
    }
}

/// One row of the audit trail, in words.
pub(crate) struct AuditRow {
    pub(crate) when: String,
    pub(crate) what: String,
    pub(crate) who: String,
    pub(crate) outcome: String,
}

/// The audit trail, newest first.
pub(crate) fn audit_rows(events: &[AuditEvent], zone: &PracticeZone) -> Vec<AuditRow> {
    events
        .iter()
        .rev()
        .map(|event| {
            let action = action_words(event.action);
            // The detail is a disable reason or the username chosen at registration.
            let what = match &event.detail {
                Some(detail) => format!("{action}: {detail}"),
                None => action.to_owned(),
            };
            AuditRow {
                when: zone.at(event.at),
                what,
                who: actor_words(&event.actor),
                outcome: event.failure.as_ref().map_or_else(|| "Done".to_owned(), failure_words),
            }
        })
        .collect()
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
    view.factors
        .iter()
        .map(|factor| FactorRow {
            kind: match factor.kind {
                portal_core::SecondFactorKind::Totp => "Authenticator app",
                portal_core::SecondFactorKind::Passkey => "Passkey",
                portal_core::SecondFactorKind::RecoveryCode => "Recovery code",
            },
            name: factor.name.as_str().to_owned(),
            added: zone.at(factor.created_at),
            last_used: factor.last_used_at.map(|at| zone.at(at)),
        })
        .collect()
}

/// What happened, in words. Every action is named here, so a new one does not compile until it
/// has its words.
const fn action_words(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ClientCreated => "Client record created",
        AuditAction::ClientUpdated => "Client record changed",
        AuditAction::InviteSent => "Invitation sent",
        AuditAction::InviteResent => "Invitation resent",
        AuditAction::Registered => "Portal account created",
        AuditAction::AccountDisabled => "Portal access turned off",
        AuditAction::AccountEnabled => "Portal access turned on",
        AuditAction::ResetSent => "Password reset sent",
        AuditAction::ResetCompleted => "Password changed with a reset link",
        AuditAction::SignInSucceeded => "Signed in",
        AuditAction::SignInFailed => "Sign-in failed",
        AuditAction::SignInLocked => "Sign-in locked after repeated failures",
        AuditAction::SignedOut => "Signed out",
        AuditAction::SessionsRevoked => "Sessions revoked",
        AuditAction::PasswordHashUpgraded => "Stored password upgraded to stronger hashing",
        AuditAction::StaffKeyCreated => "Staff key created",
        AuditAction::StaffKeyRevoked => "Staff key revoked",
        AuditAction::StaffSignedIn => "Staff signed in to the staff pages",
        AuditAction::StaffSignInFailed => "Staff sign-in failed",
        AuditAction::StaffSignedOut => "Staff signed out of the staff pages",
        AuditAction::PracticeUpdated => "Practice settings changed",
        AuditAction::DateOfBirthRefused => "Wrong date of birth given on an emailed link",
        AuditAction::LinkVoided => "Emailed link voided after too many wrong dates of birth",
        AuditAction::ResetRequested => "Password reset asked for from the sign-in page",
        AuditAction::InviteReminderQueued => "Invitation reminder sent",
        AuditAction::SecondFactorEnrolled => "Second sign-in step added",
        AuditAction::SecondFactorRemoved => "Second sign-in step removed",
        AuditAction::SecondFactorUsed => "Second sign-in step used",
        AuditAction::SecondFactorRefused => "Second sign-in step refused",
        AuditAction::RecoveryCodesRegenerated => "New recovery codes made (the old ones stopped working)",
    }
}

/// Who acted, in words.
fn actor_words(actor: &Actor) -> String {
    match actor {
        Actor::Staff { label, .. } => format!("Staff: {label}"),
        Actor::Client => "The client".to_owned(),
        Actor::Anonymous => "Someone not signed in".to_owned(),
        Actor::System => "The portal".to_owned(),
    }
}

/// Why something was refused, in words. Every refusal the core records is named here, so a new
/// one does not compile until it has its words; a code stored by another version of the portal is
/// shown as it is rather than hidden.
fn failure_words(failure: &AuditFailure) -> String {
    match failure {
        AuditFailure::InvalidCredentials => "Refused: wrong username or password".to_owned(),
        AuditFailure::AccountDisabled => "Refused: portal access is off".to_owned(),
        AuditFailure::Throttled => "Refused: too many attempts in a short time".to_owned(),
        AuditFailure::Locked => "Refused: locked after too many failed attempts".to_owned(),
        AuditFailure::KeyRevoked => "Refused: the staff key was revoked".to_owned(),
        AuditFailure::KeyExpired => "Refused: the staff key has expired".to_owned(),
        AuditFailure::NoMatch => "Refused: no active account has that username and email; nothing was sent".to_owned(),
        AuditFailure::EmailNotPermitted => "Refused: the client asked not to be emailed; nothing was sent".to_owned(),
        AuditFailure::InvalidCode => "Refused: the code was not right".to_owned(),
        AuditFailure::ReplayedCode => "Refused: the code had already been used".to_owned(),
        AuditFailure::Unrecognised(code) => format!("Refused ({})", code.as_str()),
    }
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

    use portal_core::AuditFailure;

    use super::failure_words;

    #[test]
    fn each_known_refusal_has_its_own_words_and_an_unknown_stored_code_is_shown_as_it_is() {
        let words: BTreeSet<String> = AuditFailure::KNOWN.iter().map(failure_words).collect();
        assert_eq!(words.len(), AuditFailure::KNOWN.len(), "two refusals read the same: {words:?}");
        assert!(words.iter().all(|words| words.starts_with("Refused: ")), "{words:?}");
        assert_eq!(failure_words(&AuditFailure::parse("mfa_required")), "Refused (mfa_required)");
    }
}
