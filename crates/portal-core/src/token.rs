//! Link tokens (invite, reset), opaque bearer secrets (sessions, staff keys) and their hashes.
//!
//! A link token is `base64url(token_id ‖ secret)` where
//! `secret = HMAC-SHA256(link key, purpose ‖ token_id)`. The database keeps only the token id and
//! `SHA-256(secret)`; the mail dispatcher re-derives the link from the token id and the link key,
//! which lives outside the database. Nobody holding only the database can forge or replay a link.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ports::{Randomness, RandomnessError};
use crate::types::TokenId;

/// What a link token may be used for. Part of the MAC input, so an invite link can never
/// redeem a reset and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPurpose {
    /// Registration from a portal invitation.
    Invite,
    /// Completing a password reset.
    Reset,
}

impl TokenPurpose {
    /// Stable lower-case name, for storage and logs.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Invite => "invite",
            Self::Reset => "reset",
        }
    }

    /// Inverse of [`TokenPurpose::as_str`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "invite" => Some(Self::Invite),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// SHA-256 of a secret: what storage keeps instead of the secret itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes secret bytes.
    #[must_use]
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Wraps a hash read back from storage.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw hash bytes, for storage.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, for storage backends that prefer text.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
    }

    /// Parses [`TokenHash::to_hex`] output.
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Self> {
        // Hex digits only: `u8::from_str_radix` alone would also take a sign ("+f"), so a
        // non-canonical text could name the same hash.
        if hex.len() != 64 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok()?;
        }
        Some(Self(out))
    }

    /// Constant-time comparison.
    #[must_use]
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not secret, but a short prefix is all a reader of logs ever needs.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// The server's link key: 32 secret bytes kept outside the database (a key file or config).
pub struct LinkKey(SecretBox<[u8; 32]>);

impl LinkKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 32;

    /// Wraps key material.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Draws a new random key.
    ///
    /// # Errors
    /// When the randomness source is unavailable.
    pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes)?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key bytes, for the adapter that persists the key file.
    #[must_use]
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    fn secret_for(&self, purpose: TokenPurpose, id: TokenId) -> [u8; 32] {
        // HMAC accepts keys of any length, so this cannot fail; fall back to an all-zero MAC
        // rather than panic would be wrong, hence the explicit match on a provable invariant.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(self.expose()) else {
            unreachable!("HMAC-SHA256 takes keys of any length")
        };
        mac.update(b"portal-link-v1\0");
        mac.update(purpose.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(id.as_uuid().as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The link token for a token id: what goes into the emailed URL.
    #[must_use]
    pub fn link_token(&self, purpose: TokenPurpose, id: TokenId) -> LinkToken {
        let mut raw = Vec::with_capacity(48);
        raw.extend_from_slice(id.as_uuid().as_bytes());
        raw.extend_from_slice(&self.secret_for(purpose, id));
        LinkToken { purpose, id, text: SecretString::from(URL_SAFE_NO_PAD.encode(raw)) }
    }

    /// The hash that storage keeps for a token id.
    #[must_use]
    pub fn token_hash(&self, purpose: TokenPurpose, id: TokenId) -> TokenHash {
        TokenHash::of(&self.secret_for(purpose, id))
    }

    /// Parses and authenticates a presented link token. A token minted for another purpose or
    /// by another key is refused here, without touching storage.
    ///
    /// ```
    /// use portal_core::{LinkKey, TokenId, TokenPurpose};
    /// use secrecy::ExposeSecret;
    /// let key = LinkKey::from_bytes([7; 32]);
    /// let id = TokenId::from_uuid(uuid::Uuid::from_u128(42));
    /// let link = key.link_token(TokenPurpose::Invite, id);
    /// let text = link.expose().expose_secret().to_owned();
    /// assert_eq!(key.verify(TokenPurpose::Invite, &text).unwrap().id(), id);
    /// assert!(key.verify(TokenPurpose::Reset, &text).is_err());
    /// ```
    ///
    /// # Errors
    /// [`MalformedToken`] for anything that is not a genuine token of this purpose.
    pub fn verify(&self, purpose: TokenPurpose, presented: &str) -> Result<VerifiedToken, MalformedToken> {
        let presented = presented.trim();
        if presented.len() != 64 {
            return Err(MalformedToken);
        }
        let raw = URL_SAFE_NO_PAD.decode(presented).map_err(|_| MalformedToken)?;
        let (id_bytes, secret) = raw.split_at(16);
        let id = TokenId::from_uuid(uuid::Uuid::from_slice(id_bytes).map_err(|_| MalformedToken)?);
        let expected = self.secret_for(purpose, id);
        if bool::from(expected.ct_eq(secret)) {
            Ok(VerifiedToken { purpose, id, hash: TokenHash::of(secret) })
        } else {
            Err(MalformedToken)
        }
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkKey([REDACTED])")
    }
}

/// A presented token that is not one this server minted for this purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the link is not valid")]
pub struct MalformedToken;

/// A link token as it appears in an emailed URL. Secret: `Debug` is redacted.
pub struct LinkToken {
    purpose: TokenPurpose,
    id: TokenId,
    text: SecretString,
}

impl LinkToken {
    /// The URL-safe text for the link.
    #[must_use]
    pub fn expose(&self) -> &SecretString {
        &self.text
    }

    /// The token's id.
    #[must_use]
    pub fn id(&self) -> TokenId {
        self.id
    }

    /// The token's purpose.
    #[must_use]
    pub fn purpose(&self) -> TokenPurpose {
        self.purpose
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkToken({}, {}, [REDACTED])", self.purpose.as_str(), self.id)
    }
}

/// A presented token whose MAC checked out: safe to look up by hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    purpose: TokenPurpose,
    id: TokenId,
    hash: TokenHash,
}

