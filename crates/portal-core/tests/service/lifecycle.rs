use jiff::SignedDuration;
use portal_core::account::{InviteRedeemRefused, ResetRedeemRefused};
use portal_core::service::{RegisterError, ResetError, SessionError, SignInError, VerifyInviteError};
use portal_core::{AuditAction, MailKind, PortalStatus, TokenPurpose};
use secrecy::ExposeSecret;

use crate::helpers::*;

#[tokio::test]
async fn the_whole_lifecycle_runs_offline() {
    let w = world().await;
    let (staff, id) = (&w.staff, w.client.clone());
    assert_eq!(w.service.portal(staff, &id).await.unwrap().status, PortalStatus::NotInvited);

    // Invite: one mail, staff see "invited" with the 48-hour expiry.
    let sent = w.service.send_invite(staff, &id).await.unwrap();
    assert_eq!(sent.expires_at, start() + SignedDuration::from_hours(48));
    let view = w.service.portal(staff, &id).await.unwrap();
    assert_eq!(view.status, PortalStatus::Invited { sent_at: start(), expires_at: sent.expires_at });
    assert!(view.invite.is_some_and(|invite| invite.delivery.is_some()));

    // The client opens the link (nothing consumed), then registers.
    let link = w.latest_link(TokenPurpose::Invite);
    let info = w.service.verify_invite(&link).await.unwrap();
    assert_eq!(info.practice.name.as_str(), "Sunrise Therapy");
    w.service.verify_invite(&link).await.expect("opening twice consumes nothing");
    let registered = w.service.register(&link, "Ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    assert_eq!(registered.username.as_str(), "ada");
    assert!(matches!(w.service.portal(staff, &id).await.unwrap().status, PortalStatus::Active { .. }));

    // Sign in and use the session.
    let signed_in = w.service.sign_in("sunrise", "ADA", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let token = signed_in.token.expose().expose_secret().to_owned();
    let me = w.service.authenticate_session(&token).await.unwrap();
    assert_eq!((me.username.as_str(), me.client_name.as_str()), ("ada", "Ada Lovelace"));

    // Disable: the session dies, sign-in is refused even with the right password.
    w.service.set_enabled(staff, &id, false, None).await.unwrap();
    assert!(matches!(w.service.authenticate_session(&token).await, Err(SessionError::Unauthenticated)));
    assert!(matches!(
        w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await,
        Err(SignInError::AccountDisabled)
    ));

    // Enable, reset, and sign in with the new password.
    w.service.set_enabled(staff, &id, true, None).await.unwrap();
    let old_session = w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    w.service.send_reset(staff, &id).await.unwrap();
    let reset_link = w.latest_link(TokenPurpose::Reset);
    w.service.verify_reset(&reset_link).await.unwrap();
    w.service.complete_reset(&reset_link, &password(OTHER_PASSWORD), &ctx()).await.unwrap();
    let old_token = old_session.token.expose().expose_secret().to_owned();
    assert!(
        matches!(w.service.authenticate_session(&old_token).await, Err(SessionError::Unauthenticated)),
        "a completed reset revokes every session"
    );
    assert!(matches!(
        w.service.sign_in("sunrise", "ada", &password(GOOD_PASSWORD), &ctx()).await,
        Err(SignInError::InvalidCredentials)
    ));
    w.service.sign_in("sunrise", "ada", &password(OTHER_PASSWORD), &ctx()).await.unwrap();

    // Mail: invitation, reset, password-changed notice — in that order.
    let kinds: Vec<&str> = w.mail().iter().map(|m| m.kind.name()).collect();
    assert_eq!(kinds, ["invitation", "password_reset", "password_changed"]);

    // The audit trail tells the story, and holds no secret.
    let trail = w.service.audit_trail(staff, &id).await.unwrap();
    let actions: Vec<AuditAction> = trail.iter().map(|e| e.action).collect();
    for expected in [
        AuditAction::ClientCreated,
        AuditAction::InviteSent,
        AuditAction::Registered,
        AuditAction::SignInSucceeded,
        AuditAction::AccountDisabled,
        AuditAction::SessionsRevoked,
        AuditAction::SignInFailed,
        AuditAction::AccountEnabled,
        AuditAction::ResetSent,
        AuditAction::ResetCompleted,
    ] {
        assert!(actions.contains(&expected), "{expected:?} missing from {actions:?}");
    }
    let everything = format!("{trail:?}{:?}", w.mail());
    for secret in [link.as_str(), reset_link.as_str(), token.as_str(), GOOD_PASSWORD, OTHER_PASSWORD] {
        assert!(!everything.contains(secret), "a secret leaked into the audit trail or outbox");
    }
}

#[tokio::test]
async fn a_resend_voids_the_old_link() {
    let w = world().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let first = w.latest_link(TokenPurpose::Invite);
    let resent = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    assert!(resent.replaced_previous);
    let second = w.latest_link(TokenPurpose::Invite);
    assert!(matches!(
        w.service.verify_invite(&first).await,
        Err(VerifyInviteError::Refused(InviteRedeemRefused::InviteNotFound))
    ));
    w.service.register(&second, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn an_invite_expires_exactly_at_issued_plus_ttl() {
    let w = world().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Invite);
    w.advance(SignedDuration::from_hours(48) - SignedDuration::from_secs(1));
    w.service.verify_invite(&link).await.expect("valid one second before expiry");
    w.advance(SignedDuration::from_secs(1));
    assert!(matches!(
        w.service.verify_invite(&link).await,
        Err(VerifyInviteError::Refused(InviteRedeemRefused::InviteExpired))
    ));
    assert!(matches!(
        w.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await,
        Err(RegisterError::Refused(InviteRedeemRefused::InviteExpired))
    ));
    assert!(matches!(w.service.portal(&w.staff, &w.client).await.unwrap().status, PortalStatus::InviteExpired { .. }));
    // Staff resend; the new link works.
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let fresh = w.latest_link(TokenPurpose::Invite);
    w.service.register(&fresh, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn a_reset_expires_exactly_at_issued_plus_ttl_and_is_single_use() {
    let w = world().await;
    w.registered().await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Reset);
    w.advance(SignedDuration::from_hours(48));
    assert!(matches!(
        w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await,
        Err(ResetError::Refused(ResetRedeemRefused::ResetExpired))
    ));
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Reset);
    w.advance(SignedDuration::from_hours(48) - SignedDuration::from_secs(1));
    w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await.unwrap();
    assert!(matches!(
        w.service.complete_reset(&link, &password("yet another long passphrase"), &ctx()).await,
        Err(ResetError::Refused(ResetRedeemRefused::ResetNotFound))
    ));
}

#[tokio::test]
async fn a_disabled_account_cannot_complete_a_reset_and_gets_no_mail() {
    let w = world().await;
    w.registered().await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Reset);
    let mail_before = w.mail().len();
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    assert!(matches!(
        w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await,
        Err(ResetError::Refused(ResetRedeemRefused::AccountDisabled))
    ));
    assert!(w.service.send_reset(&w.staff, &w.client).await.is_err());
    assert_eq!(w.mail().len(), mail_before, "a disabled account receives no portal mail");
    // Enabling does not bring the voided reset back.
    w.service.set_enabled(&w.staff, &w.client, true, None).await.unwrap();
    assert!(matches!(
        w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await,
        Err(ResetError::Refused(ResetRedeemRefused::ResetNotFound))
    ));
}

#[tokio::test]
async fn the_reset_mail_carries_no_username() {
    let w = world().await;
    w.registered().await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let mail = w.mail().into_iter().last().unwrap();
    assert!(matches!(mail.kind, MailKind::PasswordReset { .. }));
    assert!(!format!("{mail:?}").contains("ada\""), "the queued reset holds no username");
}

#[tokio::test]
async fn a_type_erased_service_runs_the_same_use_cases() {
    use std::sync::Arc;

    use portal_core::service::{NewClient, PortalService, StaffContext};
    use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
    use portal_core::{DynPortalService, Policy, TimeZoneName};

    let store = Arc::new(InMemoryStore::new());
    let service: DynPortalService = PortalService::new(
        store.clone(),
        store.clone(),
        Arc::new(fast_hasher()),
        Arc::new(ManualClock::new(start())),
        Arc::new(SeededRandom::new(3)),
        Policy::default(),
        key(),
    );
    let practice = service.create_practice("Sunrise Therapy", None, TimeZoneName::utc()).await.unwrap();
    let staff = StaffContext { staff: practice.staff, request: ctx() };
    let new = NewClient { name: "Ada".into(), email: Some("ada@example.org".into()), ..Default::default() };
    let client = service.create_client(&staff, new).await.unwrap().client.id;
    service.send_invite(&staff, &client).await.unwrap();
    assert_eq!(store.outbox().len(), 1);
}

#[tokio::test]
async fn queued_mail_with_a_dead_link_or_for_a_disabled_account_is_never_sent() {
    use portal_core::{DeliveryCause, DeliveryState, MAIL_CANCELLED_DISABLED, MAIL_CANCELLED_SUPERSEDED};

    let w = world().await;
    // The first invitation is still queued (say SMTP is down) when staff resend.
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let outbox = w.store.outbox();
    assert!(matches!(
        &outbox[0].1,
        DeliveryState::Failed { problem, gave_up_after: None, .. }
            if problem.cause == DeliveryCause::CancelledLinkSuperseded && problem.detail == MAIL_CANCELLED_SUPERSEDED
    ));
    assert!(matches!(outbox[1].1, DeliveryState::Pending { .. }), "the new invitation goes out");

    let link = w.latest_link(TokenPurpose::Invite);
    w.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    let outbox = w.store.outbox();
    assert!(
        outbox.iter().all(|(_, delivery)| !matches!(delivery, DeliveryState::Pending { .. })),
        "a disabled account receives no portal mail at all"
    );
    assert!(matches!(
        &outbox[2].1,
        DeliveryState::Failed { problem, gave_up_after: None, .. }
            if problem.cause == DeliveryCause::CancelledAccountDisabled && problem.detail == MAIL_CANCELLED_DISABLED
    ));
}
