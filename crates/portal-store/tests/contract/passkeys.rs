//! `FactorStore`'s passkeys: passkey factors (unique credential ids across every account),
//! their uses, and passkey ceremonies taken once; and the migration that added them.

use std::sync::Arc;

use portal_core::{
    AuditAction, AuditLog, CeremonyPurpose, ClientId, DisplayName, FactorCommit, FactorId, FactorSecret, FactorStore,
    MailKind, PasskeyCeremony, PasskeyCredentialId, PasskeyUserHandle, SealedSecret, SecondFactor, SecondFactorKind,
    StoreError, StoredPasskey, TokenHash,
};
use sea_orm::ConnectionTrait;

use crate::fixtures::{World, at, event, id, mail};
use crate::harness::TestDb;

fn passkey(world: &World, client: &ClientId, credential: &[u8], json: &str) -> SecondFactor {
    SecondFactor {
        id: FactorId::from_uuid(id()),
        practice_id: world.practice.id,
        client_id: client.clone(),
        name: DisplayName::parse("name", "Laptop").unwrap(),
        created_at: at(0),
        confirmed_at: Some(at(0)),
        last_used_at: None,
        secret: FactorSecret::Passkey {
            credential_id: PasskeyCredentialId::from_bytes(credential.to_vec()),
            user_handle: PasskeyUserHandle::from_bytes([7; 16]),
            passkey: StoredPasskey::from_json(json.to_owned()),
        },
    }
}

fn totp(world: &World) -> SecondFactor {
    SecondFactor {
        id: FactorId::from_uuid(id()),
        practice_id: world.practice.id,
        client_id: world.client.id.clone(),
        name: DisplayName::parse("name", "Phone").unwrap(),
        created_at: at(0),
        confirmed_at: Some(at(1)),
        last_used_at: None,
        secret: FactorSecret::Totp { sealed: SealedSecret::from_bytes(b"sealed".to_vec()), last_step: None },
    }
}

fn commit(world: &World, client: &ClientId, put: Vec<SecondFactor>, remove: Vec<FactorId>) -> FactorCommit {
    FactorCommit {
        practice_id: world.practice.id,
        client_id: client.clone(),
        at: at(2),
        put,
        remove,
        recovery_codes: None,
        audit: vec![],
        mail: vec![],
    }
}

fn ceremony(world: &World, secret: &[u8], client: Option<&ClientId>, created: i64) -> PasskeyCeremony {
    PasskeyCeremony {
        hash: TokenHash::of(secret),
        practice_id: world.practice.id,
        client_id: client.cloned(),
        purpose: if client.is_some() { CeremonyPurpose::Registration } else { CeremonyPurpose::SignIn },
        user_handle: client.map(|_| PasskeyUserHandle::from_bytes([9; 16])),
        state: format!("{{\"challenge\":\"{}\"}}", String::from_utf8_lossy(secret)),
        created_at: at(created),
        expires_at: at(created + 300),
    }
}

