//! `StaffAccess`: staff keys with their lifetime, and staff sessions.

use portal_core::{
    AuditAction, StaffAccess, StaffId, StaffKeyRecord, StaffSession, StaffSessionId, StoreError, TokenHash,
};

use crate::fixtures::{World, at, event, id, practice, staff};
use crate::harness::TestDb;

fn key_record(world: &World, label: &str) -> StaffKeyRecord {
    StaffKeyRecord {
        staff: staff(&world.practice, label),
        expires_at: Some(at(3_600)),
        revoked_at: None,
        last_used_at: None,
    }
}

fn staff_session(key: &StaffKeyRecord, secret: &str, when: jiff::Timestamp) -> StaffSession {
    StaffSession {
        id: StaffSessionId::from_uuid(id()),
        token_hash: TokenHash::of(secret.as_bytes()),
        staff_id: key.staff.id,
        practice_id: key.staff.practice_id,
        created_at: when,
        last_seen_at: when,
    }
}

pub async fn staff_keys_keep_their_lifetime_and_are_listed_oldest_first(db: &TestDb) {
    let world = World::new(db).await;
    let practice_id = world.practice.id;
    // The key made with the practice: no expiry, never revoked, never used.
    let first = db.store.staff_key_by_hash(&TokenHash::of(b"pst_sunrise")).await.unwrap().unwrap();
    assert_eq!(
        first,
        StaffKeyRecord { staff: world.staff.clone(), expires_at: None, revoked_at: None, last_used_at: None }
    );

    let mut key = key_record(&world, "Locum");
    key.staff.created_at = at(10);
    let hash = TokenHash::of(b"pst_locum");
    db.store
        .insert_staff_key(&key, &hash, &event(practice_id, None, AuditAction::StaffKeyCreated, at(10)))
        .await
        .unwrap();
    assert_eq!(db.store.staff_key_by_hash(&hash).await.unwrap(), Some(key.clone()));
    assert_eq!(db.store.staff_keys(practice_id).await.unwrap(), [first.clone(), key.clone()]);

    // Same hash, or same id: a duplicate, nothing written.
    let again = StaffKeyRecord { staff: staff(&world.practice, "Copy"), ..key.clone() };
    let err =
        db.store.insert_staff_key(&again, &hash, &event(practice_id, None, AuditAction::StaffKeyCreated, at(11))).await;
    assert!(matches!(err, Err(StoreError::Duplicate(_))), "{err:?}");
    let orphan = StaffKeyRecord { staff: staff(&practice("elsewhere"), "Ghost"), ..key.clone() };
    let err = db
        .store
        .insert_staff_key(
            &orphan,
            &TokenHash::of(b"pst_ghost"),
            &event(practice_id, None, AuditAction::StaffKeyCreated, at(12)),
        )
        .await;
    assert!(matches!(err, Err(StoreError::NotFound("practice"))), "{err:?}");
    assert_eq!(db.count("staff_keys", "").await, 2);
    assert_eq!(db.count("audit_events", "").await, 2, "the client's creation and one key creation");

    // Last use only moves forward; an unknown key is not an error.
    db.store.record_staff_key_use(key.staff.id, at(100)).await.unwrap();
    db.store.record_staff_key_use(key.staff.id, at(50)).await.unwrap();
    db.store.record_staff_key_use(StaffId::from_uuid(id()), at(100)).await.unwrap();
    let used = db.store.staff_key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at(100)));
    // Another practice sees none of them.
    let other = World::with_slug(db, "elsewhere").await;
    assert_eq!(db.store.staff_keys(other.practice.id).await.unwrap().len(), 1);
}

