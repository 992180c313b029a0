//! [`ClientId`]: the host's own identifier of a client.

use std::fmt;

use super::InvalidId;
use crate::ports::{Randomness, RandomnessError};

/// The host's identifier of a client (patient) within a practice, opaque to the portal.
///
/// The host owns its clients (design §7): an EHR's patient id, whether an integer, an MRN or a
/// UUID, is used as it is, so no mapping table is needed. Portal tables refer to a client only
/// by (practice, client id). An id is 1–128 characters from ASCII letters, digits and
/// `-._~:@!$&'()*+,;=` (what RFC 3986 allows in a path segment without percent-encoding), so it
/// is a URL path segment as it is and never needs escaping in a log line. Compared exactly
/// (case-sensitive).
///
/// ```
/// use portal_core::ClientId;
/// assert_eq!(ClientId::parse("42").unwrap().as_str(), "42");
/// assert_eq!(ClientId::parse("MRN-0042").unwrap().to_string(), "MRN-0042");
/// assert!(ClientId::parse("").is_err());
/// assert!(ClientId::parse("a/b").is_err());
/// assert!(ClientId::parse("a b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(std::sync::Arc<str>);

impl ClientId {
    /// Most characters in an id.
    pub const MAX_LEN: usize = 128;

    /// Checks a host's client id.
    ///
    /// # Errors
    /// [`InvalidId`] when it is empty, longer than [`ClientId::MAX_LEN`], or holds a character
    /// other than ASCII letters, digits and `-._~:@!$&'()*+,;=`.
    pub fn parse(text: &str) -> Result<Self, InvalidId> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:@!$&'()*+,;=".contains(c);
        if text.is_empty() || text.len() > Self::MAX_LEN || !text.chars().all(allowed) {
            return Err(InvalidId);
        }
        Ok(Self(text.into()))
    }

    /// A fresh random id (a hyphenated version 4 UUID), for hosts that let the portal number
    /// their clients (the bundled server's client table).
    ///
    /// # Errors
    /// Fails only when the randomness source is unavailable.
    pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = [0u8; 16];
        random.fill(&mut bytes)?;
        Ok(Self(uuid::Builder::from_random_bytes(bytes).into_uuid().hyphenated().to_string().into()))
    }

    /// The id as the host wrote it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

impl std::str::FromStr for ClientId {
    type Err = InvalidId;
    fn from_str(text: &str) -> Result<Self, InvalidId> {
        Self::parse(text)
    }
}
