//! The core's use cases over the real store: the whole lifecycle, a redemption race, and a scan
//! proving that none of the secrets the service handed out reached the database.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use portal_core::account::InviteRedeemRefused;
use portal_core::service::{NewClient, PortalService, RegisterError, SessionError, SignInError, StaffContext};
use portal_core::testing::{ManualClock, SeededRandom};
use portal_core::{
    LinkKey, MailKind, MailOutbox, Password, Policy, PortalStatus, RequestContext, ScryptHasher, ScryptParams,
    TimeZoneName, TokenPurpose,
};
use portal_store::SeaOrmStore;
use secrecy::ExposeSecret;

use crate::harness::TestDb;

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a completely different passphrase";

pub type Service = PortalService<SeaOrmStore, ScryptHasher, ManualClock, SeededRandom, SeaOrmStore>;

pub fn service(db: &TestDb, clock: &ManualClock) -> Service {
    PortalService::new(
        db.store.clone(),
        db.store.clone(),
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(),
        clock.clone(),
        SeededRandom::new(99),
        Policy::default(),
        LinkKey::from_bytes([9; 32]),
    )
    .with_bundled_records()
}

async fn latest_link(service: &Service, purpose: TokenPurpose, now: Timestamp) -> String {
    let claimed = service.store().claim_due(now, SignedDuration::from_secs(1), 100).await.unwrap();
    let token_id = claimed
        .iter()
        .rev()
        .find_map(|claim| match (purpose, &claim.mail.kind) {
            (TokenPurpose::Invite, MailKind::Invitation { token_id, .. })
            | (TokenPurpose::Reset, MailKind::PasswordReset { token_id, .. }) => Some(*token_id),
            _ => None,
        })
        .expect("a queued mail with a link");
    for claim in &claimed {
        service.store().mark_sent(claim.mail.id, now).await.unwrap();
    }
    service.link_key().link_token(purpose, token_id).expose().expose_secret().to_owned()
}

pub async fn setup(db: &TestDb, clock: &ManualClock) -> (Service, StaffContext, portal_core::ClientId, String) {
    let service = service(db, clock);
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let staff_key = created.staff_key.expose().expose_secret().to_owned();
    let staff = service.authenticate_staff(&staff_key).await.unwrap().expect("the staff key authenticates");
    let staff = StaffContext { staff, request: RequestContext::default() };
    let new = NewClient { name: "Ada Lovelace".into(), email: Some("ada@example.org".into()), ..Default::default() };
    let client = service.create_client(&staff, new).await.unwrap().client.id;
    (service, staff, client, staff_key)
}

