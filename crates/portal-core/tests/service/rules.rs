use jiff::SignedDuration;
use portal_core::account::{InviteRefused, ResetRefused, ToggleRefused};
use portal_core::service::{
    ClientError, ClientPatch, ClientRecords, NewClient, PortalService, RegisterError, SendInviteError, SendResetError,
    StaffContext, ToggleError,
};
use portal_core::testing::SeededRandom;
use portal_core::{
    ClientListQuery, ClientPage, ClientSearch, DisableReason, PageSize, Policy, PortalStatus, PortalStatusKind,
    TimeZoneName, TokenPurpose,
};

use crate::helpers::*;

#[tokio::test]
async fn an_invite_is_refused_once_an_account_exists() {
    let w = world().await;
    w.registered().await;
    assert!(matches!(
        w.service.send_invite(&w.staff, &w.client).await,
        Err(SendInviteError::AccountExists(InviteRefused::AccountExists))
    ));
}

#[tokio::test]
async fn a_reset_is_refused_without_an_account_and_toggles_need_one() {
    let w = world().await;
    assert!(matches!(
        w.service.send_reset(&w.staff, &w.client).await,
        Err(SendResetError::Refused(ResetRefused::NoAccount))
    ));
    assert!(matches!(
        w.service.set_enabled(&w.staff, &w.client, false, None).await,
        Err(ToggleError::Refused(ToggleRefused::NoAccount))
    ));
}

#[tokio::test]
async fn a_reset_to_a_disabled_account_is_refused() {
    let w = world().await;
    w.registered().await;
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    assert!(matches!(
        w.service.send_reset(&w.staff, &w.client).await,
        Err(SendResetError::Refused(ResetRefused::AccountDisabled))
    ));
}

#[tokio::test]
async fn a_client_without_email_or_consent_gets_no_mail_and_staff_are_told_why() {
    let w = world().await;
    let staff = &w.staff;
    let no_email = w.service.create_client(staff, NewClient { name: "Bo".into(), ..Default::default() }).await.unwrap();
    assert!(matches!(w.service.send_invite(staff, &no_email.client.id).await, Err(SendInviteError::NoEmailOnFile)));
    let patch =
        ClientPatch { email: Some(Some("bo@example.org".into())), email_consent: Some(false), ..Default::default() };
    w.service.update_client(staff, &no_email.client.id, patch).await.unwrap();
    assert!(matches!(w.service.send_invite(staff, &no_email.client.id).await, Err(SendInviteError::EmailNotPermitted)));
    assert!(w.mail().is_empty());
}

#[tokio::test]
async fn staff_work_on_clients_never_needs_the_portal() {
    let w = world().await;
    let patch = ClientPatch { name: Some("Ada King".into()), language: Some("es".into()), ..Default::default() };
    let view = w.service.update_client(&w.staff, &w.client, patch).await.unwrap();
    assert_eq!(view.client.name.as_str(), "Ada King");
    assert_eq!(view.portal, PortalStatus::NotInvited);
    let bad = ClientPatch { email: Some(Some("not an email".into())), ..Default::default() };
    assert!(matches!(w.service.update_client(&w.staff, &w.client, bad).await, Err(ClientError::Invalid(_))));
    assert_eq!(
        w.service.client(&w.staff, &w.client).await.unwrap().client.name.as_str(),
        "Ada King",
        "bad input loses nothing"
    );
}

