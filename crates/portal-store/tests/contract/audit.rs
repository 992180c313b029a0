//! `AuditLog`: append and trail.

use portal_core::{Actor, AuditAction, AuditEvent, AuditFailure, AuditLog, StoreError};

use crate::fixtures::{World, at, event, name};
use crate::harness::TestDb;

pub async fn the_trail_is_oldest_first_and_only_the_clients_own(db: &TestDb) {
    let world = World::new(db).await;
    let bob = world.add_client(db, "Bob").await;
    let (practice, ada) = (world.practice.id, world.client.id.clone());

    let mut late = event(practice, Some(&ada), AuditAction::AccountDisabled, at(30));
    late.actor = Actor::Staff { id: world.staff.id, label: name("Front desk") };
    late.detail = Some("moved away".into());
    let first_at_ten = event(practice, Some(&ada), AuditAction::InviteSent, at(10));
    let mut second_at_ten = event(practice, Some(&ada), AuditAction::SignInFailed, at(10));
    second_at_ten.actor = Actor::Anonymous;
    second_at_ten.failure = Some(AuditFailure::InvalidCredentials);
    second_at_ten.context.source_ip = Some("2001:db8::7".parse().unwrap());
    second_at_ten.context.request_id = None;
    let bobs = event(practice, Some(&bob.id), AuditAction::InviteSent, at(20));
    let mut anonymous = event(practice, None, AuditAction::SignInFailed, at(21));
    anonymous.actor = Actor::System;

    db.store
        .append(&[late.clone(), first_at_ten.clone(), second_at_ten.clone(), bobs.clone(), anonymous])
        .await
        .unwrap();
    db.store.append(&[]).await.unwrap();

    let trail = db.store.trail(practice, &ada).await.unwrap();
    assert_eq!(trail.len(), 4);
    assert_eq!(trail[0].action, AuditAction::ClientCreated);
    assert_eq!(trail[1..], [first_at_ten, second_at_ten, late], "oldest first; equal times in write order");
    assert_eq!(db.store.trail(practice, &bob.id).await.unwrap()[1..], [bobs]);
}

pub async fn an_audit_batch_with_a_reused_id_writes_nothing(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, ada) = (world.practice.id, world.client.id.clone());
    let first = event(practice, Some(&ada), AuditAction::SignedOut, at(1));
    db.store.append(std::slice::from_ref(&first)).await.unwrap();

    let fresh = event(practice, Some(&ada), AuditAction::SignInSucceeded, at(2));
    let reused = portal_core::AuditEvent { at: at(3), ..first.clone() };
    let err = db.store.append(&[fresh, reused]).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("audit event")), "{err:?}");
    let actions: Vec<AuditAction> =
        db.store.trail(practice, &ada).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, [AuditAction::ClientCreated, AuditAction::SignedOut]);
}

pub async fn every_failure_code_round_trips_and_an_unknown_stored_one_still_reads(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, ada) = (world.practice.id, world.client.id.clone());
    let from_another_version = AuditFailure::parse("password_expired");
    let refusals: Vec<AuditEvent> = AuditFailure::KNOWN
        .into_iter()
        .chain([from_another_version])
        .zip(1..)
        .map(|(failure, second)| AuditEvent {
            failure: Some(failure),
            ..event(practice, Some(&ada), AuditAction::SignInFailed, at(second))
        })
        .collect();
    db.store.append(&refusals).await.unwrap();
    assert_eq!(db.store.trail(practice, &ada).await.unwrap()[1..], refusals);

    let stored: Vec<String> = db
        .query("SELECT failure FROM audit_events WHERE failure IS NOT NULL ORDER BY seq")
        .await
        .iter()
        .map(|row| row.try_get::<String>("", "failure").unwrap())
        .collect();
    let expected: Vec<&str> =
        AuditFailure::KNOWN.iter().map(AuditFailure::as_str).chain(["password_expired"]).collect();
    assert_eq!(stored, expected);
    for code in ["invalid_credentials", "account_disabled", "throttled", "locked", "key_revoked", "key_expired"] {
        assert!(expected.contains(&code), "{code} is a stored code and must stay one");
    }

    // A code written straight into the table, as another version might, reads as it was stored.
    db.query("UPDATE audit_events SET failure = 'mfa_required' WHERE failure = 'locked'").await;
    let read = db.store.trail(practice, &ada).await.unwrap();
    let failure = read[4].failure.as_ref().unwrap();
    assert!(matches!(failure, AuditFailure::Unrecognised(_)), "{failure:?}");
    assert_eq!(failure.as_str(), "mfa_required");
}