impl VerifiedToken {
    /// The token id.
    #[must_use]
    pub fn id(&self) -> TokenId {
        self.id
    }
    /// The purpose it was verified for.
    #[must_use]
    pub fn purpose(&self) -> TokenPurpose {
        self.purpose
    }
    /// The hash to look up in storage.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        self.hash
    }
}

/// Where an issued link token is in its life. Expiry is not a state: it is a comparison with
/// `now` (`now >= expires_at`), so it can never be stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Not yet redeemed or voided.
    Live,
    /// Redeemed once; never again.
    Used {
        /// When it was redeemed.
        at: Timestamp,
    },
}

/// An invite or reset token as the account aggregate holds it. The latest token of each purpose
/// is the only one that can be live; storage voids every older one when the account is saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// Token id (the link is derived from it).
    pub id: TokenId,
    /// What it is for.
    pub purpose: TokenPurpose,
    /// SHA-256 of the link secret.
    pub hash: TokenHash,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// The first instant at which it no longer works (`issued_at + ttl`).
    pub expires_at: Timestamp,
    /// Live or used.
    pub state: TokenState,
    /// Wrong dates of birth answered on this link so far; at [`DATE_OF_BIRTH_TRIES`] the link is
    /// closed for good (it then reads as voided).
    pub date_of_birth_failures: u8,
    /// What became of the invitation's one reminder, once its time came (invitations only;
    /// always `None` for a reset).
    pub reminder: Option<InviteReminder>,
}

/// The one reminder an unused invitation may get ([`crate::PracticeSettings::invitation_reminder`]):
/// queued, or passed over because the client could not be emailed when it fell due. Either way
/// it is never considered again for that invitation; a resend is a new invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteReminder {
    /// The reminder mail was queued at this instant.
    Queued {
        /// When.
        at: Timestamp,
    },
    /// It fell due at this instant, but the client had no email on file, had asked not to be
    /// emailed, or was no longer in the host's records.
    Skipped {
        /// When.
        at: Timestamp,
    },
}

impl InviteReminder {
    /// When the reminder was queued or passed over.
    #[must_use]
    pub const fn at(self) -> Timestamp {
        match self {
            Self::Queued { at } | Self::Skipped { at } => at,
        }
    }

    /// When the reminder mail was queued, if it was.
    #[must_use]
    pub const fn queued_at(self) -> Option<Timestamp> {
        match self {
            Self::Queued { at } => Some(at),
            Self::Skipped { .. } => None,
        }
    }
}

/// How many wrong dates of birth a link takes before it is closed.
pub const DATE_OF_BIRTH_TRIES: u8 = 5;

