//! Staff keys and staff sessions, offline: expiry, revocation, the idle and absolute limits of a
//! staff session, last use, the audit rows, and the service's short memory of active keys (when
//! a key check reads the store, and how soon a revocation is seen here and elsewhere).

use jiff::SignedDuration;
use portal_core::service::{DEFAULT_STAFF_KEY_RECHECK, PortalService, StaffKeyError, StaffSignInError};
use portal_core::testing::SeededRandom;
use portal_core::{Actor, AuditAction, AuditFailure, Policy, StaffKeyState};
use secrecy::ExposeSecret as _;

use crate::helpers::{ctx, fast_hasher, key, start, world};

/// A fresh key of the practice, without expiry.
async fn a_key(world: &crate::helpers::World) -> String {
    let created = world.service.create_staff_key("sunrise", "Reception", None).await.unwrap();
    created.secret.expose().expose_secret().to_owned()
}

fn actions(world: &crate::helpers::World) -> Vec<AuditAction> {
    world.store.audit_events().iter().map(|event| event.action).collect()
}

#[tokio::test]
async fn a_key_works_until_its_expiry_and_not_at_it() {
    let w = world().await;
    let created =
        w.service.create_staff_key("sunrise", "Front desk", Some(SignedDuration::from_hours(2))).await.unwrap();
    assert_eq!(created.key.expires_at, Some(start() + SignedDuration::from_hours(2)));
    let key = created.secret.expose().expose_secret().to_owned();
    assert!(key.starts_with("pst_"));

    w.clock.set(start() + SignedDuration::from_hours(2) - SignedDuration::from_micros(1));
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), Some(created.key.staff.clone()));
    w.clock.set(start() + SignedDuration::from_hours(2));
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None);
    let (_, keys) = w.service.staff_keys("sunrise").await.unwrap();
    let listed = keys.iter().find(|k| k.staff.id == created.key.staff.id).unwrap();
    assert_eq!(listed.state_at(w.clock.now()), StaffKeyState::Expired);
}

#[tokio::test]
async fn a_lifetime_must_be_positive() {
    let w = world().await;
    for bad in [SignedDuration::ZERO, SignedDuration::from_secs(-1), SignedDuration::MAX] {
        let refused = w.service.create_staff_key("sunrise", "Front desk", Some(bad)).await;
        assert!(matches!(refused, Err(StaffKeyError::InvalidExpiry)), "{bad:?}: {refused:?}");
    }
    let unknown = w.service.create_staff_key("nowhere", "Front desk", None).await;
    assert!(matches!(unknown, Err(StaffKeyError::PracticeNotFound)));
}

#[tokio::test]
async fn revoking_a_key_ends_it_and_its_sessions_in_one_step_and_is_audited() {
    let w = world().await;
    let created = w.service.create_staff_key("sunrise", "Front desk", None).await.unwrap();
    let key = created.secret.expose().expose_secret().to_owned();
    let id = created.key.staff.id.to_string();
    let first = w.service.staff_sign_in(&key, &ctx()).await.unwrap();
    let second = w.service.staff_sign_in(&key, &ctx()).await.unwrap();
    let other = w.service.staff_sign_in(&a_key(&w).await, &ctx()).await.unwrap();
    assert_eq!(w.store.staff_session_count(), 3);

    let revoked = w.service.revoke_staff_key("sunrise", &id).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(start()));
    assert_eq!(w.store.staff_session_count(), 1, "only the other key's session is left");
    for session in [&first, &second] {
        let token = session.token.expose().expose_secret();
        assert_eq!(w.service.authenticate_staff_session(token).await.unwrap(), None);
    }
    assert!(w.service.authenticate_staff_session(other.token.expose().expose_secret()).await.unwrap().is_some());
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None);

    // Again: nothing changes, no second event.
    w.clock.advance(SignedDuration::from_mins(5));
    assert_eq!(w.service.revoke_staff_key("sunrise", &id).await.unwrap().revoked_at, Some(start()));
    assert_eq!(actions(&w).iter().filter(|a| **a == AuditAction::StaffKeyRevoked).count(), 1);

    let refused = w.service.staff_sign_in(&key, &ctx()).await;
    assert!(matches!(refused, Err(StaffSignInError::InvalidKey)));
    let event = w.store.audit_events().into_iter().rfind(|e| e.action == AuditAction::StaffSignInFailed).unwrap();
    assert_eq!(event.failure, Some(AuditFailure::KeyRevoked));
    assert_eq!(event.context, ctx());
    assert!(matches!(event.actor, Actor::Staff { id, .. } if id == created.key.staff.id));

    let not_ours = w.service.revoke_staff_key("sunrise", "00000000-0000-0000-0000-000000000001").await;
    assert!(matches!(not_ours, Err(StaffKeyError::KeyNotFound)));
}

