//! Passkeys: registering one after signing in, the second step with one, passkey-first sign-in
//! and the enrolment a practice requires, offline with the `TestPasskeys` relying party (it
//! checks the port's rules, not cryptography; portal-passkeys' own tests do that).

use jiff::SignedDuration;
use portal_core::service::{
    FactorAnswer, FactorError, FactorOwner, NewClient, PasskeyCeremonyStarted, PasskeySignInError, PracticeChange,
    SecondStep, SecondStepError, SignInError, StaffContext,
};
use portal_core::testing::TestPasskeys;
use portal_core::{
    AuditAction, AuditFailure, FactorSecret, FactorStore, MailKind, PasskeyUserHandle, SecondFactorKind,
    SecondFactorPolicy, TimeZoneName, TokenPurpose,
};
use secrecy::ExposeSecret;

use super::helpers::*;

async fn signed_in_owner(w: &World) -> FactorOwner {
    let signed_in = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner()
}

fn id(started: &PasskeyCeremonyStarted) -> String {
    started.ceremony.expose().expose_secret().to_owned()
}

/// Registers ada, signs her in and registers the passkey `credential`.
async fn with_passkey(w: &World, credential: &[u8]) -> FactorOwner {
    w.registered().await;
    let owner = signed_in_owner(w).await;
    register(w, &owner, credential).await;
    owner
}

async fn register(w: &World, owner: &FactorOwner, credential: &[u8]) -> portal_core::service::FactorEnrolled {
    let started = w.service.start_passkey_registration(owner).await.unwrap();
    let answer = TestPasskeys::created(&started.options, credential);
    w.service.finish_passkey_registration(owner, &id(&started), &answer, Some("Laptop"), &ctx()).await.unwrap()
}

async fn second_step(w: &World) -> SecondStep {
    match w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await {
        Err(SignInError::SecondFactor(step)) => step,
        other => panic!("expected a second step, got {other:?}"),
    }
}

fn challenge(step: &SecondStep) -> String {
    step.challenge.expose().expose_secret().to_owned()
}

/// The user handle ada's passkeys carry.
async fn handle(w: &World) -> PasskeyUserHandle {
    let factors = w.store.factors(w.staff.staff.practice_id, &w.client).await.unwrap();
    factors
        .iter()
        .find_map(|f| match &f.secret {
            FactorSecret::Passkey { user_handle, .. } => Some(*user_handle),
            FactorSecret::Totp { .. } => None,
        })
        .expect("a passkey")
}

fn failures(w: &World, action: AuditAction) -> Vec<Option<AuditFailure>> {
    w.store.audit_events().into_iter().filter(|e| e.action == action).map(|e| e.failure).collect()
}

async fn set_policy(w: &World, policy: SecondFactorPolicy) {
    let change = PracticeChange { second_factor_policy: Some(policy), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, change).await.unwrap();
}

#[tokio::test]
async fn a_passkey_is_registered_after_sign_in_named_audited_mailed_and_brings_recovery_codes() {
    let w = world().await;
    w.registered().await;
    let owner = signed_in_owner(&w).await;
    let enrolled = register(&w, &owner, b"laptop-key").await;
    assert_eq!(enrolled.factor.kind, SecondFactorKind::Passkey);
    assert_eq!(enrolled.factor.name.as_str(), "Laptop");
    assert_eq!(enrolled.recovery_codes.map(|codes| codes.len()), Some(10), "the first factor brings codes");
    let enrolled_events: Vec<_> = w
        .store
        .audit_events()
        .into_iter()
        .filter(|e| e.action == AuditAction::SecondFactorEnrolled)
        .map(|e| e.detail)
        .collect();
    assert_eq!(enrolled_events, vec![Some("passkey".to_owned())]);
    assert!(w.mail().iter().any(|m| m.kind == MailKind::SecondFactorAdded));

    // A second passkey: the same user handle, the first one excluded, no new codes, the
    // default name.
    let before = handle(&w).await;
    let started = w.service.start_passkey_registration(&owner).await.unwrap();
    assert!(started.options.as_json().contains(&format!("exclude={}", "bGFwdG9wLWtleQ")), "{:?}", started.options);
    let answer = TestPasskeys::created(&started.options, b"phone-key");
    let second = w.service.finish_passkey_registration(&owner, &id(&started), &answer, None, &ctx()).await.unwrap();
    assert!(second.recovery_codes.is_none());
    assert_eq!(second.factor.name.as_str(), "Passkey");
    let factors = w.store.factors(w.staff.staff.practice_id, &w.client).await.unwrap();
    assert!(
        factors
            .iter()
            .all(|f| matches!(&f.secret, FactorSecret::Passkey { user_handle, .. } if *user_handle == before))
    );
    assert_eq!(w.service.factors(&owner).await.unwrap().factors.len(), 2);
}

