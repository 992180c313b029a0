//! [`StaffTexts`]: every word the staff pages show, once per language ([`staff_en`],
//! [`staff_es`]), apart from the client pages' [`Texts`](super::Texts): a receptionist's words
//! (audit rows, delivery problems, settings) are not a client's, and each catalogue stays small
//! enough to read.
//!
//! Askama passes a template's fields and variables to these functions by reference and the
//! values of calls and paths as they are, hence `&u32` beside `usize`.
//!
//! Staff pages follow the choice made with the language links or the browser's
//! `Accept-Language`: no staff handler applies a client record's language. Words chosen by an enum (audit actions, refusals, delivery
//! causes, core errors) are functions with a `match`, so a new variant does not compile until
//! each language has its words.

use portal_core::service::{SendInviteError, SendResetError, SkipReason, ToggleError};
use portal_core::{
    Actor, AuditAction, AuditFailure, DeliveryCause, InvalidInput, Language, PortalStatusKind, SecondFactorKind,
};

use super::{Said, staff_en, staff_es};

/// The staff pages' words in one language.
#[allow(clippy::struct_field_names)]
pub(crate) struct StaffTexts {
    // ---- Navigation and layout ------------------------------------------------------------
    /// The label of the staff navigation.
    pub(crate) staff_nav: &'static str,
    pub(crate) practice_settings: &'static str,
    pub(crate) sign_out: &'static str,
    /// "← All clients", above a profile and the settings.
    pub(crate) all_clients: &'static str,
    pub(crate) back_to_clients: &'static str,
    /// The note when the practice's zone (named) is unknown and times are in UTC.
    pub(crate) times_in_utc: fn(&str) -> String,

