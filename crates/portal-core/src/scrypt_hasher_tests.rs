//! Tests of the scrypt hasher: PHC round trips, parameter upgrades and bounds, hostile stored
//! strings, redaction, and the async port.

use proptest::prelude::*;

use super::*;

const PASSWORD: &str = "a long and memorable passphrase";

fn fast() -> ScryptHasher {
    ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).expect("fast hasher")
}

fn hasher(log_n: u8, r: u32, p: u32) -> ScryptHasher {
    ScryptHasher::new(ScryptParams::new(log_n, r, p).expect("params in bounds")).expect("hasher")
}

fn password() -> Password {
    Password::new(PASSWORD)
}

/// A real fast hash with its parameter field replaced, so salt and output stay valid.
fn with_params(params: &str) -> PasswordHash {
    let real = fast().hash_blocking(&password()).expect("hash");
    let fields: Vec<&str> = real.as_phc().split('$').collect();
    assert_eq!(fields.len(), 5, "{real:?}");
    PasswordHash::from_phc(format!("$scrypt${params}${}${}", fields[3], fields[4]))
}

fn assert_out_of_bounds(result: Result<ScryptParams, HashError>, what: &str) {
    match result {
        Err(HashError::ParametersOutOfBounds(message)) => assert!(message.contains(what), "{message}"),
        other => panic!("expected ParametersOutOfBounds naming {what}, got {other:?}"),
    }
}