#[tokio::test]
async fn a_registration_ceremony_works_once_for_five_minutes_and_for_its_own_client_only() {
    let w = world().await;
    w.registered().await;
    let owner = signed_in_owner(&w).await;

    let started = w.service.start_passkey_registration(&owner).await.unwrap();
    let answer = TestPasskeys::created(&started.options, b"key");
    w.service.finish_passkey_registration(&owner, &id(&started), &answer, None, &ctx()).await.unwrap();
    let again = w.service.finish_passkey_registration(&owner, &id(&started), &answer, None, &ctx()).await;
    assert!(matches!(again, Err(FactorError::CeremonyInvalid)), "a replayed finish: {again:?}");

    let started = w.service.start_passkey_registration(&owner).await.unwrap();
    w.advance(SignedDuration::from_mins(5));
    let answer = TestPasskeys::created(&started.options, b"late-key");
    let late = w.service.finish_passkey_registration(&owner, &id(&started), &answer, None, &ctx()).await;
    assert!(matches!(late, Err(FactorError::CeremonyInvalid)), "{late:?}");

    // An answer to another challenge is refused, and the ceremony is spent by it.
    let started = w.service.start_passkey_registration(&owner).await.unwrap();
    let other = w.service.start_passkey_registration(&owner).await.unwrap();
    let wrong = TestPasskeys::created(&other.options, b"wrong-key");
    let refused = w.service.finish_passkey_registration(&owner, &id(&started), &wrong, None, &ctx()).await;
    assert!(matches!(refused, Err(FactorError::PasskeyRejected)), "{refused:?}");
    let right = TestPasskeys::created(&started.options, b"wrong-key");
    let spent = w.service.finish_passkey_registration(&owner, &id(&started), &right, None, &ctx()).await;
    assert!(matches!(spent, Err(FactorError::CeremonyInvalid)), "{spent:?}");
    assert_eq!(w.service.factors(&owner).await.unwrap().factors.len(), 1);
}

#[tokio::test]
async fn a_credential_registered_to_another_client_is_refused() {
    let w = world().await;
    with_passkey(&w, b"shared-key").await;
    let bob = w
        .service
        .create_client(
            &w.staff,
            NewClient { name: "Bob Babbage".into(), email: Some("bob@example.org".into()), ..Default::default() },
        )
        .await
        .unwrap()
        .client
        .id;
    w.service.send_invite(&w.staff, &bob).await.unwrap();
    w.service.register(&w.latest_link(TokenPurpose::Invite), "bob", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let signed_in = w.service.sign_in("sunrise", "bob", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let owner = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner();
    let started = w.service.start_passkey_registration(&owner).await.unwrap();
    let answer = TestPasskeys::created(&started.options, b"shared-key");
    let refused = w.service.finish_passkey_registration(&owner, &id(&started), &answer, None, &ctx()).await;
    assert!(matches!(refused, Err(FactorError::PasskeyInUse)), "{refused:?}");
    assert!(w.service.factors(&owner).await.unwrap().factors.is_empty());
}

#[tokio::test]
async fn with_a_passkey_the_password_leads_to_a_passkey_step_that_works_once_and_stores_the_counter() {
    let w = world().await;
    with_passkey(&w, b"laptop-key").await;
    let step = second_step(&w).await;
    assert_eq!(step.factors, vec![SecondFactorKind::Passkey, SecondFactorKind::RecoveryCode]);

    let started = w.service.challenge_start_passkey(&challenge(&step), &ctx()).await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", None, 7);
    let response = FactorAnswer::Passkey { ceremony: &id(&started), response: &answer };
    let signed_in = w.service.complete_second_step(&challenge(&step), response, &ctx()).await.unwrap();
    assert!(w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.is_ok());
    let used: Vec<_> = w
        .store
        .audit_events()
        .into_iter()
        .filter(|e| e.action == AuditAction::SecondFactorUsed)
        .map(|e| e.detail)
        .collect();
    assert_eq!(used, vec![Some("passkey".to_owned())]);
    let factors = w.store.factors(w.staff.staff.practice_id, &w.client).await.unwrap();
    let FactorSecret::Passkey { passkey, .. } = &factors[0].secret else { panic!("a passkey") };
    assert!(passkey.as_json().contains("counter=7"), "the new counter is stored: {passkey:?}");
    assert!(factors[0].last_used_at.is_some());

    // The same answer again, on a fresh challenge, is a replay: its ceremony is spent.
    let step = second_step(&w).await;
    let replay = FactorAnswer::Passkey { ceremony: &id(&started), response: &answer };
    let refused = w.service.complete_second_step(&challenge(&step), replay, &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::PasskeyRejected)), "{refused:?}");

    // A cloned authenticator (its counter did not grow) is refused and counted.
    let started = w.service.challenge_start_passkey(&challenge(&step), &ctx()).await.unwrap();
    let cloned = TestPasskeys::signed(&started.options, b"laptop-key", None, 7);
    let response = FactorAnswer::Passkey { ceremony: &id(&started), response: &cloned };
    let refused = w.service.complete_second_step(&challenge(&step), response, &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::PasskeyRejected)), "{refused:?}");
    assert_eq!(failures(&w, AuditAction::SecondFactorRefused), vec![Some(AuditFailure::InvalidPasskey)]);
}

