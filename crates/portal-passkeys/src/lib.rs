//! # portal-passkeys
//!
//! The passkey adapter of portal: [`WebauthnPasskeys`] implements portal-core's
//! [`PasskeyRelyingParty`] port with [webauthn-rs](https://docs.rs/webauthn-rs) 0.6, for the
//! relying party that the portal's public URL names ([`RelyingParty`]).
//!
//! What it adds to webauthn-rs's passkey flows:
//! - the relying party from `--public-url`, refusing one no browser would accept;
//! - every value crossing the port as JSON text (ceremony states with webauthn-rs's
//!   `danger-allow-state-serialisation`, kept server-side by the caller);
//! - registration options that *prefer* a discoverable credential, so the passkeys people make
//!   on phones and laptops can also sign in without a username;
//! - passkey-first sign-in (webauthn-rs's `conditional-ui` discoverable flow) checking that the
//!   answer's user handle is the passkey's owner;
//! - the counter checked against the passkey *as stored when the answer arrives*, and the
//!   updated passkey handed back for the store.
//!
//! ```
//! use portal_core::{PasskeyRelyingParty, PasskeyUserHandle, Username};
//! use portal_passkeys::WebauthnPasskeys;
//!
//! let passkeys = WebauthnPasskeys::new("https://clinic.example/portal")?;
//! let handle = PasskeyUserHandle::from_bytes([42; 16]); // made once per account, stored
//! let username = Username::parse("ada.lovelace")?;
//! let (challenge, state) = passkeys.start_registration(handle, &username, "Ada Lovelace", &[])?;
//!
//! // The page receives the challenge; the state stays on the server until the answer comes.
//! let options: serde_json::Value = serde_json::from_str(challenge.as_json())?;
//! assert_eq!(options["publicKey"]["rp"]["id"], "clinic.example");
//! assert_eq!(options["publicKey"]["user"]["name"], "ada.lovelace");
//! assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "preferred");
//! assert!(!state.as_json().is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Then [`PasskeyRelyingParty::finish_registration`] turns the browser's answer into a
//! [`StoredPasskey`] to keep with the account; the sign-in
//! ceremonies follow the same start/finish shape. The crate's tests run every ceremony against a
//! software authenticator.

mod errors;
mod relying_party;

use portal_core::{
    DiscoverableAuthenticationState, DiscoverableClaim, DiscoverableSignIn, PasskeyAuthenticationState,
    PasskeyChallenge, PasskeyCredentialId, PasskeyError, PasskeyRegistrationState, PasskeyRelyingParty,
    PasskeyResponse, PasskeyUse, PasskeyUserHandle, RegisteredPasskey, StoredPasskey, Username,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};
use webauthn_rs_proto::ResidentKeyRequirement;

pub use relying_party::{RelyingParty, RelyingPartyError};

use errors::refusal;

/// The largest browser answer read, in bytes of JSON. A real answer is a few kilobytes (an
/// attestation certificate chain at most); anything larger is refused unread as
/// [`PasskeyError::Malformed`].
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The WebAuthn relying party of one public URL: portal-core's [`PasskeyRelyingParty`] with
/// webauthn-rs.
#[derive(Debug, Clone)]
pub struct WebauthnPasskeys {
    webauthn: Webauthn,
    relying_party: RelyingParty,
}

impl WebauthnPasskeys {
    /// The relying party of the portal's public URL (see [`RelyingParty::from_public_url`]).
    /// Browsers are asked to finish a ceremony within webauthn-rs's default of five minutes;
    /// the caller's expiry for a ceremony state should be no shorter.
    ///
    /// # Errors
    /// [`RelyingPartyError`] when the URL cannot be a relying party.
    pub fn new(public_url: &str) -> Result<Self, RelyingPartyError> {
        let relying_party = RelyingParty::from_public_url(public_url)?;
        let webauthn = WebauthnBuilder::new(relying_party.id(), relying_party.origin())
            .and_then(WebauthnBuilder::build)
            .map_err(|_| RelyingPartyError::Refused)?;
        Ok(Self { webauthn, relying_party })
    }

