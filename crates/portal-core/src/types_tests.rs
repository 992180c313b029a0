//! Tests of the validated types: parsing, normalisation, bounds and redaction.

use super::*;
use proptest::prelude::*;

#[test]
fn usernames_are_case_insensitive_and_bounded() {
    assert_eq!(Username::parse("Ada_99").unwrap(), Username::parse("ada_99").unwrap());
    assert!(matches!(Username::parse("ab"), Err(InvalidInput::TooShort { .. })));
    assert!(matches!(Username::parse(&"a".repeat(65)), Err(InvalidInput::TooLong { .. })));
    assert!(Username::parse(&"a".repeat(64)).is_ok());
    assert!(matches!(Username::parse("_ada"), Err(InvalidInput::BadCharacter { .. })));
    assert!(matches!(Username::parse("adä"), Err(InvalidInput::BadCharacter { .. })));
}

#[test]
fn email_rejects_header_injection_and_missing_parts() {
    for bad in [
        "",
        "no-at.example.org",
        "@example.org",
        "a@",
        "a@localhost",
        "a b@example.org",
        "a@b..org",
        "a@example.org\nBcc: z@z.z",
    ] {
        assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
    }
    assert_eq!(EmailAddress::parse("Ada@Example.ORG").unwrap().as_str(), "Ada@example.org");
}

#[test]
fn normalising_a_username_twice_changes_nothing() {
    // Found by the `validation` fuzz target: a space right at the cap was left at the end.
    for raw in [format!("{} b", "a".repeat(255)), "\u{130}".repeat(300), " Ada ".to_owned()] {
        let once = Username::normalise(&raw);
        assert_eq!(Username::normalise(&once), once, "{raw:?}");
        assert_eq!(once.trim(), once);
        assert!(once.chars().count() <= Username::MAX_LEN * 4);
    }
}

#[test]
fn an_accepted_email_parses_back_to_itself_even_when_lower_casing_lengthens_it() {
    // Found by the `validation` fuzz target: 'İ' lower-cases to two characters (three
    // bytes), so a 250-byte address became 281 bytes that storage could not read back.
    let domain = format!("{}a.{}.{}.org", "\u{130}".repeat(31), "b".repeat(60), "c".repeat(60));
    let raw = format!("{}@{domain}", "x".repeat(60));
    assert!(raw.len() <= EmailAddress::MAX_LEN);
    assert!(matches!(EmailAddress::parse(&raw), Err(InvalidInput::TooLong { .. })));
    let fits = format!("x@{}.org", "\u{130}".repeat(20));
    let parsed = EmailAddress::parse(&fits).unwrap();
    assert_eq!(EmailAddress::parse(parsed.as_str()), Ok(parsed));
}

#[test]
fn slug_is_derived_from_a_name() {
    assert_eq!(PracticeSlug::from_name("Sunrise Therapy, LLC").unwrap().as_str(), "sunrise-therapy-llc");
    assert!(PracticeSlug::from_name("!!").is_err());
}

#[test]
fn language_takes_the_primary_subtag() {
    assert_eq!(Language::parse("es-MX").unwrap(), Language::Es);
    assert!(Language::parse("fr").is_err());
}

#[test]
fn names_refuse_line_breaks() {
    assert!(DisplayName::parse("name", "Ada\r\nBcc: x").is_err());
    assert!(DisplayName::parse("name", "  ").is_err());
}