#[tokio::test]
async fn a_passkey_ceremony_of_another_sign_in_or_purpose_is_refused() {
    let w = world().await;
    let owner = with_passkey(&w, b"laptop-key").await;
    let step = second_step(&w).await;
    // A registration ceremony does not answer a sign-in.
    let registration = w.service.start_passkey_registration(&owner).await.unwrap();
    let answer = TestPasskeys::signed(&registration.options, b"laptop-key", None, 1);
    let response = FactorAnswer::Passkey { ceremony: &id(&registration), response: &answer };
    let refused = w.service.complete_second_step(&challenge(&step), response, &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::PasskeyRejected)), "{refused:?}");
    // A disabled account is refused before any passkey is asked for.
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    let refused = w.service.challenge_start_passkey(&challenge(&step), &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::AccountDisabled)), "{refused:?}");
}

#[tokio::test]
async fn passkey_first_sign_in_opens_a_session_for_the_passkeys_owner_when_the_practice_uses_factors() {
    let w = world().await;
    with_passkey(&w, b"laptop-key").await;
    let user = handle(&w).await;
    let started = w.service.start_passkey_sign_in("sunrise").await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", Some(user), 3);
    let signed_in = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await.unwrap();
    let session = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap();
    assert_eq!(session.username.as_str(), "ada");
    // Once only.
    let again = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(again, Err(PasskeySignInError::CeremonyInvalid)), "{again:?}");

    // An answer naming another account than the passkey's owner is refused and audited.
    let started = w.service.start_passkey_sign_in("sunrise").await.unwrap();
    let stranger = PasskeyUserHandle::from_bytes([3; 16]);
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", Some(stranger), 4);
    let refused = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(refused, Err(PasskeySignInError::Rejected)), "{refused:?}");
    // An unknown passkey too.
    let started = w.service.start_passkey_sign_in("sunrise").await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"unknown-key", Some(user), 5);
    let refused = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(refused, Err(PasskeySignInError::Rejected)), "{refused:?}");
    assert_eq!(
        failures(&w, AuditAction::SignInFailed),
        vec![Some(AuditFailure::InvalidPasskey), Some(AuditFailure::InvalidPasskey)]
    );

    // A disabled account is refused even with its passkey.
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    let started = w.service.start_passkey_sign_in("sunrise").await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", Some(user), 6);
    let refused = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(refused, Err(PasskeySignInError::AccountDisabled)), "{refused:?}");

    // With second factors off, there is no passkey-first sign-in.
    set_policy(&w, SecondFactorPolicy::Off).await;
    let off = w.service.start_passkey_sign_in("sunrise").await;
    assert!(matches!(off, Err(PasskeySignInError::Unavailable)), "{off:?}");
    let unknown = w.service.start_passkey_sign_in("nowhere").await;
    assert!(matches!(unknown, Err(PasskeySignInError::Unavailable)), "{unknown:?}");
}

