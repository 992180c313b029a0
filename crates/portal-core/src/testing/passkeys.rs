//! [`TestPasskeys`]: a [`PasskeyRelyingParty`] that keeps the port's contract with no
//! cryptography, and makes the answers a browser would send. **Not secure**: tests only.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ports::passkeys::{
    DiscoverableAuthenticationState, DiscoverableClaim, DiscoverableSignIn, PasskeyAuthenticationState,
    PasskeyChallenge, PasskeyCredentialId, PasskeyError, PasskeyRegistrationState, PasskeyRelyingParty,
    PasskeyResponse, PasskeyUse, PasskeyUserHandle, RegisteredPasskey, StoredPasskey,
};
use crate::types::Username;

/// A relying party for offline tests. Every value crossing the port is a short `key=value&…`
/// text instead of WebAuthn JSON, and "signing" is naming the challenge: the fake checks the
/// rules a real relying party checks (the answer is for this ceremony's challenge, from an
/// allowed passkey, with user verification, its counter growing; a discoverable answer names
/// the passkey's owner) and nothing cryptographic. [`TestPasskeys::created`] and
/// [`TestPasskeys::signed`] make the answers an authenticator would give.
///
/// ```
/// use portal_core::testing::TestPasskeys;
/// use portal_core::{PasskeyRelyingParty, PasskeyUserHandle, Username};
///
/// let passkeys = TestPasskeys::new();
/// let handle = PasskeyUserHandle::from_bytes([1; 16]);
/// let (options, state) = passkeys.start_registration(handle, &Username::parse("ada")?, "Ada", &[])?;
/// let registered = passkeys.finish_registration(&state, &TestPasskeys::created(&options, b"key-1"))?;
/// assert_eq!(registered.credential_id.as_bytes(), b"key-1");
///
/// let (options, state) = passkeys.start_authentication(&[registered.passkey.clone()])?;
/// let used = passkeys.finish_authentication(
///     &state, &TestPasskeys::signed(&options, b"key-1", None, 1), &[registered.passkey])?;
/// assert_eq!(used.counter, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct TestPasskeys {
    next_challenge: AtomicU64,
}

type Fields = BTreeMap<String, String>;

fn parse(text: &str) -> Fields {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

fn write(fields: &[(&str, String)]) -> String {
    fields.iter().map(|(key, value)| format!("{key}={value}")).collect::<Vec<_>>().join("&")
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn field<'a>(fields: &'a Fields, key: &str) -> Result<&'a str, PasskeyError> {
    fields.get(key).map(String::as_str).ok_or(PasskeyError::Malformed)
}

fn ids(text: &str) -> Vec<Vec<u8>> {
    text.split(',').filter(|id| !id.is_empty()).filter_map(decode).collect()
}

/// A stored passkey of the fake: its id and counter.
fn stored(credential: &[u8], counter: u32) -> StoredPasskey {
    StoredPasskey::from_json(write(&[("credential", encode(credential)), ("counter", counter.to_string())]))
}

fn read_stored(passkey: &StoredPasskey) -> Result<(Vec<u8>, u32), PasskeyError> {
    let fields = parse(passkey.as_json());
    let credential = fields.get("credential").and_then(|c| decode(c)).ok_or(PasskeyError::StoredDataUnreadable)?;
    let counter = fields.get("counter").and_then(|c| c.parse().ok()).ok_or(PasskeyError::StoredDataUnreadable)?;
    Ok((credential, counter))
}

impl TestPasskeys {
    /// A relying party whose challenges count up from 1.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn challenge(&self) -> String {
        (self.next_challenge.fetch_add(1, Ordering::Relaxed) + 1).to_string()
    }

    /// The answer of an authenticator that creates the credential `credential` for the
    /// registration options `options` (verifying its user).
    #[must_use]
    pub fn created(options: &PasskeyChallenge, credential: &[u8]) -> PasskeyResponse {
        let fields = parse(options.as_json());
        let challenge = fields.get("challenge").cloned().unwrap_or_default();
        PasskeyResponse::from_json(write(&[
            ("challenge", challenge),
            ("credential", encode(credential)),
            ("uv", "1".to_owned()),
        ]))
    }

    /// The answer of an authenticator that signs the sign-in options `options` with the
    /// credential `credential` at signature counter `counter` (verifying its user); `user` is
    /// the user handle a discoverable credential gives back.
    #[must_use]
    pub fn signed(
        options: &PasskeyChallenge,
        credential: &[u8],
        user: Option<PasskeyUserHandle>,
        counter: u32,
    ) -> PasskeyResponse {
        let fields = parse(options.as_json());
        let challenge = fields.get("challenge").cloned().unwrap_or_default();
        let mut answer = vec![("challenge", challenge), ("credential", encode(credential)), ("uv", "1".to_owned())];
        answer.push(("counter", counter.to_string()));
        if let Some(user) = user {
            answer.push(("user", encode(user.as_bytes())));
        }
        PasskeyResponse::from_json(write(&answer))
    }

    /// The answer's checks every ceremony shares: readable, this challenge, user verified.
    fn check(state: &Fields, response: &PasskeyResponse) -> Result<Fields, PasskeyError> {
        let answer = parse(response.as_json());
        if field(&answer, "challenge")? != state.get("challenge").map_or("", String::as_str) {
            return Err(PasskeyError::ChallengeMismatch);
        }
        if field(&answer, "uv")? != "1" {
            return Err(PasskeyError::UserNotVerified);
        }
        Ok(answer)
    }

    /// The use of `passkey` that `answer` reports, refusing a counter that did not grow.
    fn use_of(passkey: &StoredPasskey, answer: &Fields) -> Result<PasskeyUse, PasskeyError> {
        let (credential, old) = read_stored(passkey)?;
        let counter: u32 = field(answer, "counter")?.parse().map_err(|_| PasskeyError::Malformed)?;
        if counter != 0 && counter <= old {
            return Err(PasskeyError::PossiblyCloned);
        }
        Ok(PasskeyUse {
            credential_id: PasskeyCredentialId::from_bytes(credential.clone()),
            counter,
            backup_eligible: false,
            backed_up: false,
            updated: (counter != old).then(|| stored(&credential, counter)),
        })
    }
}

