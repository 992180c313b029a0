//! The scrypt password hasher: PHC strings (`$scrypt$ln=17,r=8,p=1$<salt>$<hash>`), OWASP
//! parameters by default, bounds on stored parameters checked before any work, and a dummy hash
//! so an unknown username costs as much as a wrong password.
//!
//! The hashing itself is CPU- and memory-heavy (about 128 MiB and 0.3 s per hash at the default
//! cost) and synchronous. The [`PasswordHasher`] implementation calls the blocking methods inline;
//! a server moves the work off its async runtime by wrapping a clone of the hasher (cheap: an
//! `Arc` inside) in a bounded blocking pool and answering [`HashError::Saturated`] when the pool
//! is full. The core has no runtime, so that wrapper lives with the server.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use scrypt::password_hash::{self, PasswordHasher as _, PasswordVerifier as _, phc};
use scrypt::{Params, Scrypt};
use secrecy::ExposeSecret;

use crate::hashing::{HashError, PasswordHash, Verification};
use crate::ports::PasswordHasher;
use crate::types::Password;

/// The PHC identifier this hasher writes and accepts.
const ALGORITHM: &str = "scrypt";

/// Largest accepted `log2(N)`.
pub const MAX_LOG_N: u8 = 20;
/// Largest accepted block size `r`.
pub const MAX_R: u32 = 32;
/// Largest accepted parallelism `p`.
pub const MAX_P: u32 = 16;
/// Largest accepted memory per hash ([`ScryptParams::memory_bytes`]): 1 GiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;
/// Largest accepted work per hash, counted as `N · r · p` (proportional to CPU time): 16 times
/// the OWASP setting. Without it, `ln=20,r=4,p=16` would stay under the memory cap while costing
/// about 64 OWASP hashes (a CPU bomb).
pub const MAX_WORK: u64 = 16 * (1 << 17) * 8;

/// Length of the hash output this hasher writes (bytes); stored hashes with a shorter output are
/// verified and flagged for upgrade.
const OUTPUT_LEN: usize = Params::RECOMMENDED_LEN;
/// Salt length this hasher writes (bytes; the PHC recommendation); stored hashes with a shorter
/// salt are verified and flagged for upgrade.
const SALT_LEN: usize = phc::Salt::RECOMMENDED_LENGTH;
/// No stored PHC string this hasher understands is longer than this; longer input is refused
/// before it is parsed.
const MAX_PHC_LEN: usize = 256;

/// scrypt cost parameters (`log2 N`, `r`, `p`), always within the hasher's bounds.
///
/// ```
/// use portal_core::scrypt_hasher::ScryptParams;
/// let owasp = ScryptParams::default();
/// assert_eq!(owasp, ScryptParams::OWASP);
/// assert_eq!(owasp.to_string(), "ln=17,r=8,p=1");
/// assert_eq!(owasp.memory_bytes(), 128 * 1024 * 1024 + 1024);
/// assert!(ScryptParams::new(31, 8, 1).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScryptParams {
    log_n: u8,
    r: u32,
    p: u32,
}

impl ScryptParams {
    /// The production default, from the OWASP password storage cheat sheet: `N = 2^17`, `r = 8`,
    /// `p = 1` (128 MiB, about 0.3 s per hash on the reference machine).
    pub const OWASP: Self = Self { log_n: 17, r: 8, p: 1 };

    /// **Insecure.** `N = 2^4`, `r = 8`, `p = 1`: about 17 KiB and 40 µs per hash, so tests
    /// of the flows around hashing run fast even in debug builds. Never use it to store a real
    /// password; a hasher with real parameters flags such hashes for upgrade at the next sign-in.
    pub const INSECURE_FAST_FOR_TESTS: Self = Self { log_n: 4, r: 8, p: 1 };

    /// Parameters within the bounds: `1 ≤ log_n ≤ 20`, `1 ≤ r ≤ 32`, `1 ≤ p ≤ 16`, memory at most
    /// 1 GiB ([`MAX_MEMORY_BYTES`]) and work `N · r · p` at most [`MAX_WORK`].
    ///
    /// # Errors
    /// [`HashError::ParametersOutOfBounds`] naming the first broken bound.
    pub fn new(log_n: u8, r: u32, p: u32) -> Result<Self, HashError> {
        Self::checked(u64::from(log_n), u64::from(r), u64::from(p))
    }

