//! Every passkey ceremony of [`WebauthnPasskeys`] against a software authenticator
//! (portal-testkit's [`SoftAuthenticator`]): what must work, and each answer the relying party
//! must refuse.

use std::slice::from_ref;

use portal_core::{
    PasskeyChallenge, PasskeyError, PasskeyRelyingParty, PasskeyResponse, PasskeyUse, PasskeyUserHandle,
    RegisteredPasskey, StoredPasskey, Username,
};
use portal_passkeys::{MAX_RESPONSE_BYTES, WebauthnPasskeys};
use portal_testkit::passkeys::{SoftAuthenticator, decode_b64url as decode};
use serde_json::Value as Json;

const PUBLIC_URL: &str = "https://clinic.example/portal";
const ORIGIN: &str = "https://clinic.example";

/// The authenticator between portal-core's types and the JSON text it works on.
trait Answers {
    /// `navigator.credentials.create()` for `challenge`.
    fn create(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse;
    /// `navigator.credentials.get()` for `challenge`, with the credential it allows.
    fn get(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse;
    /// `navigator.credentials.get()` for `challenge`, with credential `index` whatever it allows.
    fn get_with(&mut self, index: usize, challenge: &PasskeyChallenge) -> PasskeyResponse;
}

impl Answers for SoftAuthenticator {
    fn create(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse {
        PasskeyResponse::from_json(self.register(challenge.as_json()).to_string())
    }

    fn get(&mut self, challenge: &PasskeyChallenge) -> PasskeyResponse {
        PasskeyResponse::from_json(self.authenticate(challenge.as_json()).to_string())
    }

    fn get_with(&mut self, index: usize, challenge: &PasskeyChallenge) -> PasskeyResponse {
        PasskeyResponse::from_json(self.authenticate_with(index, challenge.as_json()).to_string())
    }
}

/// The options a challenge carries, as JSON.
fn parse(challenge: &PasskeyChallenge) -> Json {
    serde_json::from_str(challenge.as_json()).expect("the challenge is JSON")
}

fn relying_party() -> WebauthnPasskeys {
    WebauthnPasskeys::new(PUBLIC_URL).expect("a valid public URL")
}

fn handle(n: u8) -> PasskeyUserHandle {
    PasskeyUserHandle::from_bytes([n; 16])
}

fn register(
    party: &WebauthnPasskeys,
    authenticator: &mut SoftAuthenticator,
    user: PasskeyUserHandle,
) -> RegisteredPasskey {
    let username = Username::parse(&format!("client{}", user.as_bytes()[0])).expect("a valid username");
    let (challenge, state) = party.start_registration(user, &username, "A Client", &[]).expect("registration starts");
    let answer = authenticator.create(&challenge);
    party.finish_registration(&state, &answer).expect("the registration verifies")
}

fn sign_in(
    party: &WebauthnPasskeys,
    authenticator: &mut SoftAuthenticator,
    stored: &[StoredPasskey],
) -> Result<PasskeyUse, PasskeyError> {
    let (challenge, state) = party.start_authentication(stored).expect("authentication starts");
    let answer = authenticator.get(&challenge);
    party.finish_authentication(&state, &answer, stored)
}

#[test]
fn a_registered_passkey_signs_in_and_its_counter_update_is_reported() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    assert_eq!(registered.credential_id.as_bytes(), authenticator.credentials[0].id.as_slice());

    let first = sign_in(&party, &mut authenticator, from_ref(&registered.passkey)).expect("the sign-in verifies");
    assert_eq!(first.credential_id, registered.credential_id);
    assert_eq!(first.counter, 1);
    let updated = first.updated.expect("the counter grew from 0 to 1: the stored passkey changes");
    assert_ne!(updated, registered.passkey);

    let second = sign_in(&party, &mut authenticator, from_ref(&updated)).expect("the next sign-in verifies");
    assert_eq!(second.counter, 2);
    assert!(second.updated.is_some());
}

#[test]
fn a_passkey_without_a_counter_needs_no_update() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counter_step = 0;
    authenticator.backup = (true, true);
    let registered = register(&party, &mut authenticator, handle(1));

    let used = sign_in(&party, &mut authenticator, from_ref(&registered.passkey)).expect("the sign-in verifies");
    assert_eq!((used.counter, used.backup_eligible, used.backed_up), (0, true, true));
    assert_eq!(used.updated, None, "counter and backup flags as registered");
}

#[test]
fn a_changed_backup_state_is_reported_for_the_store() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    authenticator.counter_step = 0;
    authenticator.backup = (true, false);
    let registered = register(&party, &mut authenticator, handle(1));