pub async fn a_passkey_factor_round_trips_and_is_found_by_its_credential_in_any_practice(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let key = passkey(&world, &client, &[1, 2, 3, 255], r#"{"cred":{"counter":0}}"#);
    // TOTP factors (no credential id) sit beside it, any number of them.
    let (one, two) = (totp(&world), totp(&world));
    db.store
        .commit_factors(commit(&world, &client, vec![one.clone(), key.clone(), two.clone()], vec![]))
        .await
        .unwrap();

    let stored = db.store.factors(practice, &client).await.unwrap();
    assert_eq!(stored.len(), 3);
    let read = stored.iter().find(|f| f.id == key.id).unwrap();
    assert_eq!(read, &key, "kind, credential id, user handle and JSON read back as written");
    assert_eq!(read.kind(), SecondFactorKind::Passkey);
    assert_eq!(stored.iter().filter(|f| f.kind() == SecondFactorKind::Totp).count(), 2);

    // Found by credential id alone, from another practice's point of view too.
    let other = World::with_slug(db, "moonrise").await;
    let theirs = passkey(&other, &other.client.id, &[9, 9], r#"{"cred":"theirs"}"#);
    db.store.commit_factors(commit(&other, &other.client.id, vec![theirs.clone()], vec![])).await.unwrap();
    let credential = |bytes: &[u8]| PasskeyCredentialId::from_bytes(bytes.to_vec());
    assert_eq!(db.store.passkey_factor(&credential(&[1, 2, 3, 255])).await.unwrap(), Some(key.clone()));
    assert_eq!(db.store.passkey_factor(&credential(&[9, 9])).await.unwrap(), Some(theirs));
    assert_eq!(db.store.passkey_factor(&credential(&[1, 2, 3])).await.unwrap(), None, "no prefix match");

    // Replacing the passkey itself (a rename) keeps its credential id: not a duplicate.
    let renamed = SecondFactor { name: DisplayName::parse("name", "Work laptop").unwrap(), ..key.clone() };
    db.store.commit_factors(commit(&world, &client, vec![renamed.clone()], vec![])).await.unwrap();
    assert_eq!(db.store.passkey_factor(&credential(&[1, 2, 3, 255])).await.unwrap(), Some(renamed.clone()));

    // Removed, it is found no more.
    db.store.commit_factors(commit(&world, &client, vec![], vec![renamed.id])).await.unwrap();
    assert_eq!(db.store.passkey_factor(&credential(&[1, 2, 3, 255])).await.unwrap(), None);
}

pub async fn a_credential_id_another_factor_has_is_refused_writing_nothing(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let key = passkey(&world, &client, b"credential", r#"{"n":1}"#);
    db.store.commit_factors(commit(&world, &client, vec![key.clone()], vec![])).await.unwrap();
    let outbox = db.count("mail_outbox", "").await;

    // Another client of another practice registering the same credential: refused whole, with
    // its audit event, its notice and its other factor.
    let other = World::with_slug(db, "moonrise").await;
    let stolen = passkey(&other, &other.client.id, b"credential", r#"{"n":2}"#);
    let mut change = commit(&other, &other.client.id, vec![totp(&other), stolen], vec![]);
    change.audit = vec![event(other.practice.id, Some(&other.client.id), AuditAction::SecondFactorEnrolled, at(3))];
    change.mail = vec![mail(&other.client, MailKind::SecondFactorAdded, at(3))];
    let refused = db.store.commit_factors(change).await;
    assert!(matches!(refused, Err(StoreError::Duplicate("passkey"))), "{refused:?}");
    assert!(db.store.factors(other.practice.id, &other.client.id).await.unwrap().is_empty());
    let trail = db.store.trail(other.practice.id, &other.client.id).await.unwrap();
    assert!(!trail.iter().any(|e| e.action == AuditAction::SecondFactorEnrolled), "no audit written");
    assert_eq!(db.count("mail_outbox", "").await, outbox, "no mail written");

    // Another factor of the same client with the same credential, and two of one commit.
    let again = passkey(&world, &client, b"credential", r#"{"n":3}"#);
    let refused = db.store.commit_factors(commit(&world, &client, vec![again], vec![])).await;
    assert!(matches!(refused, Err(StoreError::Duplicate("passkey"))), "{refused:?}");
    let twins = vec![passkey(&world, &client, b"twin", "{}"), passkey(&world, &client, b"twin", "{}")];
    let refused = db.store.commit_factors(commit(&world, &client, twins, vec![])).await;
    assert!(matches!(refused, Err(StoreError::Duplicate("passkey"))), "{refused:?}");
    assert_eq!(db.store.factors(practice, &client).await.unwrap(), vec![key]);

    // Of concurrent registrations of one credential by eight clients, exactly one wins and the
    // others are duplicates (on PostgreSQL some may pass the check together; the unique index
    // then refuses them, as the same error).
    let store = Arc::new(db.store.clone());
    let mut attempts = Vec::new();
    for n in 0..8 {
        let owner = world.add_client(db, &format!("Client {n}")).await;
        let change = commit(&world, &owner.id, vec![passkey(&world, &owner.id, b"contested", "{}")], vec![]);
        let store = store.clone();
        attempts.push(tokio::spawn(async move { store.commit_factors(change).await }));
    }
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::Duplicate("passkey")) => {}
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(db.count("second_factors", "kind = 'passkey'").await, 2);
}

pub async fn a_passkey_use_records_its_last_use_and_its_update_until_removed(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let key = passkey(&world, &client, b"credential", r#"{"counter":1}"#);
    let code = totp(&world);
    db.store.commit_factors(commit(&world, &client, vec![key.clone(), code.clone()], vec![])).await.unwrap();
    let used = |n| vec![event(practice, Some(&client), AuditAction::SecondFactorUsed, at(n))];
    let stored = |db: &TestDb| {
        let client = client.clone();
        let store = db.store.clone();
        async move { store.factors(practice, &client).await.unwrap().into_iter().find(|f| f.id == key.id) }
    };

    // Without an update: the last use only, the credential as it was.
    assert!(db.store.use_passkey(key.id, None, at(10), &used(10)).await.unwrap());
    let read = stored(db).await.unwrap();
    assert_eq!(read.last_used_at, Some(at(10)));
    assert_eq!(read.secret, key.secret);

    // With one: the credential is replaced.
    let updated = StoredPasskey::from_json(r#"{"counter":2}"#.to_owned());
    assert!(db.store.use_passkey(key.id, Some(updated.clone()), at(20), &used(20)).await.unwrap());
    let read = stored(db).await.unwrap();
    assert_eq!(read.last_used_at, Some(at(20)));
    assert!(matches!(&read.secret, FactorSecret::Passkey { passkey, .. } if *passkey == updated));
    let trail = db.store.trail(practice, &client).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == AuditAction::SecondFactorUsed).count(), 2);

    // Not a passkey, unknown, or removed meanwhile: false, nothing written.
    assert!(!db.store.use_passkey(code.id, None, at(30), &used(30)).await.unwrap());
    assert_eq!(db.store.factors(practice, &client).await.unwrap().iter().find(|f| f.id == code.id).unwrap(), &code);
    assert!(!db.store.use_passkey(FactorId::from_uuid(id()), None, at(30), &used(30)).await.unwrap());
    db.store.commit_factors(commit(&world, &client, vec![], vec![key.id])).await.unwrap();
    assert!(!db.store.use_passkey(key.id, Some(updated), at(40), &used(40)).await.unwrap());
    assert!(stored(db).await.is_none());
    let trail = db.store.trail(practice, &client).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == AuditAction::SecondFactorUsed).count(), 2, "audited only on use");
}

pub async fn a_ceremony_is_taken_once_even_concurrently_and_expired_ones_are_swept(db: &TestDb) {
    let world = World::new(db).await;
    let client = world.client.id.clone();
    // A registration (client and user handle) and a passkey-first sign-in (neither).
    let registration = ceremony(&world, b"registration", Some(&client), 0);
    let sign_in = ceremony(&world, b"sign-in", None, 0);
    db.store.create_ceremony(&registration).await.unwrap();
    db.store.create_ceremony(&sign_in).await.unwrap();
    assert!(
        matches!(db.store.create_ceremony(&sign_in).await, Err(StoreError::Duplicate(_))),
        "a ceremony id is unique"
    );
    assert_eq!(db.store.take_ceremony(&registration.hash).await.unwrap(), Some(registration.clone()));
    assert_eq!(db.store.take_ceremony(&registration.hash).await.unwrap(), None, "taken once");
    assert_eq!(db.store.take_ceremony(&sign_in.hash).await.unwrap(), Some(sign_in.clone()));
    assert_eq!(db.store.take_ceremony(&TokenHash::of(b"unknown")).await.unwrap(), None);

    // Of eight concurrent takes, exactly one gets it.
    let second_step =
        PasskeyCeremony { purpose: CeremonyPurpose::SecondStep, ..ceremony(&world, b"step", Some(&client), 0) };
    db.store.create_ceremony(&second_step).await.unwrap();
    let store = Arc::new(db.store.clone());
    let takes: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), second_step.hash);
            tokio::spawn(async move { store.take_ceremony(&hash).await.unwrap() })
        })
        .collect();
    let mut taken = Vec::new();
    for take in takes {
        taken.extend(take.await.unwrap());
    }
    assert_eq!(taken, vec![second_step]);

    // A ceremony made after another expired deletes it; a live one stays.
    let old = ceremony(&world, b"old", None, 0);
    let live = ceremony(&world, b"live", None, 100);
    db.store.create_ceremony(&old).await.unwrap();
    db.store.create_ceremony(&live).await.unwrap();
    db.store.create_ceremony(&ceremony(&world, b"new", None, 300)).await.unwrap();
    assert_eq!(db.count("passkey_ceremonies", "").await, 2);
    assert_eq!(db.store.take_ceremony(&old.hash).await.unwrap(), None, "expired at 300, swept");
    assert_eq!(db.store.take_ceremony(&live.hash).await.unwrap(), Some(live));
}