    /// The relying party (id and origin) passkeys are made for.
    #[must_use]
    pub fn relying_party(&self) -> &RelyingParty {
        &self.relying_party
    }
}

impl PasskeyRelyingParty for WebauthnPasskeys {
    fn start_registration(
        &self,
        user: PasskeyUserHandle,
        username: &Username,
        display_name: &str,
        exclude: &[PasskeyCredentialId],
    ) -> Result<(PasskeyChallenge, PasskeyRegistrationState), PasskeyError> {
        let display_name = if display_name.trim().is_empty() { username.as_str() } else { display_name };
        let exclude = (!exclude.is_empty()).then(|| exclude.iter().map(|id| id.as_bytes().to_vec()).collect());
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(Uuid::from_bytes(*user.as_bytes()), username.as_str(), display_name, exclude)
            .map_err(unavailable)?;
        // webauthn-rs discourages a discoverable credential; passkey-first sign-in needs one.
        // Preferred (not required) so a security key with little storage still registers; the
        // registration checks do not depend on it.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Preferred);
            selection.require_resident_key = false;
        }
        Ok((challenge(&options)?, PasskeyRegistrationState::from_json(to_json(&state)?)))
    }

    fn finish_registration(
        &self,
        state: &PasskeyRegistrationState,
        response: &PasskeyResponse,
    ) -> Result<RegisteredPasskey, PasskeyError> {
        let state: PasskeyRegistration = stored(state.as_json())?;
        let answer: RegisterPublicKeyCredential = answer(response)?;
        let passkey = self.webauthn.finish_passkey_registration(&answer, &state).map_err(refusal)?;
        Ok(RegisteredPasskey {
            credential_id: PasskeyCredentialId::from_bytes(passkey.cred_id().to_vec()),
            passkey: StoredPasskey::from_json(to_json(&passkey)?),
        })
    }

    fn start_authentication(
        &self,
        passkeys: &[StoredPasskey],
    ) -> Result<(PasskeyChallenge, PasskeyAuthenticationState), PasskeyError> {
        if passkeys.is_empty() {
            return Err(PasskeyError::NoPasskeys);
        }
        let passkeys = passkeys.iter().map(|passkey| stored(passkey.as_json())).collect::<Result<Vec<Passkey>, _>>()?;
        let (options, state) = self.webauthn.start_passkey_authentication(&passkeys).map_err(unavailable)?;
        Ok((challenge(&options)?, PasskeyAuthenticationState::from_json(to_json(&state)?)))
    }

    fn finish_authentication(
        &self,
        state: &PasskeyAuthenticationState,
        response: &PasskeyResponse,
        passkeys: &[StoredPasskey],
    ) -> Result<PasskeyUse, PasskeyError> {
        let state: PasskeyAuthentication = stored(state.as_json())?;
        let answer: PublicKeyCredential = answer(response)?;
        let result = self.webauthn.finish_passkey_authentication(&answer, &state).map_err(refusal)?;
        // The state holds the passkeys as they were at the start; the counter is checked again
        // against the passkey as stored now, so a sign-in that finished in between counts.
        let passkeys = passkeys.iter().map(|passkey| stored(passkey.as_json())).collect::<Result<Vec<Passkey>, _>>()?;
        let current = passkeys
            .into_iter()
            .find(|passkey| passkey.cred_id() == result.cred_id())
            .ok_or(PasskeyError::CredentialNotAllowed)?;
        used(current, &result)
    }

    fn start_discoverable_authentication(
        &self,
    ) -> Result<(PasskeyChallenge, DiscoverableAuthenticationState), PasskeyError> {
        let (mut options, state) = self.webauthn.start_discoverable_authentication().map_err(unavailable)?;
        // webauthn-rs asks for conditional mediation (the username field's autofill). The
        // pages start the ceremony from a button instead, which every browser with passkeys
        // offers; a page that wants autofill asks for it in the browser (passkeys.js).
        options.mediation = None;
        Ok((challenge(&options)?, DiscoverableAuthenticationState::from_json(to_json(&state)?)))
    }

    fn identify_discoverable(&self, response: &PasskeyResponse) -> Result<DiscoverableClaim, PasskeyError> {
        let answer: PublicKeyCredential = answer(response)?;
        claim(&self.webauthn, &answer)
    }

    fn finish_discoverable_authentication(
        &self,
        state: &DiscoverableAuthenticationState,
        response: &PasskeyResponse,
        owner: PasskeyUserHandle,
        passkey: &StoredPasskey,
    ) -> Result<DiscoverableSignIn, PasskeyError> {
        let state: DiscoverableAuthentication = stored(state.as_json())?;
        let answer: PublicKeyCredential = answer(response)?;
        let claimed = claim(&self.webauthn, &answer)?;
        if claimed.user_handle != owner {
            return Err(PasskeyError::UserHandleMismatch);
        }
        let passkey: Passkey = stored(passkey.as_json())?;
        if passkey.cred_id().as_slice() != claimed.credential_id.as_bytes() {
            return Err(PasskeyError::CredentialNotAllowed);
        }
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer, state, DiscoverableKey::from(&passkey))
            .map_err(refusal)?;
        Ok(DiscoverableSignIn { user_handle: owner, used: used(passkey, &result)? })
    }
}