impl PasskeyRelyingParty for TestPasskeys {
    fn start_registration(
        &self,
        user: PasskeyUserHandle,
        _username: &Username,
        _display_name: &str,
        exclude: &[PasskeyCredentialId],
    ) -> Result<(PasskeyChallenge, PasskeyRegistrationState), PasskeyError> {
        let exclude = exclude.iter().map(|id| encode(id.as_bytes())).collect::<Vec<_>>().join(",");
        let text = write(&[
            ("op", "create".to_owned()),
            ("challenge", self.challenge()),
            ("user", encode(user.as_bytes())),
            ("exclude", exclude),
        ]);
        Ok((PasskeyChallenge::from_json(text.clone()), PasskeyRegistrationState::from_json(text)))
    }

    fn finish_registration(
        &self,
        state: &PasskeyRegistrationState,
        response: &PasskeyResponse,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        let state = parse(state.as_json());
        let answer = Self::check(&state, response)?;
        let credential = decode(field(&answer, "credential")?).ok_or(PasskeyError::Malformed)?;
        if ids(state.get("exclude").map_or("", String::as_str)).contains(&credential) {
            return Err(PasskeyError::Rejected);
        }
        Ok(RegisteredPasskey {
            credential_id: PasskeyCredentialId::from_bytes(credential.clone()),
            passkey: stored(&credential, 0),
        })
    }

    fn start_authentication(
        &self,
        passkeys: &[StoredPasskey],
    ) -> Result<(PasskeyChallenge, PasskeyAuthenticationState), PasskeyError> {
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let allow = passkeys
            .iter()
            .map(|p| read_stored(p).map(|(id, _)| encode(&id)))
            .collect::<Result<Vec<_>, _>>()?
            .join(",");
        let text = write(&[("op", "get".to_owned()), ("challenge", self.challenge()), ("allow", allow)]);
        Ok((PasskeyChallenge::from_json(text.clone()), PasskeyAuthenticationState::from_json(text)))
    }

    fn finish_authentication(
        &self,
        state: &PasskeyAuthenticationState,
        response: &PasskeyResponse,
        passkeys: &[StoredPasskey],
    ) -> Result<PasskeyUse, PasskeyError> {
        let state = parse(state.as_json());
        let answer = Self::check(&state, response)?;
        let credential = decode(field(&answer, "credential")?).ok_or(PasskeyError::Malformed)?;
        if !ids(state.get("allow").map_or("", String::as_str)).contains(&credential) {
            return Err(PasskeyError::CredentialNotAllowed);
        }
        let passkey = passkeys
            .iter()
            .find(|p| read_stored(p).is_ok_and(|(id, _)| id == credential))
            .ok_or(PasskeyError::CredentialNotAllowed)?;
        Self::use_of(passkey, &answer)
    }

    fn start_discoverable_authentication(
        &self,
    ) -> Result<(PasskeyChallenge, DiscoverableAuthenticationState), PasskeyError> {
        let text = write(&[("op", "discover".to_owned()), ("challenge", self.challenge())]);
        Ok((PasskeyChallenge::from_json(text.clone()), DiscoverableAuthenticationState::from_json(text)))
    }

    fn identify_discoverable(&self, response: &PasskeyResponse) -> Result<DiscoverableClaim, PasskeyError> {
        let answer = parse(response.as_json());
        let credential = decode(field(&answer, "credential")?).ok_or(PasskeyError::Malformed)?;
        let user = answer
            .get("user")
            .and_then(|u| decode(u))
            .and_then(|u| PasskeyUserHandle::from_slice(&u))
            .ok_or(PasskeyError::UserHandleMismatch)?;
        Ok(DiscoverableClaim { user_handle: user, credential_id: PasskeyCredentialId::from_bytes(credential) })
    }

    fn finish_discoverable_authentication(
        &self,
        state: &DiscoverableAuthenticationState,
        response: &PasskeyResponse,
        owner: PasskeyUserHandle,
        passkey: &StoredPasskey,
    ) -> Result<DiscoverableSignIn, PasskeyError> {
        let state = parse(state.as_json());
        let answer = Self::check(&state, response)?;
        let claim = self.identify_discoverable(response)?;
        if claim.user_handle != owner {
            return Err(PasskeyError::UserHandleMismatch);
        }
        if read_stored(passkey)?.0 != claim.credential_id.as_bytes() {
            return Err(PasskeyError::CredentialNotAllowed);
        }
        Ok(DiscoverableSignIn { user_handle: owner, used: Self::use_of(passkey, &answer)? })
    }
}
