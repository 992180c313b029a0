//! Fuzz target `phc`: stored password hashes (PHC strings) read by the scrypt hasher.
//!
//! A stored hash is hostile input: a row written by an attacker with database access, or by a
//! buggy migration, may ask for `ln=31` (a 256 GiB memory bomb) or a huge `r` or `p` (a CPU
//! bomb). The hasher must refuse such a string *before any work*. Invariants checked:
//! - reading the parameters of any string ([`ScryptHasher::stored_params`]) never panics, and
//!   parameters it accepts are within every bound ([`MAX_LOG_N`], [`MAX_R`], [`MAX_P`],
//!   [`MAX_MEMORY_BYTES`], [`MAX_WORK`]), so nothing larger can ever reach scrypt;
//! - for a well-formed `$scrypt$ln=…,r=…,p=…$salt$hash` string the verdict matches an
//!   independent statement of the bounds, computed here on 128-bit integers: in bounds means
//!   accepted with exactly those parameters, out of bounds means refused, and a value that is
//!   not a plain decimal (sign, leading zero, letters) means `Malformed`;
//! - whenever the parameters are refused, a verification is refused with the same error. It is
//!   attempted on every such input, so the fuzzer's `-malloc_limit_mb` and `-timeout` (set by
//!   `cargo xtask fuzz`) catch any allocation or work done before the refusal;
//! - a verification is attempted on accepted parameters only when they are cheap (the fuzzer
//!   must stay fast); a genuine hash with its own parameters matches, any other does not.
//!
//! This file is shared with `crates/portal-core/tests/fuzz_regressions.rs` (see `link_token.rs`).

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use portal_core::scrypt_hasher::{MAX_LOG_N, MAX_MEMORY_BYTES, MAX_P, MAX_R, MAX_WORK};
use portal_core::{HashError, Password, PasswordHash, ScryptHasher, ScryptParams, Verification};

/// The password every genuine hash here is a hash of.
const PASSWORD: &str = "a long and memorable passphrase";

/// Accepted parameters are verified only up to this `N · r · p` (and memory), to keep each run
/// in the microseconds. 16 times the test setting, so a few `ln`, `r`, `p` around it are
/// verified too.
const CHEAP_WORK: u64 = 16 * 16 * 8;

/// One well-formed PHC string, from its parts.
#[derive(Debug, Arbitrary)]
struct Case {
    ln: Number,
    r: Number,
    p: Number,
    /// Salt and hash of the genuine test hash, or of another valid-looking one.
    genuine_tail: bool,
}

/// A parameter value as it may appear in a stored string.
#[derive(Debug, Arbitrary)]
enum Number {
    /// Around the bounds, where mistakes live.
    Small(u8),
    /// Anything a `u64` holds.
    Wide(u64),
    /// Longer than any integer type (saturates or overflows a careless parser).
    Huge(u8),
    /// Not a plain decimal: a sign, a leading zero, a letter or nothing at all.
    Odd(OddNumber),
}

#[derive(Debug, Arbitrary)]
enum OddNumber {
    Plus(u8),
    Minus(u8),
    LeadingZero(u8),
    Hex(u8),
    Empty,
}

impl Number {
    /// The text, and its value when the text is a plain decimal.
    fn render(&self) -> (String, Option<u128>) {
        match self {
            Self::Small(n) => (n.to_string(), Some(u128::from(*n))),
            Self::Wide(n) => (n.to_string(), Some(u128::from(*n))),
            Self::Huge(extra) => {
                let text = format!("1{}", "0".repeat(20 + usize::from(*extra % 40)));
                (text, Some(u128::MAX))
            }
            Self::Odd(odd) => {
                let text = match odd {
                    OddNumber::Plus(n) => format!("+{n}"),
                    OddNumber::Minus(n) => format!("-{n}"),
                    OddNumber::LeadingZero(n) => format!("0{n}"),
                    OddNumber::Hex(n) => format!("{n:x}g"),
                    OddNumber::Empty => String::new(),
                };
                (text, None)
            }
        }
    }
}

fn hasher() -> &'static ScryptHasher {
    static HASHER: OnceLock<ScryptHasher> = OnceLock::new();
    HASHER.get_or_init(|| ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).expect("a test hasher"))
}

/// `$scrypt$ln=4,r=8,p=1$<salt>$<hash>` of [`PASSWORD`], split after the parameters.
fn genuine() -> &'static (String, String) {
    static GENUINE: OnceLock<(String, String)> = OnceLock::new();
    GENUINE.get_or_init(|| {
        let hash = hasher().hash_blocking(&Password::new(PASSWORD)).expect("hashing at test cost");
        let fields: Vec<&str> = hash.as_phc().split('$').collect();
        (fields[3].to_owned(), fields[4].to_owned())
    })
}

