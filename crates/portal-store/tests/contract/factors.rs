//! `FactorStore`: second factors, recovery codes and challenges; each single use wins once.

use std::sync::Arc;

use portal_core::{
    AuditAction, AuditLog, ChallengePurpose, DisplayName, FactorChallenge, FactorCommit, FactorId, FactorSecret,
    FactorStore, MailKind, PracticeId, SealedSecret, SecondFactor, SecondFactorPolicy, StoreError, TokenHash,
};

use crate::fixtures::{World, at, event, host_id, id, mail};
use crate::harness::TestDb;

fn totp(world: &World, sealed: &[u8], confirmed: bool) -> SecondFactor {
    SecondFactor {
        id: FactorId::from_uuid(id()),
        practice_id: world.practice.id,
        client_id: world.client.id.clone(),
        name: DisplayName::parse("name", "Phone").unwrap(),
        created_at: at(0),
        confirmed_at: confirmed.then(|| at(1)),
        last_used_at: None,
        secret: FactorSecret::Totp { sealed: SealedSecret::from_bytes(sealed.to_vec()), last_step: Some(7) },
    }
}

fn commit(world: &World, put: Vec<SecondFactor>, remove: Vec<FactorId>, codes: Option<Vec<TokenHash>>) -> FactorCommit {
    FactorCommit {
        practice_id: world.practice.id,
        client_id: world.client.id.clone(),
        at: at(2),
        put,
        remove,
        recovery_codes: codes,
        audit: vec![],
        mail: vec![],
    }
}

pub async fn factors_are_stored_replaced_and_removed_with_their_audit_and_mail_atomically(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let pending = totp(&world, b"sealed-one", false);
    db.store.commit_factors(commit(&world, vec![pending.clone()], vec![], None)).await.unwrap();
    assert_eq!(db.store.factors(practice, &client).await.unwrap(), vec![pending.clone()]);

    // Confirming replaces the row whole, with its audit event and notice in the same commit.
    let confirmed = SecondFactor { confirmed_at: Some(at(3)), ..pending.clone() };
    let mut change = commit(&world, vec![confirmed.clone()], vec![], Some(vec![TokenHash::of(b"code-1")]));
    change.audit = vec![event(practice, Some(&client), AuditAction::SecondFactorEnrolled, at(3))];
    change.mail = vec![mail(&world.client, MailKind::SecondFactorAdded, at(3))];
    db.store.commit_factors(change).await.unwrap();
    assert_eq!(db.store.factors(practice, &client).await.unwrap(), vec![confirmed.clone()]);
    assert_eq!(db.store.recovery_codes_left(practice, &client).await.unwrap(), 1);
    let trail: Vec<_> = db.store.trail(practice, &client).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(trail.contains(&AuditAction::SecondFactorEnrolled));

    // A failing part (a reused audit id) writes nothing at all.
    let reused = event(practice, Some(&client), AuditAction::SecondFactorRemoved, at(4));
    let mut change = commit(&world, vec![], vec![confirmed.id], Some(vec![]));
    change.audit = vec![reused.clone(), reused];
    assert!(db.store.commit_factors(change).await.is_err());
    assert_eq!(db.store.factors(practice, &client).await.unwrap(), vec![confirmed.clone()]);
    assert_eq!(db.store.recovery_codes_left(practice, &client).await.unwrap(), 1);

    // Another client's factor id is refused, writing nothing.
    let other = world.add_client(db, "Grace Hopper").await;
    let stolen = SecondFactor { client_id: other.id.clone(), ..confirmed.clone() };
    let mut change = commit(&world, vec![stolen], vec![], None);
    change.client_id = other.id.clone();
    let refused = db.store.commit_factors(change).await;
    assert!(matches!(refused, Err(StoreError::Duplicate(_))), "{refused:?}");
    assert!(db.store.factors(practice, &other.id).await.unwrap().is_empty());

    // Removal, and the codes with it.
    db.store.commit_factors(commit(&world, vec![], vec![confirmed.id], Some(vec![]))).await.unwrap();
    assert!(db.store.factors(practice, &client).await.unwrap().is_empty());
    assert_eq!(db.store.recovery_codes_left(practice, &client).await.unwrap(), 0);

    // A client the host owns keeps factors like any other; an unknown practice is refused.
    let host = host_id("MRN-0042");
    let mut hosted = totp(&world, b"sealed-two", true);
    hosted.client_id = host.clone();
    let mut change = commit(&world, vec![hosted.clone()], vec![], None);
    change.client_id = host.clone();
    db.store.commit_factors(change).await.unwrap();
    assert_eq!(db.store.factors(practice, &host).await.unwrap(), vec![hosted]);
    let mut orphan = totp(&world, b"sealed-three", true);
    orphan.practice_id = PracticeId::from_uuid(id());
    let mut change = commit(&world, vec![orphan], vec![], None);
    change.practice_id = PracticeId::from_uuid(id());
    assert!(db.store.commit_factors(change).await.is_err());
}