#[tokio::test]
async fn a_session_of_a_key_that_expires_ends_with_it() {
    let w = world().await;
    let created = w.service.create_staff_key("sunrise", "Locum", Some(SignedDuration::from_mins(10))).await.unwrap();
    let signed_in = w.service.staff_sign_in(created.secret.expose().expose_secret(), &ctx()).await.unwrap();
    let token = signed_in.token.expose().expose_secret().to_owned();
    assert!(token.starts_with("pss_"));
    w.clock.advance(SignedDuration::from_mins(9));
    assert!(w.service.authenticate_staff_session(&token).await.unwrap().is_some());
    w.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(w.service.authenticate_staff_session(&token).await.unwrap(), None);
    assert_eq!(w.store.staff_session_count(), 0, "the dead session is removed");
}

#[tokio::test]
async fn a_staff_session_has_the_idle_and_absolute_limits_of_client_sessions() {
    let w = world().await;
    let policy = Policy::default();
    let key = a_key(&w).await;
    let idle = w.service.staff_sign_in(&key, &ctx()).await.unwrap();
    assert_eq!(idle.expires_at, start() + policy.session_idle());
    let token = idle.token.expose().expose_secret().to_owned();
    w.clock.set(start() + policy.session_idle() - SignedDuration::from_secs(1));
    assert!(w.service.authenticate_staff_session(&token).await.unwrap().is_some());
    w.clock.advance(policy.session_idle());
    assert_eq!(w.service.authenticate_staff_session(&token).await.unwrap(), None);

    let begun = w.clock.now();
    let busy = w.service.staff_sign_in(&key, &ctx()).await.unwrap();
    let token = busy.token.expose().expose_secret().to_owned();
    let end = begun + policy.session_absolute();
    while w.clock.now() + SignedDuration::from_mins(20) < end {
        w.clock.advance(SignedDuration::from_mins(20));
        assert!(w.service.authenticate_staff_session(&token).await.unwrap().is_some());
    }
    w.clock.set(end);
    assert_eq!(w.service.authenticate_staff_session(&token).await.unwrap(), None);
}

#[tokio::test]
async fn sign_in_and_sign_out_are_audited_and_an_unknown_key_writes_nothing() {
    let w = world().await;
    let key = a_key(&w).await;
    let before = w.store.audit_events().len();
    let refused = w.service.staff_sign_in("pst_not_a_key", &ctx()).await;
    assert!(matches!(refused, Err(StaffSignInError::InvalidKey)));
    assert_eq!(w.store.audit_events().len(), before, "an unknown key names no practice to audit in");

    let signed_in = w.service.staff_sign_in(&key, &ctx()).await.unwrap();
    w.service.staff_sign_out(signed_in.token.expose().expose_secret(), &ctx()).await.unwrap();
    w.service.staff_sign_out(signed_in.token.expose().expose_secret(), &ctx()).await.unwrap();
    let tail: Vec<AuditAction> = actions(&w).into_iter().skip(before).collect();
    assert_eq!(tail, [AuditAction::StaffSignedIn, AuditAction::StaffSignedOut]);
    let events = w.store.audit_events();
    assert!(events[before..].iter().all(|e| e.client_id.is_none() && e.context == ctx()));
    assert_eq!(w.store.staff_session_count(), 0);
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let w = world().await;
    let key = a_key(&w).await;
    let last_used = || async {
        let (_, keys) = w.service.staff_keys("sunrise").await.unwrap();
        keys.into_iter().find(|k| k.staff.label.as_str() == "Reception").unwrap().last_used_at
    };
    assert_eq!(last_used().await, None);
    w.service.authenticate_staff(&key).await.unwrap();
    assert_eq!(last_used().await, Some(start()));
    w.clock.advance(SignedDuration::from_secs(59));
    w.service.authenticate_staff(&key).await.unwrap();
    assert_eq!(last_used().await, Some(start()));
    w.clock.advance(SignedDuration::from_secs(1));
    w.service.authenticate_staff(&key).await.unwrap();
    assert_eq!(last_used().await, Some(start() + SignedDuration::from_mins(1)));
}

/// A new active key of the world's practice: the key itself and its id.
async fn front_desk_key(w: &crate::helpers::World) -> (String, String) {
    let created = w.service.create_staff_key("sunrise", "Front desk", None).await.unwrap();
    (created.secret.expose().expose_secret().to_owned(), created.key.staff.id.to_string())
}

/// A second service over the same store with its own memory of keys: another process (the
/// `staff-key revoke` command, a second server on the same database).
fn another_process(world: &crate::helpers::World, recheck: SignedDuration) -> crate::helpers::Service {
    PortalService::new(
        world.store.clone(),
        world.store.clone(),
        fast_hasher(),
        world.clock.clone(),
        SeededRandom::new(8),
        Policy::default(),
        key(),
    )
    .with_bundled_records()
    .with_staff_key_recheck(recheck)
}

const JUST_UNDER_A_SECOND: SignedDuration = SignedDuration::from_nanos(999_999_000);