pub async fn revoking_a_key_ends_its_sessions_in_the_same_transaction_once(db: &TestDb) {
    let world = World::new(db).await;
    let practice_id = world.practice.id;
    let key = key_record(&world, "Locum");
    let hash = TokenHash::of(b"pst_locum");
    db.store
        .insert_staff_key(&key, &hash, &event(practice_id, None, AuditAction::StaffKeyCreated, at(0)))
        .await
        .unwrap();
    let first = db.store.staff_key_by_hash(&TokenHash::of(b"pst_sunrise")).await.unwrap().unwrap();
    let (a, b) = (staff_session(&key, "pss_a", at(1)), staff_session(&key, "pss_b", at(2)));
    let kept = staff_session(&first, "pss_kept", at(3));
    for session in [&a, &b, &kept] {
        let audit = event(practice_id, None, AuditAction::StaffSignedIn, session.created_at);
        db.store.create_staff_session(session, &audit).await.unwrap();
    }

    // Another practice cannot revoke it.
    let other = World::with_slug(db, "elsewhere").await;
    let audit = event(other.practice.id, None, AuditAction::StaffKeyRevoked, at(4));
    let err = db.store.revoke_staff_key(other.practice.id, key.staff.id, at(4), &audit).await;
    assert!(matches!(err, Err(StoreError::NotFound("staff key"))), "{err:?}");

    let audit = event(practice_id, None, AuditAction::StaffKeyRevoked, at(5));
    let revoked = db.store.revoke_staff_key(practice_id, key.staff.id, at(5), &audit).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at(5)));
    assert_eq!(db.store.staff_session_by_token(&a.token_hash).await.unwrap(), None);
    assert_eq!(db.store.staff_session_by_token(&b.token_hash).await.unwrap(), None);
    assert!(db.store.staff_session_by_token(&kept.token_hash).await.unwrap().is_some());

    // Again: the first time stays, no second event.
    let audit = event(practice_id, None, AuditAction::StaffKeyRevoked, at(6));
    let again = db.store.revoke_staff_key(practice_id, key.staff.id, at(6), &audit).await.unwrap();
    assert_eq!(again.revoked_at, Some(at(5)));
    let revocations = db.count("audit_events", "action = 'staff_key_revoked'").await;
    assert_eq!(revocations, 1);
    assert_eq!(db.store.staff_key_by_hash(&hash).await.unwrap().unwrap().revoked_at, Some(at(5)));
}

pub async fn staff_sessions_are_found_with_their_key_touched_forwards_and_ended(db: &TestDb) {
    let world = World::new(db).await;
    let practice_id = world.practice.id;
    let key = db.store.staff_key_by_hash(&TokenHash::of(b"pst_sunrise")).await.unwrap().unwrap();
    let session = staff_session(&key, "pss_secret", at(0));
    db.store
        .create_staff_session(&session, &event(practice_id, None, AuditAction::StaffSignedIn, at(0)))
        .await
        .unwrap();
    assert_eq!(
        db.store.staff_session_by_token(&session.token_hash).await.unwrap(),
        Some((session.clone(), key.clone()))
    );

    db.store.touch_staff_session(session.id, at(10)).await.unwrap();
    db.store.touch_staff_session(session.id, at(5)).await.unwrap();
    let (touched, _) = db.store.staff_session_by_token(&session.token_hash).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, at(10), "touch never moves the idle clock back");

    // Same secret: a duplicate. Unknown key: not found. Nothing written either way.
    let same = StaffSession { id: StaffSessionId::from_uuid(id()), ..session.clone() };
    let err = db.store.create_staff_session(&same, &event(practice_id, None, AuditAction::StaffSignedIn, at(1))).await;
    assert!(matches!(err, Err(StoreError::Duplicate(_))), "{err:?}");
    let orphan = StaffSession { staff_id: StaffId::from_uuid(id()), ..staff_session(&key, "pss_orphan", at(1)) };
    let err =
        db.store.create_staff_session(&orphan, &event(practice_id, None, AuditAction::StaffSignedIn, at(1))).await;
    assert!(matches!(err, Err(StoreError::NotFound("staff key"))), "{err:?}");
    assert_eq!(db.count("staff_sessions", "").await, 1);

    let out = event(practice_id, None, AuditAction::StaffSignedOut, at(20));
    db.store.end_staff_session(session.id, &[out]).await.unwrap();
    assert_eq!(db.store.staff_session_by_token(&session.token_hash).await.unwrap(), None);
    db.store.end_staff_session(session.id, &[]).await.unwrap();
    assert_eq!(db.count("audit_events", "action LIKE 'staff_%'").await, 2);
    assert_eq!(db.count("staff_sessions", "").await, 0);
}
