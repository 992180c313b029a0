//! Password rules (NIST SP 800-63B-4 §3.1.1.2).
//!
//! - Length is counted in Unicode code points after NFKC normalisation (which [`Password`]
//!   already applied): at least [`PasswordRules::min_chars`], at most
//!   [`PasswordRules::max_chars`] and [`PasswordRules::max_bytes`]. A password that is too long
//!   is refused, never truncated.
//! - No composition rules (no "one digit, one symbol").
//! - Refused when it is on the common-password blocklist (compared case-insensitively), or when
//!   it contains the username or the practice's name (also with spaces and punctuation removed),
//!   or control characters.
//!
//! [`check_password`] reports every problem at once, so a person can fix them all in one go.
//! Nothing here ever puts the password itself into an error or into `Debug` output.
//!
//! The blocklist is `data/common-passwords.txt` (30,000 entries from the `zxcvbn` crate, MIT;
//! see `data/README.md`), embedded at compile time: checking it needs no IO.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use secrecy::ExposeSecret;
use unicode_normalization::UnicodeNormalization;

use crate::policy::PasswordRules;
use crate::types::{Password, Username};

/// One lower-case password per line; see `data/README.md` for the source and licence.
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

/// The blocklist as a set, built once on first use from the embedded text.
static BLOCKLIST: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS.lines().map(str::trim).filter(|line| !line.is_empty()).collect());

/// Shortest username whose presence in a password is refused.
const MIN_USERNAME_CHARS: usize = 3;
/// Shortest practice-name form whose presence in a password is refused.
const MIN_PRACTICE_NAME_CHARS: usize = 4;

/// Trailing words of a practice's name that people leave out when they use the name
/// ("Sunrise Therapy, LLC" → "Sunrise Therapy"): legal forms and common clinical credentials.
const NAME_SUFFIXES: &[&str] = &[
    "llc", "pllc", "inc", "ltd", "llp", "lp", "plc", "pc", "pa", "corp", "co", "lpc", "lpcc", "lcpc", "lcsw", "lmft",
    "lmhc", "phd", "psyd", "md",
];

/// Context a password is judged in.
#[derive(Debug, Clone, Copy)]
pub struct PasswordContext<'a> {
    /// The account's username, when it is known (registration knows it; a reset knows it too).
    pub username: Option<&'a Username>,
    /// The practice's display name.
    pub practice_name: &'a str,
}

/// One reason a password was refused. The `Display` text says what to do, in words a client
/// understands; [`PasswordProblem::code`] is the stable machine-readable form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer code points than the minimum.
    #[error("use at least {min} characters")]
    TooShort {
        /// The minimum, in characters (code points).
        min: usize,
    },
    /// More code points than the maximum.
    #[error("use at most {max} characters")]
    TooLong {
        /// The maximum, in characters (code points).
        max: usize,
    },
    /// More UTF-8 bytes than the maximum (only reachable with many multi-byte characters).
    #[error("the password is too large")]
    TooManyBytes {
        /// The maximum, in bytes.
        max: usize,
    },
    /// On the common-password blocklist.
    #[error("this password is too common; choose something less guessable")]
    Common,
    /// Contains the username.
    #[error("the password must not contain your username")]
    ContainsUsername,
    /// Contains the practice's name.
    #[error("the password must not contain the practice's name")]
    ContainsPracticeName,
    /// Contains control characters (line breaks, tabs, escape, …).
    #[error("the password must not contain control characters")]
    ControlCharacters,
}

impl PasswordProblem {
    /// A stable `snake_case` code for APIs and translations: `too_short`, `too_long`,
    /// `too_many_bytes`, `common`, `contains_username`, `contains_practice_name`,
    /// `control_characters`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooManyBytes { .. } => "too_many_bytes",
            Self::Common => "common",
            Self::ContainsUsername => "contains_username",
            Self::ContainsPracticeName => "contains_practice_name",
            Self::ControlCharacters => "control_characters",
        }
    }
}

/// Every reason a password was refused (never empty when returned by [`check_password`]), in
/// the order the variants of [`PasswordProblem`] are declared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the password was refused: {}", Reasons(.0))]
pub struct WeakPassword(pub Vec<PasswordProblem>);