#[tokio::test]
async fn a_key_checked_again_within_the_recheck_interval_is_not_read_again() {
    let w = world().await;
    let key = a_key(&w).await;
    let reads = w.store.staff_key_reads();
    let staff = w.service.authenticate_staff(&key).await.unwrap().expect("an active key");
    assert_eq!(w.store.staff_key_reads(), reads + 1);

    w.clock.advance(JUST_UNDER_A_SECOND);
    for _ in 0..3 {
        assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), Some(staff.clone()));
    }
    assert_eq!(w.store.staff_key_reads(), reads + 1, "answered from memory");

    w.clock.set(start() + DEFAULT_STAFF_KEY_RECHECK);
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), Some(staff.clone()));
    assert_eq!(w.store.staff_key_reads(), reads + 2, "read again after the interval");
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), Some(staff));
    assert_eq!(w.store.staff_key_reads(), reads + 2, "and remembered again");
}

#[tokio::test]
async fn an_unknown_key_is_read_every_time() {
    let w = world().await;
    let reads = w.store.staff_key_reads();
    for _ in 0..3 {
        assert_eq!(w.service.authenticate_staff("pst_not_a_key").await.unwrap(), None);
    }
    assert_eq!(w.store.staff_key_reads(), reads + 3);
}

#[tokio::test]
async fn a_key_revoked_through_the_service_is_refused_at_once() {
    let w = world().await;
    let (key, id) = front_desk_key(&w).await;
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some(), "remembered");

    w.service.revoke_staff_key("sunrise", &id).await.unwrap();
    let reads = w.store.staff_key_reads();
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None, "at the same instant");
    assert_eq!(w.store.staff_key_reads(), reads + 1, "the refusal is a store read");
}

#[tokio::test]
async fn a_key_revoked_by_another_process_is_refused_after_the_recheck_interval_and_not_before() {
    let w = world().await;
    let (key, id) = front_desk_key(&w).await;
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());

    let elsewhere = another_process(&w, DEFAULT_STAFF_KEY_RECHECK);
    elsewhere.revoke_staff_key("sunrise", &id).await.unwrap();
    assert_eq!(elsewhere.authenticate_staff(&key).await.unwrap(), None, "at once where it was revoked");
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some(), "the trade: still remembered here");
    w.clock.advance(JUST_UNDER_A_SECOND);
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    w.clock.set(start() + DEFAULT_STAFF_KEY_RECHECK);
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None);
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None, "and not remembered");
}

#[tokio::test]
async fn a_sign_in_that_finds_the_key_revoked_elsewhere_ends_its_memory_at_once() {
    let w = world().await;
    let (key, id) = front_desk_key(&w).await;
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());

    let elsewhere = another_process(&w, DEFAULT_STAFF_KEY_RECHECK);
    elsewhere.revoke_staff_key("sunrise", &id).await.unwrap();
    let refused = w.service.staff_sign_in(&key, &ctx()).await;
    assert!(matches!(refused, Err(StaffSignInError::InvalidKey)));
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_remembered_key_is_refused_the_moment_it_expires() {
    let w = world().await;
    let lifetime = SignedDuration::from_mins(10);
    let created = w.service.create_staff_key("sunrise", "Locum", Some(lifetime)).await.unwrap();
    let key = created.secret.expose().expose_secret().to_owned();
    let expiry = start() + lifetime;

    w.clock.set(expiry - SignedDuration::from_millis(500));
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    let reads = w.store.staff_key_reads();
    w.clock.set(expiry - SignedDuration::from_micros(1));
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    assert_eq!(w.store.staff_key_reads(), reads, "a hit");
    w.clock.set(expiry);
    assert_eq!(w.service.authenticate_staff(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_recheck_interval_of_zero_reads_the_store_every_time() {
    let w = world().await;
    let (key, id) = front_desk_key(&w).await;
    let every_time = another_process(&w, SignedDuration::ZERO);
    let reads = w.store.staff_key_reads();
    for _ in 0..3 {
        assert!(every_time.authenticate_staff(&key).await.unwrap().is_some());
    }
    assert_eq!(w.store.staff_key_reads(), reads + 3);

    // Another process revoking the key is seen on the very next request.
    w.service.revoke_staff_key("sunrise", &id).await.unwrap();
    assert_eq!(every_time.authenticate_staff(&key).await.unwrap(), None);
}

#[tokio::test]
async fn a_longer_recheck_interval_is_the_embedders_choice() {
    let w = world().await;
    let key = a_key(&w).await;
    let patient = another_process(&w, SignedDuration::from_secs(5));
    assert!(patient.authenticate_staff(&key).await.unwrap().is_some());
    let reads = w.store.staff_key_reads();
    w.clock.advance(SignedDuration::from_secs(4));
    assert!(patient.authenticate_staff(&key).await.unwrap().is_some());
    assert_eq!(w.store.staff_key_reads(), reads);
    w.clock.advance(SignedDuration::from_secs(1));
    assert!(patient.authenticate_staff(&key).await.unwrap().is_some());
    assert_eq!(w.store.staff_key_reads(), reads + 1);
}

#[tokio::test]
async fn a_clock_that_went_backwards_reads_the_key_again() {
    let w = world().await;
    let key = a_key(&w).await;
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    let reads = w.store.staff_key_reads();
    w.clock.advance(SignedDuration::from_millis(-1));
    assert!(w.service.authenticate_staff(&key).await.unwrap().is_some());
    assert_eq!(w.store.staff_key_reads(), reads + 1);
}
