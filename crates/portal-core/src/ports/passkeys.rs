//! [`PasskeyRelyingParty`]: the WebAuthn relying party's ceremonies (register a passkey, sign
//! in with one of an account's passkeys, sign in with a discoverable passkey and no username).
//!
//! Everything crosses the port as opaque text or bytes the core does not interpret: what the
//! browser is sent ([`PasskeyChallenge`]) and answers ([`PasskeyResponse`]) is JSON, the state a
//! ceremony keeps between its two requests ([`PasskeyRegistrationState`],
//! [`PasskeyAuthenticationState`], [`DiscoverableAuthenticationState`]) and a registered
//! credential ([`StoredPasskey`]) are serialised by the adapter, for the store to keep. So the
//! core names no WebAuthn library, and a store needs no knowledge of one.
//!
//! Who keeps what, for every ceremony:
//! - The ceremony state holds the challenge. It is kept **server-side** (never in a cookie or a
//!   form field: whoever could send it back could replay an old answer), given an expiry from
//!   the [`Clock`](crate::Clock) (the adapter's states carry none), and **consumed once**: a
//!   finish, successful or not, ends it.
//! - The user handle ([`PasskeyUserHandle`]) is the account's opaque WebAuthn id: random, made
//!   once per account, stored with the account, never derived from a name or an id.
//! - A credential id ([`PasskeyCredentialId`]) is unique across every account: a store refuses
//!   a second registration of the same id.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{BoxError, Randomness, RandomnessError};
use crate::types::Username;

/// The account's WebAuthn user handle: 16 random bytes, made once per account
/// ([`PasskeyUserHandle::generate`]) and stored with it. Authenticators keep it beside a
/// discoverable credential and give it back on a passkey-first sign-in; it names no person.
///
/// ```
/// use portal_core::PasskeyUserHandle;
/// let handle = PasskeyUserHandle::from_bytes([7; 16]);
/// assert_eq!(PasskeyUserHandle::from_slice(handle.as_bytes()), Some(handle));
/// assert_eq!(PasskeyUserHandle::from_slice(&[7; 15]), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasskeyUserHandle([u8; PasskeyUserHandle::LEN]);

impl PasskeyUserHandle {
    /// Its length in bytes.
    pub const LEN: usize = 16;

    /// A fresh handle for an account that has none yet.
    ///
    /// # Errors
    /// When the random source is unavailable.
    pub fn generate(random: &dyn Randomness) -> Result<Self, RandomnessError> {
        let mut bytes = [0; Self::LEN];
        random.fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// A handle as stored.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// A handle from bytes of unchecked length (an authenticator's answer); `None` unless they
    /// are exactly [`PasskeyUserHandle::LEN`] long.
    #[must_use]
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The bytes, to store.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

impl fmt::Debug for PasskeyUserHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasskeyUserHandle({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// A credential's id, as its authenticator chose it (1–1023 bytes in WebAuthn). Public, and
/// unique across every account of every practice.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PasskeyCredentialId(Vec<u8>);

impl PasskeyCredentialId {
    /// An id as stored or as an adapter read it.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes, to store and to look up.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PasskeyCredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasskeyCredentialId({})", URL_SAFE_NO_PAD.encode(&self.0))
    }
}

/// Declares a newtype over the JSON text an adapter made or a browser sent, whose `Debug`
/// shows only its length: the core never looks inside.
macro_rules! opaque_json {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps the text (as stored, or as received).
            #[must_use]
            pub fn from_json(json: String) -> Self {
                Self(json)
            }

            /// The text, to store or to send.
            #[must_use]
            pub fn as_json(&self) -> &str {
                &self.0
            }

            /// The text, by value.
            #[must_use]
            pub fn into_json(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({} bytes)"), self.0.len())
            }
        }
    };
}

opaque_json! {
    /// What the browser is given for `navigator.credentials.create()` or `.get()`: the
    /// options as JSON, binary members in base64url. Sent in the page; not secret. An adapter
    /// MUST write `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`, so a page may place the
    /// text in a `<script type="application/json">` element unescaped.
    PasskeyChallenge
}

opaque_json! {
    /// What the browser answered, as JSON (the `PublicKeyCredential` with binary members in
    /// base64url). Untrusted input: the adapter refuses anything it cannot read as
    /// [`PasskeyError::Malformed`].
    PasskeyResponse
}

opaque_json! {
    /// A registration ceremony's state between its start and its finish: server-side only,
    /// with an expiry, consumed once (see the module documentation).
    PasskeyRegistrationState
}

opaque_json! {
    /// An authentication ceremony's state (one account's passkeys): server-side only, with an
    /// expiry, consumed once.
    PasskeyAuthenticationState
}

opaque_json! {
    /// A discoverable (passkey-first) authentication ceremony's state: server-side only, with
    /// an expiry, consumed once.
    DiscoverableAuthenticationState
}

opaque_json! {
    /// A registered passkey as the adapter serialised it: its public key, signature counter and
    /// backup flags. Holds no secret; kept by the store with the account, beside its
    /// [`PasskeyCredentialId`], and replaced when a use reports an update
    /// ([`PasskeyUse::updated`]).
    StoredPasskey
}

/// A passkey just registered, for the store to keep with the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredPasskey {
    /// Its id. The caller MUST refuse it when any account already has a passkey with this id.
    pub credential_id: PasskeyCredentialId,
    /// The credential to store.
    pub passkey: StoredPasskey,
}

