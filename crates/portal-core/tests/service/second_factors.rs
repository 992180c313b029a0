//! Second factors: TOTP enrolment, the second step of sign-in, recovery codes, the practice's
//! policy and staff removal, offline with a fixed clock.

use jiff::{SignedDuration, Timestamp};
use portal_core::service::{
    FactorAnswer, FactorEnrolled, FactorError, PracticeChange, SecondStep, SecondStepError, SignInError, SignedIn,
    TotpEnrolment,
};
use portal_core::{
    AuditAction, AuditFailure, FactorStore, MailKind, RecoveryCode, SecondFactorKind, SecondFactorPolicy, ThrottleStore,
};
use secrecy::ExposeSecret;

use super::helpers::*;

/// The code an authenticator app shows at `at` for a base32 secret (computed with totp-rs, as
/// an app would).
fn app_code(secret: &TotpEnrolment, at: Timestamp) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret.secret.expose_secret()).unwrap().as_bytes().to_vec();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    totp.generate(u64::try_from(at.as_second()).unwrap()).to_string()
}

async fn signed_in_owner(w: &World) -> portal_core::service::FactorOwner {
    let signed_in = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let session = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap();
    session.factor_owner()
}

/// Registers ada and enrols an authenticator app; returns the enrolment and its confirmation.
async fn with_app(w: &World) -> (TotpEnrolment, FactorEnrolled) {
    w.registered().await;
    let owner = signed_in_owner(w).await;
    let enrolment = w.service.start_totp(&owner).await.unwrap();
    let code = app_code(&enrolment, w.clock.now());
    let enrolled = w.service.confirm_totp(&owner, enrolment.factor_id, &code, Some("Phone"), &ctx()).await.unwrap();
    (enrolment, enrolled)
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

fn actions(w: &World) -> Vec<AuditAction> {
    w.store.audit_events().into_iter().map(|e| e.action).collect()
}

async fn set_policy(w: &World, policy: SecondFactorPolicy) {
    let change = PracticeChange { second_factor_policy: Some(policy), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, change).await.unwrap();
}

#[tokio::test]
async fn an_app_is_enrolled_with_a_confirming_code_and_the_first_factor_brings_ten_recovery_codes() {
    let w = world().await;
    let (enrolment, enrolled) = with_app(&w).await;
    assert_eq!(enrolled.factor.kind, SecondFactorKind::Totp);
    assert_eq!(enrolled.factor.name.as_str(), "Phone");
    let codes = enrolled.recovery_codes.expect("the first factor brings recovery codes");
    assert_eq!(codes.len(), 10);
    assert!(enrolment.otpauth_url.expose_secret().starts_with("otpauth://totp/Sunrise%20Therapy:ada?"));
    assert!(actions(&w).contains(&AuditAction::SecondFactorEnrolled));
    assert!(w.mail().iter().any(|m| m.kind == MailKind::SecondFactorAdded));

    // The stored factor holds the secret sealed, never in clear.
    let stored = w.store.factors(w.staff.staff.practice_id, &w.client).await.unwrap();
    let portal_core::FactorSecret::Totp { sealed, .. } = &stored[0].secret else { panic!("a TOTP factor") };
    let raw = totp_rs::Secret::try_from_base32(enrolment.secret.expose_secret()).unwrap().as_bytes().to_vec();
    assert!(!sealed.as_bytes().windows(raw.len()).any(|w| w == raw.as_slice()));

    // A second app brings no new codes.
    let owner = signed_in_owner_after_second_step(&w, &enrolment).await;
    let second = w.service.start_totp(&owner).await.unwrap();
    let code = app_code(&second, w.clock.now());
    let again = w.service.confirm_totp(&owner, second.factor_id, &code, None, &ctx()).await.unwrap();
    assert!(again.recovery_codes.is_none());
    assert_eq!(again.factor.name.as_str(), "Authenticator app");
    assert_eq!(w.service.factors(&owner).await.unwrap().factors.len(), 2);
}

async fn signed_in_owner_after_second_step(w: &World, app: &TotpEnrolment) -> portal_core::service::FactorOwner {
    w.advance(SignedDuration::from_secs(30));
    let step = second_step(w).await;
    let code = app_code(app, w.clock.now());
    let signed_in = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await.unwrap();
    w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner()
}

#[tokio::test]
async fn a_wrong_or_lapsed_confirmation_enrols_nothing() {
    let w = world().await;
    w.registered().await;
    let owner = signed_in_owner(&w).await;
    let enrolment = w.service.start_totp(&owner).await.unwrap();
    let wrong = w.service.confirm_totp(&owner, enrolment.factor_id, "000000", None, &ctx()).await;
    let right = app_code(&enrolment, w.clock.now());
    if right != "000000" {
        assert!(matches!(wrong, Err(FactorError::InvalidCode)), "{wrong:?}");
    }
    assert!(w.service.factors(&owner).await.unwrap().factors.is_empty(), "a pending app is not a factor");
    w.advance(SignedDuration::from_mins(10));
    let late = app_code(&enrolment, w.clock.now());
    let lapsed = w.service.confirm_totp(&owner, enrolment.factor_id, &late, None, &ctx()).await;
    assert!(matches!(lapsed, Err(FactorError::FactorNotFound)), "{lapsed:?}");
    // Password-only sign-in still opens a session.
    assert!(w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.is_ok());
}

#[tokio::test]
async fn with_an_app_the_password_answers_a_challenge_and_a_code_opens_the_session_once() {
    let w = world().await;
    let (app, _) = with_app(&w).await;
    w.advance(SignedDuration::from_secs(60));
    let step = second_step(&w).await;
    assert_eq!(step.factors, vec![SecondFactorKind::Totp, SecondFactorKind::RecoveryCode]);
    assert!(!step.enrolment_required);
    assert_eq!(step.expires_at, w.clock.now() + SignedDuration::from_mins(5));
    let sessions_before = w.store.sessions().len();

    let code = app_code(&app, w.clock.now());
    let signed_in: SignedIn =
        w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await.unwrap();
    assert!(w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.is_ok());
    assert_eq!(w.store.sessions().len(), sessions_before + 1);
    assert!(actions(&w).contains(&AuditAction::SecondFactorUsed));

    // The challenge is used up.
    let reused = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await;
    assert!(matches!(reused, Err(SecondStepError::ChallengeInvalid)), "{reused:?}");

    // The same code (its step) never works twice, even with a fresh challenge.
    let step = second_step(&w).await;
    let replay = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await;
    assert!(matches!(replay, Err(SecondStepError::InvalidCode)), "{replay:?}");
    let refused = w.store.audit_events().into_iter().rfind(|e| e.action == AuditAction::SecondFactorRefused);
    assert_eq!(refused.and_then(|e| e.failure), Some(AuditFailure::ReplayedCode));

    // The next step's code does.
    w.advance(SignedDuration::from_secs(30));
    let next = app_code(&app, w.clock.now());
    assert!(w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&next), &ctx()).await.is_ok());
}

