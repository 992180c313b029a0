//! [`Texts`]: every word the client pages show, once per language ([`en`], [`es`]); the staff
//! pages have their own catalogue, [`StaffTexts`] ([`staff`]).
//!
//! A catalogue is a `const` struct rather than a file of keys: a text missing in one language,
//! or a sentence whose parts no longer fit its arguments, is a compile error, not a page that
//! shows a key. Sentences that carry a value (a practice's name, a count) are functions, so
//! each language orders its words its own way; the template engine escapes what they return
//! like any other value.

mod en;
mod es;
mod staff;
mod staff_en;
mod staff_es;

pub(crate) use staff::staff_texts;
#[cfg(test)]
pub(crate) use staff::staff_texts_in;

use portal_core::password_policy::PasswordProblem;
use portal_core::{InvalidInput, Language};

/// A short message page's title and sentence.
pub(crate) struct Said {
    pub(crate) title: &'static str,
    pub(crate) text: &'static str,
}

/// The client pages' words in one language.
#[allow(clippy::struct_field_names)]
pub(crate) struct Texts {
    // ---- Layout ---------------------------------------------------------------------------
    /// The site's name in the header, the footer and every title.
    pub(crate) client_portal: &'static str,
    pub(crate) skip_to_content: &'static str,
    /// The label of the language links at the foot of every page.
    pub(crate) language_links: &'static str,

    // ---- Form parts -----------------------------------------------------------------------
    pub(crate) fix_the_following: &'static str,
    pub(crate) username: &'static str,
    pub(crate) password: &'static str,
    pub(crate) new_password: &'static str,
    pub(crate) date_of_birth: &'static str,
    pub(crate) date_of_birth_hint: &'static str,
    /// A wrong date of birth, with the tries the link still takes.
    pub(crate) date_of_birth_mismatch: fn(&u8) -> String,
    pub(crate) username_hint: &'static str,
    /// The password hint's first line, with the policy's minimum length.
    pub(crate) password_length_hint: fn(&usize) -> String,
    pub(crate) password_rule_hints: [&'static str; 3],
    /// A refused username, as one line of the form's problems.
    pub(crate) invalid_username: fn(&InvalidInput) -> String,
    pub(crate) username_taken: &'static str,
    /// One problem of a refused password, as one line of the form's problems.
    pub(crate) password_problem: fn(&PasswordProblem) -> String,
    pub(crate) back_to_sign_in: &'static str,

    // ---- Sign-in, home --------------------------------------------------------------------
    pub(crate) sign_in: &'static str,
    /// "To your {practice} client portal."
    pub(crate) sign_in_to: fn(&str) -> String,
    pub(crate) wrong_credentials: &'static str,
    pub(crate) forgot_password: &'static str,
    /// Where a practice does not let clients start resets.
    pub(crate) forgot_password_ask_provider: &'static str,
    pub(crate) your_portal: &'static str,
    /// "Welcome, {client}".
    pub(crate) welcome: fn(&str) -> String,
    pub(crate) name: &'static str,
    pub(crate) practice: &'static str,
    pub(crate) sign_out: &'static str,

    // ---- The invitation's pages -----------------------------------------------------------
    pub(crate) create_account_title: &'static str,
    /// "{practice} invited you … until {expires}."
    pub(crate) invited: fn(&str, &str) -> String,
    pub(crate) create_account: &'static str,
    pub(crate) account_created_title: &'static str,
    /// "Your account" before the username, in bold …
    pub(crate) account_ready_before: &'static str,
    /// … and " at {practice} is ready." after it.
    pub(crate) account_ready_after: fn(&str) -> String,

    // ---- The reset link's pages -----------------------------------------------------------
    pub(crate) choose_new_password_title: &'static str,
    /// "For your {practice} portal account. This link works until {expires}."
    pub(crate) reset_for: fn(&str, &str) -> String,
    pub(crate) change_password: &'static str,
    pub(crate) password_changed_title: &'static str,
    pub(crate) password_changed: &'static str,
    pub(crate) sign_in_with_new_password: &'static str,

    // ---- "Forgot your password?" ----------------------------------------------------------
    /// "Enter your username and the email address {practice} has on file …"
    pub(crate) forgot_password_intro: fn(&str) -> String,
    pub(crate) forgot_password_incomplete: &'static str,
    pub(crate) email_on_file: &'static str,
    pub(crate) email_me_a_link: &'static str,
    pub(crate) check_your_email_title: &'static str,
    /// The neutral answer, with the link's lifetime in words.
    pub(crate) check_your_email: fn(&str) -> String,

    // ---- Message pages --------------------------------------------------------------------
    pub(crate) open_invitation_link: Said,
    pub(crate) open_reset_link: Said,
    pub(crate) link_closed: Said,
    pub(crate) invitation_expired: Said,
    pub(crate) invitation_gone: Said,
    pub(crate) reset_expired: Said,
    pub(crate) reset_gone: Said,
    pub(crate) account_disabled: Said,
    pub(crate) no_practice: Said,
    pub(crate) resets_not_available: Said,
    pub(crate) signed_out: Said,
    pub(crate) busy: Said,
    pub(crate) busy_requests: Said,
    pub(crate) form_expired: Said,
    pub(crate) trouble_title: &'static str,
    /// "Please try again … this reference: {request id}".
    pub(crate) trouble: fn(&str) -> String,
    pub(crate) too_many_attempts: &'static str,
    /// The per-network limit, with the seconds to wait.
    pub(crate) too_many_requests: fn(u64) -> String,
    /// The per-account sign-in limit, with the seconds to wait.
    pub(crate) too_many_sign_ins: fn(u64) -> String,

    // ---- Second factors -------------------------------------------------------------------
    pub(crate) second_step_title: &'static str,
    pub(crate) app_code: &'static str,
    pub(crate) app_code_hint: &'static str,
    pub(crate) use_recovery_code: &'static str,
    pub(crate) recovery_code: &'static str,
    pub(crate) recovery_code_hint: &'static str,
    pub(crate) continue_: &'static str,
    pub(crate) code_not_right: &'static str,
    pub(crate) step_expired: Said,
    pub(crate) enrolment_lapsed: Said,
    pub(crate) set_up_app_title: &'static str,
    /// "{practice} asks for a second step …": the enrolment a practice requires.
    pub(crate) required_by_practice: fn(&str) -> String,
    pub(crate) scan_qr: &'static str,
    pub(crate) qr_label: &'static str,
    pub(crate) enter_key: &'static str,
    pub(crate) then_code: &'static str,
    pub(crate) factor_name: &'static str,
    pub(crate) factor_name_hint: &'static str,
    pub(crate) recovery_codes_title: &'static str,
    pub(crate) recovery_codes_intro: &'static str,
    pub(crate) go_to_portal: &'static str,
    pub(crate) sign_in_security: &'static str,
    pub(crate) password_only: &'static str,
    pub(crate) factors_off: &'static str,
    /// "Added {date}".
    pub(crate) added_on: fn(&str) -> String,
    pub(crate) remove: &'static str,
    pub(crate) add_app: &'static str,
    /// "{n} recovery codes left."
    pub(crate) codes_left: fn(&u32) -> String,
    pub(crate) new_codes: &'static str,
    pub(crate) new_codes_hint: &'static str,
    pub(crate) factor_required: &'static str,

    // ---- Passkeys -----------------------------------------------------------------------
    pub(crate) add_passkey: &'static str,
    pub(crate) passkey_create_intro: &'static str,
    pub(crate) passkey_name_hint: &'static str,
    pub(crate) create_passkey: &'static str,
    pub(crate) use_passkey_intro: &'static str,
    pub(crate) use_passkey: &'static str,
    pub(crate) sign_in_with_passkey: &'static str,
    pub(crate) passkey_sign_in_intro: &'static str,
    pub(crate) passkey_unsupported: &'static str,
    pub(crate) passkey_failed: &'static str,
    pub(crate) passkey_exists: &'static str,
    pub(crate) passkey_rejected: &'static str,
    pub(crate) passkey_in_use: &'static str,
    pub(crate) passkey_needs_script: &'static str,
    pub(crate) passkey_instead: &'static str,
    pub(crate) or_a_code: &'static str,
    pub(crate) kind_passkey: &'static str,
    pub(crate) kind_app: &'static str,
}

/// The words of `language`.
pub(crate) const fn texts_in(language: Language) -> &'static Texts {
    match language {
        Language::En => &en::TEXTS,
        Language::Es => &es::TEXTS,
    }
}

