//! Client-started password resets: a reset mail only for the username and email on file of an
//! active account that may be emailed, within the per-account limit; every request audited;
//! nothing that tells the requester which case it was.

use jiff::SignedDuration;
use portal_core::service::{ClientPatch, PracticeChange, ResetRequestError, ResetRequested};
use portal_core::{AuditAction, AuditEvent, AuditFailure, EmailAddress, MailKind, Practice, TokenPurpose, Username};

use crate::helpers::*;

/// A world whose practice takes client-started resets, with Ada registered as `ada`.
async fn open_world() -> (World, Practice) {
    let w = world().await;
    let change = PracticeChange { client_started_resets: Some(true), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, change).await.unwrap();
    w.registered().await;
    let practice = w.service.reset_requests_open("sunrise").await.unwrap();
    (w, practice)
}

fn username(text: &str) -> Username {
    Username::parse(text).unwrap()
}

fn email(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

fn reset_mails(w: &World) -> usize {
    w.mail().iter().filter(|mail| matches!(mail.kind, MailKind::PasswordReset { .. })).count()
}

fn requests(w: &World) -> Vec<AuditEvent> {
    w.store.audit_events().into_iter().filter(|event| event.action == AuditAction::ResetRequested).collect()
}

async fn ask(w: &World, practice: &Practice, name: &str, address: &str) -> ResetRequested {
    w.service.request_reset(practice, &username(name), &email(address), &ctx()).await.unwrap()
}

#[tokio::test]
async fn the_username_and_email_on_file_of_an_active_account_queue_the_reset_mail_whose_link_works() {
    let (w, practice) = open_world().await;
    // Case does not matter, in either.
    let outcome = ask(&w, &practice, "ADA", "Ada@Example.ORG").await;
    let ResetRequested::Sent(sent) = outcome else { panic!("{outcome:?}") };
    assert_eq!(sent.expires_at, sent.sent_at + SignedDuration::from_hours(48));
    assert_eq!(reset_mails(&w), 1);
    let mail = w.mail().pop().unwrap();
    assert_eq!(mail.client_id, w.client);
    assert_eq!(mail.to.as_str(), "ada@example.org", "the address on file, not the typed one");

    let events = requests(&w);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].failure, None);
    assert_eq!(events[0].client_id.as_ref(), Some(&w.client));
    assert_eq!(events[0].actor, portal_core::Actor::Anonymous);
    assert_eq!(events[0].detail, None, "never the typed username or email");

    // The same link, page and completion as a staff-started reset.
    let link = w.latest_link(TokenPurpose::Reset);
    w.service.verify_reset(&link).await.unwrap();
    w.service.complete_reset(&link, &password(OTHER_PASSWORD), &ctx()).await.unwrap();
    w.service.sign_in("sunrise", "ada", &password(OTHER_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn a_request_voids_an_earlier_live_reset_link() {
    let (w, practice) = open_world().await;
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    let staff_link = w.latest_link(TokenPurpose::Reset);
    let ResetRequested::Sent(sent) = ask(&w, &practice, "ada", "ada@example.org").await else { panic!() };
    assert!(sent.replaced_previous);
    assert!(w.service.verify_reset(&staff_link).await.is_err(), "the earlier link was voided");
    w.service.verify_reset(&w.latest_link(TokenPurpose::Reset)).await.unwrap();
}

#[tokio::test]
async fn nothing_is_queued_for_a_wrong_email_an_unknown_username_a_disabled_account_or_no_consent() {
    let (w, practice) = open_world().await;
    assert_eq!(ask(&w, &practice, "ada", "someone@example.org").await, ResetRequested::NoMatch);
    assert_eq!(ask(&w, &practice, "grace", "ada@example.org").await, ResetRequested::NoMatch);

    w.service
        .update_client(&w.staff, &w.client, ClientPatch { email_consent: Some(false), ..ClientPatch::default() })
        .await
        .unwrap();
    assert_eq!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::EmailNotPermitted);
    w.service
        .update_client(&w.staff, &w.client, ClientPatch { email_consent: Some(true), ..ClientPatch::default() })
        .await
        .unwrap();

    w.service.set_enabled(&w.staff, &w.client, false, None).await.unwrap();
    assert_eq!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::AccountDisabled);
    // A disabled account with a wrong email is simply no match.
    assert_eq!(ask(&w, &practice, "ada", "other@example.org").await, ResetRequested::NoMatch);

    assert_eq!(reset_mails(&w), 0);
    let failures: Vec<_> = requests(&w).into_iter().map(|event| (event.failure, event.client_id)).collect();
    let ada = Some(w.client.clone());
    assert_eq!(
        failures,
        vec![
            (Some(AuditFailure::NoMatch), ada.clone()),
            (Some(AuditFailure::NoMatch), None),
            (Some(AuditFailure::EmailNotPermitted), ada.clone()),
            (Some(AuditFailure::AccountDisabled), ada.clone()),
            (Some(AuditFailure::NoMatch), ada),
        ]
    );
    assert!(requests(&w).iter().all(|event| event.detail.is_none() && event.actor == portal_core::Actor::Anonymous));
}

