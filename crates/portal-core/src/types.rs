//! Validated newtypes, parsed once at the edge so the rest of the crate can trust them.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

use crate::ports::{Randomness, RandomnessError};

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// Draws a fresh random (version 4) identifier from the randomness port.
            ///
            /// # Errors
            /// Fails only when the randomness source is unavailable.
            pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
                let mut bytes = [0u8; 16];
                random.fill(&mut bytes)?;
                Ok(Self(uuid::Builder::from_random_bytes(bytes).into_uuid()))
            }

            /// Wraps an identifier read back from storage.
            #[must_use]
            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID, for adapters.
            #[must_use]
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }

            /// Parses the hyphenated text form.
            ///
            /// # Errors
            /// [`InvalidId`] when the text is not a UUID.
            pub fn parse(text: &str) -> Result<Self, InvalidId> {
                uuid::Uuid::try_parse(text.trim()).map(Self).map_err(|_| InvalidId)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(text: &str) -> Result<Self, InvalidId> {
                Self::parse(text)
            }
        }
    };
}

/// An identifier that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid identifier")]
pub struct InvalidId;

uuid_id!(
    /// Identifies a practice (a tenant).
    PracticeId
);
#[path = "client_id.rs"]
mod client_id;
pub use client_id::ClientId;
uuid_id!(
    /// Identifies a staff key and the staff member it names.
    StaffId
);
uuid_id!(
    /// Identifies an invite or reset token; the link secret is derived from it.
    TokenId
);
uuid_id!(
    /// Identifies a client session (the bearer secret is separate and stored only hashed).
    SessionId
);
uuid_id!(
    /// Identifies a staff session of the staff pages (the bearer secret in its cookie is separate
    /// and stored only hashed).
    StaffSessionId
);
uuid_id!(
    /// Identifies a queued outgoing email.
    MailId
);
uuid_id!(
    /// Identifies an audit event.
    AuditId
);
uuid_id!(
    /// Identifies a client's second factor (an authenticator app, a passkey).
    FactorId
);

/// Why a piece of user input was refused. Each variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// The text is shorter than allowed.
    #[error("{field} must be at least {min} characters")]
    TooShort {
        /// Which field.
        field: &'static str,
        /// The minimum, in characters.
        min: usize,
    },
    /// The text is longer than allowed.
    #[error("{field} must be at most {max} characters")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The maximum, in characters.
        max: usize,
    },
    /// The text holds a character outside the allowed alphabet.
    #[error("{field} may only contain {allowed}")]
    BadCharacter {
        /// Which field.
        field: &'static str,
        /// The allowed alphabet, in words.
        allowed: &'static str,
    },
    /// The text does not have the required shape.
    #[error("{field} is not valid: {why}")]
    Malformed {
        /// Which field.
        field: &'static str,
        /// What is wrong, in words.
        why: &'static str,
    },
}