/// Joins reasons in words: "a", "a and b", "a, b and c".
struct Reasons<'a>(&'a [PasswordProblem]);

impl fmt::Display for Reasons<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.0.len().saturating_sub(1);
        for (i, problem) in self.0.iter().enumerate() {
            match i {
                0 => {}
                _ if i == last => f.write_str(" and ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Judges a password against the rules, in its context.
///
/// The length rules count Unicode code points of the NFKC-normalised password; the blocklist,
/// username and practice-name rules compare in lower case.
///
/// # Errors
/// [`WeakPassword`] listing every problem found (never an empty list).
///
/// ```
/// use portal_core::password_policy::{PasswordContext, PasswordProblem, check_password};
/// use portal_core::{Password, PasswordRules, Username};
///
/// let rules = PasswordRules::default();
/// let username = Username::parse("ada.lovelace")?;
/// let context = PasswordContext { username: Some(&username), practice_name: "Sunrise Therapy, LLC" };
///
/// assert!(check_password(&Password::new("violet kettles hum at dawn"), &rules, &context).is_ok());
///
/// let refused = check_password(&Password::new("Ada.Lovelace!"), &rules, &context).unwrap_err();
/// assert_eq!(refused.0, [PasswordProblem::TooShort { min: 15 }, PasswordProblem::ContainsUsername]);
/// assert_eq!(refused.0[1].code(), "contains_username");
///
/// let refused = check_password(&Password::new("SunriseTherapy2024"), &rules, &context).unwrap_err();
/// assert_eq!(refused.0, [PasswordProblem::ContainsPracticeName]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_password(
    password: &Password,
    rules: &PasswordRules,
    context: &PasswordContext<'_>,
) -> Result<(), WeakPassword> {
    let secret = password.expose().expose_secret();
    let chars = secret.chars().count();
    let lower = secret.to_lowercase();
    let compact_password = compact(&lower);

    let mut problems = Vec::new();
    if chars < rules.min_chars {
        problems.push(PasswordProblem::TooShort { min: rules.min_chars });
    }
    if chars > rules.max_chars {
        problems.push(PasswordProblem::TooLong { max: rules.max_chars });
    }
    if secret.len() > rules.max_bytes {
        problems.push(PasswordProblem::TooManyBytes { max: rules.max_bytes });
    }
    if BLOCKLIST.contains(lower.as_str()) {
        problems.push(PasswordProblem::Common);
    }
    if context
        .username
        .is_some_and(|username| contains_name(&lower, &compact_password, username.as_str(), MIN_USERNAME_CHARS))
    {
        problems.push(PasswordProblem::ContainsUsername);
    }
    if practice_name_forms(context.practice_name)
        .iter()
        .any(|form| contains_name(&lower, &compact_password, form, MIN_PRACTICE_NAME_CHARS))
    {
        problems.push(PasswordProblem::ContainsPracticeName);
    }
    if secret.chars().any(char::is_control) {
        problems.push(PasswordProblem::ControlCharacters);
    }

    if problems.is_empty() { Ok(()) } else { Err(WeakPassword(problems)) }
}

/// True when the (normalised, case-folded) password is on the common-password blocklist.
///
/// The candidate is NFKC-normalised and lower-cased here, so raw input may be passed.
///
/// ```
/// use portal_core::password_policy::is_common;
/// assert!(is_common("Password1"));
/// assert!(!is_common("violet kettles hum at dawn"));
/// ```
#[must_use]
pub fn is_common(candidate: &str) -> bool {
    let folded = candidate.nfkc().collect::<String>().to_lowercase();
    BLOCKLIST.contains(folded.as_str())
}

/// Number of entries in the blocklist.
#[must_use]
pub fn blocklist_len() -> usize {
    BLOCKLIST.len()
}

/// The letters and digits of `text`, in order: `Sunrise Therapy, LLC` → `SunriseTherapyLLC`.
fn compact(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Whether the lower-cased password holds `name` (lower case), either as written or with the
/// spaces and punctuation of both removed. Names shorter than `min_chars` in a form are ignored
/// in that form.
fn contains_name(lower_password: &str, compact_password: &str, name: &str, min_chars: usize) -> bool {
    let long_enough = |form: &str| form.chars().count() >= min_chars;
    let compact_name = compact(name);
    (long_enough(name) && lower_password.contains(name))
        || (long_enough(&compact_name) && compact_password.contains(compact_name.as_str()))
}

/// The lower-cased forms of a practice's name to look for: the name as written (trimmed,
/// NFKC) and, when it ends in legal forms or credentials (`…, LLC`, `… PhD`), the name
/// without them.
fn practice_name_forms(practice_name: &str) -> Vec<String> {
    let full = practice_name.trim().nfkc().collect::<String>().to_lowercase();
    let mut words: Vec<&str> = full.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let mut forms = vec![full.clone()];
    let mut stripped = false;
    while words.len() > 1 && words.last().is_some_and(|w| NAME_SUFFIXES.contains(w)) {
        words.pop();
        stripped = true;
    }
    if stripped {
        forms.push(words.join(" "));
    }
    forms
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use proptest::prelude::*;

    const PRACTICE: &str = "Sunrise Therapy, LLC";

    fn ada() -> Username {
        Username::parse("ada.lovelace").expect("a valid username")
    }

    fn check(password: &str, rules: &PasswordRules) -> Vec<PasswordProblem> {
        let username = ada();
        let context = PasswordContext { username: Some(&username), practice_name: PRACTICE };
        check_password(&Password::new(password), rules, &context).err().map(|weak| weak.0).unwrap_or_default()
    }

    /// A password made of distinct words, 15 code points or more, on no list.
    fn fine(chars: usize) -> String {
        "violet kettles hum at dawn near quiet harbours ".chars().cycle().take(chars).collect()
    }

    #[test]
    fn each_rule_refuses_its_case_and_only_its_case() {
        use PasswordProblem::*;
        let rules = PasswordRules::default();
        let cases: Vec<(String, Vec<PasswordProblem>)> = vec![
            (fine(14), vec![TooShort { min: 15 }]),
            (fine(15), vec![]),
            (fine(64), vec![]),
            (fine(128), vec![]),
            (fine(129), vec![TooLong { max: 128 }]),
            // 15 code points even though 45 bytes: length counts code points.
            ("日本語のパスワードはとても長い".into(), vec![]),
            // NFKC first: 15 ligature code points become 30 letters, still accepted.
            ("ﬁ".repeat(15), vec![]),
            // 128 four-byte code points are exactly 512 bytes; one more is over both limits.
            ("🐈".repeat(128), vec![]),
            ("🐈".repeat(129), vec![TooLong { max: 128 }, TooManyBytes { max: 512 }]),
            // On the blocklist (verified entries of length 15), in any case.
            ("qazwsxedcrfvtgb".into(), vec![Common]),
            ("QWERTYUIOP12345".into(), vec![Common]),
            ("111222333444555".into(), vec![Common]),
            ("1qa2ws3ed4rf5tg".into(), vec![Common]),
            // Username, as written or with its punctuation removed.
            ("my name is ada.lovelace".into(), vec![ContainsUsername]),
            ("ADA.LOVELACE rules the world".into(), vec![ContainsUsername]),
            ("ada lovelace wrote programs".into(), vec![ContainsUsername]),
            // Practice name, as written, compacted, and without its legal form.
            ("i love sunrise therapy, llc".into(), vec![ContainsPracticeName]),
            ("SunriseTherapyLLC forever".into(), vec![ContainsPracticeName]),
            ("sunrise-therapy-2024!".into(), vec![ContainsPracticeName]),
            // Control characters.
            ("violet kettles\thum at dawn".into(), vec![ControlCharacters]),
            ("violet kettles\nhum at dawn".into(), vec![ControlCharacters]),
            ("violet kettles\u{7}hum at dawn".into(), vec![ControlCharacters]),
        ];
        for (password, expected) in cases {
            assert_eq!(check(&password, &rules), expected, "{password:?}");
        }
    }

    #[test]
    fn too_many_bytes_is_refused_within_the_character_limit() {
        let rules = PasswordRules { max_bytes: 256, ..PasswordRules::default() };
        assert_eq!(check(&"🐈".repeat(64), &rules), Vec::new());
        assert_eq!(check(&"🐈".repeat(65), &rules), [PasswordProblem::TooManyBytes { max: 256 }]);
    }

    #[test]
    fn all_problems_are_reported_together() {
        use PasswordProblem::*;
        let username = Username::parse("dragon").expect("a valid username");
        let context = PasswordContext { username: Some(&username), practice_name: "Dragon" };
        let rules = PasswordRules::default();
        assert!(is_common("dragon"));
        let refused = check_password(&Password::new("Dragon"), &rules, &context);
        assert_eq!(
            refused,
            Err(WeakPassword(vec![TooShort { min: 15 }, Common, ContainsUsername, ContainsPracticeName]))
        );

        let refused = check_password(&Password::new("dragon\u{0}"), &rules, &context).map_err(|weak| weak.0);
        assert_eq!(refused, Err(vec![TooShort { min: 15 }, ContainsUsername, ContainsPracticeName, ControlCharacters]));
    }

    #[test]
    fn common_passwords_are_refused_once_the_minimum_allows_them() {
        let rules = PasswordRules { min_chars: 8, ..PasswordRules::default() };
        for common in ["password", "Password1", "passw0rd", "trustno1", "qwerty123", "iloveyou123", "password123"] {
            assert!(is_common(common), "{common} should be on the blocklist");
            assert_eq!(check(common, &rules), [PasswordProblem::Common], "{common}");
        }
        // Exact entries only: a common password inside a longer one is fine.
        assert!(!is_common("password plus four more words"));
        assert_eq!(check("password plus four more words", &rules), Vec::new());
    }

    #[test]
    fn is_common_normalises_and_folds_case() {
        assert!(is_common("PASSWORD"));
        // Fullwidth letters become ASCII under NFKC.
        assert!(is_common("ｐａｓｓｗｏｒｄ"));
        assert!(!is_common(""));
        assert!(!is_common("a password nobody has used before today"));
    }

    #[test]
    fn short_names_are_not_held_against_a_password() {
        let username = Username::parse("amy").expect("a valid username");
        let context = PasswordContext { username: Some(&username), practice_name: "ABC" };
        let rules = PasswordRules::default();
        // A three-character username counts; a three-character practice name does not.
        let refused = check_password(&Password::new("amy abc forever and always"), &rules, &context);
        assert_eq!(refused, Err(WeakPassword(vec![PasswordProblem::ContainsUsername])));
        let nobody = PasswordContext { username: None, practice_name: "ABC" };
        assert_eq!(check_password(&Password::new("amy abc forever and always"), &rules, &nobody), Ok(()));
    }

    #[test]
    fn a_practice_name_is_recognised_without_its_legal_form_or_credentials() {
        let rules = PasswordRules::default();
        for (practice_name, password, refused) in [
            ("Jane Doe, LMFT", "janedoe1234567!", true),
            ("Jane Doe, LMFT", "Jane Doe is my therapist", true),
            ("Oak Counseling PLLC", "oak-counseling-rocks", true),
            ("Oak Counseling PLLC", "oak trees counseling", false),
            // A name that is only a legal form is kept whole, not stripped to nothing.
            ("PLLC", "violet kettles hum at dawn", false),
            ("PLLC", "violet kettles pllc dawn", true),
        ] {
            let context = PasswordContext { username: None, practice_name };
            let result = check_password(&Password::new(password), &rules, &context);
            let expected =
                if refused { Err(WeakPassword(vec![PasswordProblem::ContainsPracticeName])) } else { Ok(()) };
            assert_eq!(result, expected, "{practice_name:?} / {password:?}");
        }
    }

    #[test]
    fn a_lower_configured_minimum_applies() {
        let rules = PasswordRules { min_chars: 8, ..PasswordRules::default() };
        assert_eq!(check("kettle7!", &rules), Vec::new());
        assert_eq!(check("kettle7", &rules), [PasswordProblem::TooShort { min: 8 }]);
    }

    #[test]
    fn codes_are_stable_snake_case() {
        use PasswordProblem::*;
        let all = [
            (TooShort { min: 1 }, "too_short"),
            (TooLong { max: 1 }, "too_long"),
            (TooManyBytes { max: 1 }, "too_many_bytes"),
            (Common, "common"),
            (ContainsUsername, "contains_username"),
            (ContainsPracticeName, "contains_practice_name"),
            (ControlCharacters, "control_characters"),
        ];
        for (problem, code) in all {
            assert_eq!(problem.code(), code);
        }
    }

    #[test]
    fn the_message_joins_the_reasons_in_words() {
        use PasswordProblem::*;
        assert_eq!(
            WeakPassword(vec![TooShort { min: 15 }]).to_string(),
            "the password was refused: use at least 15 characters"
        );
        assert_eq!(
            WeakPassword(vec![TooShort { min: 15 }, ContainsUsername]).to_string(),
            "the password was refused: use at least 15 characters and the password must not contain your username"
        );
        assert_eq!(
            WeakPassword(vec![TooLong { max: 128 }, TooManyBytes { max: 512 }, ControlCharacters]).to_string(),
            "the password was refused: use at most 128 characters, the password is too large and the password must not \
             contain control characters"
        );
    }

    #[test]
    fn the_blocklist_has_at_least_ten_thousand_lower_case_entries() {
        assert!(blocklist_len() >= 10_000, "{}", blocklist_len());
        assert_eq!(blocklist_len(), COMMON_PASSWORDS.lines().count(), "the data file has duplicates or blank lines");
        assert!(BLOCKLIST.iter().all(|entry| *entry == entry.to_lowercase()));
    }

    /// Everything this module can legitimately print for an error under `rules`: the `Display`
    /// and `Debug` of every combination of problems, in the order `check_password` reports them.
    fn vocabulary(rules: &PasswordRules) -> String {
        use PasswordProblem::*;
        let all = [
            TooShort { min: rules.min_chars },
            TooLong { max: rules.max_chars },
            TooManyBytes { max: rules.max_bytes },
            Common,
            ContainsUsername,
            ContainsPracticeName,
            ControlCharacters,
        ];
        let mut text = String::new();
        for mask in 0u32..(1 << all.len()) {
            let subset: Vec<_> =
                all.iter().enumerate().filter(|(i, _)| (mask & (1 << i)) != 0).map(|(_, p)| p.clone()).collect();
            let weak = WeakPassword(subset);
            writeln!(text, "{weak}\n{weak:?}\n{weak:#?}").expect("writing to a String cannot fail");
        }
        text
    }

    fn passwords() -> impl Strategy<Value = String> {
        let common: Vec<&'static str> = COMMON_PASSWORDS.lines().collect();
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 .!-]{0,40}",
            "\\PC{100,140}",
            "[a-z ]{120,140}",
            proptest::sample::select(common).prop_map(str::to_uppercase),
            ("[a-z]{0,10}", prop_oneof![Just("ada.lovelace"), Just("sunrise therapy"), Just("\t")], "[a-z]{0,10}")
                .prop_map(|(before, middle, after)| format!("{before}{middle}{after}")),
        ]
    }

    proptest! {
        #[test]
        fn a_refusal_lists_reasons_and_never_echoes_the_password(password in passwords(), min_chars in 8usize..=64) {
            let rules = PasswordRules { min_chars, ..PasswordRules::default() };
            let username = ada();
            let context = PasswordContext { username: Some(&username), practice_name: PRACTICE };
            let normalised = Password::new(&password);
            if let Err(weak) = check_password(&normalised, &rules, &context) {
                prop_assert!(!weak.0.is_empty());
                let shown = format!("{weak}\n{weak:?}\n{weak:#?}");
                // Only a password that the fixed texts happen to contain ("the", "password")
                // may appear in what is shown. `Debug` would show a string escaped.
                let vocabulary = vocabulary(&rules);
                let secret = normalised.expose().expose_secret();
                let escaped = [password.escape_debug().to_string(), secret.escape_debug().to_string()];
                for form in [password.as_str(), secret, &escaped[0], &escaped[1]] {
                    if !form.is_empty() && !vocabulary.contains(form) {
                        prop_assert!(!shown.contains(form), "{shown}");
                    }
                }
            }
        }

        #[test]
        fn any_long_enough_uncommon_password_without_names_is_accepted(password in "[a-z]{15,64}") {
            let rules = PasswordRules::default();
            let context = PasswordContext { username: None, practice_name: "Q" };
            prop_assume!(!is_common(&password));
            prop_assert_eq!(check_password(&Password::new(&password), &rules, &context), Ok(()));
        }
    }
}