    authenticator.backup = (true, true);
    let used = sign_in(&party, &mut authenticator, from_ref(&registered.passkey)).expect("the sign-in verifies");
    assert!(used.backed_up);
    let updated = used.updated.expect("the backup state changed");
    authenticator.backup = (true, true);
    let again = sign_in(&party, &mut authenticator, &[updated]).expect("the sign-in verifies");
    assert_eq!(again.updated, None, "the stored passkey already says backed up");
}

#[test]
fn a_counter_that_does_not_grow_past_the_stored_one_is_refused() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    // A second device with the same keys and counters.
    let mut clone = authenticator.clone();

    let used = sign_in(&party, &mut authenticator, from_ref(&registered.passkey)).expect("the sign-in verifies");
    let stored = used.updated.expect("counter 1 stored");
    // The copy signs with counter 1 again.
    let refused = sign_in(&party, &mut clone, from_ref(&stored));
    assert!(matches!(refused, Err(PasskeyError::PossiblyCloned)), "{refused:?}");

    // A sign-in started before another one finished is checked against the passkey as stored
    // when its answer arrives.
    let (challenge, state) = party.start_authentication(from_ref(&registered.passkey)).expect("starts");
    let late = clone.get(&challenge); // counter 2 beats the state's 0 …
    sign_in(&party, &mut authenticator, from_ref(&stored)).expect("… but the original signs with 2 first");
    let now_stored = [sign_in(&party, &mut authenticator, &[stored]).expect("counter 3").updated.expect("changed")];
    let refused = party.finish_authentication(&state, &late, &now_stored);
    assert!(matches!(refused, Err(PasskeyError::PossiblyCloned)), "{refused:?}");
}

#[test]
fn an_answer_made_on_another_origin_is_refused() {
    let party = relying_party();
    let mut phished = SoftAuthenticator::new("https://clinic.example.evil.example");
    let username = Username::parse("client1").expect("valid");
    let (challenge, state) = party.start_registration(handle(1), &username, "A Client", &[]).expect("starts");
    let refused = party.finish_registration(&state, &phished.create(&challenge));
    assert!(matches!(refused, Err(PasskeyError::WrongSite)), "{refused:?}");

    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    authenticator.origin = "http://clinic.example".to_owned();
    let refused = sign_in(&party, &mut authenticator, from_ref(&registered.passkey));
    assert!(matches!(refused, Err(PasskeyError::WrongSite)), "{refused:?}");

    authenticator.origin = "https://clinic.example:8443".to_owned();
    let refused = sign_in(&party, &mut authenticator, &[registered.passkey]);
    assert!(matches!(refused, Err(PasskeyError::WrongSite)), "{refused:?}");
}

#[test]
fn an_answer_signed_for_another_relying_party_is_refused() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    authenticator.rp_id_override = Some("evil.example".to_owned());
    let refused = sign_in(&party, &mut authenticator, &[registered.passkey]);
    assert!(matches!(refused, Err(PasskeyError::WrongSite)), "{refused:?}");
}

#[test]
fn a_passkey_stops_working_when_the_public_url_moves_to_another_host() {
    let old = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&old, &mut authenticator, handle(1));

    let moved = WebauthnPasskeys::new("https://portal.other.example/").expect("valid");
    let (challenge, state) = moved.start_authentication(from_ref(&registered.passkey)).expect("starts");
    assert_eq!(parse(&challenge)["publicKey"]["rpId"], "portal.other.example");
    // The browser on the new origin asks for the new id; the authenticator's passkey is bound
    // to the old one, so the best it can send is an answer for the old site.
    authenticator.origin = "https://portal.other.example".to_owned();
    let answer = authenticator.get_with(0, &challenge);
    let refused = moved.finish_authentication(&state, &answer, &[registered.passkey]);
    assert!(matches!(refused, Err(PasskeyError::WrongSite)), "{refused:?}");
}

#[test]
fn an_answer_replayed_against_a_second_challenge_is_refused() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    let stored = [registered.passkey];

    let (first_challenge, first_state) = party.start_authentication(&stored).expect("starts");
    let answer = authenticator.get(&first_challenge);
    let (_, second_state) = party.start_authentication(&stored).expect("starts");
    let refused = party.finish_authentication(&second_state, &answer, &stored);
    assert!(matches!(refused, Err(PasskeyError::ChallengeMismatch)), "{refused:?}");
    assert!(
        party.finish_authentication(&first_state, &answer, &stored).is_ok(),
        "the answer was good for its own challenge"
    );

    let username = Username::parse("client2").expect("valid");
    let (first, _) = party.start_registration(handle(2), &username, "B", &[]).expect("starts");
    let (_, second_state) = party.start_registration(handle(2), &username, "B", &[]).expect("starts");
    let refused = party.finish_registration(&second_state, &authenticator.create(&first));
    assert!(matches!(refused, Err(PasskeyError::ChallengeMismatch)), "{refused:?}");
}

