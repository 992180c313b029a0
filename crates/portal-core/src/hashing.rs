//! Types shared by every password hasher: the stored hash and the verification outcome.

use std::fmt;

/// A stored password hash in PHC string format (`$scrypt$ln=17,r=8,p=1$salt$hash`).
///
/// Not secret in the way a password is, but still never logged in full: `Debug` shows only the
/// algorithm and parameters.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from storage. Parsing and bounds checks happen in the hasher, at
    /// verification time, so a row written by a newer version is not rejected on load.
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    #[must_use]
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // "$scrypt$ln=17,r=8,p=1$<salt>$<hash>": keep the first two fields only.
        let head: Vec<&str> = self.0.splitn(4, '$').take(3).collect();
        write!(f, "PasswordHash({}$…)", head.join("$"))
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches.
    Match {
        /// The stored hash uses weaker parameters than the hasher's current ones: rehash and
        /// store the new hash now, while the password is at hand.
        needs_upgrade: bool,
    },
    /// The password does not match.
    Mismatch,
}

/// Why a hash could not be computed or checked. Never contains the password.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The stored hash is not a PHC string this hasher understands.
    #[error("stored password hash is malformed or uses an unsupported algorithm")]
    Malformed,
    /// The stored hash asks for more work than allowed (a memory or CPU bomb); refused before
    /// doing any work.
    #[error("stored password hash parameters exceed the allowed bounds ({0})")]
    ParametersOutOfBounds(String),
    /// Too many hashes are queued; try again shortly.
    #[error("password hashing is saturated; retry later")]
    Saturated,
    /// Anything else (a failed worker, the OS random source).
    #[error("password hashing failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}