/// The words of the page being answered (see [`super::language`]).
pub(crate) fn texts() -> &'static Texts {
    texts_in(super::language::language())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_fills_its_sentences() {
        for language in [Language::En, Language::Es] {
            let t = texts_in(language);
            assert!((t.date_of_birth_mismatch)(&1).contains('1'));
            assert!((t.date_of_birth_mismatch)(&4).contains('4'));
            assert!((t.invited)("Sunrise Therapy", "Dec 3").contains("Sunrise Therapy"));
            assert!((t.invited)("Sunrise Therapy", "Dec 3").contains("Dec 3"));
            assert!((t.reset_for)("Sunrise Therapy", "Dec 3").contains("Dec 3"));
            assert!((t.trouble)("req-1").contains("req-1"));
            assert!((t.too_many_requests)(30).contains("30"));
            assert!((t.password_length_hint)(&15).contains("15"));
            let short = PasswordProblem::TooShort { min: 15 };
            assert!((t.password_problem)(&short).contains("15"));
            let username = InvalidInput::TooShort { field: "username", min: 3 };
            assert!((t.invalid_username)(&username).contains('3'));
            assert!((t.required_by_practice)("Sunrise Therapy").contains("Sunrise Therapy"));
            assert!((t.added_on)("2026-12-01").contains("2026-12-01"));
            assert!((t.codes_left)(&7).contains('7'));
        }
    }

    #[test]
    fn the_languages_differ_where_they_should() {
        let (en, es) = (texts_in(Language::En), texts_in(Language::Es));
        assert_eq!(en.sign_in, "Sign in");
        assert_eq!(es.sign_in, "Iniciar sesión");
        assert_ne!((en.date_of_birth_mismatch)(&1), (es.date_of_birth_mismatch)(&1));
        assert_ne!((en.password_problem)(&PasswordProblem::Common), (es.password_problem)(&PasswordProblem::Common));
    }
}