#[test]
fn another_accounts_passkey_is_refused() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let mine = register(&party, &mut authenticator, handle(1));
    let theirs = register(&party, &mut authenticator, handle(2));

    let (challenge, state) = party.start_authentication(from_ref(&mine.passkey)).expect("starts");
    let allowed = parse(&challenge)["publicKey"]["allowCredentials"].clone();
    assert_eq!(allowed.as_array().map(Vec::len), Some(1));
    assert_eq!(decode(&allowed[0]["id"]), mine.credential_id.as_bytes());
    let answer = authenticator.get_with(1, &challenge);
    // Even when the caller passes every passkey it knows, the ceremony allowed only mine.
    let refused = party.finish_authentication(&state, &answer, &[mine.passkey.clone(), theirs.passkey.clone()]);
    assert!(matches!(refused, Err(PasskeyError::CredentialNotAllowed)), "{refused:?}");

    // A passkey removed between the start and the finish no longer signs in.
    let (challenge, state) = party.start_authentication(from_ref(&mine.passkey)).expect("starts");
    let answer = authenticator.get_with(0, &challenge);
    let refused = party.finish_authentication(&state, &answer, &[theirs.passkey]);
    assert!(matches!(refused, Err(PasskeyError::CredentialNotAllowed)), "{refused:?}");
}

#[test]
fn passkey_first_sign_in_returns_the_owners_user_handle() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let _first = register(&party, &mut authenticator, handle(1));
    let second = register(&party, &mut authenticator, handle(2));

    let (challenge, state) = party.start_discoverable_authentication().expect("starts");
    let options = parse(&challenge);
    assert!(options["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "any passkey may answer");
    assert!(options.get("mediation").is_none(), "the page decides how to ask");
    let answer = authenticator.get_with(1, &challenge);

    let claim = party.identify_discoverable(&answer).expect("the answer names an account");
    assert_eq!((claim.user_handle, &claim.credential_id), (handle(2), &second.credential_id));
    let signed_in = party
        .finish_discoverable_authentication(&state, &answer, claim.user_handle, &second.passkey)
        .expect("the sign-in verifies");
    assert_eq!(signed_in.user_handle, handle(2));
    assert_eq!(signed_in.used.credential_id, second.credential_id);
    assert_eq!(signed_in.used.counter, 1);
    assert!(signed_in.used.updated.is_some());
}

#[test]
fn passkey_first_sign_in_refuses_a_passkey_of_another_account() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let first = register(&party, &mut authenticator, handle(1));
    let second = register(&party, &mut authenticator, handle(2));

    let (challenge, state) = party.start_discoverable_authentication().expect("starts");
    let answer = authenticator.get_with(1, &challenge);
    // The answer names account 2; a caller that looked up another owner is refused …
    let refused = party.finish_discoverable_authentication(&state, &answer, handle(1), &second.passkey);
    assert!(matches!(refused, Err(PasskeyError::UserHandleMismatch)), "{refused:?}");
    // … and so is one that finishes with another passkey than the one that answered.
    let refused = party.finish_discoverable_authentication(&state, &answer, handle(2), &first.passkey);
    assert!(matches!(refused, Err(PasskeyError::CredentialNotAllowed)), "{refused:?}");

    // An authenticator that names account 1 while signing with account 2's passkey.
    authenticator.credentials[1].user_handle = handle(1).as_bytes().to_vec();
    let (challenge, state) = party.start_discoverable_authentication().expect("starts");
    let answer = authenticator.get_with(1, &challenge);
    let claim = party.identify_discoverable(&answer).expect("readable");
    assert_eq!(claim.user_handle, handle(1));
    let refused = party.finish_discoverable_authentication(&state, &answer, handle(2), &second.passkey);
    assert!(matches!(refused, Err(PasskeyError::UserHandleMismatch)), "{refused:?}");
}

#[test]
fn a_discoverable_answer_without_a_user_handle_names_no_account() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    register(&party, &mut authenticator, handle(1));
    authenticator.credentials[0].user_handle = vec![1, 2, 3];
    let (challenge, _) = party.start_discoverable_authentication().expect("starts");
    let refused = party.identify_discoverable(&authenticator.get(&challenge));
    assert!(matches!(refused, Err(PasskeyError::UserHandleMismatch)), "{refused:?}");
}