#[tokio::test]
async fn another_practices_client_does_not_exist() {
    let w = world().await;
    let other = w.service.create_practice("Elsewhere Clinic", None, TimeZoneName::utc()).await.unwrap();
    let outsider = StaffContext { staff: other.staff, request: ctx() };
    assert!(matches!(w.service.client(&outsider, &w.client).await, Err(ClientError::ClientNotFound)));
    assert!(matches!(w.service.send_invite(&outsider, &w.client).await, Err(SendInviteError::ClientNotFound)));
    assert!(matches!(w.service.set_enabled(&outsider, &w.client, false, None).await, Err(ToggleError::ClientNotFound)));
    assert!(matches!(w.service.audit_trail(&outsider, &w.client).await, Err(ClientError::ClientNotFound)));
    assert!(w.service.list_clients(&outsider, &ClientListQuery::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn usernames_are_unique_per_practice_regardless_of_case() {
    let w = world().await;
    w.registered().await;
    let second = w
        .service
        .create_client(
            &w.staff,
            NewClient { name: "Bo".into(), email: Some("bo@example.org".into()), ..Default::default() },
        )
        .await
        .unwrap();
    w.service.send_invite(&w.staff, &second.client.id).await.unwrap();
    let link = w.latest_link(TokenPurpose::Invite);
    assert!(matches!(
        w.service.register(&link, "ADA", &password(GOOD_PASSWORD), &ctx()).await,
        Err(RegisterError::UsernameTaken)
    ));
    // The refused attempt did not consume the link.
    w.service.register(&link, "bo.b", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn a_weak_password_is_refused_with_reasons_and_keeps_the_link() {
    let w = world().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Invite);
    match w.service.register(&link, "ada", &password("short"), &ctx()).await {
        Err(RegisterError::WeakPassword(weak)) => assert!(!weak.0.is_empty()),
        other => panic!("expected WeakPassword, got {other:?}"),
    }
    assert!(matches!(
        w.service.register(&link, "a d a", &password(GOOD_PASSWORD), &ctx()).await,
        Err(RegisterError::InvalidUsername(_))
    ));
    w.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn the_list_filters_by_portal_status() {
    let w = world().await;
    let bo = w
        .service
        .create_client(
            &w.staff,
            NewClient { name: "Bo".into(), email: Some("bo@example.org".into()), ..Default::default() },
        )
        .await
        .unwrap();
    w.service.send_invite(&w.staff, &bo.client.id).await.unwrap();
    let names = |page: ClientPage<portal_core::service::ClientView>| -> Vec<String> {
        page.items.into_iter().map(|v| v.client.name.as_str().to_owned()).collect()
    };
    assert_eq!(
        names(w.service.list_clients(&w.staff, &ClientListQuery::default()).await.unwrap()),
        ["Ada Lovelace", "Bo"]
    );
    let w = &w;
    let listed = |kind| async move {
        let query = ClientListQuery { status: Some(kind), ..ClientListQuery::default() };
        w.service.list_clients(&w.staff, &query).await
    };
    assert_eq!(names(listed(PortalStatusKind::Invited).await.unwrap()), ["Bo"]);
    assert_eq!(names(listed(PortalStatusKind::NoAccount).await.unwrap()), ["Ada Lovelace"]);
    assert!(listed(PortalStatusKind::Active).await.unwrap().items.is_empty());

    // The status is the one at the clock's time: once Bo's invitation expires, Bo moves.
    w.advance(SignedDuration::from_hours(48));
    assert_eq!(names(listed(PortalStatusKind::InviteExpired).await.unwrap()), ["Bo"]);
    assert!(listed(PortalStatusKind::Invited).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn the_list_is_paged_and_searched() {
    let w = world().await;
    for name in ["bea", "Cy", "Dee", "ed"] {
        let new = NewClient { name: name.into(), email: Some(format!("{name}@example.org")), ..Default::default() };
        w.service.create_client(&w.staff, new).await.unwrap();
    }
    let names = |page: &ClientPage<portal_core::service::ClientView>| -> Vec<String> {
        page.items.iter().map(|v| v.client.name.as_str().to_owned()).collect()
    };
    let mut query = ClientListQuery { size: PageSize::new(2).unwrap(), ..ClientListQuery::default() };
    let first = w.service.list_clients(&w.staff, &query).await.unwrap();
    assert_eq!(names(&first), ["Ada Lovelace", "bea"]);
    query.cursor = first.next.clone();
    let second = w.service.list_clients(&w.staff, &query).await.unwrap();
    assert_eq!(names(&second), ["Cy", "Dee"]);
    query.cursor = second.previous.clone();
    assert_eq!(names(&w.service.list_clients(&w.staff, &query).await.unwrap()), ["Ada Lovelace", "bea"]);

    let search = ClientListQuery { search: Some(ClientSearch::parse("D").unwrap()), ..ClientListQuery::default() };
    assert_eq!(names(&w.service.list_clients(&w.staff, &search).await.unwrap()), ["Dee"]);
    let by_mail = ClientListQuery { search: Some(ClientSearch::parse("ED@").unwrap()), ..ClientListQuery::default() };
    assert_eq!(names(&w.service.list_clients(&w.staff, &by_mail).await.unwrap()), ["ed"]);
}

#[tokio::test]
async fn disabling_keeps_the_reason_for_staff() {
    let w = world().await;
    w.registered().await;
    let reason = DisableReason::parse("moved away").unwrap();
    let status = w.service.set_enabled(&w.staff, &w.client, false, Some(reason.clone())).await.unwrap();
    assert!(matches!(status, PortalStatus::Disabled { reason: Some(r), .. } if r == reason));
    let trail = w.service.audit_trail(&w.staff, &w.client).await.unwrap();
    assert!(trail.iter().any(|e| e.detail.as_deref() == Some("moved away")));
}

#[tokio::test]
async fn a_client_and_its_panel_read_the_same_whether_the_records_are_bundled_or_the_hosts() {
    let w = world().await;
    assert_eq!(w.service.client_records(), ClientRecords::Bundled);
    // The same store read the host's way: the directory, then the portal's tables.
    let host_way = PortalService::new(
        w.store.clone(),
        w.store.clone(),
        fast_hasher(),
        w.clock.clone(),
        SeededRandom::new(9),
        Policy::default(),
        key(),
    );
    assert_eq!(host_way.client_records(), ClientRecords::Host);
    let same = || async {
        assert_eq!(
            w.service.client(&w.staff, &w.client).await.unwrap(),
            host_way.client(&w.staff, &w.client).await.unwrap()
        );
        assert_eq!(
            w.service.portal(&w.staff, &w.client).await.unwrap(),
            host_way.portal(&w.staff, &w.client).await.unwrap()
        );
    };
    same().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    same().await;
    assert!(
        w.service.portal(&w.staff, &w.client).await.unwrap().invite.is_some_and(|invite| invite.delivery.is_some())
    );
    w.registered().await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    same().await;
    assert!(w.service.portal(&w.staff, &w.client).await.unwrap().reset.is_some_and(|reset| reset.delivery.is_some()));
    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    same().await;
    let nobody = portal_core::ClientId::parse("nobody").unwrap();
    assert!(matches!(w.service.portal(&w.staff, &nobody).await, Err(ClientError::ClientNotFound)));
    assert!(matches!(w.service.client(&w.staff, &nobody).await, Err(ClientError::ClientNotFound)));
}

#[tokio::test]
async fn a_date_of_birth_is_kept_changed_and_removed_and_a_bad_one_loses_nothing() {
    let w = world().await;
    let new = NewClient { name: "Bo".into(), date_of_birth: Some("1990-07-14".into()), ..Default::default() };
    let created = w.service.create_client(&w.staff, new).await.unwrap().client;
    assert_eq!(created.date_of_birth.map(|date| date.to_iso()).as_deref(), Some("1990-07-14"));

    for bad in ["14/07/1990", "1990-02-30", "1879-12-31", "2999-01-01"] {
        let patch = ClientPatch { date_of_birth: Some(Some(bad.into())), ..Default::default() };
        assert!(
            matches!(w.service.update_client(&w.staff, &created.id, patch).await, Err(ClientError::Invalid(_))),
            "{bad}"
        );
    }
    let kept = w.service.client(&w.staff, &created.id).await.unwrap().client;
    assert_eq!(kept.date_of_birth, created.date_of_birth, "bad input loses nothing");

    let patch = ClientPatch { date_of_birth: Some(Some(String::new())), ..Default::default() };
    let removed = w.service.update_client(&w.staff, &created.id, patch).await.unwrap().client;
    assert_eq!(removed.date_of_birth, None);
}
