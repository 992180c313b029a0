//! Invitation reminders: one mail with the invitation's own link, `lead` hours before an unused
//! invitation expires, for a practice that turned reminders on; never for a replaced or used
//! invitation, a registered client, a client who cannot be emailed, or an expired link; once.

use std::sync::Arc;

use jiff::SignedDuration;
use portal_core::service::{ClientPatch, PortalService, PracticeChange, RemindersQueued};
use portal_core::testing::SeededRandom;
use portal_core::{
    AccountStore, Actor, AuditAction, AuditFailure, InviteReminder, MailKind, OutgoingMail, Policy, TokenPurpose,
};

use crate::helpers::*;

const HOUR: SignedDuration = SignedDuration::from_hours(1);

/// The world with 24-hour reminders on (invitations live 48 hours).
async fn reminding() -> World {
    let w = world().await;
    let change = PracticeChange { invitation_reminder_hours: Some(Some(24)), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, change).await.unwrap();
    w
}

fn reminders(w: &World) -> Vec<OutgoingMail> {
    w.mail().into_iter().filter(|mail| matches!(mail.kind, MailKind::InvitationReminder { .. })).collect()
}

fn queued(n: u64) -> RemindersQueued {
    RemindersQueued { queued: n, ..RemindersQueued::default() }
}

#[tokio::test]
async fn the_reminder_is_due_at_exactly_expiry_minus_the_lead_and_not_a_second_before() {
    let w = reminding().await;
    let sent = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let due_at = sent.expires_at - SignedDuration::from_hours(24);

    w.clock.set(due_at - SignedDuration::from_secs(1));
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    assert!(reminders(&w).is_empty());

    w.clock.set(due_at);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), queued(1));
    let reminder = reminders(&w);
    assert_eq!(reminder.len(), 1);
    // The same token, so the same link: nothing new was issued.
    assert_eq!(reminder[0].kind, MailKind::InvitationReminder { token_id: sent.token_id, expires_at: sent.expires_at });
    assert_eq!(reminder[0].to.as_str(), "ada@example.org");
    assert_eq!(reminder[0].created_at, due_at);
    assert_eq!(w.store.live_tokens(&w.client).len(), 1);

    let events: Vec<_> =
        w.store.audit_events().into_iter().filter(|e| e.action == AuditAction::InviteReminderQueued).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].actor.clone(), events[0].client_id.clone(), events[0].at),
        (Actor::System, Some(w.client.clone()), due_at)
    );

    let account = w.store.account(w.staff.staff.practice_id, &w.client).await.unwrap();
    assert_eq!(account.invite().unwrap().reminder, Some(InviteReminder::Queued { at: due_at }));
    // Staff see when it went out.
    let panel = w.service.portal(&w.staff, &w.client).await.unwrap();
    assert_eq!(panel.invite.unwrap().reminder_sent_at, Some(due_at));
}

#[tokio::test]
async fn the_reminded_link_still_registers() {
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let link = w.latest_link(TokenPurpose::Invite);
    w.advance(30 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), queued(1));
    w.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
}

#[tokio::test]
async fn a_reminder_goes_out_once_however_often_the_job_runs() {
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(25 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), queued(1));
    for _ in 0..3 {
        w.advance(HOUR);
        assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    }
    assert_eq!(reminders(&w).len(), 1);
}

#[tokio::test]
async fn no_reminder_once_the_link_has_expired() {
    let w = reminding().await;
    let sent = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.clock.set(sent.expires_at);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    assert!(reminders(&w).is_empty());
}

#[tokio::test]
async fn a_resent_invitation_gets_its_own_reminder_and_the_replaced_one_none() {
    let w = reminding().await;
    let first = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(30 * HOUR);
    let second = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    // The first invitation is due, but it was replaced; the new one is not due yet.
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    w.clock.set(second.expires_at - SignedDuration::from_hours(24));
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), queued(1));
    let reminder = reminders(&w);
    assert_eq!(reminder.len(), 1);
    assert_ne!(reminder[0].kind.token_id(), Some(first.token_id));
    assert_eq!(reminder[0].kind.token_id(), Some(second.token_id));
}