/// A successful use of a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The passkey that signed.
    pub credential_id: PasskeyCredentialId,
    /// The authenticator's signature counter (0 for the many passkeys that keep none).
    pub counter: u32,
    /// The authenticator says the credential may be synchronised to other devices.
    pub backup_eligible: bool,
    /// The authenticator says the credential is synchronised (backed up) now.
    pub backed_up: bool,
    /// The stored passkey with the new counter and backup flags, when they changed: the
    /// caller stores it in place of the old one, so a replayed or cloned authenticator's
    /// older counter is refused next time. `None` when nothing changed.
    pub updated: Option<StoredPasskey>,
}

/// What a discoverable answer claims, read before any verification: only to find the account
/// ([`PasskeyUserHandle`]) and its passkey ([`PasskeyCredentialId`]) to finish with. Nothing
/// is proven until [`PasskeyRelyingParty::finish_discoverable_authentication`] succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverableClaim {
    /// The account the answer names.
    pub user_handle: PasskeyUserHandle,
    /// The passkey the answer says it used.
    pub credential_id: PasskeyCredentialId,
}

/// A verified passkey-first sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverableSignIn {
    /// The account signed in to: the user handle the authenticator returned, checked against
    /// the passkey's owner.
    pub user_handle: PasskeyUserHandle,
    /// The use, with its counter and backup updates.
    pub used: PasskeyUse,
}

/// Why a passkey ceremony failed. No variant carries the browser's answer, a challenge or a key.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The answer (or the JSON around it) cannot be read as a WebAuthn credential of this kind.
    #[error("the passkey answer is not a readable WebAuthn credential")]
    Malformed,
    /// The answer was made for another challenge: a replayed or mixed-up answer.
    #[error("the passkey answer was made for another challenge")]
    ChallengeMismatch,
    /// The answer was made on another origin, or for another relying-party id (a phishing
    /// site, or a public URL changed since the passkey was registered).
    #[error("the passkey answer was made for another site")]
    WrongSite,
    /// The passkey that answered is not one the ceremony allowed (another account's, or one
    /// removed), or the stored passkey given to finish with is not the one that answered.
    #[error("the passkey is not one of this account's")]
    CredentialNotAllowed,
    /// A discoverable answer names another account than the passkey's owner, or names none.
    #[error("the passkey answer names another account")]
    UserHandleMismatch,
    /// The authenticator did not verify the user (PIN, biometrics), which every ceremony
    /// requires.
    #[error("the authenticator did not verify the user")]
    UserNotVerified,
    /// The signature counter did not grow: the passkey may have been copied.
    #[error("the passkey's signature counter went backwards; it may have been cloned")]
    PossiblyCloned,
    /// Any other verification failure: a bad signature, an unacceptable key or algorithm, an
    /// attestation that does not verify, a registration of an excluded credential.
    #[error("the passkey answer did not verify")]
    Rejected,
    /// A sign-in was started for an account without a passkey: there is nothing to sign in
    /// with.
    #[error("the account has no passkey")]
    NoPasskeys,
    /// A stored passkey or ceremony state cannot be read (corrupted, or written by an
    /// incompatible version): an operator's problem, not the user's.
    #[error("a stored passkey or passkey ceremony state cannot be read")]
    StoredDataUnreadable,
    /// The ceremony could not be started (no random source for the challenge, a bad
    /// configuration).
    #[error("the passkey ceremony could not be started")]
    Unavailable(#[source] BoxError),
}

