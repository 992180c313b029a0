//! Fuzz target `link_token`: link tokens (`base64url(token id ‖ HMAC)`), token hashes in hex and
//! bearer secrets (`pst_` staff keys, `pcs_` session tokens).
//!
//! Invariants checked for every input:
//! - parsing any text as a link token, a token hash or a bearer secret never panics;
//! - a text that verifies is exactly the link the key mints for that id and purpose (modulo the
//!   surrounding whitespace `verify` trims), its hash is the one storage keeps, and it does not
//!   verify for the other purpose;
//! - a hex text that parses as a token hash is the canonical lower-case form of that hash;
//! - a minted link verifies (also with whitespace around it), and any one-character edit or
//!   truncation of it is refused, as is the same text under another key;
//! - a generated bearer secret is its prefix plus 43 base64url characters of the random bytes,
//!   a presented copy (with or without surrounding whitespace) hashes to the same value, and its
//!   `Debug` output never shows it.
//!
//! This file is shared: the fuzz crate compiles it as `portal_fuzz::link_token`, and
//! `crates/portal-core/tests/fuzz_regressions.rs` includes it with `#[path]` to replay crash
//! inputs on stable. So it names no `crate::` item and uses only portal-core's dependencies.

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal_core::{BearerSecret, LinkKey, Randomness, RandomnessError, TokenHash, TokenId, TokenPurpose};
use secrecy::ExposeSecret;

/// The key links are minted with; a second key must refuse them.
const KEY: [u8; 32] = [0x5a; 32];
const OTHER_KEY: [u8; 32] = [0xa5; 32];

/// One structured case, drawn from the same bytes.
#[derive(Debug, Arbitrary)]
struct Case {
    id: u128,
    reset: bool,
    /// Position (mod 64) and replacement character of a one-character edit.
    edit: (u8, char),
    /// Length (mod 64) of a truncated copy.
    cut: u8,
    secret: [u8; 32],
    staff: bool,
}

/// Randomness that hands out fixed bytes, so a bearer secret is a function of the input.
struct Fixed([u8; 32]);

impl Randomness for Fixed {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomnessError> {
        for (out, byte) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *out = *byte;
        }
        Ok(())
    }
}

/// Runs every check on one input; panics on a broken invariant.
pub fn run(data: &[u8]) {
    let key = LinkKey::from_bytes(KEY);
    presented_text(&key, &String::from_utf8_lossy(data));
    if let Ok(case) = Case::arbitrary(&mut Unstructured::new(data)) {
        minted_link(&key, &case);
        bearer_secret(&case);
    }
}

fn other(purpose: TokenPurpose) -> TokenPurpose {
    match purpose {
        TokenPurpose::Invite => TokenPurpose::Reset,
        TokenPurpose::Reset => TokenPurpose::Invite,
    }
}

/// Arbitrary text presented where a link token, a token hash or a bearer secret is expected.
fn presented_text(key: &LinkKey, text: &str) {
    for purpose in [TokenPurpose::Invite, TokenPurpose::Reset] {
        if let Ok(verified) = key.verify(purpose, text) {
            let minted = key.link_token(purpose, verified.id());
            assert_eq!(minted.expose().expose_secret(), text.trim(), "a verified token is not the canonical link");
            assert_eq!(verified.purpose(), purpose);
            assert_eq!(verified.hash(), key.token_hash(purpose, verified.id()));
            assert!(key.verify(other(purpose), text).is_err(), "a link verified for both purposes");
        }
    }
    if let Some(hash) = TokenHash::from_hex(text) {
        assert_eq!(hash.to_hex(), text.to_ascii_lowercase(), "a token hash parsed from non-canonical hex");
    }
    let presented = BearerSecret::presented(text);
    assert_eq!(presented.hash(), TokenHash::of(text.trim().as_bytes()));
    assert_eq!(format!("{presented:?}"), "BearerSecret([REDACTED])");
}

/// A link the key minted, and edits of it.
fn minted_link(key: &LinkKey, case: &Case) {
    let purpose = if case.reset { TokenPurpose::Reset } else { TokenPurpose::Invite };
    let id = TokenId::from_uuid(uuid::Uuid::from_u128(case.id));
    let link = key.link_token(purpose, id);
    let text = link.expose().expose_secret();
    assert_eq!(text.len(), 64, "{text}");
    assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{text}");
    assert!(!format!("{link:?}").contains(text), "Debug shows the link");

    let verified = key.verify(purpose, text).expect("a minted link verifies");
    assert_eq!((verified.id(), verified.hash()), (id, key.token_hash(purpose, id)));
    let padded = format!(" \t{text}\r\n");
    assert_eq!(key.verify(purpose, &padded).map(|v| v.id()), Ok(id), "surrounding whitespace is trimmed");
    assert!(key.verify(other(purpose), text).is_err(), "a link works for the other purpose");
    assert!(LinkKey::from_bytes(OTHER_KEY).verify(purpose, text).is_err(), "a link works under another key");

    let (position, replacement) = (usize::from(case.edit.0) % 64, case.edit.1);
    let mut edited: Vec<char> = text.chars().collect();
    if edited[position] != replacement {
        edited[position] = replacement;
        let edited: String = edited.into_iter().collect();
        assert!(key.verify(purpose, &edited).is_err(), "an edited link verifies: {edited:?}");
    }
    let cut = &text[..usize::from(case.cut) % 64];
    assert!(key.verify(purpose, cut).is_err(), "a truncated link verifies");
}

/// A generated bearer secret and a presented copy of it.
fn bearer_secret(case: &Case) {
    let prefix = if case.staff { "pst_" } else { "pcs_" };
    let secret = BearerSecret::generate(prefix, &Fixed(case.secret)).expect("fixed randomness never fails");
    let text = secret.expose().expose_secret();
    let body = text.strip_prefix(prefix).expect("the secret starts with its prefix");
    assert_eq!(body.len(), 43, "{text}");
    assert_eq!(URL_SAFE_NO_PAD.decode(body).as_deref(), Ok(&case.secret[..]), "the secret carries the random bytes");
    assert_eq!(BearerSecret::presented(text).hash(), secret.hash());
    assert_eq!(BearerSecret::presented(&format!("\n {text} \t")).hash(), secret.hash());
    assert!(!format!("{secret:?}").contains(body), "Debug shows the secret");
}