#[tokio::test]
async fn a_client_without_an_email_on_file_matches_no_email() {
    let (w, practice) = open_world().await;
    w.service
        .update_client(&w.staff, &w.client, ClientPatch { email: Some(None), ..ClientPatch::default() })
        .await
        .unwrap();
    assert_eq!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::NoMatch);
    assert_eq!(reset_mails(&w), 0);
}

#[tokio::test]
async fn a_practice_with_the_setting_off_refuses_before_looking_at_any_account() {
    let w = world().await;
    w.registered().await;
    assert!(matches!(w.service.reset_requests_open("sunrise").await, Err(ResetRequestError::NotAvailable)));
    assert!(matches!(w.service.reset_requests_open("nowhere").await, Err(ResetRequestError::PracticeNotFound)));
    assert!(matches!(w.service.reset_requests_open("Not A Slug!").await, Err(ResetRequestError::PracticeNotFound)));
    // A practice value read while the setting was on does not get past it either.
    let practice = w.service.staff_practice(&w.staff).await.unwrap().unwrap();
    assert!(matches!(
        w.service.request_reset(&practice, &username("ada"), &email("ada@example.org"), &ctx()).await,
        Err(ResetRequestError::NotAvailable)
    ));
    assert_eq!(reset_mails(&w), 0);
    assert!(requests(&w).is_empty());
}

#[tokio::test]
async fn one_mail_per_fifteen_minutes_and_three_a_day_per_account() {
    let (w, practice) = open_world().await;
    assert!(matches!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::Sent(_)));
    let first_link = w.latest_link(TokenPurpose::Reset);
    // A second request within the window queues nothing, and the first link still works.
    w.advance(SignedDuration::from_mins(14));
    let outcome = ask(&w, &practice, "ada", "ada@example.org").await;
    assert_eq!(outcome, ResetRequested::Throttled { until: start() + SignedDuration::from_mins(15) });
    assert_eq!(reset_mails(&w), 1);
    w.service.verify_reset(&first_link).await.unwrap();

    w.advance(SignedDuration::from_mins(1));
    assert!(matches!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::Sent(_)));
    w.advance(SignedDuration::from_mins(15));
    assert!(matches!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::Sent(_)));
    w.advance(SignedDuration::from_hours(2));
    // The fourth of the day waits for the day's end, 24 hours after the first.
    let outcome = ask(&w, &practice, "ada", "ada@example.org").await;
    assert_eq!(outcome, ResetRequested::Throttled { until: start() + SignedDuration::from_hours(24) });
    assert_eq!(reset_mails(&w), 3);

    w.advance(SignedDuration::from_hours(24));
    assert!(matches!(ask(&w, &practice, "ada", "ada@example.org").await, ResetRequested::Sent(_)));
    assert_eq!(reset_mails(&w), 4);
    let failures: Vec<_> = requests(&w).into_iter().map(|event| event.failure).collect();
    assert_eq!(failures, vec![None, Some(AuditFailure::Throttled), None, None, Some(AuditFailure::Throttled), None]);
    // Staff-started resets are not limited by it.
    w.service.send_reset(&w.staff, &w.client).await.unwrap();
    assert_eq!(reset_mails(&w), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_account_queue_one_mail() {
    let (w, practice) = open_world().await;
    let (w, practice) = (std::sync::Arc::new(w), std::sync::Arc::new(practice));
    let asks: Vec<_> = (0..8)
        .map(|_| {
            let (w, practice) = (w.clone(), practice.clone());
            tokio::spawn(async move {
                w.service.request_reset(&practice, &username("ada"), &email("ada@example.org"), &ctx()).await
            })
        })
        .collect();
    let mut sent = 0;
    for ask in asks {
        match ask.await.unwrap().unwrap() {
            ResetRequested::Sent(_) => sent += 1,
            ResetRequested::Throttled { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sent, 1);
    assert_eq!(reset_mails(&w), 1);
    assert_eq!(requests(&w).len(), 8, "every request is audited");
}