#[test]
fn a_hash_verifies_with_the_same_password() {
    let hasher = fast();
    let stored = hasher.hash_blocking(&password()).expect("hash");
    assert!(stored.as_phc().starts_with("$scrypt$ln=4,r=8,p=1$"), "{}", stored.as_phc());
    assert_eq!(
        hasher.verify_blocking(&password(), &stored).expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
}

#[test]
fn the_production_default_round_trips_at_owasp_cost() {
    // The one test that pays for ln=17 (about 128 MiB and 0.3 s per hash).
    let hasher = ScryptHasher::new(ScryptParams::default()).expect("owasp hasher");
    assert_eq!(hasher.params(), ScryptParams::OWASP);
    let stored = hasher.hash_blocking(&password()).expect("hash");
    assert!(stored.as_phc().starts_with("$scrypt$ln=17,r=8,p=1$"), "{}", stored.as_phc());
    assert_eq!(
        hasher.verify_blocking(&password(), &stored).expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
    // A hash written with cheap parameters is verified at *its* cost and flagged for upgrade.
    let weak = fast().hash_blocking(&password()).expect("weak hash");
    assert_eq!(
        hasher.verify_blocking(&password(), &weak).expect("verify weak"),
        Verification::Match { needs_upgrade: true }
    );
}

#[test]
fn a_wrong_password_is_a_mismatch_not_an_error() {
    let hasher = fast();
    let stored = hasher.hash_blocking(&password()).expect("hash");
    for wrong in ["", "a long and memorable passphrasE", "a long and memorable passphrase "] {
        assert_eq!(hasher.verify_blocking(&Password::new(wrong), &stored).expect("verify"), Verification::Mismatch);
    }
}

#[test]
fn equal_passwords_get_different_salts() {
    let hasher = fast();
    let first = hasher.hash_blocking(&password()).expect("hash");
    let second = hasher.hash_blocking(&password()).expect("hash");
    assert_ne!(first, second);
    assert_eq!(
        hasher.verify_blocking(&password(), &second).expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
}

#[test]
fn passwords_are_compared_after_nfkc_normalisation() {
    let hasher = fast();
    let stored = hasher.hash_blocking(&Password::new("ﬁve ﬁsh swim by the river")).expect("hash");
    let typed_differently = Password::new("five fish swim by the river");
    assert_eq!(
        hasher.verify_blocking(&typed_differently, &stored).expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
}

#[test]
fn weaker_stored_parameters_need_an_upgrade() {
    let current = hasher(6, 8, 2);
    for (log_n, r, p) in [(5, 8, 2), (6, 4, 2), (6, 8, 1)] {
        let stored = hasher(log_n, r, p).hash_blocking(&password()).expect("hash");
        assert_eq!(
            current.verify_blocking(&password(), &stored).expect("verify"),
            Verification::Match { needs_upgrade: true },
            "stored ln={log_n},r={r},p={p}"
        );
    }
}

#[test]
fn retired_stronger_parameters_also_converge_on_the_current_ones() {
    let stored = hasher(6, 8, 1).hash_blocking(&password()).expect("hash");
    assert_eq!(
        fast().verify_blocking(&password(), &stored).expect("verify"),
        Verification::Match { needs_upgrade: true }
    );
}

#[test]
fn a_mismatch_never_asks_for_an_upgrade() {
    let stored = fast().hash_blocking(&password()).expect("hash");
    let current = hasher(5, 8, 1);
    assert_eq!(current.verify_blocking(&Password::new("nope"), &stored).expect("verify"), Verification::Mismatch);
}

#[test]
fn hashes_from_another_scrypt_implementation_verify() {
    // Written by OpenSSL (Python's `hashlib.scrypt`) with a 20-byte salt: longer than ours, so
    // no upgrade is needed.
    let openssl = PasswordHash::from_phc(
        "$scrypt$ln=4,r=8,p=1$cG9ydGFsLWludGVyb3Atc2FsdCE$eKCA3eXuc+yr6V8sQgoxIWLmUKcbBIIiEzcvbOwlvQ4".into(),
    );
    let hasher = fast();
    assert_eq!(
        hasher.verify_blocking(&Password::new("password"), &openssl).expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
    assert_eq!(hasher.verify_blocking(&Password::new("Password"), &openssl).expect("verify"), Verification::Mismatch);
    // An 8-byte salt, and separately a 16-byte output: both shorter than ours, so rehash.
    for short in [
        "$scrypt$ln=4,r=8,p=1$OGJ5dGVzISE$3qZKYmffw1Tv91nzs9mVuMZwj2ypwuixy/g1n9MlJGU",
        "$scrypt$ln=4,r=8,p=1$c2l4dGVlbi1ieXRlLXNsdA$rULRLbcnJI8IQzkGX+RIww",
    ] {
        let stored = PasswordHash::from_phc(short.into());
        assert_eq!(
            hasher.verify_blocking(&Password::new("password"), &stored).expect("verify"),
            Verification::Match { needs_upgrade: true }
        );
    }
}

#[test]
fn hostile_stored_parameters_are_refused_before_any_work() {
    let hasher = fast();
    for (params, what) in [
        ("ln=31,r=8,p=1", "ln=31"),
        ("ln=255,r=8,p=1", "ln=255"),
        ("ln=300,r=8,p=1", "ln=300"),
        ("ln=0,r=8,p=1", "ln=0"),
        ("ln=4,r=1000,p=1", "r=1000"),
        ("ln=4,r=0,p=1", "r=0"),
        ("ln=4,r=99999999999999999999999,p=1", "r=18446744073709551615"),
        ("ln=4,r=8,p=1000", "p=1000"),
        ("ln=4,r=8,p=0", "p=0"),
        // Each value alone is in bounds; together they pass 1 GiB.
        ("ln=20,r=8,p=1", "bytes"),
        ("ln=18,r=32,p=1", "bytes"),
        // Under the memory cap, but 64 OWASP hashes' worth of CPU.
        ("ln=20,r=4,p=16", "N·r·p"),
    ] {
        let stored = with_params(params);
        assert_out_of_bounds(ScryptHasher::stored_params(&stored), what);
        match hasher.verify_blocking(&password(), &stored) {
            Err(HashError::ParametersOutOfBounds(_)) => {}
            other => panic!("{params}: expected ParametersOutOfBounds, got {other:?}"),
        }
    }
}

#[test]
fn the_largest_accepted_parameters_are_within_the_documented_caps() {
    for (log_n, r, p) in [(20, 4, 1), (19, 8, 2), (17, 8, 16), (15, 32, 16)] {
        let params = ScryptParams::new(log_n, r, p).expect("in bounds");
        assert!(params.memory_bytes() <= MAX_MEMORY_BYTES);
        assert_eq!(ScryptHasher::stored_params(&with_params(&params.to_string())).expect("parse"), params);
    }
}

#[test]
fn strings_that_are_not_scrypt_phc_are_malformed() {
    let real = fast().hash_blocking(&password()).expect("hash");
    let fields: Vec<&str> = real.as_phc().split('$').collect();
    let (salt, output) = (fields[3], fields[4]);
    let cases = [
        String::new(),
        "plaintext password".to_owned(),
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g".to_owned(),
        format!("$scrypt$ln=4,r=8,p=1${salt}$!!not*base64!!"),
        format!("$scrypt$ln=4,r=8,p=1$!!${output}"),
        format!("$scrypt$ln=4,r=8,p=1${salt}"),
        "$scrypt$ln=4,r=8,p=1".to_owned(),
        format!("$scrypt$v=1$ln=4,r=8,p=1${salt}${output}"),
        format!("$scrypt$ln=4,r=8${salt}${output}"),
        format!("$scrypt$ln=4,r=8,p=1,x=2${salt}${output}"),
        format!("$scrypt$ln=4,r=8,p=1,p=1${salt}${output}"),
        format!("$scrypt$ln=abc,r=8,p=1${salt}${output}"),
        format!("$scrypt$ln=04,r=8,p=1${salt}${output}"),
        format!("$scrypt$ln=-4,r=8,p=1${salt}${output}"),
        format!("$scrypt$ln=4,r=8,p=1${salt}${output}$extra"),
        format!("$scrypt$ln=4,r=8,p=1${salt}${}", "A".repeat(300)),
    ];
    let hasher = fast();
    for case in cases {
        let stored = PasswordHash::from_phc(case.clone());
        assert!(matches!(ScryptHasher::stored_params(&stored), Err(HashError::Malformed)), "{case:?}");
        assert!(matches!(hasher.verify_blocking(&password(), &stored), Err(HashError::Malformed)), "{case:?}");
    }
}

#[test]
fn the_dummy_verification_succeeds_for_any_password() {
    let hasher = fast();
    for typed in ["", PASSWORD, "🙂 unicode too"] {
        hasher.verify_dummy_blocking(&Password::new(typed)).expect("dummy verify");
    }
    assert_eq!(ScryptHasher::stored_params(&hasher.inner.dummy).expect("dummy params"), hasher.params());
}

#[test]
fn every_hasher_gets_its_own_dummy_and_clones_share_it() {
    let (first, second) = (fast(), fast());
    assert_ne!(first.inner.dummy, second.inner.dummy);
    let clone = first.clone();
    assert!(Arc::ptr_eq(&first.inner, &clone.inner));
}

#[test]
fn debug_output_never_shows_salt_hash_or_password() {
    let hasher = fast();
    let stored = hasher.hash_blocking(&password()).expect("hash");
    let fields: Vec<&str> = stored.as_phc().split('$').collect();
    let shown = format!("{stored:?}");
    assert_eq!(shown, "PasswordHash($scrypt$ln=4,r=8,p=1$…)");
    assert!(!shown.contains(fields[3]) && !shown.contains(fields[4]));
    let shown = format!("{hasher:?}");
    assert!(!shown.contains(fields[3]) && !shown.contains("dummy"), "{shown}");
    assert!(
        !format!("{:?}", hasher.inner.dummy).contains(hasher.inner.dummy.as_phc().rsplit('$').next().expect("hash"))
    );
}

#[test]
fn errors_never_mention_the_password() {
    let hasher = fast();
    let errors = [
        hasher.verify_blocking(&password(), &PasswordHash::from_phc(PASSWORD.to_owned())),
        hasher.verify_blocking(&password(), &with_params("ln=31,r=8,p=1")),
    ];
    for error in errors {
        let error = error.expect_err("refused");
        assert!(!format!("{error} {error:?}").contains("memorable"), "{error:?}");
    }
}

#[test]
fn params_out_of_bounds_are_refused_at_construction() {
    assert_out_of_bounds(ScryptParams::new(0, 8, 1), "ln=0");
    assert_out_of_bounds(ScryptParams::new(21, 1, 1), "ln=21");
    assert_out_of_bounds(ScryptParams::new(10, 33, 1), "r=33");
    assert_out_of_bounds(ScryptParams::new(10, 8, 17), "p=17");
    assert_out_of_bounds(ScryptParams::new(20, 8, 1), "bytes");
    assert_eq!(ScryptParams::new(17, 8, 1).expect("owasp"), ScryptParams::OWASP);
    assert_eq!(ScryptParams::new(4, 8, 1).expect("fast"), ScryptParams::INSECURE_FAST_FOR_TESTS);
}

#[test]
fn memory_is_counted_for_the_scratch_array_and_the_blocks() {
    assert_eq!(ScryptParams::OWASP.memory_bytes(), 128 * 8 * (1 << 17) + 128 * 8);
    assert_eq!(ScryptParams::INSECURE_FAST_FOR_TESTS.memory_bytes(), 128 * 8 * 16 + 128 * 8);
    assert_eq!(ScryptParams::OWASP.n(), 131_072);
    assert_eq!(ScryptParams::default(), ScryptParams::OWASP);
}

#[tokio::test]
async fn the_async_port_runs_the_same_checks() {
    let hasher: &dyn PasswordHasher = &fast();
    let stored = hasher.hash(&password()).await.expect("hash");
    assert_eq!(
        hasher.verify(&password(), &stored).await.expect("verify"),
        Verification::Match { needs_upgrade: false }
    );
    assert_eq!(hasher.verify(&Password::new("nope"), &stored).await.expect("verify"), Verification::Mismatch);
    hasher.verify_dummy(&password()).await.expect("dummy");
    assert!(matches!(
        hasher.verify(&password(), &with_params("ln=31,r=8,p=1")).await,
        Err(HashError::ParametersOutOfBounds(_))
    ));
}

proptest! {
    #[test]
    fn params_are_accepted_exactly_within_the_bounds(log_n in 0_u8..=40, r in 0_u32..=64, p in 0_u32..=32) {
        let within = (1..=MAX_LOG_N).contains(&log_n)
            && (1..=MAX_R).contains(&r)
            && (1..=MAX_P).contains(&p)
            && memory_bytes(log_n.into(), r.into(), p.into()) <= MAX_MEMORY_BYTES
            && (1_u64 << log_n) * u64::from(r) * u64::from(p) <= MAX_WORK;
        match ScryptParams::new(log_n, r, p) {
            Ok(params) => {
                prop_assert!(within);
                // The PHC parameter string reads back to the same value, without hashing.
                let stored = PasswordHash::from_phc(format!(
                    "$scrypt${params}$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
                ));
                prop_assert_eq!(ScryptHasher::stored_params(&stored).expect("parse"), params);
            }
            Err(HashError::ParametersOutOfBounds(_)) => prop_assert!(!within),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn arbitrary_stored_strings_are_refused_without_panicking(text in "\\PC{0,120}") {
        let stored = PasswordHash::from_phc(text);
        prop_assert!(matches!(
            ScryptHasher::stored_params(&stored),
            Err(HashError::Malformed | HashError::ParametersOutOfBounds(_))
        ));
    }

    #[test]
    fn scrypt_shaped_strings_never_panic(ln in "[0-9a-z]{0,6}", r in "[0-9]{0,12}", p in "-?[0-9]{0,5}") {
        let stored = PasswordHash::from_phc(format!(
            "$scrypt$ln={ln},r={r},p={p}$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
        ));
        let _outcome = ScryptHasher::stored_params(&stored);
    }
}