#[tokio::test]
async fn a_passkey_signs_in_to_its_own_practice_only() {
    let w = world().await;
    with_passkey(&w, b"laptop-key").await;
    let user = handle(&w).await;
    let other = w.service.create_practice("Moonlight Clinic", Some("moonlight"), TimeZoneName::utc()).await.unwrap();
    let _other_staff = StaffContext { staff: other.staff, request: ctx() };
    let started = w.service.start_passkey_sign_in("moonlight").await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", Some(user), 1);
    let refused = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(refused, Err(PasskeySignInError::Rejected)), "{refused:?}");
}

#[tokio::test]
async fn a_required_factor_may_be_a_passkey_enrolled_right_after_the_password() {
    let w = world().await;
    w.registered().await;
    set_policy(&w, SecondFactorPolicy::Required).await;
    let step = second_step(&w).await;
    assert!(step.enrolment_required);
    assert_eq!(step.factors, vec![SecondFactorKind::Totp, SecondFactorKind::Passkey]);
    let started = w.service.challenge_start_passkey_registration(&challenge(&step), &ctx()).await.unwrap();

    // A refused answer counts against the username like a wrong code.
    let other = w.service.challenge_start_passkey_registration(&challenge(&step), &ctx()).await.unwrap();
    let wrong = TestPasskeys::created(&started.options, b"key");
    let refused =
        w.service.challenge_finish_passkey_registration(&challenge(&step), &id(&other), &wrong, None, &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::PasskeyRejected)), "{refused:?}");
    assert_eq!(failures(&w, AuditAction::SecondFactorRefused), vec![Some(AuditFailure::InvalidPasskey)]);

    let started = w.service.challenge_start_passkey_registration(&challenge(&step), &ctx()).await.unwrap();
    let answer = TestPasskeys::created(&started.options, b"key");
    let (signed_in, enrolled) = w
        .service
        .challenge_finish_passkey_registration(&challenge(&step), &id(&started), &answer, Some("Phone"), &ctx())
        .await
        .unwrap();
    assert_eq!(enrolled.factor.kind, SecondFactorKind::Passkey);
    assert!(enrolled.recovery_codes.is_some());
    assert!(w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.is_ok());
    // The challenge is used up with the session.
    let again = w.service.challenge_start_passkey_registration(&challenge(&step), &ctx()).await;
    assert!(matches!(again, Err(SecondStepError::ChallengeInvalid)), "{again:?}");
}

#[tokio::test]
async fn a_removed_passkey_no_longer_signs_in_and_staff_removal_covers_passkeys() {
    let w = world().await;
    let owner = with_passkey(&w, b"laptop-key").await;
    let user = handle(&w).await;
    let factor = w.service.factors(&owner).await.unwrap().factors[0].id;
    // Started before the removal, finished after it.
    let started = w.service.start_passkey_sign_in("sunrise").await.unwrap();
    w.service.remove_factor(&owner, factor, &ctx()).await.unwrap();
    let answer = TestPasskeys::signed(&started.options, b"laptop-key", Some(user), 1);
    let refused = w.service.finish_passkey_sign_in(&id(&started), &answer, &ctx()).await;
    assert!(matches!(refused, Err(PasskeySignInError::Rejected)), "{refused:?}");
    // Password-only again.
    assert!(w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.is_ok());

    register(&w, &owner, b"second-key").await;
    assert_eq!(w.service.remove_client_factors(&w.staff, &w.client).await.unwrap(), 1);
    assert!(w.store.factors(w.staff.staff.practice_id, &w.client).await.unwrap().is_empty());
}

#[tokio::test]
async fn without_a_relying_party_passkeys_are_unavailable_and_not_offered() {
    let w = world_without_passkeys().await;
    w.registered().await;
    let owner = signed_in_owner(&w).await;
    let refused = w.service.start_passkey_registration(&owner).await;
    assert!(matches!(refused, Err(FactorError::PasskeysUnavailable)), "{refused:?}");
    let refused = w.service.start_passkey_sign_in("sunrise").await;
    assert!(matches!(refused, Err(PasskeySignInError::Unavailable)), "{refused:?}");
}
