//! Chromium's virtual authenticator, through the WebAuthn extension commands of WebDriver
//! (<https://w3c.github.io/webauthn/#sctn-automation>), which fantoccini has no methods for:
//! a passkey device in the test's browser that answers `navigator.credentials.create()` and
//! `.get()` without a person, and whose credentials the test can list.
//!
//! `passkeys.rs` drives the passkey pages with it.

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use http::Method;
use serde_json::{Value, json};
use url::{ParseError, Url};

/// The id WebDriver gave a virtual authenticator (the handle for the other commands).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorId(pub String);

/// A credential a virtual authenticator holds, as WebDriver's Get Credentials lists it. Ids
/// and handles stay as WebDriver sends them: base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCredential {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Whether it is a discoverable (resident) credential.
    pub is_resident_credential: bool,
    /// The relying-party id it was made for.
    pub rp_id: Option<String>,
    /// The user handle (`user.id` of the registration), base64url; `None` for a
    /// non-discoverable credential.
    pub user_handle: Option<String>,
    /// The signature counter, after the last assertion.
    pub sign_count: u64,
}

impl VirtualCredential {
    fn from_json(entry: &Value) -> Self {
        let text = |name: &str| entry[name].as_str().map(str::to_owned);
        Self {
            credential_id: text("credentialId").unwrap_or_else(|| panic!("a credential without an id: {entry}")),
            is_resident_credential: entry["isResidentCredential"].as_bool().unwrap_or(false),
            rp_id: text("rpId"),
            user_handle: text("userHandle").filter(|handle| !handle.is_empty()),
            sign_count: entry["signCount"].as_u64().unwrap_or_else(|| panic!("a credential without a count: {entry}")),
        }
    }
}

/// The extension commands used here.
#[derive(Debug)]
enum WebAuthnCommand {
    /// Add Virtual Authenticator, with these options.
    Add(Value),
    /// Get Credentials of an authenticator.
    Credentials(AuthenticatorId),
    /// Remove Virtual Authenticator.
    Remove(AuthenticatorId),
}

impl WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, ParseError> {
        // Every command here belongs to a session; fantoccini passes its id once it has one.
        let session = session_id.ok_or(ParseError::EmptyHost)?;
        let path = match self {
            Self::Add(_) => format!("session/{session}/webauthn/authenticator"),
            Self::Credentials(id) => format!("session/{session}/webauthn/authenticator/{}/credentials", id.0),
            Self::Remove(id) => format!("session/{session}/webauthn/authenticator/{}", id.0),
        };
        base_url.join(&path)
    }

    fn method_and_body(&self, _request_url: &Url) -> (Method, Option<String>) {
        match self {
            Self::Add(options) => (Method::POST, Some(options.to_string())),
            Self::Credentials(_) => (Method::GET, None),
            Self::Remove(_) => (Method::DELETE, None),
        }
    }
}

/// Adds a platform passkey device to the browser: CTAP2, built in (`internal`), keeping
/// discoverable credentials, verifying the user (as a fingerprint or PIN would) and consenting
/// every time. Chromium uses it for every WebAuthn call from then on.
pub async fn add(client: &Client) -> AuthenticatorId {
    let options = json!({
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": true,
        "hasUserVerification": true,
        "isUserVerified": true,
        "isUserConsenting": true,
    });
    let added = client
        .issue_cmd(WebAuthnCommand::Add(options))
        .await
        .unwrap_or_else(|error| panic!("chromedriver added no virtual authenticator: {error}"));
    AuthenticatorId(added.as_str().unwrap_or_else(|| panic!("an authenticator id, not {added}")).to_owned())
}

/// The credentials `id` holds.
pub async fn credentials(client: &Client, id: &AuthenticatorId) -> Vec<VirtualCredential> {
    let listed = client
        .issue_cmd(WebAuthnCommand::Credentials(id.clone()))
        .await
        .unwrap_or_else(|error| panic!("cannot list the credentials of {id:?}: {error}"));
    let entries = listed.as_array().unwrap_or_else(|| panic!("a credential list, not {listed}"));
    entries.iter().map(VirtualCredential::from_json).collect()
}

/// Removes the authenticator `id` (its credentials go with it).
pub async fn remove(client: &Client, id: &AuthenticatorId) {
    client
        .issue_cmd(WebAuthnCommand::Remove(id.clone()))
        .await
        .unwrap_or_else(|error| panic!("cannot remove the virtual authenticator {id:?}: {error}"));
}