#[tokio::test]
async fn a_challenge_lasts_five_minutes() {
    let w = world().await;
    let (app, _) = with_app(&w).await;
    w.advance(SignedDuration::from_secs(60));
    let step = second_step(&w).await;
    w.advance(SignedDuration::from_mins(5));
    let code = app_code(&app, w.clock.now());
    let late = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await;
    assert!(matches!(late, Err(SecondStepError::ChallengeInvalid)), "{late:?}");
    let made_up = w.service.complete_second_step("pfc_nothing", FactorAnswer::Totp(&code), &ctx()).await;
    assert!(matches!(made_up, Err(SecondStepError::ChallengeInvalid)), "{made_up:?}");
}

#[tokio::test]
async fn wrong_codes_are_throttled_like_wrong_passwords_and_a_right_password_does_not_reset_the_count() {
    let w = world().await;
    let (app, _) = with_app(&w).await;
    let practice = w.staff.staff.practice_id;
    w.advance(SignedDuration::from_secs(60));
    let right = app_code(&app, w.clock.now());
    let wrong = if right == "123456" { "654321" } else { "123456" };
    // Five free failures, each after a right password: the password never resets the count.
    let mut step = second_step(&w).await;
    for failures in 1..=6 {
        step = second_step(&w).await;
        let refused = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(wrong), &ctx()).await;
        assert!(matches!(refused, Err(SecondStepError::InvalidCode)), "{refused:?}");
        assert_eq!(w.store.throttle(practice, "ada").await.unwrap().failures, failures);
    }
    // Past them, the username's throttle holds for the code and for the password alike.
    let again = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&right), &ctx()).await;
    let Err(SecondStepError::Throttled { retry_after }) = again else { panic!("{again:?}") };
    assert!(matches!(
        w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await,
        Err(SignInError::Throttled { .. })
    ));
    // After the delay a right code opens the session and clears the count.
    w.advance(retry_after);
    assert!(w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&right), &ctx()).await.is_ok());
    assert_eq!(w.store.throttle(practice, "ada").await.unwrap().failures, 0);
    let refused: Vec<_> =
        w.store.audit_events().into_iter().filter(|e| e.action == AuditAction::SecondFactorRefused).collect();
    let failures: Vec<_> = refused.iter().filter_map(|e| e.failure.clone()).collect();
    assert_eq!(failures.iter().filter(|f| **f == AuditFailure::InvalidCode).count(), 6);
    assert_eq!(failures.last(), Some(&AuditFailure::Throttled));
}