pub async fn a_totp_step_and_a_recovery_code_are_each_used_once_even_concurrently(db: &TestDb) {
    let world = World::new(db).await;
    let (practice, client) = (world.practice.id, world.client.id.clone());
    let factor = totp(&world, b"sealed", true);
    let codes = vec![TokenHash::of(b"code-1"), TokenHash::of(b"code-2")];
    db.store.commit_factors(commit(&world, vec![factor.clone()], vec![], Some(codes.clone()))).await.unwrap();

    // Steps at or before the last used one are refused.
    let used = |n| vec![event(practice, Some(&client), AuditAction::SecondFactorUsed, at(n))];
    assert!(!db.store.use_totp_step(factor.id, 7, at(10), &used(10)).await.unwrap());
    assert!(!db.store.use_totp_step(factor.id, 6, at(10), &used(10)).await.unwrap());
    let store = Arc::new(db.store.clone());
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let (store, events) = (store.clone(), used(20 + n));
            tokio::spawn(async move { store.use_totp_step(factor.id, 8, at(20), &events).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        wins += usize::from(attempt.await.unwrap());
    }
    assert_eq!(wins, 1, "one code, one use");
    let stored = db.store.factors(practice, &client).await.unwrap().remove(0);
    assert!(matches!(stored.secret, FactorSecret::Totp { last_step: Some(8), .. }));
    assert_eq!(stored.last_used_at, Some(at(20)));
    let trail = db.store.trail(practice, &client).await.unwrap();
    assert_eq!(trail.iter().filter(|e| e.action == AuditAction::SecondFactorUsed).count(), 1, "audited once");
    assert!(!db.store.use_totp_step(FactorId::from_uuid(id()), 99, at(21), &used(21)).await.unwrap());

    // Recovery codes: once each, another client's never, with the notice in the same write.
    let notice = vec![mail(&world.client, MailKind::RecoveryCodeUsed, at(30))];
    let other = world.add_client(db, "Grace Hopper").await;
    assert!(!db.store.use_recovery_code(practice, &other.id, &codes[0], at(30), &used(30), &notice).await.unwrap());
    let attempts: Vec<_> = (0..8)
        .map(|n| {
            let (store, client, code, events, notice) =
                (store.clone(), client.clone(), codes[0], used(31 + n), notice.clone());
            let notice: Vec<_> = notice
                .into_iter()
                .map(|m| portal_core::OutgoingMail { id: portal_core::MailId::from_uuid(id()), ..m })
                .collect();
            tokio::spawn(async move {
                store.use_recovery_code(practice, &client, &code, at(31), &events, &notice).await.unwrap()
            })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        wins += usize::from(attempt.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(db.store.recovery_codes_left(practice, &client).await.unwrap(), 1);
}

pub async fn a_challenge_is_found_by_hash_consumed_once_and_expired_ones_are_swept(db: &TestDb) {
    let world = World::new(db).await;
    let challenge = |secret: &[u8], created: i64| FactorChallenge {
        hash: TokenHash::of(secret),
        practice_id: world.practice.id,
        client_id: world.client.id.clone(),
        purpose: ChallengePurpose::Enrol,
        created_at: at(created),
        expires_at: at(created + 300),
    };
    let first = challenge(b"first", 0);
    db.store.create_challenge(&first).await.unwrap();
    assert_eq!(db.store.challenge(&first.hash).await.unwrap(), Some(first.clone()));
    assert!(db.store.create_challenge(&first).await.is_err(), "a hash is unique");

    // Creating one after the first expired sweeps it.
    let second = challenge(b"second", 300);
    db.store.create_challenge(&second).await.unwrap();
    assert_eq!(db.store.challenge(&first.hash).await.unwrap(), None);

    let store = Arc::new(db.store.clone());
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (store, hash) = (store.clone(), second.hash);
            tokio::spawn(async move { store.consume_challenge(&hash).await.unwrap() })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        wins += usize::from(attempt.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert_eq!(db.store.challenge(&second.hash).await.unwrap(), None);
}

pub async fn the_practice_policy_is_stored_and_new_practices_have_it_optional(db: &TestDb) {
    let world = World::new(db).await;
    let stored = portal_core::Directory::practice(&db.store, world.practice.id).await.unwrap().unwrap();
    assert_eq!(stored.settings.second_factor_policy(), SecondFactorPolicy::Optional);
    let input = portal_core::PracticeSettingsInput {
        second_factor_policy: SecondFactorPolicy::Required,
        ..stored.settings.to_input()
    };
    let updated = portal_core::Practice { settings: portal_core::PracticeSettings::restore(input).unwrap(), ..stored };
    let audit = event(world.practice.id, None, AuditAction::PracticeUpdated, at(1));
    portal_core::Directory::update_practice(&db.store, &updated, &audit).await.unwrap();
    let read = portal_core::Directory::practice(&db.store, world.practice.id).await.unwrap().unwrap();
    assert_eq!(read.settings.second_factor_policy(), SecondFactorPolicy::Required);
}
