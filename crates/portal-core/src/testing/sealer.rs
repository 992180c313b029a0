//! [`TestSealer`]: a [`SecretSealer`] for tests. **Not secure.**

use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretSlice;
use sha2::{Digest, Sha256};

use crate::ports::{SealError, SecretSealer};
use crate::second_factor::SealedSecret;

/// A [`SecretSealer`] that keeps the contract (a sealed secret opens only with the same key and
/// context; two seals differ) with a toy construction of SHA-256 (a counter nonce, a keystream
/// and a tag). **Not secure**: tests only. The server seals with XChaCha20-Poly1305.
#[derive(Debug)]
pub struct TestSealer {
    key: [u8; 32],
    nonce: AtomicU64,
}

impl TestSealer {
    /// A sealer with this key.
    #[must_use]
    pub fn new(key: [u8; 32]) -> Self {
        Self { key, nonce: AtomicU64::new(1) }
    }

    fn block(&self, nonce: &[u8], context: &[u8], label: &[u8], index: usize) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.key);
        hash.update(label);
        hash.update(nonce);
        hash.update((context.len() as u64).to_be_bytes());
        hash.update(context);
        hash.update((index as u64).to_be_bytes());
        hash.finalize().into()
    }

    fn xor(&self, nonce: &[u8], context: &[u8], data: &[u8]) -> Vec<u8> {
        data.iter().enumerate().map(|(i, b)| b ^ self.block(nonce, context, b"stream", i / 32)[i % 32]).collect()
    }

    fn tag(&self, nonce: &[u8], context: &[u8], ciphertext: &[u8]) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(self.block(nonce, context, b"tag", 0));
        hash.update(ciphertext);
        hash.finalize().into()
    }
}

impl SecretSealer for TestSealer {
    fn seal(&self, secret: &[u8], context: &[u8]) -> Result<SealedSecret, SealError> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let ciphertext = self.xor(&nonce, context, secret);
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed.extend_from_slice(&self.tag(&nonce, context, &ciphertext));
        Ok(SealedSecret::from_bytes(sealed))
    }

    fn open(&self, sealed: &SealedSecret, context: &[u8]) -> Result<SecretSlice<u8>, SealError> {
        let bytes = sealed.as_bytes();
        if bytes.len() < 8 + 32 {
            return Err(SealError::Rejected);
        }
        let (nonce, rest) = bytes.split_at(8);
        let (ciphertext, tag) = rest.split_at(rest.len() - 32);
        if self.tag(nonce, context, ciphertext) != tag {
            return Err(SealError::Rejected);
        }
        Ok(SecretSlice::from(self.xor(nonce, context, ciphertext)))
    }
}