pub async fn the_passkey_migration_rolls_back_only_without_passkeys_and_keeps_totp_factors(db: &TestDb) {
    let world = World::new(db).await;
    let client = world.client.id.clone();
    let code = totp(&world);
    let key = passkey(&world, &client, b"credential", "{}");
    db.store.commit_factors(commit(&world, &client, vec![code.clone(), key.clone()], vec![])).await.unwrap();
    db.store.create_ceremony(&ceremony(&world, b"pending", None, 0)).await.unwrap();
    let steps = crate::host_migration::steps_back_to_before("m20261201_000012_passkeys");

    let refused = portal_store::rollback(&db.url, Some(steps)).await;
    assert!(refused.is_err(), "an older version could not read the passkey");
    assert_eq!(db.count("second_factors", "kind = 'passkey'").await, 1, "nothing changed");
    assert_eq!(db.count("passkey_ceremonies", "").await, 1);

    db.store.commit_factors(commit(&world, &client, vec![], vec![key.id])).await.unwrap();
    portal_store::rollback(&db.url, Some(steps)).await.unwrap();
    // The old schema: no passkey columns or ceremonies, and the kind is TOTP only again.
    let conn = db.store.connection();
    assert!(conn.execute_unprepared("SELECT credential_id FROM second_factors").await.is_err());
    assert!(!db.tables().await.iter().any(|t| t == "passkey_ceremonies"));
    assert!(conn.execute_unprepared("UPDATE second_factors SET kind = 'passkey'").await.is_err());
    assert_eq!(db.count("second_factors", "kind = 'totp'").await, 1, "the TOTP factor survived the rebuild");

    portal_store::migrate(&db.url).await.unwrap();
    assert_eq!(db.store.factors(world.practice.id, &client).await.unwrap(), vec![code.clone()], "and the way back");
    db.store.commit_factors(commit(&world, &client, vec![key.clone()], vec![])).await.unwrap();
    assert_eq!(
        db.store.passkey_factor(&PasskeyCredentialId::from_bytes(b"credential".to_vec())).await.unwrap(),
        Some(key)
    );
    // The unique index came back with the rebuild.
    let twin = passkey(&world, &client, b"credential", "{}");
    let refused = db.store.commit_factors(commit(&world, &client, vec![twin], vec![])).await;
    assert!(matches!(refused, Err(StoreError::Duplicate("passkey"))), "{refused:?}");
    let index = match db.backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_indexes WHERE indexname = 'ux_second_factors_credential_id'"
        }
        _ => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND name = 'ux_second_factors_credential_id'"
        }
    };
    assert_eq!(db.query(index).await[0].try_get::<i64>("", "n").unwrap(), 1);
    assert_eq!(db.count("second_factors", "").await, 2);
}

