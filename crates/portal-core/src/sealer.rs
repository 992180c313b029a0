//! [`LinkKeySealer`]: the production [`SecretSealer`] (TOTP secrets at rest), for the bundled
//! server and any host that keeps the link key outside its database.
//!
//! XChaCha20-Poly1305 under a key derived from the link key with HKDF-SHA256 and a label of its
//! own (`portal totp-secret sealing v1`). Deriving rather than adding a second key file keeps
//! one secret to back up, restore and protect (the link key, outside the database: `link.key`
//! mode 0600 or `PORTAL_LINK_KEY`), while the label makes the sealing key independent of every
//! other use of the link key (link HMACs, recovery-code HMACs): knowing one derived output
//! tells nothing about another. A random 192-bit nonce per seal (XChaCha's extended nonce
//! makes random nonces safe at any volume); the factor's id, practice and client are the
//! associated data, so a sealed secret copied to another row does not open.
//!
//! Stored form: `v1` version byte, the 24-byte nonce, then ciphertext and tag.

use crate::ports::{SealError, SecretSealer};
use crate::second_factor::SealedSecret;
use crate::token::LinkKey;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use secrecy::SecretSlice;
use sha2::Sha256;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const LABEL: &[u8] = b"portal totp-secret sealing v1";

/// Seals TOTP secrets under a key derived from the link key.
///
/// ```
/// use portal_core::{LinkKey, LinkKeySealer, SecretSealer};
/// use secrecy::ExposeSecret;
///
/// let sealer = LinkKeySealer::new(&LinkKey::from_bytes([7; 32]));
/// let sealed = sealer.seal(b"a totp secret", b"factor 1")?;
/// assert_eq!(sealer.open(&sealed, b"factor 1")?.expose_secret(), b"a totp secret");
/// assert!(sealer.open(&sealed, b"factor 2").is_err());
/// # Ok::<(), portal_core::SealError>(())
/// ```
pub struct LinkKeySealer {
    cipher: XChaCha20Poly1305,
}

impl LinkKeySealer {
    /// Derives the sealing key from the link key.
    #[must_use]
    pub fn new(link_key: &LinkKey) -> Self {
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expanding cannot fail.
        if Hkdf::<Sha256>::new(None, link_key.expose()).expand(LABEL, &mut key).is_err() {
            unreachable!("HKDF-SHA256 expands 32 bytes")
        }
        let cipher = XChaCha20Poly1305::new(&key.into());
        key.fill(0);
        Self { cipher }
    }
}

impl std::fmt::Debug for LinkKeySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKeySealer([REDACTED])")
    }
}

impl SecretSealer for LinkKeySealer {
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<SealedSecret, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Failed(Box::new(e)))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: secret, aad: context })
            .map_err(|_| SealError::Failed("the cipher refused the secret".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(SealedSecret::from_bytes(out))
    }

    fn open(&self, sealed: &SealedSecret, context: &[u8]) -> Result<SecretSlice<u8>, SealError> {
        let bytes = sealed.as_bytes();
        let Some((&VERSION, rest)) = bytes.split_first() else { return Err(SealError::Rejected) };
        if rest.len() < NONCE_LEN {
            return Err(SealError::Rejected);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| SealError::Rejected)?;
        let opened =
            self.cipher.decrypt(&nonce, Payload { msg: ciphertext, aad: context }).map_err(|_| SealError::Rejected)?;
        Ok(SecretSlice::from(opened))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_context() {
        let sealer = LinkKeySealer::new(&LinkKey::from_bytes([7; 32]));
        let secret = b"12345678901234567890";
        let sealed = sealer.seal(secret, b"factor-a").unwrap();
        assert!(!sealed.as_bytes().windows(secret.len()).any(|w| w == secret), "never in clear");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&sealer.open(&sealed, b"factor-a").unwrap()), secret);
        assert!(matches!(sealer.open(&sealed, b"factor-b"), Err(SealError::Rejected)));
        let other = LinkKeySealer::new(&LinkKey::from_bytes([8; 32]));
        assert!(matches!(other.open(&sealed, b"factor-a"), Err(SealError::Rejected)));
        let mut tampered = sealed.as_bytes().to_vec();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(matches!(sealer.open(&SealedSecret::from_bytes(tampered), b"factor-a"), Err(SealError::Rejected)));
        assert!(matches!(sealer.open(&SealedSecret::from_bytes(vec![2; 60]), b"factor-a"), Err(SealError::Rejected)));
        assert_ne!(sealer.seal(secret, b"factor-a").unwrap(), sealed, "a fresh nonce each time");
    }

    #[test]
    fn the_sealing_key_is_not_the_link_key() {
        // Sealing with a cipher keyed by the link key itself must not open: the key is derived.
        let link = LinkKey::from_bytes([7; 32]);
        let sealed = LinkKeySealer::new(&link).seal(b"secret", b"ctx").unwrap();
        let direct = XChaCha20Poly1305::new(&(*link.expose()).into());
        let (nonce, ciphertext) = sealed.as_bytes()[1..].split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).unwrap();
        assert!(direct.decrypt(&nonce, Payload { msg: ciphertext, aad: b"ctx" }).is_err());
    }
}