#[tokio::test]
async fn a_recovery_code_works_once_is_mailed_and_new_codes_void_the_old() {
    let w = world().await;
    let (_, enrolled) = with_app(&w).await;
    let codes: Vec<String> = enrolled.recovery_codes.unwrap().iter().map(|c| c.expose().to_owned()).collect();
    let step = second_step(&w).await;
    let typed = codes[0].to_uppercase();
    let answer = FactorAnswer::RecoveryCode(&typed);
    let signed_in = w.service.complete_second_step(&challenge(&step), answer, &ctx()).await.unwrap();
    assert!(w.mail().iter().any(|m| m.kind == MailKind::RecoveryCodeUsed));
    let owner = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner();
    assert_eq!(w.service.factors(&owner).await.unwrap().recovery_codes_left, 9);

    let step = second_step(&w).await;
    let again = w.service.complete_second_step(&challenge(&step), FactorAnswer::RecoveryCode(&codes[0]), &ctx()).await;
    assert!(matches!(again, Err(SecondStepError::InvalidCode)), "{again:?}");

    let fresh: Vec<RecoveryCode> = w.service.regenerate_recovery_codes(&owner, &ctx()).await.unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(actions(&w).contains(&AuditAction::RecoveryCodesRegenerated));
    w.advance(SignedDuration::from_secs(120));
    let step = second_step(&w).await;
    let old = w.service.complete_second_step(&challenge(&step), FactorAnswer::RecoveryCode(&codes[1]), &ctx()).await;
    assert!(matches!(old, Err(SecondStepError::InvalidCode)), "the old set is void: {old:?}");
    w.advance(SignedDuration::from_secs(120));
    let step = second_step(&w).await;
    let answer = FactorAnswer::RecoveryCode(fresh[3].expose());
    assert!(w.service.complete_second_step(&challenge(&step), answer, &ctx()).await.is_ok());
}

#[tokio::test]
async fn a_disabled_account_is_refused_at_the_second_step() {
    let w = world().await;
    let (app, _) = with_app(&w).await;
    w.advance(SignedDuration::from_secs(60));
    let step = second_step(&w).await;
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    let code = app_code(&app, w.clock.now());
    let refused = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await;
    assert!(matches!(refused, Err(SecondStepError::AccountDisabled)), "{refused:?}");
}

#[tokio::test]
async fn a_required_factor_is_enrolled_right_after_the_password_and_then_the_session_opens() {
    let w = world().await;
    w.registered().await;
    set_policy(&w, SecondFactorPolicy::Required).await;
    let step = second_step(&w).await;
    assert!(step.enrolment_required);
    assert_eq!(step.factors, vec![SecondFactorKind::Totp, SecondFactorKind::Passkey]);
    // An enrolment challenge is no verification challenge.
    let verify = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp("123456"), &ctx()).await;
    assert!(matches!(verify, Err(SecondStepError::ChallengeInvalid)), "{verify:?}");

    let enrolment = w.service.challenge_start_totp(&challenge(&step), &ctx()).await.unwrap();
    let code = app_code(&enrolment, w.clock.now());
    let (signed_in, enrolled) =
        w.service.challenge_confirm_totp(&challenge(&step), enrolment.factor_id, &code, None, &ctx()).await.unwrap();
    assert_eq!(enrolled.recovery_codes.map(|c| c.len()), Some(10));
    let owner = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner();
    // The last factor stays while the practice requires one.
    let factor = w.service.factors(&owner).await.unwrap().factors[0].id;
    let removed = w.service.remove_factor(&owner, factor, &ctx()).await;
    assert!(matches!(removed, Err(FactorError::FactorRequired)), "{removed:?}");
    // The challenge is used up.
    let reused = w.service.challenge_start_totp(&challenge(&step), &ctx()).await;
    assert!(matches!(reused, Err(SecondStepError::ChallengeInvalid)), "{reused:?}");
}