    /// The bounds check, on wide integers so values parsed from storage are checked before any
    /// narrowing.
    fn checked(log_n: u64, r: u64, p: u64) -> Result<Self, HashError> {
        let out_of_bounds = |what: String| Err(HashError::ParametersOutOfBounds(what));
        if !(1..=u64::from(MAX_LOG_N)).contains(&log_n) {
            return out_of_bounds(format!("ln={log_n}, allowed 1..={MAX_LOG_N}"));
        }
        if !(1..=u64::from(MAX_R)).contains(&r) {
            return out_of_bounds(format!("r={r}, allowed 1..={MAX_R}"));
        }
        if !(1..=u64::from(MAX_P)).contains(&p) {
            return out_of_bounds(format!("p={p}, allowed 1..={MAX_P}"));
        }
        // In range, so none of this overflows: at most 128 · 32 · 2^20 + 16 · 128 · 32.
        let memory = memory_bytes(log_n, r, p);
        if memory > MAX_MEMORY_BYTES {
            return out_of_bounds(format!("ln={log_n},r={r},p={p} needs {memory} bytes, allowed {MAX_MEMORY_BYTES}"));
        }
        let work = (1_u64 << log_n) * r * p;
        if work > MAX_WORK {
            return out_of_bounds(format!("ln={log_n},r={r},p={p} costs N·r·p = {work}, allowed {MAX_WORK}"));
        }
        // Already bounded, so the narrowing cannot fail; stay total anyway.
        let (Ok(log_n), Ok(r), Ok(p)) = (u8::try_from(log_n), u32::try_from(r), u32::try_from(p)) else {
            return out_of_bounds(format!("ln={log_n},r={r},p={p}"));
        };
        Ok(Self { log_n, r, p })
    }

    /// `log2(N)`, the CPU/memory cost.
    #[must_use]
    pub const fn log_n(&self) -> u8 {
        self.log_n
    }

    /// `N = 2^log_n`.
    #[must_use]
    pub const fn n(&self) -> u64 {
        1 << self.log_n
    }

    /// The block size `r`.
    #[must_use]
    pub const fn r(&self) -> u32 {
        self.r
    }

    /// The parallelism `p`.
    #[must_use]
    pub const fn p(&self) -> u32 {
        self.p
    }

    /// Memory one hash needs: `128 · r · N` for the scratch array plus `128 · r · p` for the
    /// blocks.
    #[must_use]
    pub fn memory_bytes(&self) -> u64 {
        memory_bytes(u64::from(self.log_n), u64::from(self.r), u64::from(self.p))
    }

    /// Whether a hash stored with `self` should be rehashed with `current`: any difference
    /// counts (a weaker `log_n`, `r` or `p` above all, but also a retired stronger setting, so
    /// every account converges on the configured cost).
    fn differs_from(self, current: Self) -> bool {
        self != current
    }

    fn to_scrypt(self) -> Result<Params, HashError> {
        Params::new(self.log_n, self.r, self.p).map_err(|error| HashError::Failed(Box::new(error)))
    }
}

impl Default for ScryptParams {
    /// [`ScryptParams::OWASP`].
    fn default() -> Self {
        Self::OWASP
    }
}

impl fmt::Display for ScryptParams {
    /// The PHC parameter string, e.g. `ln=17,r=8,p=1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ln={},r={},p={}", self.log_n, self.r, self.p)
    }
}

/// Callers keep `log_n ≤ 20`, `r ≤ 32`, `p ≤ 16`, so the product cannot overflow.
fn memory_bytes(log_n: u64, r: u64, p: u64) -> u64 {
    128 * r * (1_u64 << log_n) + 128 * r * p
}

