//! A software authenticator and the browser around it: reads the options a ceremony's start
//! produced, and answers as `navigator.credentials.create()` / `.get()` would, signing with
//! P-256 keys. Everything the relying party checks can be made wrong on purpose: the origin,
//! the relying-party id, user verification, the counter, the user handle.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use portal_core::{PasskeyChallenge, PasskeyResponse};
use serde_cbor_2::Value;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A credential the authenticator holds.
#[derive(Clone)]
pub struct SoftCredential {
    pub id: Vec<u8>,
    pub rp_id: String,
    pub user_handle: Vec<u8>,
    pub counter: u32,
    key: SigningKey,
}

/// A browser with one software authenticator.
pub struct SoftAuthenticator {
    /// The origin the browser writes into the client data.
    pub origin: String,
    /// When set, the relying-party id hashed into the authenticator data instead of the one the
    /// options name (a phishing site's own id).
    pub rp_id_override: Option<String>,
    /// Whether the authenticator verifies the user (PIN, biometrics).
    pub verifies_user: bool,
    /// How much each signature adds to the counter (0: a passkey that keeps none).
    pub counter_step: u32,
    /// The backup-eligible and backed-up flags it reports.
    pub backup: (bool, bool),
    pub credentials: Vec<SoftCredential>,
    made: u8,
}

impl SoftAuthenticator {
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

    /// `navigator.credentials.create()`: a new credential for the options' relying party and
    /// user.
    pub fn register(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse {
        let options = parse(challenge);
        let options = &options["publicKey"];
        self.made += 1;
        let key = SigningKey::from_slice(&Sha256::digest([self.made; 32])).expect("a valid P-256 scalar");
        let id = Sha256::digest([b'c', self.made]).to_vec();
        let rp_id = options["rp"]["id"].as_str().expect("options name the relying party").to_owned();
        let user_handle = decode(&options["user"]["id"]);
        let credential = SoftCredential { id: id.clone(), rp_id: rp_id.clone(), user_handle, counter: 0, key };

        let point = credential.key.verifying_key().to_sec1_point(false);
        let xy = &point.as_bytes()[1..];
        let cose_key = cbor_map(vec![
            (Value::Integer(1), Value::Integer(2)),
            (Value::Integer(3), Value::Integer(-7)),
            (Value::Integer(-1), Value::Integer(1)),
            (Value::Integer(-2), Value::Bytes(xy[..32].to_vec())),
            (Value::Integer(-3), Value::Bytes(xy[32..].to_vec())),
        ]);
        let mut auth_data = self.auth_data_head(&rp_id, 0x40, 0);
        auth_data.extend_from_slice(&[0; 16]); // AAGUID: none
        auth_data.extend_from_slice(&u16::try_from(id.len()).expect("a short id").to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend(serde_cbor_2::to_vec(&cose_key).expect("CBOR encodes"));
        let attestation = cbor_map(vec![
            (Value::Text("fmt".into()), Value::Text("none".into())),
            (Value::Text("attStmt".into()), cbor_map(vec![])),
            (Value::Text("authData".into()), Value::Bytes(auth_data)),
        ]);
        let client_data = self.client_data("webauthn.create", options);
        self.credentials.push(credential);
        PasskeyResponse::from_json(
            json!({
                "id": encode(&id),
                "rawId": encode(&id),
                "type": "public-key",
                "response": {
                    "attestationObject": encode(&serde_cbor_2::to_vec(&attestation).expect("CBOR encodes")),
                    "clientDataJSON": encode(&client_data),
                },
                "clientExtensionResults": {},
            })
            .to_string(),
        )
    }

    /// `navigator.credentials.get()`: answers with the first credential the options allow (any
    /// of this relying party's when they list none: a discoverable sign-in).
    pub fn authenticate(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse {
        let options = parse(challenge);
        let options = &options["publicKey"];
        let rp_id = options["rpId"].as_str().expect("options name the relying party").to_owned();
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| list.iter().map(|entry| decode(&entry["id"])).collect())
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|credential| {
                credential.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&credential.id))
            })
            .expect("the authenticator holds an allowed credential");
        self.answer_with(index, options)
    }

    /// `navigator.credentials.get()` answered with credential `index`, whatever the options
    /// allow (a person choosing another account's passkey).
    pub fn authenticate_with(&mut self, index: usize, challenge: &PasskeyChallenge) -> PasskeyResponse {
        let options = parse(challenge);
        self.answer_with(index, &options["publicKey"])
    }

    fn answer_with(&mut self, index: usize, options: &Json) -> PasskeyResponse {
        let step = self.counter_step;
        let credential = &mut self.credentials[index];
        credential.counter += step;
        let credential = credential.clone();
        let auth_data = self.auth_data_head(&credential.rp_id, 0, credential.counter);
        let client_data = self.client_data("webauthn.get", options);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        PasskeyResponse::from_json(
            json!({
                "id": encode(&credential.id),
                "rawId": encode(&credential.id),
                "type": "public-key",
                "response": {
                    "authenticatorData": encode(&auth_data),
                    "clientDataJSON": encode(&client_data),
                    "signature": encode(&signature.to_der().to_bytes()),
                    "userHandle": encode(&credential.user_handle),
                },
                "clientExtensionResults": {},
            })
            .to_string(),
        )
    }

    /// The relying-party id hash, the flags (user present, verified as configured, backup
    /// flags, plus `extra`), the counter.
    fn auth_data_head(&self, rp_id: &str, extra: u8, counter: u32) -> Vec<u8> {
        let rp_id = self.rp_id_override.as_deref().unwrap_or(rp_id);
        let mut flags = 0x01 | extra;
        if self.verifies_user {
            flags |= 0x04;
        }
        if self.backup.0 {
            flags |= 0x08;
        }
        if self.backup.1 {
            flags |= 0x10;
        }
        let mut data = Sha256::digest(rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&counter.to_be_bytes());
        data
    }

    fn client_data(&self, kind: &str, options: &Json) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("options carry a challenge");
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }
}

pub fn parse(challenge: &PasskeyChallenge) -> Json {
    serde_json::from_str(challenge.as_json()).expect("the challenge is JSON")
}

fn cbor_map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries.into_iter().collect::<BTreeMap<_, _>>())
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(value: &Json) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(value.as_str().expect("a base64url string")).expect("base64url")
}
