//! A software passkey authenticator and the browser around it, on JSON text: it reads the
//! options a ceremony's start produced (`{"publicKey": {…}}` as the relying party sends them,
//! or the inner object alone) and answers as `navigator.credentials.create()` / `.get()` would
//! (the `PublicKeyCredential` JSON a page posts back), signing with P-256 keys.
//!
//! It needs no portal type, so the relying party's own tests (portal-passkeys) and the API
//! tests (portal-server, which get the options over HTTP) share it. Everything the relying
//! party checks can be made wrong on purpose: the origin, the relying-party id, user
//! verification, the counter, the backup flags, the user handle, the credential chosen.
//!
//! ```
//! use portal_testkit::passkeys::SoftAuthenticator;
//!
//! let options = r#"{"publicKey": {
//!     "rp": {"id": "localhost", "name": "Portal"},
//!     "user": {"id": "AQEBAQ", "name": "ada", "displayName": "Ada"},
//!     "challenge": "c2lnbiBtZSB1cA"}}"#;
//! let mut authenticator = SoftAuthenticator::new("http://localhost:8080");
//! let created = authenticator.register(options);
//! assert_eq!(created["type"], "public-key");
//! assert_eq!(authenticator.credentials[0].user_handle, [1, 1, 1, 1]);
//!
//! let sign_in = r#"{"publicKey": {"rpId": "localhost", "challenge": "YWdhaW4"}}"#;
//! let answer = authenticator.authenticate(sign_in);
//! assert_eq!(answer["response"]["userHandle"], "AQEBAQ");
//! assert_eq!(authenticator.credentials[0].counter, 1);
//! ```
//!
//! Panics (with what was wrong) on options it cannot read: a test cannot go on from there.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Authenticator-data flag: the user was present.
const USER_PRESENT: u8 = 0x01;
/// Authenticator-data flag: the user was verified (PIN, biometrics).
const USER_VERIFIED: u8 = 0x04;
/// Authenticator-data flag: the credential may be backed up (synced).
const BACKUP_ELIGIBLE: u8 = 0x08;
/// Authenticator-data flag: the credential is backed up.
const BACKED_UP: u8 = 0x10;
/// Authenticator-data flag: attested credential data follows (registration).
const ATTESTED: u8 = 0x40;

/// A credential the authenticator holds: a discoverable one (it keeps the user handle and
/// returns it with every assertion).
#[derive(Clone)]
pub struct SoftCredential {
    /// The credential id (32 bytes).
    pub id: Vec<u8>,
    /// The relying-party id it was made for.
    pub rp_id: String,
    /// The user handle (`user.id`) of the registration options; change it to make the
    /// authenticator name another account.
    pub user_handle: Vec<u8>,
    /// The signature counter, as of the last answer.
    pub counter: u32,
    key: SigningKey,
}