/// The scrypt [`PasswordHasher`]: PHC strings, bounded stored parameters, upgrade detection and a
/// dummy hash for unknown users.
///
/// Construction computes one hash (the dummy, of a random password) at the given parameters, so
/// at [`ScryptParams::OWASP`] it takes as long as a sign-in. Cloning is cheap (an `Arc`), so a
/// server can move a clone into a blocking task.
///
/// ```
/// use portal_core::scrypt_hasher::{ScryptHasher, ScryptParams};
/// use portal_core::{Password, Verification};
///
/// // Fast, insecure parameters: fine for an example or a flow test, never for real passwords.
/// let hasher = ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS)?;
/// let password = Password::new("correct horse battery staple");
///
/// let stored = hasher.hash_blocking(&password)?;
/// assert!(stored.as_phc().starts_with("$scrypt$ln=4,r=8,p=1$"));
/// assert_eq!(hasher.verify_blocking(&password, &stored)?, Verification::Match { needs_upgrade: false });
/// assert_eq!(hasher.verify_blocking(&Password::new("wrong horse"), &stored)?, Verification::Mismatch);
///
/// // Stored parameters are read and bounded without hashing.
/// assert_eq!(ScryptHasher::stored_params(&stored)?, ScryptParams::INSECURE_FAST_FOR_TESTS);
/// # Ok::<(), portal_core::HashError>(())
/// ```
#[derive(Clone)]
pub struct ScryptHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: ScryptParams,
    /// A hash of a random password at `params`, for [`ScryptHasher::verify_dummy_blocking`].
    dummy: PasswordHash,
}

/// A stored hash, parsed and within bounds.
struct Parsed {
    phc: phc::PasswordHash,
    params: ScryptParams,
    /// Salt or output shorter than this hasher writes.
    short_lengths: bool,
}

impl ScryptHasher {
    /// A hasher writing hashes at `params`. Computes the dummy hash once.
    ///
    /// # Errors
    /// [`HashError::Failed`] when the OS random source is unavailable.
    pub fn new(params: ScryptParams) -> Result<Self, HashError> {
        let mut dummy_password = [0_u8; 32];
        getrandom::fill(&mut dummy_password).map_err(|error| HashError::Failed(Box::new(error)))?;
        let dummy = hash_bytes(params, &dummy_password)?;
        Ok(Self { inner: Arc::new(Inner { params, dummy }) })
    }

    /// The parameters new hashes are written with.
    #[must_use]
    pub fn params(&self) -> ScryptParams {
        self.inner.params
    }

    /// Hashes a password with a fresh 16-byte salt from the OS, at [`ScryptHasher::params`].
    ///
    /// # Errors
    /// [`HashError::Failed`] when the OS random source is unavailable.
    pub fn hash_blocking(&self, password: &Password) -> Result<PasswordHash, HashError> {
        hash_bytes(self.inner.params, password.expose().expose_secret().as_bytes())
    }

    /// Checks a password against a stored hash, at the **stored** parameters, comparing the
    /// outputs in constant time. `needs_upgrade` is set when the stored parameters differ from
    /// [`ScryptHasher::params`], or the salt or output is shorter than this hasher writes.
    ///
    /// # Errors
    /// [`HashError::Malformed`] when the string is not a scrypt PHC string this hasher reads;
    /// [`HashError::ParametersOutOfBounds`] before any hashing when the stored parameters exceed
    /// the bounds of [`ScryptParams::new`].
    pub fn verify_blocking(&self, password: &Password, hash: &PasswordHash) -> Result<Verification, HashError> {
        let parsed = parse(hash)?;
        let scrypt = Scrypt::new_with_params(parsed.params.to_scrypt()?);
        match scrypt.verify_password(password.expose().expose_secret().as_bytes(), &parsed.phc) {
            Ok(()) => Ok(Verification::Match {
                needs_upgrade: parsed.short_lengths || parsed.params.differs_from(self.inner.params),
            }),
            Err(password_hash::Error::PasswordInvalid) => Ok(Verification::Mismatch),
            Err(error) => Err(from_library(error)),
        }
    }

    /// Verifies the password against the dummy hash and discards the outcome: the same work as a
    /// verification of a hash stored at [`ScryptHasher::params`].
    ///
    /// # Errors
    /// [`HashError::Failed`] if the underlying computation fails (it does not in practice).
    pub fn verify_dummy_blocking(&self, password: &Password) -> Result<(), HashError> {
        self.verify_blocking(password, &self.inner.dummy).map(|_discarded| ())
    }

