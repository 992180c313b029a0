//! Second factors of a client's sign-in (design §7: the portal owns them): the practice's
//! [`SecondFactorPolicy`], the kinds of factor, a stored [`SecondFactor`], TOTP (RFC 6238)
//! secrets and codes, recovery codes, and the short-lived [`FactorChallenge`] between the
//! password and the second step.
//!
//! Everything here is pure. A TOTP secret is sealed by the [`SecretSealer`](crate::SecretSealer)
//! port before it is stored; a recovery code is stored as an HMAC under the link key
//! ([`recovery_code_hash`]). Passkeys are a third kind ([`SecondFactorKind::Passkey`]) that the
//! passkey adapter registers through its own port; the sign-in answer names them beside TOTP
//! and recovery codes.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;

use crate::ports::passkeys::{PasskeyCredentialId, PasskeyUserHandle, StoredPasskey};
use crate::ports::{Randomness, RandomnessError};
use crate::token::{LinkKey, TokenHash};
use crate::types::{ClientId, DisplayName, FactorId, PracticeId};

/// How long the challenge between the password and the second step lives.
pub const CHALLENGE_LIFETIME: SignedDuration = SignedDuration::from_mins(5);
/// How long a started TOTP enrolment waits for its confirming code.
pub const ENROLMENT_LIFETIME: SignedDuration = SignedDuration::from_mins(10);
/// How many recovery codes a client gets at once.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Most confirmed factors one client may hold (bounds the work of a sign-in).
pub const MAX_FACTORS: usize = 10;
/// The TOTP step in seconds (RFC 6238's recommended 30 s; every authenticator app uses it).
pub const TOTP_STEP_SECONDS: u64 = 30;
/// The prefix of a second-step challenge, so a leaked one is recognisable.
pub const CHALLENGE_PREFIX: &str = "pfc_";
/// How long a passkey ceremony's state waits for the browser's answer: the five minutes that
/// webauthn-rs asks browsers to finish within, so a ceremony never outlives its own timeout.
pub const CEREMONY_LIFETIME: SignedDuration = SignedDuration::from_mins(5);
/// The prefix of a passkey ceremony's id, so a leaked one is recognisable.
pub const CEREMONY_PREFIX: &str = "ppc_";

/// Whether a practice's clients use a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SecondFactorPolicy {
    /// Clients cannot enrol a factor. A factor enrolled before is still asked for at sign-in
    /// (turning the setting off never weakens an account silently) and can be removed.
    Off,
    /// Clients may enrol factors; nobody is forced. The default.
    #[default]
    Optional,
    /// A client without a factor enrols one right after the password, before reaching the
    /// portal.
    Required,
}

impl SecondFactorPolicy {
    /// Every policy, in the settings form's order.
    pub const ALL: [Self; 3] = [Self::Off, Self::Optional, Self::Required];

    /// Stable wire and storage name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Optional => "optional",
            Self::Required => "required",
        }
    }

    /// Inverse of [`SecondFactorPolicy::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|policy| policy.name() == name)
    }

    /// Whether clients may enrol new factors.
    #[must_use]
    pub const fn allows_enrolment(self) -> bool {
        !matches!(self, Self::Off)
    }
}

/// A kind of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecondFactorKind {
    /// A time-based one-time code from an authenticator app (RFC 6238).
    Totp,
    /// A WebAuthn passkey, registered through the passkey adapter.
    Passkey,
    /// One of the ten single-use recovery codes.
    RecoveryCode,
}

impl SecondFactorKind {
    /// Stable wire and storage name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
            Self::RecoveryCode => "recovery_code",
        }
    }

    /// Inverse of [`SecondFactorKind::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Totp, Self::Passkey, Self::RecoveryCode].into_iter().find(|kind| kind.name() == name)
    }
}

/// A secret as the [`SecretSealer`](crate::SecretSealer) sealed it: what storage keeps. Opaque
/// to the core.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Wraps sealed bytes (from the sealer, or read back from storage).
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