/// Whether `c` changes the lines or the reading order of the text around it: Unicode's line and
/// paragraph separators (a line break to many log viewers and mail clients, though not a control
/// character) and the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
/// U+2066–U+2069), which make "Ada \u{202E}gro.live" display as "Ada evil.org" to staff and
/// in mail. Zero-width joiners and the implicit direction marks stay allowed: names in several
/// scripts need them, and they cannot reorder text.
pub(crate) fn rearranges_text(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A portal username: 3–64 characters from `a–z`, `0–9`, `.`, `_`, `-`, `@`, starting with a
/// letter or digit. Case-insensitive: it is stored and compared in lower case.
///
/// ```
/// use portal_core::Username;
/// let name = Username::parse("  Ada.Lovelace ").unwrap();
/// assert_eq!(name.as_str(), "ada.lovelace");
/// assert!(Username::parse("ab").is_err());
/// assert!(Username::parse("no spaces").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    /// Fewest characters.
    pub const MIN_LEN: usize = 3;
    /// Most characters.
    pub const MAX_LEN: usize = 64;
    const ALPHABET: &'static str = "letters a-z, digits, '.', '_', '-' and '@', starting with a letter or digit";

    /// Parses and normalises (trim, lower case) a username.
    ///
    /// # Errors
    /// [`InvalidInput`] naming the rule that was broken.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let normalised = Self::normalise(raw);
        let len = normalised.chars().count();
        if len < Self::MIN_LEN {
            return Err(InvalidInput::TooShort { field: "username", min: Self::MIN_LEN });
        }
        if len > Self::MAX_LEN {
            return Err(InvalidInput::TooLong { field: "username", max: Self::MAX_LEN });
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@');
        let starts_well = normalised.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !normalised.chars().all(allowed) || !starts_well {
            return Err(InvalidInput::BadCharacter { field: "username", allowed: Self::ALPHABET });
        }
        Ok(Self(normalised))
    }

    /// The form used as a throttle key for what a person typed, valid or not: trimmed and
    /// lower-cased, capped so a hostile input cannot grow the key without bound.
    #[must_use]
    pub fn normalise(raw: &str) -> String {
        let cap = Self::MAX_LEN * 4;
        // Cap before lower-casing (bounded work), and again after it, since lower-casing may
        // lengthen the text ('İ' becomes "i̇"); then trim the end the cap may have exposed. So
        // the key is trimmed, at most `cap` characters, and normalising it again changes nothing.
        let lower = raw.trim().chars().take(cap).collect::<String>().to_lowercase();
        lower.chars().take(cap).collect::<String>().trim_end().to_owned()
    }

    /// The normalised (lower-case) username.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

/// An email address on file: one `@`, a non-empty local part, a dotted domain, no whitespace,
/// control characters or bidirectional overrides (which rules out header injection and
/// addresses that display as another), at most 254 characters.
///
/// ```
/// use portal_core::EmailAddress;
/// assert!(EmailAddress::parse("client@example.org").is_ok());
/// assert!(EmailAddress::parse("client@example.org\r\nBcc: x@y.z").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Most characters (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Parses an address; the domain is lower-cased, the local part kept as written.
    ///
    /// # Errors
    /// [`InvalidInput`] when the address is not plausible.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let raw = raw.trim();
        let bad = |why| InvalidInput::Malformed { field: "email", why };
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::TooLong { field: "email", max: Self::MAX_LEN });
        }
        let unsafe_char = |c: char| {
            c.is_whitespace() || c.is_control() || rearranges_text(c) || matches!(c, '<' | '>' | ',' | ';' | '"')
        };
        if raw.chars().any(unsafe_char) {
            return Err(bad("it contains spaces or characters not allowed in an address"));
        }
        let (local, domain) = raw.rsplit_once('@').ok_or_else(|| bad("it needs an '@'"))?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(bad("the part before '@' is missing, too long or has another '@'"));
        }
        // The bounds hold for the stored (lower-cased) form, which storage parses again on
        // every read: lower-casing may lengthen a domain ('İ' becomes "i̇").
        let domain = domain.to_lowercase();
        if local.len() + 1 + domain.len() > Self::MAX_LEN {
            return Err(InvalidInput::TooLong { field: "email", max: Self::MAX_LEN });
        }
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63 && !label.starts_with('-') && !label.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(bad("the domain after '@' is not a valid host name"));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The address text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

/// A password as typed, NFKC-normalised, never printed (`Debug` shows `[REDACTED]`).
///
/// Normalisation happens on construction so hashing and policy checks see the same text.
///
/// ```
/// use portal_core::Password;
/// use secrecy::ExposeSecret;
/// let p = Password::new("ﬁve ﬁsh swim by the river");
/// assert_eq!(p.expose().expose_secret(), "five fish swim by the river");
/// assert_eq!(format!("{p:?}"), "Password([REDACTED])");
/// ```
pub struct Password(SecretString);

impl Password {
    /// Wraps and NFKC-normalises what the person typed.
    #[must_use]
    pub fn new(typed: &str) -> Self {
        Self(SecretString::from(typed.nfkc().collect::<String>()))
    }

    /// The secret, for the hasher and the policy only.
    #[must_use]
    pub fn expose(&self) -> &SecretString {
        &self.0
    }

    /// Length in Unicode code points (what the policy's length rule counts).
    #[must_use]
    pub fn char_count(&self) -> usize {
        self.0.expose_secret().chars().count()
    }
}