#[test]
fn names_refuse_every_line_break_control_and_reordering_character() {
    for bad in [
        "Ada\nBcc: x@y.z",
        "Ada\rBcc: x@y.z",
        "Ada\0",
        "Ada\u{7}",
        "Ada\tLovelace",
        "Ada\u{1b}[31m",
        "Ada\u{85}Bcc: x@y.z",
        "Ada\u{2028}Bcc: x@y.z",
        "Ada\u{2029}Lovelace",
        "Ada \u{202E}gro.live",
        "Ada \u{202A}x",
        "\u{2066}Ada\u{2069}",
        "\u{2067}Ada",
        "\u{2068}Ada",
    ] {
        assert!(
            matches!(DisplayName::parse("name", bad), Err(InvalidInput::BadCharacter { field: "name", .. })),
            "{bad:?} should be refused"
        );
    }
    assert!(matches!(DisplayName::parse("name", &"é".repeat(201)), Err(InvalidInput::TooLong { .. })));
    // What only looks like a header, quoting and scripts that need joiners are fine.
    for good in [
        "Ada \"Bcc: evil@example.org\"",
        "Ada <evil@example.org>, Bcc: evil@example.org",
        "=?utf-8?B?QmNjOiBldmls?=",
        "Zoë \u{200d}Lovelace",
        "\u{645}\u{62d}\u{645}\u{62f}\u{200f} Ada",
        &"é".repeat(200),
    ] {
        assert!(DisplayName::parse("name", good).is_ok(), "{good:?} should be accepted");
    }
}

#[test]
fn email_refuses_addresses_that_would_read_as_another() {
    for bad in [
        "ada\u{202E}gro.live@example.org",
        "ada@exa\u{202E}mple.org",
        "\u{2066}ada@example.org\u{2069}",
        "ada@example.org\u{2028}Bcc: x@y.z",
        "ada@example.org\u{85}Bcc: x@y.z",
        "ada@example.org\0",
        "ada@example.org\rBcc: x@y.z",
        "ada@example.org, evil@example.org",
        "ada@example.org;evil@example.org",
        "Ada <ada@example.org>",
        "\"Ada\" <ada@example.org>",
    ] {
        assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be refused");
    }
    assert!(matches!(EmailAddress::parse(&format!("ada@{}.org", "d".repeat(250))), Err(InvalidInput::TooLong { .. })));
    for good in ["ada+bcc=evil@example.org", "o'brien@example.org"] {
        assert!(EmailAddress::parse(good).is_ok(), "{good:?} should be accepted");
    }
}

proptest! {
    #[test]
    fn a_parsed_username_reparses_to_itself(raw in "[A-Za-z0-9][A-Za-z0-9._@-]{2,63}") {
        let once = Username::parse(&raw).unwrap();
        prop_assert_eq!(Username::parse(once.as_str()).unwrap(), once);
    }

    #[test]
    fn parsing_never_panics(raw in any::<String>()) {
        let _ = Username::parse(&raw);
        let _ = EmailAddress::parse(&raw);
        let _ = PracticeSlug::parse(&raw);
        let _ = DisplayName::parse("name", &raw);
    }

    #[test]
    fn an_accepted_email_has_no_whitespace_or_control(raw in any::<String>()) {
        if let Ok(email) = EmailAddress::parse(&raw) {
            prop_assert!(!email.as_str().chars().any(|c| c.is_whitespace() || c.is_control() || rearranges_text(c)));
        }
    }

    #[test]
    fn an_accepted_name_has_no_control_or_reordering_character(raw in any::<String>()) {
        if let Ok(name) = DisplayName::parse("name", &raw) {
            prop_assert!(!name.as_str().chars().any(|c| c.is_control() || rearranges_text(c)));
            prop_assert!(name.as_str().chars().count() <= DisplayName::MAX_LEN);
        }
    }
}

#[test]
fn client_ids_are_the_hosts_own_and_usable_as_a_path_segment() {
    for id in ["1", "42", "MRN-0042", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "dept:7@site", "x.y_z~(1)"] {
        assert_eq!(ClientId::parse(id).map(|parsed| parsed.to_string()).as_deref(), Ok(id));
    }
    let longest = "9".repeat(ClientId::MAX_LEN);
    assert!(ClientId::parse(&longest).is_ok());
    for bad in ["", " 42", "42 ", "a/b", "a?b", "a#b", "a%20b", "a\\b", "<42>", "é", &format!("{longest}9")] {
        assert_eq!(ClientId::parse(bad), Err(InvalidId), "{bad:?}");
    }
    // Exact comparison: host ids are case-sensitive.
    assert_ne!(ClientId::parse("mrn-1"), ClientId::parse("MRN-1"));
}