/// The WebAuthn relying party: starts and finishes passkey ceremonies. Synchronous: each call
/// is a little CPU work (one signature verification at most) and no IO, so it runs inline.
///
/// The relying-party id and origin are the adapter's configuration (from the public URL); a
/// passkey works only for the relying-party id it was registered for.
#[cfg_attr(any(test, feature = "testing"), mockall::automock)]
pub trait PasskeyRelyingParty: Send + Sync + 'static {
    /// Starts registering a passkey for an account: the options for
    /// `navigator.credentials.create()` and the state to keep. `exclude` lists the account's
    /// passkeys already registered, so the browser does not register one twice. The options
    /// ask for user verification and *prefer* a discoverable credential (passkey-first sign-in
    /// needs one; requiring one would fill up security keys with little storage).
    ///
    /// # Errors
    /// [`PasskeyError::Unavailable`] when no challenge can be made.
    fn start_registration(
        &self,
        user: PasskeyUserHandle,
        username: &Username,
        display_name: &str,
        exclude: &[PasskeyCredentialId],
    ) -> Result<(PasskeyChallenge, PasskeyRegistrationState), PasskeyError>;

    /// Finishes a registration with the browser's answer.
    ///
    /// # Errors
    /// MUST return [`PasskeyError::Malformed`] for an unreadable answer,
    /// [`PasskeyError::ChallengeMismatch`] for an answer to another challenge,
    /// [`PasskeyError::WrongSite`] for another origin or relying-party id,
    /// [`PasskeyError::UserNotVerified`] without user verification,
    /// [`PasskeyError::Rejected`] for any other failed check (an excluded credential
    /// included), [`PasskeyError::StoredDataUnreadable`] for an unreadable state.
    fn finish_registration(
        &self,
        state: &PasskeyRegistrationState,
        response: &PasskeyResponse,
    ) -> Result<RegisteredPasskey, PasskeyError>;

    /// Starts a sign-in with one of an account's passkeys (the account is known: the second
    /// step after a password). Only these passkeys are allowed to answer.
    ///
    /// # Errors
    /// MUST return [`PasskeyError::NoPasskeys`] when `passkeys` is empty;
    /// [`PasskeyError::StoredDataUnreadable`] when a stored passkey cannot be read;
    /// [`PasskeyError::Unavailable`] when no challenge can be made.
    fn start_authentication(
        &self,
        passkeys: &[StoredPasskey],
    ) -> Result<(PasskeyChallenge, PasskeyAuthenticationState), PasskeyError>;

    /// Finishes a sign-in with the browser's answer. `passkeys` are the account's passkeys as
    /// stored now (the same as at the start, unless one was removed meanwhile): the one that
    /// answered is returned updated in [`PasskeyUse::updated`] when its counter or backup
    /// flags changed.
    ///
    /// # Errors
    /// As [`PasskeyRelyingParty::finish_registration`], and MUST return
    /// [`PasskeyError::CredentialNotAllowed`] when the passkey that answered is not among those
    /// the ceremony allowed or not in `passkeys`, [`PasskeyError::PossiblyCloned`] when its
    /// counter did not grow past the stored one.
    fn finish_authentication(
        &self,
        state: &PasskeyAuthenticationState,
        response: &PasskeyResponse,
        passkeys: &[StoredPasskey],
    ) -> Result<PasskeyUse, PasskeyError>;

    /// Starts a passkey-first sign-in: no account is known, so any discoverable passkey of
    /// this relying party may answer.
    ///
    /// # Errors
    /// [`PasskeyError::Unavailable`] when no challenge can be made.
    fn start_discoverable_authentication(
        &self,
    ) -> Result<(PasskeyChallenge, DiscoverableAuthenticationState), PasskeyError>;

    /// Reads which account and passkey a discoverable answer claims, so the caller can load
    /// them. Verifies nothing.
    ///
    /// # Errors
    /// MUST return [`PasskeyError::Malformed`] for an unreadable answer and
    /// [`PasskeyError::UserHandleMismatch`] for one without a well-formed user handle.
    fn identify_discoverable(&self, response: &PasskeyResponse) -> Result<DiscoverableClaim, PasskeyError>;

    /// Finishes a passkey-first sign-in. `owner` is the user handle of the account that, by
    /// the store, owns `passkey` (found by the credential id that
    /// [`PasskeyRelyingParty::identify_discoverable`] read).
    ///
    /// # Errors
    /// As [`PasskeyRelyingParty::finish_authentication`], and MUST return
    /// [`PasskeyError::UserHandleMismatch`] when the answer's user handle is not `owner`, and
    /// [`PasskeyError::CredentialNotAllowed`] when `passkey` is not the passkey that answered.
    fn finish_discoverable_authentication(
        &self,
        state: &DiscoverableAuthenticationState,
        response: &PasskeyResponse,
        owner: PasskeyUserHandle,
        passkey: &StoredPasskey,
    ) -> Result<DiscoverableSignIn, PasskeyError>;
}