    // ---- Sign-in and message pages --------------------------------------------------------
    pub(crate) staff_sign_in: &'static str,
    pub(crate) invalid_key: &'static str,
    pub(crate) staff_key: &'static str,
    /// The key hint around its two `<code>` parts: before `pst_…`, between it and the command,
    /// and after the command.
    pub(crate) key_hint: [&'static str; 3],
    pub(crate) sign_in: &'static str,
    /// A host signs its staff in: the page that says so.
    pub(crate) host_sign_in: Said,
    pub(crate) trouble_title: &'static str,
    /// "Please try again. Reference: {request id}".
    pub(crate) trouble: fn(&str) -> String,
    pub(crate) no_such_client: Said,
    pub(crate) practice_gone: Said,

    // ---- The client list ------------------------------------------------------------------
    pub(crate) clients: &'static str,
    pub(crate) search_label: &'static str,
    pub(crate) search: &'static str,
    pub(crate) search_hint: &'static str,
    pub(crate) clear_search: &'static str,
    pub(crate) search_too_long: &'static str,
    pub(crate) search_characters: &'static str,
    pub(crate) cursor_invalid: &'static str,
    /// The label of the status filters.
    pub(crate) portal_status: &'static str,
    pub(crate) all: &'static str,
    /// A portal status kind (a filter's tab, the panel's state).
    pub(crate) status_kind: fn(PortalStatusKind) -> &'static str,
    /// "Invited, expires {when}".
    pub(crate) invited_expires: fn(&str) -> String,
    /// "Active ({username})".
    pub(crate) active_as: fn(&str) -> String,
    /// "Disabled ({username})".
    pub(crate) disabled_as: fn(&str) -> String,
    pub(crate) no_more_clients: &'static str,
    pub(crate) back_to_first_page: &'static str,
    /// No client matches the search (and the status filter in force, when there is one).
    pub(crate) no_match: fn(&str, Option<&str>) -> String,
    /// No client has the filter's status.
    pub(crate) none_with_status: fn(&str) -> String,
    pub(crate) no_clients_yet: &'static str,
    pub(crate) select_legend: &'static str,
    pub(crate) select: &'static str,
    pub(crate) name: &'static str,
    /// "Portal": the list's column and the panel's heading.
    pub(crate) portal: &'static str,
    /// The checkbox's label: "Select {client}".
    pub(crate) select_client: fn(&str) -> String,
    pub(crate) send_selected: &'static str,
    /// The label of the pager.
    pub(crate) pages: &'static str,
    pub(crate) previous_page: &'static str,
    pub(crate) next_page: &'static str,
    pub(crate) invite_every: &'static str,
    pub(crate) invite_every_hint: &'static str,

    // ---- A client's profile and audit trail -----------------------------------------------
    pub(crate) email: &'static str,
    pub(crate) none_on_file: &'static str,
    pub(crate) language: &'static str,
    /// A client record's language, named.
    pub(crate) language_name: fn(&Language) -> &'static str,
    pub(crate) audit_trail: &'static str,
    pub(crate) nothing_yet: &'static str,
    /// The audit table's columns: when, what, who, outcome.
    pub(crate) audit_columns: [&'static str; 4],
    /// What happened. Every action is named, so a new one does not compile until it has words.
    pub(crate) action: fn(AuditAction) -> &'static str,

    // ---- Second sign-in steps (a client's profile, the settings) ----------------------------
    pub(crate) second_steps_title: &'static str,
    pub(crate) no_second_steps: &'static str,
    /// A kind of second factor.
    pub(crate) factor_kind: fn(SecondFactorKind) -> &'static str,
    /// ", added" before when a factor was added …
    pub(crate) factor_added: &'static str,
    /// … and ", last used" before when it was last used.
    pub(crate) factor_last_used: &'static str,
    /// The recovery codes left.
    pub(crate) codes_left: fn(&u32) -> String,
    pub(crate) remove_factors_hint: &'static str,
    pub(crate) remove_factors: &'static str,
    pub(crate) factors_removed_notice: &'static str,
    pub(crate) second_factor_policy: &'static str,
    pub(crate) second_factor_policy_hint: &'static str,
    /// The three policies, off / optional / required, as the settings' choices.
    pub(crate) second_factor_policies: [&'static str; 3],
    /// An audit row's detail, as the core stored it (in English, for the record), in words:
    /// the username chosen at registration, the tries left on a link; anything else (a reason
    /// staff typed) as it is.
    pub(crate) audit_detail: fn(AuditAction, &str) -> String,
    /// Who acted.
    pub(crate) actor: fn(&Actor) -> String,
    /// An outcome without a refusal.
    pub(crate) done: &'static str,
    /// Why something was refused; a code stored by another version is shown as it is.
    pub(crate) failure: fn(&AuditFailure) -> String,

    // ---- The portal panel -----------------------------------------------------------------
    pub(crate) username: &'static str,
    pub(crate) reason: &'static str,
    pub(crate) invitation: &'static str,
    pub(crate) password_reset: &'static str,
    pub(crate) reset_password: &'static str,
    pub(crate) send_invite: &'static str,
    pub(crate) resend_invite: &'static str,
    /// "Reminder sent at {when}".
    pub(crate) reminder_sent: fn(&str) -> String,
    pub(crate) turn_off_reason: &'static str,
    /// The toggle's text when access is on, and when it is off.
    pub(crate) access_on: &'static str,
    pub(crate) access_off: &'static str,
    /// A link's facts: sent, expires.
    pub(crate) sent: &'static str,
    pub(crate) expires: &'static str,
    pub(crate) link_closed: &'static str,
    pub(crate) no_date_of_birth: &'static str,

    // ---- Where a link's email is ----------------------------------------------------------
    pub(crate) not_queued: &'static str,
    pub(crate) waiting: &'static str,
    /// "Handed to the mail server {when}".
    pub(crate) handed_over: fn(&str) -> String,
    pub(crate) not_delivered_yet: &'static str,
    pub(crate) retrying: &'static str,
    /// "next try {when}; {n} attempts so far".
    pub(crate) next_try: fn(&str, &u32) -> String,
    pub(crate) could_not_deliver: &'static str,
    /// ", after {n} attempts".
    pub(crate) after_attempts: fn(&u32) -> String,
    pub(crate) not_sent: &'static str,
    pub(crate) access_turned_off: &'static str,
    pub(crate) link_replaced: &'static str,
    /// What went wrong with the mail (cancellations have their own words above).
    pub(crate) delivery_cause: fn(&DeliveryCause) -> &'static str,
    pub(crate) technical_detail: &'static str,

    // ---- The panel's buttons, done or refused ---------------------------------------------
    pub(crate) invite_queued: &'static str,
    pub(crate) reset_queued: &'static str,
    pub(crate) access_turned_on_notice: &'static str,
    pub(crate) access_turned_off_notice: &'static str,
    /// "Not done: {why}." (`why` is one of the refusals below, as they word it.)
    pub(crate) not_done: fn(String) -> String,
    /// A refused reason for turning access off.
    pub(crate) invalid_reason: fn(&InvalidInput) -> String,
    pub(crate) invite_refused: fn(&SendInviteError) -> String,
    pub(crate) reset_refused: fn(&SendResetError) -> String,
    pub(crate) toggle_refused: fn(&ToggleError) -> String,

    // ---- Invitations in bulk --------------------------------------------------------------
    pub(crate) invitations: &'static str,
    pub(crate) none_selected: &'static str,
    /// At most {max} clients at once.
    pub(crate) too_many: fn(usize) -> String,
    pub(crate) no_client_records: &'static str,
    pub(crate) nobody_waiting: &'static str,
    /// "Invitations sent: {sent}. Not sent: {not sent}."
    pub(crate) sent_summary: fn(usize, usize) -> String,
    pub(crate) client: &'static str,
    /// "Unknown client ({id})".
    pub(crate) unknown_client: fn(&str) -> String,
    pub(crate) line_sent: &'static str,
    pub(crate) line_resent: &'static str,
    pub(crate) skipped: fn(&SkipReason) -> String,
    /// Not sent for trouble, with the request's reference.
    pub(crate) line_failed: fn(&str) -> String,
    pub(crate) not_attempted: &'static str,
    /// "{n} more clients with no account are waiting."
    pub(crate) more_waiting: fn(&u64) -> String,
    /// "Invite the next {n}".
    pub(crate) invite_next: fn(usize) -> String,

    // ---- Practice settings ----------------------------------------------------------------
    pub(crate) settings_saved: &'static str,
    pub(crate) not_saved: &'static str,
    pub(crate) bad_name: fn(&InvalidInput) -> String,
    pub(crate) bad_time_zone: fn(&InvalidInput) -> String,
    pub(crate) whole_hours: &'static str,
    /// A link lifetime's bounds, in hours.
    pub(crate) link_lifetime_range: fn(&u32, &u32) -> String,
    /// The reminder's largest lead, in hours.
    pub(crate) reminder_range: fn(&u32) -> String,
    pub(crate) practice: &'static str,
    pub(crate) name_label: &'static str,
    /// The sign-in address hint around its `<code>` part.
    pub(crate) sign_in_address: [&'static str; 2],
    pub(crate) time_zone: &'static str,
    pub(crate) time_zone_hint: &'static str,
    pub(crate) discreet_mail: &'static str,
    pub(crate) client_portal: &'static str,
    pub(crate) date_of_birth_check: &'static str,
    pub(crate) date_of_birth_check_hint: &'static str,
    pub(crate) client_started_resets: &'static str,
    pub(crate) reminder_hours: &'static str,
    pub(crate) reminder_hint: &'static str,
    pub(crate) invite_link_hours: &'static str,
    pub(crate) reset_link_hours: &'static str,
    /// "1 to 168. Empty: this server's setting ({lifetime})."
    pub(crate) server_lifetime: fn(&str) -> String,
    pub(crate) save_settings: &'static str,
}

/// The staff words of `language`.
pub(crate) const fn staff_texts_in(language: Language) -> &'static StaffTexts {
    match language {
        Language::En => &staff_en::STAFF_TEXTS,
        Language::Es => &staff_es::STAFF_TEXTS,
    }
}

/// The staff words of the page being answered (see [`crate::pages::language`]).
pub(crate) fn staff_texts() -> &'static StaffTexts {
    staff_texts_in(crate::pages::language())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use portal_core::account::ResetRefused;

    use super::*;

    #[test]
    fn every_language_fills_its_sentences() {
        for language in [Language::En, Language::Es] {
            let sk = staff_texts_in(language);
            assert!((sk.trouble)("req-1").contains("req-1"));
            assert!((sk.times_in_utc)("Mars/Olympus").contains("Mars/Olympus"));
            assert!((sk.no_match)("ada", Some("X-status")).contains("X-status"));
            assert!((sk.next_try)("Dec 3", &2).contains("Dec 3"));
            assert!((sk.link_lifetime_range)(&1, &168).contains("168"));
            assert!((sk.sent_summary)(3, 4).contains('3') && (sk.sent_summary)(3, 4).contains('4'));
            assert!((sk.more_waiting)(&7).contains('7'));
            assert!(!(sk.more_waiting)(&1).contains("clients"), "one client, in the singular");
            assert!((sk.line_failed)("req-2").contains("req-2"));
            let why = (sk.reset_refused)(&SendResetError::Refused(ResetRefused::AccountDisabled));
            assert!((sk.not_done)(why.clone()).contains(&why));
        }
    }

    #[test]
    fn each_language_words_each_skip_reason_and_delivery_cause_apart() {
        let reasons = [
            SkipReason::AccountExists,
            SkipReason::NoEmailOnFile,
            SkipReason::EmailNotPermitted,
            SkipReason::ClientNotFound,
        ];
        for language in [Language::En, Language::Es] {
            let sk = staff_texts_in(language);
            let words: BTreeSet<String> = reasons.iter().map(sk.skipped).collect();
            assert_eq!(words.len(), reasons.len(), "{words:?}");
            let kinds: BTreeSet<&str> = PortalStatusKind::ALL.into_iter().map(sk.status_kind).collect();
            assert_eq!(kinds.len(), PortalStatusKind::ALL.len(), "{kinds:?}");
        }
    }

    #[test]
    fn the_languages_differ_where_they_should() {
        let (en, es) = (staff_texts_in(Language::En), staff_texts_in(Language::Es));
        assert_eq!(en.clients, "Clients");
        assert_eq!(es.clients, "Clientes");
        assert_ne!((en.action)(AuditAction::InviteSent), (es.action)(AuditAction::InviteSent));
        assert_ne!((en.delivery_cause)(&DeliveryCause::Unreachable), (es.delivery_cause)(&DeliveryCause::Unreachable));
        let invalid = InvalidInput::TooLong { field: "reason", max: 500 };
        assert_eq!((en.invalid_reason)(&invalid), "reason must be at most 500 characters");
        assert_eq!((es.invalid_reason)(&invalid), "el motivo admite como máximo 500 caracteres");
    }

    #[test]
    fn the_cores_audit_details_read_in_spanish_and_a_typed_reason_stays_as_it_is() {
        let (en, es) = (staff_texts_in(Language::En), staff_texts_in(Language::Es));
        let cases = [
            (AuditAction::Registered, "username ana", "nombre de usuario ana"),
            (AuditAction::DateOfBirthRefused, "invite link, 3 tries left", "enlace de invitación, quedan 3 intentos"),
            (
                AuditAction::DateOfBirthRefused,
                "reset link, 1 tries left",
                "enlace para restablecer la contraseña, queda 1 intento",
            ),
            (
                AuditAction::LinkVoided,
                "invite link closed after 5 wrong dates of birth",
                "enlace de invitación cerrado tras 5 fechas de nacimiento incorrectas",
            ),
            (AuditAction::AccountDisabled, "moved away", "moved away"),
            (AuditAction::DateOfBirthRefused, "a detail of another shape", "a detail of another shape"),
        ];
        for (action, stored, spanish) in cases {
            assert_eq!((en.audit_detail)(action, stored), stored);
            assert_eq!((es.audit_detail)(action, stored), spanish);
        }
    }
}