/// Runs every check on one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        any_string(&String::from_utf8_lossy(rest));
    } else if let Ok(case) = Case::arbitrary(&mut Unstructured::new(rest)) {
        well_formed(&case);
    }
}

/// The bounds of `ScryptParams::new`, stated again on wide integers.
fn within_bounds(ln: u128, r: u128, p: u128) -> bool {
    if !(1..=u128::from(MAX_LOG_N)).contains(&ln) || !(1..=u128::from(MAX_R)).contains(&r) {
        return false;
    }
    if !(1..=u128::from(MAX_P)).contains(&p) {
        return false;
    }
    let n = 1_u128 << ln;
    128 * r * n + 128 * r * p <= u128::from(MAX_MEMORY_BYTES) && n * r * p <= u128::from(MAX_WORK)
}

fn is_cheap(params: ScryptParams) -> bool {
    params.n() * u64::from(params.r()) * u64::from(params.p()) <= CHEAP_WORK
}

/// The same error variant, ignoring the message.
fn same_refusal(a: &HashError, b: &HashError) -> bool {
    matches!(
        (a, b),
        (HashError::Malformed, HashError::Malformed)
            | (HashError::ParametersOutOfBounds(_), HashError::ParametersOutOfBounds(_))
    )
}

/// Checks what the hasher says about one stored string; returns the accepted parameters.
fn check(stored: &PasswordHash) -> Result<ScryptParams, HashError> {
    let _ = format!("{stored:?}");
    let verdict = ScryptHasher::stored_params(stored);
    match &verdict {
        Ok(params) => {
            let (ln, r, p) = (params.log_n(), params.r(), params.p());
            assert!(within_bounds(ln.into(), r.into(), p.into()), "accepted out-of-bounds {params}");
            assert_eq!(ScryptParams::new(ln, r, p).ok(), Some(*params));
            assert!(params.memory_bytes() <= MAX_MEMORY_BYTES);
            assert!(stored.as_phc().starts_with("$scrypt$"), "accepted another algorithm: {stored:?}");
            if is_cheap(*params) {
                // Salt and output are checked by the library at verification; a bad one is
                // `Malformed` there, which is still a refusal. Nothing else may come out.
                match hasher().verify_blocking(&Password::new(PASSWORD), stored) {
                    Ok(_) | Err(HashError::Malformed) => {}
                    Err(error) => panic!("accepted {params} but verification failed: {error:?}"),
                }
            }
        }
        Err(refusal) => {
            assert!(
                matches!(refusal, HashError::Malformed | HashError::ParametersOutOfBounds(_)),
                "unexpected error {refusal:?}"
            );
            // Refused parameters: verification must stop at the same point, before scrypt runs.
            match hasher().verify_blocking(&Password::new(PASSWORD), stored) {
                Err(error) => assert!(same_refusal(refusal, &error), "{refusal:?} but verify said {error:?}"),
                Ok(outcome) => panic!("stored_params refused ({refusal:?}) but verify ran: {outcome:?}"),
            }
        }
    }
    verdict
}

fn any_string(text: &str) {
    let _ = check(&PasswordHash::from_phc(text.to_owned()));
}

fn well_formed(case: &Case) {
    let ((ln_text, ln), (r_text, r), (p_text, p)) = (case.ln.render(), case.r.render(), case.p.render());
    let (salt, hash) = if case.genuine_tail {
        genuine().clone()
    } else {
        ("c2FsdHNhbHRzYWx0c2FsdA".to_owned(), "YmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmFkYmE".to_owned())
    };
    let stored = PasswordHash::from_phc(format!("$scrypt$ln={ln_text},r={r_text},p={p_text}${salt}${hash}"));
    let verdict = check(&stored);
    match (ln, r, p) {
        (Some(ln), Some(r), Some(p)) if within_bounds(ln, r, p) => {
            let params = verdict.unwrap_or_else(|error| panic!("in-bounds {stored:?} refused: {error:?}"));
            assert_eq!((u128::from(params.log_n()), u128::from(params.r()), u128::from(params.p())), (ln, r, p));
            if is_cheap(params) {
                let expected = if case.genuine_tail && params == ScryptParams::INSECURE_FAST_FOR_TESTS {
                    Verification::Match { needs_upgrade: false }
                } else {
                    Verification::Mismatch
                };
                let outcome = hasher().verify_blocking(&Password::new(PASSWORD), &stored).expect("cheap verify");
                assert_eq!(outcome, expected, "{stored:?}");
            }
        }
        (Some(_), Some(_), Some(_)) => assert!(verdict.is_err(), "out-of-bounds {stored:?} accepted"),
        _ => assert!(matches!(verdict, Err(HashError::Malformed)), "non-decimal {stored:?}: {verdict:?}"),
    }
}
