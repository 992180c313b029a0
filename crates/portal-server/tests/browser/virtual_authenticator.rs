//! Chromium's virtual authenticator, through the WebAuthn extension commands of WebDriver
//! (<https://w3c.github.io/webauthn/#sctn-automation>), which fantoccini has no methods for:
//! a passkey device in the test's browser that answers `navigator.credentials.create()` and
//! `.get()` without a person, and whose credentials the test can list.
//!
//! The test at the bottom proves the plumbing against a page of the real server on
//! `localhost`; the passkey flow test of the pages replaces it.

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

mod plumbing {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};

    use crate::Kit;

    /// The user handle the test registers (any 16 bytes).
    const USER_HANDLE: [u8; 16] = *b"plumbing-user-01";

    /// `navigator.credentials.create()` with hand-made options for `localhost`: a discoverable
    /// credential, the user verified. Answers with the credential's id (base64url) and the
    /// flags of its authenticator data, or the error's name.
    const CREATE: &str = "
        const [userId, done] = [arguments[0], arguments[arguments.length - 1]];
        navigator.credentials.create({ publicKey: {
            rp: { id: 'localhost', name: 'Portal plumbing' },
            user: { id: new Uint8Array(userId), name: 'plumbing', displayName: 'Plumbing' },
            challenge: crypto.getRandomValues(new Uint8Array(32)),
            pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
            authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
            timeout: 10000,
        }}).then(
            (made) => done({ id: made.id, flags: new Uint8Array(made.response.getAuthenticatorData())[32] }),
            (error) => done({ error: error.name + ': ' + error.message }));";

    /// `navigator.credentials.get()` for `localhost`, with the credential id given (base64url)
    /// or discoverably (`null`), waiting up to the milliseconds given. Answers with the credential used, the user handle, the
    /// authenticator data's flags and counter, whether it is bound to `localhost`, and the
    /// client data.
    const GET: &str = "
        const [allowed, timeout, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
        const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
        const base64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
            .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
        const challenge = crypto.getRandomValues(new Uint8Array(32));
        navigator.credentials.get({ publicKey: {
            rpId: 'localhost',
            challenge,
            userVerification: 'required',
            allowCredentials: allowed ? [{ type: 'public-key', id: bytes(allowed) }] : [],
            timeout,
        }}).then(async (used) => {
            const data = new DataView(used.response.authenticatorData);
            const rpIdHash = await crypto.subtle.digest('SHA-256', new TextEncoder().encode('localhost'));
            done({
                id: used.id,
                userHandle: used.response.userHandle ? base64url(used.response.userHandle) : null,
                flags: data.getUint8(32),
                signCount: data.getUint32(33),
                boundToLocalhost: base64url(used.response.authenticatorData.slice(0, 32)) === base64url(rpIdHash),
                signed: used.response.signature.byteLength > 0,
                challengeSent: base64url(challenge),
                clientData: JSON.parse(new TextDecoder().decode(used.response.clientDataJSON)),
            });
        }, (error) => done({ error: error.name + ': ' + error.message }));";

    /// User present (0x01) and user verified (0x04).
    const PRESENT_AND_VERIFIED: u64 = 0x05;

    fn no_error(answer: &Value) {
        assert!(answer.get("error").is_none(), "the WebAuthn call failed: {answer}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plumbing_a_virtual_authenticator_makes_and_uses_a_passkey_on_localhost() {
        let Some(kit) = Kit::start("the virtual authenticator plumbing").await else { return };
        assert!(kit.server.public_url().starts_with("http://localhost:"), "{}", kit.server.public_url());
        let browser = kit.browser().await;
        browser.go("/staff/sign-in", "Staff sign-in").await;
        assert_eq!(browser.run_script_returning("return window.isSecureContext").await, true, "localhost is secure");
        assert_eq!(browser.run_script_returning("return location.origin").await, kit.server.public_url());
        let authenticator = browser.add_virtual_authenticator().await;
        assert!(browser.passkey_credentials(&authenticator).await.is_empty(), "a new authenticator holds none");

        // Registration: one discoverable credential, for localhost, with the handle given.
        let made = browser.run_async_script(CREATE, vec![json!(USER_HANDLE)]).await;
        no_error(&made);
        assert_eq!(made["flags"].as_u64().map(|flags| flags & PRESENT_AND_VERIFIED), Some(PRESENT_AND_VERIFIED));
        let held = browser.passkey_credentials(&authenticator).await;
        assert_eq!(held.len(), 1, "{held:?}");
        let credential = &held[0];
        assert!(credential.is_resident_credential, "{credential:?}");
        assert_eq!(credential.rp_id.as_deref(), Some("localhost"));
        assert_eq!(credential.credential_id.trim_end_matches('='), made["id"].as_str().expect("the id"));
        let handle = credential.user_handle.as_deref().expect("a discoverable credential keeps its user handle");
        assert_eq!(URL_SAFE_NO_PAD.decode(handle.trim_end_matches('=')).expect("base64url"), USER_HANDLE);
        // Chromium's authenticator counts the registration as its first signature.
        let registered_count = credential.sign_count;

        // Sign-in with the credential named, then discoverably: the counter grows each time.
        let id = made["id"].as_str().expect("the id").to_owned();
        for (round, allowed) in [(1, json!(id)), (2, Value::Null)] {
            let count = registered_count + round;
            let used = browser.run_async_script(GET, vec![allowed, json!(10_000)]).await;
            no_error(&used);
            assert_eq!(used["id"], id.as_str());
            assert_eq!(used["userHandle"], URL_SAFE_NO_PAD.encode(USER_HANDLE));
            assert_eq!(used["flags"].as_u64().map(|flags| flags & PRESENT_AND_VERIFIED), Some(PRESENT_AND_VERIFIED));
            assert_eq!(used["boundToLocalhost"], true);
            assert_eq!(used["signed"], true);
            assert_eq!(used["clientData"]["type"], "webauthn.get");
            assert_eq!(used["clientData"]["origin"], kit.server.public_url());
            assert_eq!(used["clientData"]["challenge"], used["challengeSent"]);
            assert_eq!(used["signCount"], count, "the assertion's counter");
            let held = browser.passkey_credentials(&authenticator).await;
            assert_eq!(held.iter().map(|credential| credential.sign_count).collect::<Vec<_>>(), [count]);
        }

        // Without the authenticator, the browser has no passkey to offer (the call times out).
        browser.remove_virtual_authenticator(&authenticator).await;
        let refused = browser.run_async_script(GET, vec![Value::Null, json!(1_000)]).await;
        assert!(refused["error"].as_str().is_some_and(|error| error.starts_with("NotAllowedError")), "{refused}");
        browser.close().await;
    }
}