impl std::fmt::Debug for SoftCredential {
    // The private key stays out of test output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCredential")
            .field("id", &encode_b64url(&self.id))
            .field("rp_id", &self.rp_id)
            .field("user_handle", &encode_b64url(&self.user_handle))
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

/// A browser with one software authenticator.
///
/// `Clone` makes a cloned authenticator: the same keys and counters on a second device, whose
/// answers a relying party should catch by their counter. An answer itself (a
/// [`serde_json::Value`]) can simply be sent twice to replay it.
#[derive(Clone, Debug)]
pub struct SoftAuthenticator {
    /// The origin the browser writes into the client data (`https://clinic.example`).
    pub origin: String,
    /// When set, the relying-party id hashed into the authenticator data instead of the one the
    /// options name (a phishing site's own id).
    pub rp_id_override: Option<String>,
    /// Whether the authenticator verifies the user (PIN, biometrics); `true` by default.
    pub verifies_user: bool,
    /// How much each signature adds to the counter (0: a passkey that keeps none); 1 by
    /// default.
    pub counter_step: u32,
    /// The backup-eligible and backed-up flags it reports; `(false, false)` by default.
    pub backup: (bool, bool),
    /// The credentials it holds, in the order they were made.
    pub credentials: Vec<SoftCredential>,
    /// How many credentials it made: keys and ids derive from it, so runs repeat exactly.
    made: u8,
}

impl SoftAuthenticator {
    /// An authenticator in a browser on `origin`, holding no credential.
    #[must_use]
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            rp_id_override: None,
            verifies_user: true,
            counter_step: 1,
            backup: (false, false),
            credentials: Vec::new(),
            made: 0,
        }
    }

    /// `navigator.credentials.create()`: a new discoverable credential for the options' relying
    /// party (`rp.id`) and user (`user.id`, kept as its user handle). The answer is the
    /// `PublicKeyCredential` JSON (attestation `none`); `excludeCredentials` is ignored, as a
    /// misbehaving authenticator would.
    ///
    /// # Panics
    /// When `options` is not creation options (no `rp.id`, `user.id` or `challenge`), or after
    /// 255 credentials.
    pub fn register(&mut self, options: &str) -> Value {
        let options = public_key(options);
        self.made = self.made.checked_add(1).expect("at most 255 credentials per authenticator");
        let key = SigningKey::from_slice(&Sha256::digest([self.made; 32])).expect("a valid P-256 scalar");
        let id = Sha256::digest([b'c', self.made]).to_vec();
        let rp_id = options["rp"]["id"].as_str().expect("the options name the relying party (rp.id)").to_owned();
        let user_handle = decode_b64url(&options["user"]["id"]);

        let point = key.verifying_key().to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        // COSE_Key: EC2 (1: 2), ES256 (3: -7), P-256 (-1: 1), x (-2), y (-3).
        let cose_key = cbor_map(vec![
            (Cbor::Integer(1), Cbor::Integer(2)),
            (Cbor::Integer(3), Cbor::Integer(-7)),
            (Cbor::Integer(-1), Cbor::Integer(1)),
            (Cbor::Integer(-2), Cbor::Bytes(xy[..32].to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(xy[32..].to_vec())),
        ]);
        let mut auth_data = self.auth_data_head(&rp_id, ATTESTED, 0);
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(id.len()).expect("a short id").to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend(serde_cbor_2::to_vec(&cose_key).expect("CBOR encodes"));
        let attestation = cbor_map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), cbor_map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]);
        let client_data = self.client_data("webauthn.create", &options);
        // A browser reports credProps only when asked; this authenticator's keys are all
        // discoverable.
        let extensions =
            if options["extensions"]["credProps"] == true { json!({ "credProps": { "rk": true } }) } else { json!({}) };
        self.credentials.push(SoftCredential { id: id.clone(), rp_id, user_handle, counter: 0, key });
        json!({
            "id": encode_b64url(&id),
            "rawId": encode_b64url(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "attestationObject": encode_b64url(&serde_cbor_2::to_vec(&attestation).expect("CBOR encodes")),
                "clientDataJSON": encode_b64url(&client_data),
                "transports": ["internal"],
            },
            "clientExtensionResults": extensions,
        })
    }

    /// `navigator.credentials.get()`: answers with the first credential of the options'
    /// relying party (`rpId`) that `allowCredentials` lists, or with the first of that relying
    /// party's when the list is absent or empty (a discoverable, passkey-first sign-in). The
    /// answer carries the credential's user handle.
    ///
    /// # Panics
    /// When `options` is not request options (no `rpId` or `challenge`), or no credential
    /// held fits.
    pub fn authenticate(&mut self, options: &str) -> Value {
        let options = public_key(options);
        let rp_id = options["rpId"].as_str().expect("the options name the relying party (rpId)");
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| list.iter().map(|entry| decode_b64url(&entry["id"])).collect())
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|credential| {
                credential.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&credential.id))
            })
            .unwrap_or_else(|| panic!("the authenticator holds no credential for {rp_id} that the options allow"));
        self.answer_with(index, &options)
    }

    /// `navigator.credentials.get()` answered with credential `index` (of
    /// [`SoftAuthenticator::credentials`]), whatever the options allow or name as the relying
    /// party (a person choosing another account's passkey, or one made for another site).
    ///
    /// # Panics
    /// When `options` carry no `challenge` or there is no credential `index`.
    pub fn authenticate_with(&mut self, index: usize, options: &str) -> Value {
        let options = public_key(options);
        assert!(
            index < self.credentials.len(),
            "no credential {index}: the authenticator holds {}",
            self.credentials.len()
        );
        self.answer_with(index, &options)
    }

    fn answer_with(&mut self, index: usize, options: &Value) -> Value {
        let step = self.counter_step;
        let credential = &mut self.credentials[index];
        credential.counter = credential.counter.wrapping_add(step);
        let credential = credential.clone();
        let auth_data = self.auth_data_head(&credential.rp_id, 0, credential.counter);
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        json!({
            "id": encode_b64url(&credential.id),
            "rawId": encode_b64url(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "authenticatorData": encode_b64url(&auth_data),
                "clientDataJSON": encode_b64url(&client_data),
                "signature": encode_b64url(&signature.to_der().to_bytes()),
                "userHandle": encode_b64url(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }

    /// The relying-party id hash, the flags (user present, verified and backup flags as
    /// configured, plus `extra`), the counter.
    fn auth_data_head(&self, rp_id: &str, extra: u8, counter: u32) -> Vec<u8> {
        let rp_id = self.rp_id_override.as_deref().unwrap_or(rp_id);
        let mut flags = USER_PRESENT | extra;
        if self.verifies_user {
            flags |= USER_VERIFIED;
        }
        if self.backup.0 {
            flags |= BACKUP_ELIGIBLE;
        }
        if self.backup.1 {
            flags |= BACKED_UP;
        }
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        data
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("the options carry a challenge");
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }
}

/// The `publicKey` member of `options`, or `options` itself when it has none (the inner object
/// alone).
fn public_key(options: &str) -> Value {
    let mut parsed: Value = serde_json::from_str(options)
        .unwrap_or_else(|error| panic!("the passkey options are not JSON ({error}): {options}"));
    match parsed.get_mut("publicKey") {
        Some(inner) => inner.take(),
        None => parsed,
    }
}

fn cbor_map(entries: Vec<(Cbor, Cbor)>) -> Cbor {
    Cbor::Map(entries.into_iter().collect::<BTreeMap<_, _>>())
}

/// `bytes` as WebAuthn's JSON carries them: base64url without padding.
#[must_use]
pub fn encode_b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a base64url (unpadded) JSON string, such as a credential id or a user handle.
///
/// # Panics
/// When `value` is not such a string.
#[must_use]
pub fn decode_b64url(value: &Value) -> Vec<u8> {
    let text = value.as_str().unwrap_or_else(|| panic!("{value} is not a base64url string"));
    URL_SAFE_NO_PAD.decode(text).unwrap_or_else(|error| panic!("{text:?} is not base64url: {error}"))
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::signature::Verifier as _;

    use super::*;

    const CREATE: &str = r#"{"publicKey": {"rp": {"id": "clinic.example", "name": "P"},
        "user": {"id": "BwcH", "name": "u", "displayName": "U"}, "challenge": "AAEC",
        "extensions": {"credProps": true}}}"#;

    fn client_data(answer: &Value) -> Value {
        serde_json::from_slice(&decode_b64url(&answer["response"]["clientDataJSON"])).expect("client data is JSON")
    }

    fn flags(auth_data: &[u8]) -> u8 {
        auth_data[32]
    }

    #[test]
    fn registration_answers_with_a_verified_discoverable_credential() {
        let mut authenticator = SoftAuthenticator::new("https://clinic.example");
        let answer = authenticator.register(CREATE);
        let held = &authenticator.credentials[0];
        assert_eq!((held.rp_id.as_str(), held.user_handle.as_slice()), ("clinic.example", &[7u8, 7, 7][..]));
        assert_eq!(decode_b64url(&answer["rawId"]), held.id);
        assert_eq!(answer["clientExtensionResults"]["credProps"]["rk"], true);
        let data = client_data(&answer);
        assert_eq!(
            (&data["type"], &data["challenge"], &data["origin"]),
            (&json!("webauthn.create"), &json!("AAEC"), &json!("https://clinic.example"))
        );
        let attestation: Cbor =
            serde_cbor_2::from_slice(&decode_b64url(&answer["response"]["attestationObject"])).expect("CBOR");
        let Cbor::Map(attestation) = attestation else { panic!("a CBOR map") };
        let Some(Cbor::Bytes(auth_data)) = attestation.get(&Cbor::Text("authData".into())) else { panic!("authData") };
        assert_eq!(&auth_data[..32], Sha256::digest(b"clinic.example").as_slice());
        assert_eq!(flags(auth_data), USER_PRESENT | USER_VERIFIED | ATTESTED);
    }

    #[test]
    fn assertions_follow_allow_credentials_or_the_chosen_credential_and_count_up() {
        let mut authenticator = SoftAuthenticator::new("https://clinic.example");
        authenticator.register(CREATE);
        authenticator.register(&CREATE.replace("BwcH", "CAgI"));
        let second = encode_b64url(&authenticator.credentials[1].id);
        let allowed = format!(
            r#"{{"rpId": "clinic.example", "challenge": "AQID", "allowCredentials": [{{"type": "public-key", "id": "{second}"}}]}}"#
        );
        let answer = authenticator.authenticate(&allowed);
        assert_eq!(answer["id"], second.as_str());
        assert_eq!(answer["response"]["userHandle"], "CAgI");
        assert_eq!(client_data(&answer)["type"], "webauthn.get");
        // Signed over the authenticator data and the client data's hash, with the credential's
        // key.
        let mut signed = decode_b64url(&answer["response"]["authenticatorData"]);
        signed.extend_from_slice(&Sha256::digest(decode_b64url(&answer["response"]["clientDataJSON"])));
        let signature = Signature::from_der(&decode_b64url(&answer["response"]["signature"])).expect("DER");
        authenticator.credentials[1].key.verifying_key().verify(&signed, &signature).expect("a valid signature");

        let discoverable = r#"{"publicKey": {"rpId": "clinic.example", "challenge": "AQID"}}"#;
        assert_eq!(authenticator.authenticate(discoverable)["response"]["userHandle"], "BwcH");
        let chosen = authenticator.authenticate_with(1, discoverable);
        let auth_data = decode_b64url(&chosen["response"]["authenticatorData"]);
        assert_eq!(auth_data[33..37], 2u32.to_be_bytes(), "credential 1 signed twice");

        // A cloned authenticator signs with the same counter as the original did.
        let mut clone = authenticator.clone();
        let original =
            decode_b64url(&authenticator.authenticate_with(0, discoverable)["response"]["authenticatorData"]);
        let copied = decode_b64url(&clone.authenticate_with(0, discoverable)["response"]["authenticatorData"]);
        assert_eq!(original[33..37], copied[33..37]);
    }

    #[test]
    fn the_wrongs_a_test_asks_for_show_in_the_answer() {
        let mut authenticator = SoftAuthenticator::new("https://clinic.example");
        authenticator.verifies_user = false;
        authenticator.backup = (true, true);
        authenticator.rp_id_override = Some("evil.example".to_owned());
        authenticator.register(CREATE);
        let answer = authenticator.authenticate(r#"{"rpId": "clinic.example", "challenge": "AQID"}"#);
        let auth_data = decode_b64url(&answer["response"]["authenticatorData"]);
        assert_eq!(&auth_data[..32], Sha256::digest(b"evil.example").as_slice());
        assert_eq!(flags(&auth_data), USER_PRESENT | BACKUP_ELIGIBLE | BACKED_UP);
    }
}