pub async fn the_whole_lifecycle_runs_on_the_store_and_leaves_no_secret_in_it(db: &TestDb) {
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
    let (service, staff, client, staff_key) = setup(db, &clock).await;
    let ctx = RequestContext::default();

    service.send_invite(&staff, &client).await.unwrap();
    let invite = latest_link(&service, TokenPurpose::Invite, clock.now()).await;
    service.register(&invite, "ada", &Password::new(PASSWORD), &ctx).await.unwrap();
    let session = service.sign_in("sunrise", "ada", &Password::new(PASSWORD), &ctx).await.unwrap();
    let session_token = session.token.expose().expose_secret().to_owned();
    service.authenticate_session(&session_token).await.unwrap();

    service.set_enabled(&staff, &client, false, None).await.unwrap();
    assert!(matches!(service.authenticate_session(&session_token).await, Err(SessionError::Unauthenticated)));
    assert!(matches!(
        service.sign_in("sunrise", "ada", &Password::new(PASSWORD), &ctx).await,
        Err(SignInError::AccountDisabled)
    ));
    service.set_enabled(&staff, &client, true, None).await.unwrap();

    service.send_reset(&staff, &client).await.unwrap();
    let reset = latest_link(&service, TokenPurpose::Reset, clock.now()).await;
    service.complete_reset(&reset, &Password::new(NEW_PASSWORD), &ctx).await.unwrap();
    assert!(matches!(
        service.sign_in("sunrise", "ada", &Password::new(PASSWORD), &ctx).await,
        Err(SignInError::InvalidCredentials)
    ));
    let second = service.sign_in("sunrise", "ada", &Password::new(NEW_PASSWORD), &ctx).await.unwrap();
    let second_token = second.token.expose().expose_secret().to_owned();
    assert!(matches!(service.portal(&staff, &client).await.unwrap().status, PortalStatus::Active { .. }));

    let contents = crate::safety::dump(db).await;
    for (what, secret) in [
        ("invite link", invite.as_str()),
        ("reset link", reset.as_str()),
        ("session token", session_token.as_str()),
        ("second session token", second_token.as_str()),
        ("staff key", staff_key.as_str()),
        ("password", PASSWORD),
        ("new password", NEW_PASSWORD),
    ] {
        assert!(!contents.contains(secret), "the {what} is stored in clear");
    }
    if let Some(path) = &db.sqlite_path {
        for suffix in ["", "-wal"] {
            let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(bytes) = std::fs::read(&file) else { continue };
            for secret in [&invite, &reset, &session_token, &second_token, &staff_key] {
                assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "a secret is in {file:?}");
            }
        }
    }
}

pub async fn of_concurrent_registrations_with_one_link_exactly_one_wins(db: &TestDb) {
    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
    let (service, staff, client, _) = setup(db, &clock).await;
    service.send_invite(&staff, &client).await.unwrap();
    let link = Arc::new(latest_link(&service, TokenPurpose::Invite, clock.now()).await);
    let service = Arc::new(service);
    let attempts: Vec<_> = (0..12)
        .map(|i| {
            let (service, link) = (service.clone(), link.clone());
            tokio::spawn(async move {
                service.register(&link, &format!("user{i}"), &Password::new(PASSWORD), &RequestContext::default()).await
            })
        })
        .collect();
    let mut wins = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => wins += 1,
            Err(RegisterError::Refused(InviteRedeemRefused::InviteNotFound)) => {}
            Err(other) => panic!("a loser must see the link as used, got {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

pub async fn queued_mail_with_a_dead_link_or_for_a_disabled_account_is_cancelled(db: &TestDb) {
    use portal_core::{AccountStore, DeliveryProblem, DeliveryState};

    let clock = ManualClock::new(Timestamp::from_second(1_800_000_000).unwrap());
    let (service, staff, client, _) = setup(db, &clock).await;
    let first = service.send_invite(&staff, &client).await.unwrap();
    let second = service.send_invite(&staff, &client).await.unwrap();
    assert!(matches!(
        service.store().delivery_for_token(first.token_id).await.unwrap(),
        Some(DeliveryState::Failed { problem, gave_up_after: None, .. }) if problem == DeliveryProblem::link_superseded()
    ));
    assert!(matches!(
        service.store().delivery_for_token(second.token_id).await.unwrap(),
        Some(DeliveryState::Pending { .. })
    ));
    let link = latest_link(&service, TokenPurpose::Invite, clock.now()).await;
    service.register(&link, "ada", &Password::new(PASSWORD), &RequestContext::default()).await.unwrap();
    let reset = service.send_reset(&staff, &client).await.unwrap();
    service.set_enabled(&staff, &client, false, None).await.unwrap();
    assert!(matches!(
        service.store().delivery_for_token(reset.token_id).await.unwrap(),
        Some(DeliveryState::Failed { problem, gave_up_after: None, .. }) if problem == DeliveryProblem::account_disabled()
    ));
    assert_eq!(service.store().pending_count().await.unwrap(), 0);
    let account = service.store().account(staff.staff.practice_id, &client).await.unwrap();
    assert!(matches!(account.state(), portal_core::AccountState::Disabled { .. }));
}