impl IssuedToken {
    /// True when the token can still be redeemed at `now`.
    #[must_use]
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.state == TokenState::Live && !self.is_closed() && now < self.expires_at
    }

    /// True when it is unused (and not closed) but `now >= expires_at`.
    #[must_use]
    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        self.state == TokenState::Live && !self.is_closed() && now >= self.expires_at
    }

    /// True once [`DATE_OF_BIRTH_TRIES`] wrong dates of birth were answered on it: it works no
    /// more, like a voided link, and staff see why.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.date_of_birth_failures >= DATE_OF_BIRTH_TRIES
    }

    /// Wrong dates of birth the link still takes before it is closed.
    #[must_use]
    pub fn date_of_birth_tries_left(&self) -> u8 {
        DATE_OF_BIRTH_TRIES.saturating_sub(self.date_of_birth_failures)
    }
}

/// An opaque 256-bit bearer secret (a session token or a staff key), shown once to its owner
/// and stored only as a [`TokenHash`].
pub struct BearerSecret(SecretString);

impl BearerSecret {
    /// Draws a new secret; `prefix` makes the kind recognisable (and greppable by secret
    /// scanners), e.g. `pst_` for staff keys.
    ///
    /// # Errors
    /// When the randomness source is unavailable.
    pub fn generate(prefix: &str, random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes)?;
        Ok(Self(SecretString::from(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))))
    }

    /// Wraps a presented secret.
    #[must_use]
    pub fn presented(text: &str) -> Self {
        Self(SecretString::from(text.trim().to_owned()))
    }

    /// The text to hand to the owner, once.
    #[must_use]
    pub fn expose(&self) -> &SecretString {
        &self.0
    }

    /// The hash storage keeps. A fast hash is right here: the secret has 256 bits of entropy,
    /// so there is nothing for a slow hash to protect against.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(self.0.expose_secret().as_bytes())
    }
}

impl fmt::Debug for BearerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerSecret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> LinkKey {
        LinkKey::from_bytes([3; 32])
    }

    #[test]
    fn a_link_round_trips_and_is_bound_to_purpose_and_key() {
        let id = TokenId::from_uuid(uuid::Uuid::from_u128(9));
        let link = key().link_token(TokenPurpose::Reset, id);
        let text = link.expose().expose_secret().to_owned();
        let verified = key().verify(TokenPurpose::Reset, &text).unwrap();
        assert_eq!(verified.id(), id);
        assert_eq!(verified.hash(), key().token_hash(TokenPurpose::Reset, id));
        assert_eq!(key().verify(TokenPurpose::Invite, &text), Err(MalformedToken));
        assert_eq!(LinkKey::from_bytes([4; 32]).verify(TokenPurpose::Reset, &text), Err(MalformedToken));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let id = TokenId::from_uuid(uuid::Uuid::from_u128(9));
        let link = key().link_token(TokenPurpose::Invite, id);
        let text = link.expose().expose_secret().to_owned();
        assert!(!format!("{link:?}").contains(&text));
        assert_eq!(format!("{:?}", key()), "LinkKey([REDACTED])");
    }

    #[test]
    fn hex_round_trips() {
        let hash = TokenHash::of(b"abc");
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(TokenHash::from_hex("zz"), None);
    }

    #[test]
    fn hex_with_a_sign_is_not_a_token_hash() {
        // Found by the `link_token` fuzz target (fuzz/regressions/link_token/).
        let canonical = TokenHash::of(b"abc").to_hex();
        let signed = format!("+{}", &canonical[1..]);
        assert_eq!(TokenHash::from_hex(&signed), None);
        assert_eq!(TokenHash::from_hex(&canonical.to_uppercase()).map(|h| h.to_hex()), Some(canonical));
    }

    proptest! {
        #[test]
        fn a_tampered_link_is_refused(flip in 0usize..64, id in any::<u128>()) {
            let link = key().link_token(TokenPurpose::Invite, TokenId::from_uuid(uuid::Uuid::from_u128(id)));
            let mut text: Vec<u8> = link.expose().expose_secret().as_bytes().to_vec();
            text[flip] = if text[flip] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(text).unwrap();
            // 48 bytes encode to exactly 64 base64 characters with no spare bits, so every
            // changed character changes the decoded bytes.
            prop_assume!(tampered != *link.expose().expose_secret());
            prop_assert_eq!(key().verify(TokenPurpose::Invite, &tampered), Err(MalformedToken));
        }

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let _ = key().verify(TokenPurpose::Invite, &text);
        }
    }
}