/// What a stored factor keeps to check its codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorSecret {
    /// A TOTP factor.
    Totp {
        /// The secret, sealed.
        sealed: SealedSecret,
        /// The last time step whose code was accepted: a code of this step or an earlier one is
        /// refused (RFC 6238 §5.2, each code works once).
        last_step: Option<u64>,
    },
    /// A passkey (WebAuthn credential): public data only, nothing to seal.
    Passkey {
        /// Its id, unique across every account.
        credential_id: PasskeyCredentialId,
        /// The account's WebAuthn user handle it was registered with (the same for every
        /// passkey of one client).
        user_handle: PasskeyUserHandle,
        /// The credential as the passkey adapter serialised it (public key, counter, flags).
        passkey: StoredPasskey,
    },
}

/// A client's second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactor {
    /// Id.
    pub id: FactorId,
    /// The practice.
    pub practice_id: PracticeId,
    /// The client.
    pub client_id: ClientId,
    /// The client's name for it ("Phone").
    pub name: DisplayName,
    /// When enrolment started.
    pub created_at: Timestamp,
    /// When the client confirmed it with a code; `None` while the enrolment is pending (a
    /// pending factor is never asked for at sign-in).
    pub confirmed_at: Option<Timestamp>,
    /// When a code of it was last accepted.
    pub last_used_at: Option<Timestamp>,
    /// What checks its codes.
    pub secret: FactorSecret,
}

impl SecondFactor {
    /// The kind of factor.
    #[must_use]
    pub const fn kind(&self) -> SecondFactorKind {
        match self.secret {
            FactorSecret::Totp { .. } => SecondFactorKind::Totp,
            FactorSecret::Passkey { .. } => SecondFactorKind::Passkey,
        }
    }

    /// Whether the client confirmed it (only confirmed factors count).
    #[must_use]
    pub const fn is_confirmed(&self) -> bool {
        self.confirmed_at.is_some()
    }

    /// The associated data its sealed secret is bound to: a sealed secret copied to another
    /// factor or client does not open.
    #[must_use]
    pub fn seal_context(&self) -> Vec<u8> {
        seal_context(self.id, self.practice_id, &self.client_id)
    }
}

/// The associated data a factor's sealed secret is bound to (see [`SecondFactor::seal_context`]).
#[must_use]
pub fn seal_context(id: FactorId, practice: PracticeId, client: &ClientId) -> Vec<u8> {
    let mut context = b"portal-totp-v1\0".to_vec();
    context.extend_from_slice(id.as_uuid().as_bytes());
    context.extend_from_slice(practice.as_uuid().as_bytes());
    context.extend_from_slice(client.as_str().as_bytes());
    context
}

/// A TOTP secret in clear: 160 random bits (RFC 4226 §4 recommends 160). Lives only in memory,
/// between the randomness port or the sealer and the code check.
pub struct TotpSecret(SecretSlice<u8>);

impl TotpSecret {
    /// Length in bytes.
    pub const LEN: usize = 20;

