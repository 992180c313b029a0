//! `Directory`: practices, staff keys, clients.

use portal_core::{
    AuditAction, AuditLog, ClientDirectory, Directory, Language, Practice, PracticeId, PracticeSettings,
    PracticeSettingsInput, PracticeSlug, StaffAccess, StoreError, TimeZoneName, TokenHash,
};

use crate::fixtures::{self, World, at, event, id, name};
use crate::harness::TestDb;

pub async fn a_practice_is_found_by_slug_and_by_id_and_counted(db: &TestDb) {
    assert_eq!(db.store.practice_count().await.unwrap(), 0);
    let world = World::new(db).await;
    assert_eq!(db.store.practice_by_slug(&world.practice.slug).await.unwrap(), Some(world.practice.clone()));
    assert_eq!(db.store.practice(world.practice.id).await.unwrap(), Some(world.practice.clone()));
    assert_eq!(db.store.practice_count().await.unwrap(), 1);
    assert_eq!(db.store.practice_by_slug(&PracticeSlug::parse("nowhere").unwrap()).await.unwrap(), None);
    assert_eq!(db.store.practice(PracticeId::from_uuid(id())).await.unwrap(), None);
}

pub async fn a_taken_slug_is_a_duplicate_and_writes_nothing(db: &TestDb) {
    World::new(db).await;
    let second = fixtures::practice("sunrise");
    let staff = fixtures::staff(&second, "Other desk");
    let key = TokenHash::of(b"pst_second");
    let err = db.store.create_practice(&second, &staff, &key).await.unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("slug")), "{err:?}");
    assert_eq!(db.store.practice_count().await.unwrap(), 1);
    assert_eq!(db.store.practice(second.id).await.unwrap(), None);
    assert_eq!(db.store.staff_key_by_hash(&key).await.unwrap(), None);
}

pub async fn a_practice_update_keeps_its_slug_writes_its_settings_and_audits_atomically(db: &TestDb) {
    let world = World::new(db).await;
    let settings = PracticeSettings::restore(PracticeSettingsInput {
        date_of_birth_check: true,
        client_started_resets: true,
        invitation_reminder_hours: Some(24),
        invite_link_hours: Some(72),
        reset_link_hours: Some(168),
        second_factor_policy: portal_core::SecondFactorPolicy::Off,
    })
    .unwrap();
    let changed = Practice {
        name: name("Sunrise Family Therapy"),
        time_zone: TimeZoneName::parse("America/Chicago").unwrap(),
        discreet_mail: false,
        settings,
        // Neither may change: the store keeps what it has.
        slug: PracticeSlug::parse("elsewhere").unwrap(),
        created_at: at(99),
        ..world.practice.clone()
    };
    let audit = event(world.practice.id, None, AuditAction::PracticeUpdated, at(5));
    db.store.update_practice(&changed, &audit).await.unwrap();
    let stored = db.store.practice(world.practice.id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        Practice { slug: world.practice.slug.clone(), created_at: world.practice.created_at, ..changed.clone() }
    );
    assert_eq!(db.count("audit_events", "action = 'practice_updated'").await, 1);

    // Back to the defaults: NULL lifetimes follow the server again.
    let back = Practice { settings: PracticeSettings::default(), ..stored };
    db.store
        .update_practice(&back, &event(world.practice.id, None, AuditAction::PracticeUpdated, at(6)))
        .await
        .unwrap();
    assert_eq!(db.store.practice(world.practice.id).await.unwrap().unwrap().settings, PracticeSettings::default());

    // An unknown practice writes nothing, not even its audit event.
    let gone = fixtures::practice("gone");
    let err = db.store.update_practice(&gone, &event(gone.id, None, AuditAction::PracticeUpdated, at(7))).await;
    assert!(matches!(err, Err(StoreError::NotFound("practice"))), "{err:?}");
    assert_eq!(db.count("audit_events", "action = 'practice_updated'").await, 2);
}

pub async fn clients_are_created_updated_and_only_visible_in_their_practice(db: &TestDb) {
    let world = World::new(db).await;
    let other = World::with_slug(db, "moonrise").await;
    assert_eq!(db.store.client(world.practice.id, &world.client.id).await.unwrap(), Some(world.client.clone()));
    assert_eq!(db.store.client(other.practice.id, &world.client.id).await.unwrap(), None);

    let mut changed = world.client.clone();
    changed.name = name("Ada King");
    changed.email = None;
    changed.language = Language::En;
    changed.email_consent = false;
    changed.date_of_birth = Some(portal_core::DateOfBirth::restore(jiff::civil::date(1990, 7, 14)));
    let updated = event(world.practice.id, Some(&world.client.id), AuditAction::ClientUpdated, at(5));
    db.store.update_client(&changed, &updated).await.unwrap();
    assert_eq!(db.store.client(world.practice.id, &world.client.id).await.unwrap(), Some(changed.clone()));

    // Another practice cannot reach it, and the refused change writes no audit event.
    let foreign = portal_core::Client { practice_id: other.practice.id, name: name("Mallory"), ..changed.clone() };
    let attempt = event(other.practice.id, None, AuditAction::ClientUpdated, at(6));
    let err = db.store.update_client(&foreign, &attempt).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound("client")), "{err:?}");
    assert_eq!(db.store.client(world.practice.id, &world.client.id).await.unwrap(), Some(changed));

    let ghost = fixtures::client(&fixtures::practice("ghost"), "Nobody");
    let err = db
        .store
        .create_client(&ghost, &event(ghost.practice_id, None, AuditAction::ClientCreated, at(7)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound("practice")), "{err:?}");

    let err = db
        .store
        .create_client(&world.client, &event(world.practice.id, None, AuditAction::ClientCreated, at(8)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate("client")), "{err:?}");

    let trail: Vec<AuditAction> =
        db.store.trail(world.practice.id, &world.client.id).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(trail, [AuditAction::ClientCreated, AuditAction::ClientUpdated]);
    assert_eq!(db.count("audit_events", "").await, 3, "no audit event from the refused writes");
}