pub async fn the_retention_job_deletes_expired_sign_in_steps_in_batches_and_keeps_live_ones(db: &TestDb) {
    use portal_core::{ChallengePurpose, FactorChallenge, Policy, PruneCutoffs, PruneKind, Retention};
    let world = World::new(db).await;
    let client = world.client.id.clone();
    // Made in an order that sweeps nothing on creation: the live ones first.
    db.store.create_ceremony(&ceremony(&world, b"live ceremony", None, 1000)).await.unwrap();
    let challenge = |secret: &[u8], created: i64| FactorChallenge {
        hash: TokenHash::of(secret),
        practice_id: world.practice.id,
        client_id: client.clone(),
        purpose: ChallengePurpose::Verify,
        created_at: at(created),
        expires_at: at(created + 300),
    };
    db.store.create_challenge(&challenge(b"live challenge", 1000)).await.unwrap();
    for (i, created) in [0, 10, 20].into_iter().enumerate() {
        db.store
            .create_ceremony(&ceremony(&world, format!("old ceremony {i}").as_bytes(), None, created))
            .await
            .unwrap();
        db.store.create_challenge(&challenge(format!("old challenge {i}").as_bytes(), created)).await.unwrap();
    }
    let cutoffs = PruneCutoffs::at(at(1000), &Policy::default());
    // Batches of four: the three expired challenges, then one ceremony; then the other two.
    assert_eq!(db.store.prune_batch(PruneKind::SignInSteps, &cutoffs, 4).await.unwrap(), 4);
    assert_eq!(db.store.prune_batch(PruneKind::SignInSteps, &cutoffs, 4).await.unwrap(), 2);
    assert_eq!(db.store.prune_batch(PruneKind::SignInSteps, &cutoffs, 4).await.unwrap(), 0);
    assert_eq!(db.count("passkey_ceremonies", "").await, 1, "the live ceremony stays");
    assert_eq!(db.count("factor_challenges", "").await, 1, "the live challenge stays");
}
