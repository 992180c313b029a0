use std::sync::atomic::Ordering;

use jiff::SignedDuration;
use portal_core::ports::MockPasswordHasher;
use portal_core::service::{Infrastructure, SessionError, SignInError};
use portal_core::{AuditAction, AuditFailure, HashError, Verification};
use secrecy::ExposeSecret;

use crate::helpers::*;

#[tokio::test]
async fn an_unknown_user_costs_one_dummy_hash_and_looks_like_a_wrong_password() {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify_dummy().times(2).returning(|_| Ok(()));
    hasher.expect_verify().times(0);
    let w = world_with(hasher).await;
    let unknown_user = w.service.sign_in("sunrise", "nobody", &password(GOOD_PASSWORD), &ctx()).await;
    let unknown_practice = w.service.sign_in("nowhere", "nobody", &password(GOOD_PASSWORD), &ctx()).await;
    assert!(matches!(unknown_user, Err(SignInError::InvalidCredentials)));
    assert!(matches!(unknown_practice, Err(SignInError::InvalidCredentials)));
}

#[tokio::test]
async fn an_attempt_inside_the_delay_is_throttled_without_hashing_whether_or_not_the_user_exists() {
    let mut hasher = MockPasswordHasher::new();
    // Six failures are hashed; the seventh, too soon, is not; the eighth, after the delay, is.
    hasher.expect_verify_dummy().times(7).returning(|_| Ok(()));
    let w = world_with(hasher).await;
    for _ in 0..6 {
        let result = w.service.sign_in("sunrise", "Nobody", &password("wrong wrong wrong"), &ctx()).await;
        assert!(matches!(result, Err(SignInError::InvalidCredentials)));
    }
    match w.service.sign_in("sunrise", "nobody ", &password("wrong wrong wrong"), &ctx()).await {
        Err(SignInError::Throttled { retry_after }) => assert_eq!(retry_after, SignedDuration::from_secs(1)),
        other => panic!("expected Throttled, got {other:?}"),
    }
    w.advance(SignedDuration::from_secs(1));
    assert!(matches!(
        w.service.sign_in("sunrise", "nobody", &password("wrong wrong wrong"), &ctx()).await,
        Err(SignInError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn the_hard_lock_refuses_even_the_right_password_until_staff_act() {
    let w = world().await;
    w.registered().await;
    let lock_after = w.service.policy().throttle().hard_lock_after;
    for _ in 0..lock_after {
        w.advance(SignedDuration::from_mins(16));
        let result = w.service.sign_in("sunrise", "ada", &password("not the password at all"), &ctx()).await;
        assert!(matches!(result, Err(SignInError::InvalidCredentials)), "{result:?}");
    }
    w.advance(SignedDuration::from_mins(16));
    assert!(matches!(
        w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await,
        Err(SignInError::InvalidCredentials)
    ));
    let trail = w.service.audit_trail(&w.staff, &w.client).await.unwrap();
    let refusals: Vec<(AuditAction, AuditFailure)> =
        trail.iter().filter_map(|e| Some((e.action, e.failure.clone()?))).collect();
    let mut expected = vec![(AuditAction::SignInFailed, AuditFailure::InvalidCredentials); lock_after as usize];
    expected.push((AuditAction::SignInLocked, AuditFailure::Locked));
    assert_eq!(refusals, expected, "each wrong password, then the lock as it starts");
    // Staff toggle the account off and on: the lock is cleared.
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    w.service.set_enabled(&w.staff, &w.client, true, None).await.unwrap();
    w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn the_hard_lock_lapses_after_the_cooldown() {
    let w = world().await;
    w.registered().await;
    let rules = w.service.policy().throttle().clone();
    for _ in 0..rules.hard_lock_after {
        w.advance(SignedDuration::from_mins(16));
        let _ = w.service.sign_in("sunrise", "ada", &password("not the password at all"), &ctx()).await;
    }
    w.advance(rules.lock_cooldown);
    w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn a_disabled_account_with_a_wrong_password_is_just_invalid_credentials() {
    let w = world().await;
    w.registered().await;
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    assert!(matches!(
        w.service.sign_in("sunrise", "ada", &password("not the password at all"), &ctx()).await,
        Err(SignInError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn a_weak_stored_hash_is_upgraded_at_the_next_successful_sign_in() {
    let mut hasher = MockPasswordHasher::new();
    let hashes = numbered_hashes(&mut hasher);
    hasher.expect_verify().times(1).returning(|_, _| Ok(Verification::Match { needs_upgrade: true }));
    let w = world_with(hasher).await;
    w.registered().await;
    assert_eq!(hashes.load(Ordering::SeqCst), 1);
    w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    assert_eq!(hashes.load(Ordering::SeqCst), 2, "the password was rehashed");
    let trail = w.service.audit_trail(&w.staff, &w.client).await.unwrap();
    assert!(trail.iter().any(|e| e.action == AuditAction::PasswordHashUpgraded));
}

#[tokio::test]
async fn a_saturated_hashing_pool_is_reported_as_busy() {
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify_dummy().returning(|_| Err(HashError::Saturated));
    let w = world_with(hasher).await;
    assert!(matches!(
        w.service.sign_in("sunrise", "nobody", &password(GOOD_PASSWORD), &ctx()).await,
        Err(SignInError::Infrastructure(Infrastructure::Busy))
    ));
}

#[tokio::test]
async fn sessions_end_after_thirty_idle_minutes_and_after_twelve_hours_in_any_case() {
    let w = world().await;
    w.registered().await;
    let idle = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let idle = idle.token.expose().expose_secret().to_owned();
    w.advance(SignedDuration::from_mins(30) - SignedDuration::from_secs(1));
    w.service.authenticate_session(&idle).await.expect("still inside the idle window");
    w.advance(SignedDuration::from_mins(30));
    assert!(matches!(w.service.authenticate_session(&idle).await, Err(SessionError::Unauthenticated)));

    let busy = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let busy = busy.token.expose().expose_secret().to_owned();
    for _ in 0..(12 * 3 - 1) {
        w.advance(SignedDuration::from_mins(20));
        w.service.authenticate_session(&busy).await.expect("used every 20 minutes");
    }
    w.advance(SignedDuration::from_mins(20));
    assert!(matches!(w.service.authenticate_session(&busy).await, Err(SessionError::Unauthenticated)));
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let w = world().await;
    w.registered().await;
    let signed_in = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let token = signed_in.token.expose().expose_secret().to_owned();
    w.service.sign_out(&token, &ctx()).await.unwrap();
    assert!(matches!(w.service.authenticate_session(&token).await, Err(SessionError::Unauthenticated)));
    w.service.sign_out(&token, &ctx()).await.expect("signing out twice is harmless");
}
