//! `SessionStore`: sessions by hash, touch, revoke.

use portal_core::{AuditAction, AuditLog, Session, SessionId, SessionStore, StoreError};

use crate::fixtures::{World, at, event, host_id, id, session};
use crate::harness::TestDb;

pub async fn sessions_are_found_by_hash_touched_forwards_and_revoked(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let signed_in = session(&world.client, "session-secret", at(0));
    db.store
        .create_session(&signed_in, &event(practice, Some(&client), AuditAction::SignInSucceeded, at(0)))
        .await
        .unwrap();
    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), Some(signed_in.clone()));

    db.store.touch_session(signed_in.id, at(10)).await.unwrap();
    db.store.touch_session(signed_in.id, at(5)).await.unwrap();
    let touched = db.store.session_by_token(&signed_in.token_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, at(10), "touch never moves the idle clock back");
    assert_eq!(touched.created_at, at(0));
    db.store.touch_session(SessionId::from_uuid(id()), at(11)).await.unwrap();

    db.store
        .revoke_session(signed_in.id, &event(practice, Some(&client), AuditAction::SignedOut, at(12)))
        .await
        .unwrap();
    assert_eq!(db.store.session_by_token(&signed_in.token_hash).await.unwrap(), None);
    // A vanished session is not an error.
    db.store
        .revoke_session(signed_in.id, &event(practice, Some(&client), AuditAction::SignedOut, at(13)))
        .await
        .unwrap();

    let trail: Vec<AuditAction> =
        db.store.trail(practice, &client).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(
        trail,
        [AuditAction::ClientCreated, AuditAction::SignInSucceeded, AuditAction::SignedOut, AuditAction::SignedOut]
    );
}

pub async fn a_session_needs_a_known_practice_and_a_unique_secret(db: &TestDb) {
    let world = World::new(db).await;
    let practice = world.practice.id;
    let signed_in = session(&world.client, "session-secret", at(0));
    db.store.create_session(&signed_in, &event(practice, None, AuditAction::SignInSucceeded, at(0))).await.unwrap();

    let same_secret = Session { id: SessionId::from_uuid(id()), ..signed_in.clone() };
    let err = db.store.create_session(&same_secret, &event(practice, None, AuditAction::SignInSucceeded, at(1))).await;
    assert!(matches!(err, Err(StoreError::Duplicate(_))), "{err:?}");

    // A client the host owns (no bundled record) signs in like any other.
    let host_owned = Session { client_id: host_id("MRN-0042"), ..session(&world.client, "host-secret", at(2)) };
    db.store.create_session(&host_owned, &event(practice, None, AuditAction::SignInSucceeded, at(2))).await.unwrap();
    assert_eq!(db.store.session_by_token(&host_owned.token_hash).await.unwrap(), Some(host_owned));

    // A practice that does not exist is refused.
    let mut orphan = session(&world.client, "orphan-secret", at(3));
    orphan.practice_id = portal_core::PracticeId::from_uuid(id());
    let err = db.store.create_session(&orphan, &event(practice, None, AuditAction::SignInSucceeded, at(3))).await;
    assert!(matches!(err, Err(StoreError::NotFound("practice"))), "{err:?}");

    assert_eq!(db.count("sessions", "").await, 2);
    assert_eq!(db.count("audit_events", "").await, 3, "refused sessions leave no audit event");
}