    /// The parameters of a stored hash, parsed and checked against the bounds **without
    /// hashing** (microseconds, whatever the string asks for).
    ///
    /// Strict: the string must be `$scrypt$ln=…,r=…,p=…$<salt>$<hash>` with all three
    /// parameters as PHC decimals, no version field and no other parameter.
    ///
    /// # Errors
    /// [`HashError::Malformed`] for anything else (another algorithm, bad base64, a missing
    /// part); [`HashError::ParametersOutOfBounds`] when a parameter exceeds the bounds of
    /// [`ScryptParams::new`].
    pub fn stored_params(hash: &PasswordHash) -> Result<ScryptParams, HashError> {
        parse(hash).map(|parsed| parsed.params)
    }
}

impl fmt::Debug for ScryptHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScryptHasher").field("params", &self.inner.params).finish_non_exhaustive()
    }
}

/// Runs inline: each call blocks the calling thread for a full hash. An adapter serving many
/// requests wraps a clone of the hasher in a bounded blocking pool (a semaphore of about one
/// permit per core, the permit moved into the blocking task) and answers
/// [`HashError::Saturated`] when the queue is full; this implementation never returns
/// `Saturated` itself.
#[async_trait]
impl PasswordHasher for ScryptHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hash_blocking(password)
    }

    async fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<Verification, HashError> {
        self.verify_blocking(password, hash)
    }

    async fn verify_dummy(&self, password: &Password) -> Result<(), HashError> {
        self.verify_dummy_blocking(password)
    }
}

fn hash_bytes(params: ScryptParams, password: &[u8]) -> Result<PasswordHash, HashError> {
    let phc = Scrypt::new_with_params(params.to_scrypt()?).hash_password(password).map_err(from_library)?;
    Ok(PasswordHash::from_phc(phc.to_string()))
}

/// Parses a stored PHC string and checks its parameters. No hashing happens here.
fn parse(hash: &PasswordHash) -> Result<Parsed, HashError> {
    let text = hash.as_phc();
    if text.len() > MAX_PHC_LEN {
        return Err(HashError::Malformed);
    }
    let phc = phc::PasswordHash::new(text).map_err(|_| HashError::Malformed)?;
    if phc.algorithm.as_str() != ALGORITHM || phc.version.is_some() {
        return Err(HashError::Malformed);
    }
    let (mut log_n, mut r, mut p) = (None, None, None);
    for (name, value) in phc.params.iter() {
        let slot = match name.as_str() {
            "ln" => &mut log_n,
            "r" => &mut r,
            "p" => &mut p,
            _ => return Err(HashError::Malformed),
        };
        // The PHC parser already refuses a repeated name; stay strict regardless.
        if slot.replace(decimal(value.as_str())?).is_some() {
            return Err(HashError::Malformed);
        }
    }
    let (Some(log_n), Some(r), Some(p)) = (log_n, r, p) else {
        return Err(HashError::Malformed);
    };
    let params = ScryptParams::checked(log_n, r, p)?;
    let (Some(salt), Some(output)) = (&phc.salt, &phc.hash) else {
        return Err(HashError::Malformed);
    };
    let short_lengths = salt.len() < SALT_LEN || output.len() < OUTPUT_LEN;
    Ok(Parsed { phc, params, short_lengths })
}

/// A PHC decimal (ASCII digits, no sign, no leading zero). Values too large for `u64` saturate,
/// so they fail the bounds check as out of bounds rather than as malformed.
fn decimal(value: &str) -> Result<u64, HashError> {
    let digits_only = !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit());
    if !digits_only || (value.len() > 1 && value.starts_with('0')) {
        return Err(HashError::Malformed);
    }
    Ok(value.parse().unwrap_or(u64::MAX))
}

/// Maps a `password-hash` error. Its messages never contain the password.
fn from_library(error: password_hash::Error) -> HashError {
    use password_hash::Error as E;
    match error {
        E::Algorithm
        | E::EncodingInvalid
        | E::OutputSize
        | E::ParamInvalid { .. }
        | E::ParamsInvalid
        | E::SaltInvalid
        | E::Version => HashError::Malformed,
        other => HashError::Failed(Box::new(other)),
    }
}

#[cfg(test)]
#[path = "scrypt_hasher_tests.rs"]
mod tests;