#[tokio::test]
async fn a_reminder_queued_before_a_resend_is_cancelled_by_it() {
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(30 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), queued(1));
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let (_, delivery) = w
        .store
        .outbox()
        .into_iter()
        .find(|(mail, _)| matches!(mail.kind, MailKind::InvitationReminder { .. }))
        .unwrap();
    assert!(
        matches!(delivery, portal_core::DeliveryState::Failed { ref problem, .. } if problem.cause.is_cancellation()),
        "{delivery:?}"
    );
}

#[tokio::test]
async fn no_reminder_for_a_client_who_registered() {
    let w = reminding().await;
    w.registered().await;
    w.advance(30 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    assert!(reminders(&w).is_empty());
}

#[tokio::test]
async fn no_reminder_for_a_client_without_email_or_consent_and_it_is_not_tried_again() {
    for (patch, why) in [
        (ClientPatch { email: Some(None), ..ClientPatch::default() }, AuditFailure::NoEmailOnFile),
        (ClientPatch { email_consent: Some(false), ..ClientPatch::default() }, AuditFailure::EmailNotPermitted),
    ] {
        let w = reminding().await;
        w.service.send_invite(&w.staff, &w.client).await.unwrap();
        w.service.update_client(&w.staff, &w.client, patch).await.unwrap();
        w.advance(30 * HOUR);
        let skipped = RemindersQueued { skipped: 1, ..RemindersQueued::default() };
        assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), skipped);
        assert!(reminders(&w).is_empty());
        // The trail says why no reminder went out.
        let events = w.store.audit_events();
        let skipped: Vec<_> = events.iter().filter(|e| e.action == AuditAction::InviteReminderQueued).collect();
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].failure, Some(why));
        assert_eq!(skipped[0].client_id.as_ref(), Some(&w.client));
        // Passed over for good: the next run does not look at it again, even with consent back.
        let back = ClientPatch {
            email: Some(Some("ada@example.org".into())),
            email_consent: Some(true),
            ..ClientPatch::default()
        };
        w.service.update_client(&w.staff, &w.client, back).await.unwrap();
        assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
        let panel = w.service.portal(&w.staff, &w.client).await.unwrap();
        assert_eq!(panel.invite.unwrap().reminder_sent_at, None);
    }
}

#[tokio::test]
async fn no_reminder_when_the_practice_has_reminders_off() {
    let w = world().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(47 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    // Turned off after the invitation went out: none either.
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    let off = PracticeChange { invitation_reminder_hours: Some(None), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, off).await.unwrap();
    w.advance(30 * HOUR);
    assert_eq!(w.service.queue_due_reminders(100).await.unwrap(), RemindersQueued::default());
    assert!(reminders(&w).is_empty());
}

#[tokio::test]
async fn the_limit_bounds_a_run_and_the_next_run_takes_the_rest() {
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    for name in ["Grace", "Edsger"] {
        let new = portal_core::service::NewClient {
            name: name.into(),
            email: Some(format!("{}@example.org", name.to_lowercase())),
            ..Default::default()
        };
        let client = w.service.create_client(&w.staff, new).await.unwrap().client.id;
        w.service.send_invite(&w.staff, &client).await.unwrap();
    }
    w.advance(30 * HOUR);
    assert_eq!(w.service.queue_due_reminders(2).await.unwrap(), queued(2));
    assert_eq!(w.service.queue_due_reminders(2).await.unwrap(), queued(1));
    assert_eq!(reminders(&w).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_running_the_job_at_once_queue_one_reminder() {
    let w = reminding().await;
    w.service.send_invite(&w.staff, &w.client).await.unwrap();
    w.advance(30 * HOUR);
    // A second service over the same store: another server sharing the database.
    let other = Arc::new(PortalService::new(
        w.store.clone(),
        w.store.clone(),
        fast_hasher(),
        w.clock.clone(),
        SeededRandom::new(8),
        Policy::default(),
        key(),
    ));
    let w = Arc::new(w);
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let (w, other) = (Arc::clone(&w), Arc::clone(&other));
            tokio::spawn(async move {
                if i % 2 == 0 { w.service.queue_due_reminders(100).await } else { other.queue_due_reminders(100).await }
            })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        total += run.await.unwrap().unwrap().queued;
    }
    assert_eq!(total, 1);
    assert_eq!(reminders(&w).len(), 1);
    let events = w.store.audit_events().into_iter().filter(|e| e.action == AuditAction::InviteReminderQueued).count();
    assert_eq!(events, 1);
}