impl Clone for Password {
    fn clone(&self) -> Self {
        Self(SecretString::from(self.0.expose_secret().to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// A practice's URL name: 2–48 characters of `a–z`, `0–9` and single `-`.
///
/// ```
/// use portal_core::PracticeSlug;
/// assert_eq!(PracticeSlug::parse("Sunrise-Therapy").unwrap().as_str(), "sunrise-therapy");
/// assert!(PracticeSlug::parse("-bad").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PracticeSlug(String);

impl PracticeSlug {
    /// Parses a slug (lower-cased).
    ///
    /// # Errors
    /// [`InvalidInput`] naming the broken rule.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let slug = raw.trim().to_lowercase();
        let len = slug.chars().count();
        if len < 2 {
            return Err(InvalidInput::TooShort { field: "slug", min: 2 });
        }
        if len > 48 {
            return Err(InvalidInput::TooLong { field: "slug", max: 48 });
        }
        let alphabet_ok = slug.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !alphabet_ok || slug.starts_with('-') || slug.ends_with('-') || slug.contains("--") {
            return Err(InvalidInput::BadCharacter {
                field: "slug",
                allowed: "letters a-z, digits and single hyphens, not at either end",
            });
        }
        Ok(Self(slug))
    }

    /// Derives a slug from a practice name ("Sunrise Therapy, LLC" → "sunrise-therapy-llc").
    ///
    /// # Errors
    /// [`InvalidInput`] when the name has too few letters or digits to make one.
    pub fn from_name(name: &str) -> Result<Self, InvalidInput> {
        let mut slug = String::new();
        for c in name.to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(48).collect();
        Self::parse(slug.trim_end_matches('-'))
    }

    /// The slug text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PracticeSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PracticeSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PracticeSlug({})", self.0)
    }
}

/// A display name (of a practice, a client or a staff key): 1–200 characters, trimmed, no
/// control characters, line separators or bidirectional overrides (so it can never break a mail
/// header or a log line, nor read as something else).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DisplayName(String);

impl DisplayName {
    /// Most characters.
    pub const MAX_LEN: usize = 200;

    /// Parses a name.
    ///
    /// # Errors
    /// [`InvalidInput`] when empty, too long, or holding control characters, line separators or
    /// bidirectional overrides.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(InvalidInput::TooShort { field, min: 1 });
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(InvalidInput::TooLong { field, max: Self::MAX_LEN });
        }
        if name.chars().any(|c| c.is_control() || rearranges_text(c)) {
            return Err(InvalidInput::BadCharacter { field, allowed: "printable characters (no line breaks)" });
        }
        Ok(Self(name.to_owned()))
    }

    /// The name text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The language a client reads their mail in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Spanish.
    Es,
}

impl Language {
    /// Parses an IETF tag's primary subtag (`en`, `es`, `es-MX`).
    ///
    /// # Errors
    /// [`InvalidInput`] for a language the portal has no templates for.
    pub fn parse(tag: &str) -> Result<Self, InvalidInput> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default().to_ascii_lowercase();
        match primary.as_str() {
            "en" => Ok(Self::En),
            "es" => Ok(Self::Es),
            _ => Err(InvalidInput::Malformed { field: "language", why: "supported languages are 'en' and 'es'" }),
        }
    }

    /// The two-letter code.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Es => "es",
        }
    }
}

/// An IANA time-zone name such as `America/Chicago`, checked for shape only (resolving it needs
/// the tz database, which is IO and belongs to adapters).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    /// Parses a zone name.
    ///
    /// # Errors
    /// [`InvalidInput`] when it cannot be a zone name.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let name = raw.trim();
        let ok = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
            && !name.contains("..")
            && !name.starts_with('/');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidInput::Malformed { field: "time_zone", why: "expected an IANA name such as America/Chicago" })
        }
    }

    /// UTC.
    #[must_use]
    pub fn utc() -> Self {
        Self("UTC".to_owned())
    }

    /// The zone name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// An optional staff note explaining why an account was disabled (≤ 500 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct DisableReason(String);

impl DisableReason {
    /// Parses a reason.
    ///
    /// # Errors
    /// [`InvalidInput`] when longer than 500 characters or holding control characters other
    /// than line breaks.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let text = raw.trim();
        if text.chars().count() > 500 {
            return Err(InvalidInput::TooLong { field: "reason", max: 500 });
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(InvalidInput::BadCharacter { field: "reason", allowed: "printable characters" });
        }
        Ok(Self(text.to_owned()))
    }

    /// The reason text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DisableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
#[path = "types_tests.rs"]
mod tests;