    /// Draws a new secret.
    ///
    /// # Errors
    /// When the randomness source is unavailable.
    pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = vec![0u8; Self::LEN];
        random.fill(&mut bytes)?;
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// Wraps a secret the sealer opened.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    /// The secret's bytes, for the sealer.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    fn totp(&self, issuer: &str, account: &str) -> Option<totp_rs::Totp> {
        // A colon separates issuer and account in the otpauth label; neither may hold one.
        totp_rs::Builder::new()
            .with_secret(self.expose().to_vec())
            .with_step_duration(TOTP_STEP_SECONDS)
            .with_skew(1)
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "))
            .build()
            .ok()
    }

    /// The secret in base32, for entering it by hand.
    #[must_use]
    pub fn base32(&self) -> SecretString {
        SecretString::from(totp_rs::Secret::from(self.expose().to_vec()).to_base32())
    }

    /// The `otpauth://` URI an authenticator app reads from the QR code. `None` only when the
    /// secret is shorter than RFC 4226 allows (never for a generated one).
    #[must_use]
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> Option<SecretString> {
        self.totp(issuer, account)?.to_url().ok().map(SecretString::from)
    }

    /// The time step whose code `code` is, within one step either side of `now` (RFC 6238
    /// §5.2's allowance for clock drift); `None` when it is none of the three. Spaces in the
    /// code are ignored.
    #[must_use]
    pub fn matching_step(&self, code: &str, now: Timestamp) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let seconds = u64::try_from(now.as_second()).ok()?;
        self.totp("portal", "client")?.check(&code, seconds)
    }

    /// The code of the step that holds `at` (for tests and the documentation).
    #[must_use]
    pub fn code_at(&self, at: Timestamp) -> Option<String> {
        let seconds = u64::try_from(at.as_second()).ok()?;
        Some(self.totp("portal", "client")?.generate(seconds).to_string())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// A recovery code: 120 random bits written as six groups of four base32 letters and digits
/// (`abcd-efgh-ijkm-2345-…`), shown to the client once. 120 bits is above the 112 from which
/// ASVS 5.0 (6.5.2) lets a lookup secret be stored with a plain SHA-2 hash, and far above
/// NIST SP 800-63B's 64.
pub struct RecoveryCode(SecretString);

/// The alphabet of recovery codes: RFC 4648 base32, lower case (no 0, 1, 8, 9: nothing to
/// confuse with o, l, b, g).
const RECOVERY_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// Characters in a code, without the dashes (24 × 5 bits = 120 bits).
const RECOVERY_LEN: usize = 24;

impl RecoveryCode {
    /// Draws a new code.
    ///
    /// # Errors
    /// When the randomness source is unavailable.
    pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = [0u8; 15];
        random.fill(&mut bytes)?;
        let mut bits = 0u128;
        for byte in bytes {
            bits = (bits << 8) | u128::from(byte);
        }
        let mut text = String::with_capacity(RECOVERY_LEN + 3);
        for i in 0..RECOVERY_LEN {
            if i > 0 && i % 4 == 0 {
                text.push('-');
            }
            // 120 bits, five at a time from the top; the index is below 32 by the mask.
            let index = usize::try_from((bits >> (115 - 5 * i)) & 0x1f).unwrap_or(0);
            text.push(char::from(RECOVERY_ALPHABET[index]));
        }
        Ok(Self(SecretString::from(text)))
    }

    /// The code as shown to the client.
    #[must_use]
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// A presented code in its one form (lower case, without dashes and spaces), or `None` when
    /// it cannot be a recovery code.
    #[must_use]
    pub fn normalise(presented: &str) -> Option<String> {
        let text: String =
            presented.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
        (text.len() == RECOVERY_LEN && text.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))).then_some(text)
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode([REDACTED])")
    }
}

/// What storage keeps of a recovery code: HMAC-SHA256 under the link key of the client and the
/// normalised code. A fast keyed hash is enough: the code has 120 random bits, so there is no
/// dictionary for a slow hash to slow down (ASVS 5.0 6.5.2 allows SHA-2 from 112 bits), and
/// without the link key (kept outside the database) a stolen database does not even allow
/// checking a guess offline.
#[must_use]
pub fn recovery_code_hash(key: &LinkKey, practice: PracticeId, client: &ClientId, normalised: &str) -> TokenHash {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key.expose()) else {
        unreachable!("HMAC-SHA256 takes keys of any length")
    };
    mac.update(b"portal-recovery-code-v1\0");
    mac.update(practice.as_uuid().as_bytes());
    mac.update(client.as_str().as_bytes());
    mac.update(b"\0");
    mac.update(normalised.as_bytes());
    TokenHash::of(&mac.finalize().into_bytes())
}