#[tokio::test]
async fn with_factors_off_nobody_enrols_but_an_enrolled_factor_is_still_asked_for() {
    let w = world().await;
    let (app, _) = with_app(&w).await;
    set_policy(&w, SecondFactorPolicy::Off).await;
    w.advance(SignedDuration::from_secs(60));
    let step = second_step(&w).await;
    let code = app_code(&app, w.clock.now());
    let signed_in = w.service.complete_second_step(&challenge(&step), FactorAnswer::Totp(&code), &ctx()).await.unwrap();
    let owner = w.service.authenticate_session(signed_in.token.expose().expose_secret()).await.unwrap().factor_owner();
    assert!(matches!(w.service.start_totp(&owner).await, Err(FactorError::EnrolmentOff)));
    // The client may still remove it; then the password alone signs in.
    let factor = w.service.factors(&owner).await.unwrap().factors[0].id;
    w.service.remove_factor(&owner, factor, &ctx()).await.unwrap();
    assert_eq!(w.service.factors(&owner).await.unwrap().recovery_codes_left, 0, "the codes go with the last factor");
    assert!(w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.is_ok());
    assert!(w.mail().iter().any(|m| m.kind == MailKind::SecondFactorRemoved));
}

#[tokio::test]
async fn staff_see_kinds_names_and_dates_and_remove_every_factor_with_a_notice() {
    let w = world().await;
    with_app(&w).await;
    let seen = w.service.client_factors(&w.staff, &w.client).await.unwrap();
    assert_eq!(seen.factors.len(), 1);
    assert_eq!(seen.factors[0].kind, SecondFactorKind::Totp);
    assert_eq!(seen.recovery_codes_left, 10);
    assert!(!format!("{seen:?}").contains("sealed"), "no secret in what staff see");

    let notices_before = w.mail().iter().filter(|m| m.kind == MailKind::SecondFactorRemoved).count();
    assert_eq!(w.service.remove_client_factors(&w.staff, &w.client).await.unwrap(), 1);
    let notices = w.mail().iter().filter(|m| m.kind == MailKind::SecondFactorRemoved).count();
    assert_eq!(notices, notices_before + 1);
    let removal = w.store.audit_events().into_iter().rfind(|e| e.action == AuditAction::SecondFactorRemoved).unwrap();
    assert!(matches!(removal.actor, portal_core::Actor::Staff { .. }));
    assert_eq!(removal.detail.as_deref(), Some("totp"));
    let after = w.service.client_factors(&w.staff, &w.client).await.unwrap();
    assert!(after.factors.is_empty() && after.recovery_codes_left == 0);
    assert_eq!(w.service.remove_client_factors(&w.staff, &w.client).await.unwrap(), 0, "nothing left: no-op");
    assert!(w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.is_ok());
}

#[tokio::test]
async fn the_policy_is_a_practice_setting_audited_by_name() {
    let w = world().await;
    set_policy(&w, SecondFactorPolicy::Required).await;
    let practice = w.service.staff_practice(&w.staff).await.unwrap().unwrap();
    assert_eq!(practice.settings.second_factor_policy(), SecondFactorPolicy::Required);
    let updated = w.store.audit_events().into_iter().rfind(|e| e.action == AuditAction::PracticeUpdated).unwrap();
    assert_eq!(updated.detail.as_deref(), Some("second_factor_policy"));
}

#[tokio::test]
async fn a_completed_password_reset_does_not_bypass_the_second_factor() {
    let w = world().await;
    with_app(&w).await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(portal_core::TokenPurpose::Reset);
    w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await.unwrap();
    assert!(w.store.sessions().is_empty(), "nobody is signed in by a reset");
    let after = w.service.sign_in("sunrise", "ada", &password(OTHER_PASSWORD), &ctx()).await;
    assert!(matches!(after, Err(SignInError::SecondFactor(_))), "{after:?}");
}
