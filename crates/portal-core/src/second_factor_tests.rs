use jiff::Timestamp;

use super::*;
use crate::testing::SeededRandom;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

/// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890") and the last six digits of its
/// eight-digit codes.
#[test]
fn totp_codes_match_the_rfc_6238_test_vectors() {
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    for (time, code) in
        [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")]
    {
        assert_eq!(secret.code_at(at(time)).as_deref(), Some(code), "at {time}");
    }
}

#[test]
fn a_code_is_accepted_one_step_either_side_and_no_further() {
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    let now = at(1_111_111_109);
    let step = 1_111_111_109 / 30;
    let code_of = |offset: i64| secret.code_at(at(1_111_111_109 + offset * 30)).unwrap();
    assert_eq!(secret.matching_step(&code_of(0), now), Some(step));
    assert_eq!(secret.matching_step(&code_of(-1), now), Some(step - 1));
    assert_eq!(secret.matching_step(&code_of(1), now), Some(step + 1));
    assert_eq!(secret.matching_step(&code_of(-2), now), None);
    assert_eq!(secret.matching_step(&code_of(2), now), None);
    assert_eq!(secret.matching_step("08 18 04", now), Some(step), "spaces are ignored");
    assert_eq!(secret.matching_step("+81804", now), None);
    assert_eq!(secret.matching_step("", now), None);
}

#[test]
fn an_enrolment_shows_the_secret_in_base32_and_an_otpauth_uri_naming_the_practice() {
    let secret = TotpSecret::generate(&SeededRandom::new(3)).unwrap();
    assert_eq!(secret.expose().len(), 20, "160 bits (RFC 4226 §4)");
    let base32 = secret.base32();
    assert_eq!(base32.expose_secret().len(), 32);
    let url = secret.otpauth_url("Sunrise: Therapy", "ada").unwrap();
    let url = url.expose_secret();
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert!(url.contains(&format!("secret={}", base32.expose_secret())), "{url}");
    assert!(url.contains("issuer=Sunrise%20%20Therapy"), "{url}");
    assert!(!format!("{secret:?}").contains(base32.expose_secret()));
}

#[test]
fn recovery_codes_carry_120_bits_in_six_groups_and_read_back_however_typed() {
    let random = SeededRandom::new(9);
    let codes: Vec<RecoveryCode> = (0..50).map(|_| RecoveryCode::generate(&random).unwrap()).collect();
    let mut seen = std::collections::HashSet::new();
    for code in &codes {
        let text = code.expose();
        assert_eq!(text.len(), 29, "{text}");
        assert_eq!(text.matches('-').count(), 5);
        let normalised = RecoveryCode::normalise(text).unwrap();
        assert_eq!(RecoveryCode::normalise(&text.to_uppercase().replace('-', " ")), Some(normalised.clone()));
        assert!(seen.insert(normalised));
        assert_eq!(format!("{code:?}"), "RecoveryCode([REDACTED])");
    }
    assert_eq!(RecoveryCode::normalise("abcd-efgh-ijkl-mnop-qrst-uvw"), None, "too short");
    assert_eq!(RecoveryCode::normalise("abcd-efgh-ijkl-mnop-qrst-uvw1"), None, "1 is not in the alphabet");
    assert!(RecoveryCode::normalise("ABCD EFGH IJKL MNOP QRST UVWX").is_some());
}

#[test]
fn a_recovery_codes_hash_is_bound_to_the_key_and_the_client() {
    let key = LinkKey::from_bytes([1; 32]);
    let random = SeededRandom::new(4);
    let practice = PracticeId::generate(&random).unwrap();
    let ada = ClientId::parse("ada").unwrap();
    let bob = ClientId::parse("bob").unwrap();
    let code = "abcdefghijklmnopqrstuvwx";
    let hash = recovery_code_hash(&key, practice, &ada, code);
    assert!(hash.matches(&recovery_code_hash(&key, practice, &ada, code)));
    assert!(!hash.matches(&recovery_code_hash(&key, practice, &bob, code)));
    assert!(!hash.matches(&recovery_code_hash(&LinkKey::from_bytes([2; 32]), practice, &ada, code)));
    assert!(!hash.matches(&TokenHash::of(code.as_bytes())), "keyed, not a plain hash");
}

#[test]
fn policy_kind_and_purpose_names_round_trip() {
    for policy in SecondFactorPolicy::ALL {
        assert_eq!(SecondFactorPolicy::from_name(policy.name()), Some(policy));
    }
    assert_eq!(SecondFactorPolicy::default(), SecondFactorPolicy::Optional);
    assert!(!SecondFactorPolicy::Off.allows_enrolment());
    for kind in [SecondFactorKind::Totp, SecondFactorKind::Passkey, SecondFactorKind::RecoveryCode] {
        assert_eq!(SecondFactorKind::from_name(kind.name()), Some(kind));
    }
    for purpose in [ChallengePurpose::Verify, ChallengePurpose::Enrol] {
        assert_eq!(ChallengePurpose::from_name(purpose.name()), Some(purpose));
    }
    assert_eq!(SecondFactorPolicy::from_name("sometimes"), None);
}

#[test]
fn a_challenge_expires_at_its_end() {
    let random = SeededRandom::new(5);
    let start = at(1_800_000_000);
    let challenge = FactorChallenge {
        hash: TokenHash::of(b"x"),
        practice_id: PracticeId::generate(&random).unwrap(),
        client_id: ClientId::parse("ada").unwrap(),
        purpose: ChallengePurpose::Verify,
        created_at: start,
        expires_at: start + CHALLENGE_LIFETIME,
    };
    assert!(challenge.is_live_at(start + CHALLENGE_LIFETIME - jiff::SignedDuration::from_secs(1)));
    assert!(!challenge.is_live_at(start + CHALLENGE_LIFETIME));
}

#[test]
fn grouped_splits_a_secret_in_fours() {
    assert_eq!(grouped("ABCDEFGHIJ"), "ABCD EFGH IJ");
}