/// The account and passkey a discoverable answer names.
fn claim(webauthn: &Webauthn, answer: &PublicKeyCredential) -> Result<DiscoverableClaim, PasskeyError> {
    let (user, credential_id) = webauthn.identify_discoverable_authentication(answer).map_err(refusal)?;
    Ok(DiscoverableClaim {
        user_handle: PasskeyUserHandle::from_bytes(user.into_bytes()),
        credential_id: PasskeyCredentialId::from_bytes(credential_id.to_vec()),
    })
}

/// A verified use of `passkey` (as stored now): refused when its counter did not grow past the
/// stored one (the rule webauthn-rs applies to the passkey it was given), else the use with the
/// passkey updated when anything changed.
fn used(mut passkey: Passkey, result: &AuthenticationResult) -> Result<PasskeyUse, PasskeyError> {
    // Read-only use of the credential's internals (feature `danger-credential-internals`):
    // webauthn-rs exposes no getter for the stored counter.
    let stored_counter = Credential::from(passkey.clone()).counter;
    if (result.counter() > 0 || stored_counter > 0) && result.counter() <= stored_counter {
        return Err(PasskeyError::PossiblyCloned);
    }
    let updated = match passkey.update_credential(result) {
        Some(true) => Some(StoredPasskey::from_json(to_json(&passkey)?)),
        Some(false) => None,
        None => return Err(PasskeyError::CredentialNotAllowed),
    };
    Ok(PasskeyUse {
        credential_id: PasskeyCredentialId::from_bytes(result.cred_id().to_vec()),
        counter: result.counter(),
        backup_eligible: result.backup_eligible(),
        backed_up: result.backup_state(),
        updated,
    })
}

/// The browser's answer, read as `T`; too long or unreadable is [`PasskeyError::Malformed`].
fn answer<T: DeserializeOwned>(response: &PasskeyResponse) -> Result<T, PasskeyError> {
    let json = response.as_json();
    if json.len() > MAX_RESPONSE_BYTES {
        return Err(PasskeyError::Malformed);
    }
    serde_json::from_str(json).map_err(|_| PasskeyError::Malformed)
}

/// A value this adapter serialised earlier (a state, a passkey), read back.
fn stored<T: DeserializeOwned>(json: &str) -> Result<T, PasskeyError> {
    serde_json::from_str(json).map_err(|_| PasskeyError::StoredDataUnreadable)
}

/// The options for the browser as JSON without `<`, `>` or `&` (each written as its `\u00XX`
/// escape, which JSON allows in strings, the only place they can occur): the page may place it
/// in a `<script type="application/json">` element as it is, and a display name such as
/// `</script>` cannot end that element.
fn challenge<T: Serialize>(options: &T) -> Result<PasskeyChallenge, PasskeyError> {
    let json = to_json(options)?.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    Ok(PasskeyChallenge::from_json(json))
}

fn to_json<T: Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|error| PasskeyError::Unavailable(Box::new(error)))
}

fn unavailable(error: webauthn_rs::prelude::WebauthnError) -> PasskeyError {
    PasskeyError::Unavailable(Box::new(error))
}