impl<T: PasskeyRelyingParty + ?Sized> PasskeyRelyingParty for std::sync::Arc<T> {
    fn start_registration(
        &self,
        user: PasskeyUserHandle,
        username: &Username,
        display_name: &str,
        exclude: &[PasskeyCredentialId],
    ) -> Result<(PasskeyChallenge, PasskeyRegistrationState), PasskeyError> {
        (**self).start_registration(user, username, display_name, exclude)
    }
    fn finish_registration(
        &self,
        state: &PasskeyRegistrationState,
        response: &PasskeyResponse,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        (**self).finish_registration(state, response)
    }
    fn start_authentication(
        &self,
        passkeys: &[StoredPasskey],
    ) -> Result<(PasskeyChallenge, PasskeyAuthenticationState), PasskeyError> {
        (**self).start_authentication(passkeys)
    }
    fn finish_authentication(
        &self,
        state: &PasskeyAuthenticationState,
        response: &PasskeyResponse,
        passkeys: &[StoredPasskey],
    ) -> Result<PasskeyUse, PasskeyError> {
        (**self).finish_authentication(state, response, passkeys)
    }
    fn start_discoverable_authentication(
        &self,
    ) -> Result<(PasskeyChallenge, DiscoverableAuthenticationState), PasskeyError> {
        (**self).start_discoverable_authentication()
    }
    fn identify_discoverable(&self, response: &PasskeyResponse) -> Result<DiscoverableClaim, PasskeyError> {
        (**self).identify_discoverable(response)
    }
    fn finish_discoverable_authentication(
        &self,
        state: &DiscoverableAuthenticationState,
        response: &PasskeyResponse,
        owner: PasskeyUserHandle,
        passkey: &StoredPasskey,
    ) -> Result<DiscoverableSignIn, PasskeyError> {
        (**self).finish_discoverable_authentication(state, response, owner, passkey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRandom;

    #[test]
    fn a_user_handle_is_sixteen_random_bytes_and_round_trips() {
        let random = SeededRandom::new(7);
        let first = PasskeyUserHandle::generate(&random).expect("seeded randomness never fails");
        let second = PasskeyUserHandle::generate(&random).expect("seeded randomness never fails");
        assert_ne!(first, second);
        assert_eq!(PasskeyUserHandle::from_slice(first.as_bytes()), Some(first));
        assert_eq!(PasskeyUserHandle::from_bytes(*first.as_bytes()), first);
        assert_eq!(PasskeyUserHandle::from_slice(&[0; 17]), None);
        assert_eq!(PasskeyUserHandle::from_slice(&[]), None);
    }

    #[test]
    fn opaque_text_never_shows_in_debug() {
        let state = PasskeyAuthenticationState::from_json(r#"{"challenge":"c2VjcmV0"}"#.to_owned());
        let shown = format!("{state:?}");
        assert_eq!(shown, "PasskeyAuthenticationState(24 bytes)");
        assert!(!shown.contains("c2VjcmV0"));
        assert_eq!(state.as_json(), r#"{"challenge":"c2VjcmV0"}"#);
    }

    #[test]
    fn ids_show_as_base64url() {
        let id = PasskeyCredentialId::from_bytes(vec![0xfb, 0xff]);
        assert_eq!(format!("{id:?}"), "PasskeyCredentialId(-_8)");
        let handle = PasskeyUserHandle::from_bytes([0; 16]);
        assert_eq!(format!("{handle:?}"), "PasskeyUserHandle(AAAAAAAAAAAAAAAAAAAAAA)");
    }
}
