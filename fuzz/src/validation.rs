//! Fuzz target `validation`: the validated input types (usernames, email addresses, names,
//! slugs, time zones, disable reasons, languages) and the password rules.
//!
//! Every parser gets the same text. Invariants checked, besides "never panics":
//! - `Username::normalise` is idempotent and trimmed; an accepted username is its
//!   normalisation, 3–64 characters of `a–z 0–9 . _ - @` starting with a letter or digit, and
//!   parses back to itself;
//! - an accepted email address has exactly one `@`, a non-empty local part, a dotted lower-case
//!   domain, no whitespace, control characters or `<>,;"` (no header injection), at most 254
//!   characters, and parses back to itself (storage parses it again on every read);
//! - an accepted display name is the trimmed input, 1–200 characters, without control
//!   characters; a disable reason at most 500 characters, no control character but `\n`; a time
//!   zone name at most 64 characters of `A–Z a–z 0–9 / _ - +`; a slug 2–48 characters of
//!   `a–z 0–9` and single inner hyphens, also when derived from a name; each parses back to
//!   itself;
//! - a password's NFKC normalisation is idempotent; a password the rules accept has a length
//!   within the rules, no control characters, and contains neither the username nor the
//!   practice's name; a refusal lists at least one reason, and each listed length reason is true.
//!
//! This file is shared with `crates/portal-core/tests/fuzz_regressions.rs` (see `link_token.rs`).

use portal_core::password_policy::{PasswordContext, PasswordProblem, check_password};
use portal_core::{
    DisableReason, DisplayName, EmailAddress, Language, Password, PasswordRules, PracticeSlug, TimeZoneName, Username,
};
use secrecy::ExposeSecret;

/// Runs every check on one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    username(&text);
    email(&text);
    names(&text);
    password(&text);
}

fn username(raw: &str) {
    let normalised = Username::normalise(raw);
    assert_eq!(Username::normalise(&normalised), normalised, "normalise is not idempotent for {raw:?}");
    assert_eq!(normalised.trim(), normalised, "normalise left surrounding whitespace for {raw:?}");
    if let Ok(name) = Username::parse(raw) {
        let text = name.as_str();
        assert_eq!(text, normalised);
        assert!((Username::MIN_LEN..=Username::MAX_LEN).contains(&text.chars().count()), "{text:?}");
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@');
        assert!(text.chars().all(allowed), "{text:?}");
        assert!(text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()), "{text:?}");
        assert_eq!(Username::parse(text).as_ref(), Ok(&name));
    }
}

fn email(raw: &str) {
    let Ok(address) = EmailAddress::parse(raw) else { return };
    let text = address.as_str();
    assert!(text.chars().count() <= EmailAddress::MAX_LEN, "{text:?} is longer than {}", EmailAddress::MAX_LEN);
    assert!(
        !text.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')),
        "{text:?}"
    );
    assert_eq!(text.matches('@').count(), 1, "{text:?}");
    let (local, domain) = text.split_once('@').expect("one '@'");
    assert!(!local.is_empty() && domain.contains('.'), "{text:?}");
    assert_eq!(domain, domain.to_lowercase(), "{text:?}");
    assert_eq!(EmailAddress::parse(text).as_ref(), Ok(&address), "{text:?} does not parse back to itself");
}

fn names(raw: &str) {
    let no_control = |text: &str| !text.chars().any(char::is_control);
    if let Ok(name) = DisplayName::parse("name", raw) {
        let text = name.as_str();
        assert_eq!(text, raw.trim());
        assert!((1..=DisplayName::MAX_LEN).contains(&text.chars().count()) && no_control(text), "{text:?}");
        assert_eq!(DisplayName::parse("name", text).as_ref(), Ok(&name));
    }
    if let Ok(reason) = DisableReason::parse(raw) {
        let text = reason.as_str();
        assert!(text.chars().count() <= 500, "{text:?}");
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert_eq!(DisableReason::parse(text).as_ref(), Ok(&reason));
    }
    if let Ok(zone) = TimeZoneName::parse(raw) {
        let text = zone.as_str();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+');
        assert!(text.len() <= 64 && text.chars().all(allowed) && !text.contains(".."), "{text:?}");
        assert_eq!(TimeZoneName::parse(text).as_ref(), Ok(&zone));
    }
    for slug in [PracticeSlug::parse(raw), PracticeSlug::from_name(raw)].into_iter().flatten() {
        let text = slug.as_str();
        assert!((2..=48).contains(&text.len()), "{text:?}");
        assert!(text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{text:?}");
        assert!(!text.starts_with('-') && !text.ends_with('-') && !text.contains("--"), "{text:?}");
        assert_eq!(PracticeSlug::parse(text).as_ref(), Ok(&slug));
    }
    if let Ok(language) = Language::parse(raw) {
        assert_eq!(Language::parse(language.code()), Ok(language));
    }
}

fn password(raw: &str) {
    let typed = Password::new(raw);
    let text = typed.expose().expose_secret();
    assert_eq!(Password::new(text).expose().expose_secret(), text, "NFKC is not idempotent");
    assert_eq!(typed.char_count(), text.chars().count());

    let username = Username::parse("ada.lovelace").expect("a valid username");
    let practice_name = "Sunrise Therapy";
    for rules in [PasswordRules::default(), PasswordRules { min_chars: 8, max_chars: 64, max_bytes: 64 }] {
        let context = PasswordContext { username: Some(&username), practice_name };
        let count = typed.char_count();
        match check_password(&typed, &rules, &context) {
            Ok(()) => {
                assert!((rules.min_chars..=rules.max_chars).contains(&count), "accepted {count} characters");
                assert!(text.len() <= rules.max_bytes, "accepted {} bytes", text.len());
                assert!(!text.chars().any(char::is_control), "accepted a control character");
                let lower = text.to_lowercase();
                assert!(!lower.contains(username.as_str()), "accepted a password containing the username");
                assert!(!lower.contains("sunrise therapy"), "accepted a password containing the practice name");
            }
            Err(weak) => {
                assert!(!weak.0.is_empty(), "a refusal without a reason");
                for problem in &weak.0 {
                    match problem {
                        PasswordProblem::TooShort { min } => assert!(count < *min),
                        PasswordProblem::TooLong { max } => assert!(count > *max),
                        PasswordProblem::TooManyBytes { max } => assert!(text.len() > *max),
                        PasswordProblem::ControlCharacters => assert!(text.chars().any(char::is_control)),
                        _ => {}
                    }
                }
            }
        }
    }
}