#[test]
fn a_ceremony_without_user_verification_is_refused() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    authenticator.verifies_user = false;
    let refused = sign_in(&party, &mut authenticator, &[registered.passkey]);
    assert!(matches!(refused, Err(PasskeyError::UserNotVerified)), "{refused:?}");

    let username = Username::parse("client2").expect("valid");
    let (challenge, state) = party.start_registration(handle(2), &username, "B", &[]).expect("starts");
    let refused = party.finish_registration(&state, &authenticator.create(&challenge));
    assert!(matches!(refused, Err(PasskeyError::UserNotVerified)), "{refused:?}");
}

#[test]
fn registration_asks_for_what_the_portal_needs() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(9));
    let username = Username::parse("Ada.Lovelace").expect("valid");
    let (challenge, _) =
        party.start_registration(handle(9), &username, " ", from_ref(&registered.credential_id)).expect("starts");
    let options = parse(&challenge)["publicKey"].clone();
    assert_eq!(options["rp"]["id"], "clinic.example");
    assert_eq!(decode(&options["user"]["id"]), handle(9).as_bytes());
    assert_eq!(options["user"]["name"], "ada.lovelace");
    assert_eq!(options["user"]["displayName"], "ada.lovelace", "a blank display name falls back to the username");
    assert_eq!(options["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(options["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(decode(&options["excludeCredentials"][0]["id"]), registered.credential_id.as_bytes());
}

#[test]
fn an_excluded_passkey_cannot_register_again() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    let username = Username::parse("client1").expect("valid");
    let (challenge, state) = party
        .start_registration(handle(1), &username, "A Client", from_ref(&registered.credential_id))
        .expect("starts");
    // An authenticator that ignores the exclusion and makes the same credential id again.
    let mut same = SoftAuthenticator::new(ORIGIN);
    let answer = same.create(&challenge);
    assert_eq!(same.credentials[0].id, authenticator.credentials[0].id);
    let refused = party.finish_registration(&state, &answer);
    assert!(matches!(refused, Err(PasskeyError::Rejected)), "{refused:?}");
}

#[test]
fn unreadable_answers_and_stored_data_are_refused_by_kind() {
    let party = relying_party();
    let mut authenticator = SoftAuthenticator::new(ORIGIN);
    let registered = register(&party, &mut authenticator, handle(1));
    let (challenge, state) = party.start_authentication(from_ref(&registered.passkey)).expect("starts");
    let stored = [registered.passkey.clone()];

    for answer in ["", "{}", "null", r#"{"id":"x","rawId":"!!","type":"public-key","response":{}}"#] {
        let refused = party.finish_authentication(&state, &PasskeyResponse::from_json(answer.to_owned()), &stored);
        assert!(matches!(refused, Err(PasskeyError::Malformed)), "{answer}: {refused:?}");
    }
    let huge = PasskeyResponse::from_json(format!("{{\"pad\":\"{}\"}}", "a".repeat(MAX_RESPONSE_BYTES)));
    assert!(matches!(party.finish_authentication(&state, &huge, &stored), Err(PasskeyError::Malformed)));
    assert!(matches!(party.identify_discoverable(&huge), Err(PasskeyError::Malformed)));

    let answer = authenticator.get(&challenge);
    let corrupt = portal_core::PasskeyAuthenticationState::from_json("{\"ast\":1}".to_owned());
    let refused = party.finish_authentication(&corrupt, &answer, &stored);
    assert!(matches!(refused, Err(PasskeyError::StoredDataUnreadable)), "{refused:?}");
    let refused = party.start_authentication(&[StoredPasskey::from_json("not json".to_owned())]);
    assert!(matches!(refused, Err(PasskeyError::StoredDataUnreadable)), "{refused:?}");
    assert!(matches!(party.start_authentication(&[]), Err(PasskeyError::NoPasskeys)));
}

#[test]
fn localhost_over_http_works_for_development() {
    let party = WebauthnPasskeys::new("http://localhost:8080/portal").expect("localhost may be plain http");
    let mut authenticator = SoftAuthenticator::new("http://localhost:8080");
    let registered = register(&party, &mut authenticator, handle(1));
    sign_in(&party, &mut authenticator, &[registered.passkey]).expect("the sign-in verifies");
}

#[test]
fn a_challenge_can_sit_in_a_script_element_whatever_the_display_name() {
    let party = relying_party();
    let username = Username::parse("client1").expect("valid");
    let hostile = "</script><script>alert(1)</script> & Co";
    let (challenge, _) = party.start_registration(handle(1), &username, hostile, &[]).expect("starts");
    assert!(!challenge.as_json().contains(['<', '>', '&']), "{}", challenge.as_json());
    assert_eq!(parse(&challenge)["publicKey"]["user"]["displayName"], hostile, "the same text once parsed");
}