/// What a second-step challenge allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengePurpose {
    /// Answer with a factor the account has.
    Verify,
    /// The practice requires a factor and the account has none: only enrolling one (then the
    /// session).
    Enrol,
}

impl ChallengePurpose {
    /// Stable storage name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Enrol => "enrol",
        }
    }

    /// Inverse of [`ChallengePurpose::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Verify, Self::Enrol].into_iter().find(|purpose| purpose.name() == name)
    }
}

/// The challenge between a right password and the second step, stored by the hash of its
/// bearer secret; single use, five minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorChallenge {
    /// SHA-256 of the challenge's bearer secret.
    pub hash: TokenHash,
    /// The practice.
    pub practice_id: PracticeId,
    /// The client whose password was right.
    pub client_id: ClientId,
    /// What it allows.
    pub purpose: ChallengePurpose,
    /// When the password was right.
    pub created_at: Timestamp,
    /// The first instant it no longer works.
    pub expires_at: Timestamp,
}

impl FactorChallenge {
    /// Whether it still works at `now` (expired means `now >= expires_at`).
    #[must_use]
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// What a passkey ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyPurpose {
    /// A signed-in client registers a passkey.
    Registration,
    /// The second step of a sign-in whose password was right: one of the account's passkeys.
    SecondStep,
    /// A passkey-first sign-in: any discoverable passkey of the practice's clients.
    SignIn,
}

impl CeremonyPurpose {
    /// Stable storage name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::SecondStep => "second_step",
            Self::SignIn => "sign_in",
        }
    }

    /// Inverse of [`CeremonyPurpose::name`].
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Registration, Self::SecondStep, Self::SignIn].into_iter().find(|purpose| purpose.name() == name)
    }
}

/// A passkey ceremony between its start and the browser's answer: the relying party's state,
/// kept server-side by the hash of the ceremony's id (a bearer secret the page or API caller
/// holds), for [`CEREMONY_LIFETIME`], and taken once (a finish, right or wrong, ends it), so an
/// answer cannot be replayed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyCeremony {
    /// SHA-256 of the ceremony id.
    pub hash: TokenHash,
    /// The practice.
    pub practice_id: PracticeId,
    /// The client: the one registering, or the one whose password was right; `None` for a
    /// passkey-first sign-in (nobody is known yet).
    pub client_id: Option<ClientId>,
    /// What it is for.
    pub purpose: CeremonyPurpose,
    /// For a registration: the account's WebAuthn user handle the passkey is made with (kept
    /// with the passkey once registered); `None` otherwise.
    pub user_handle: Option<PasskeyUserHandle>,
    /// The relying party's state, as its adapter serialised it (opaque JSON; holds the
    /// challenge).
    pub state: String,
    /// When it started.
    pub created_at: Timestamp,
    /// The first instant it no longer works.
    pub expires_at: Timestamp,
}

impl PasskeyCeremony {
    /// Whether it still works at `now`.
    #[must_use]
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

impl fmt::Debug for PasskeyCeremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state holds the challenge: never shown.
        f.debug_struct("PasskeyCeremony")
            .field("practice_id", &self.practice_id)
            .field("client_id", &self.client_id)
            .field("purpose", &self.purpose)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A recovery code's stored form for a whole new set (see [`recovery_code_hash`]).
#[must_use]
pub fn recovery_code_hashes(
    key: &LinkKey,
    practice: PracticeId,
    client: &ClientId,
    codes: &[RecoveryCode],
) -> Vec<TokenHash> {
    codes
        .iter()
        .filter_map(|code| RecoveryCode::normalise(code.expose()))
        .map(|normalised| recovery_code_hash(key, practice, client, &normalised))
        .collect()
}

/// A secret in groups of four, for manual entry ("ABCD EFGH …").
#[must_use]
pub fn grouped(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars.chunks(4).map(|chunk| chunk.iter().collect::<String>()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[path = "second_factor_tests.rs"]
mod tests;
