//! A practice's settings: changed by its staff within the policy's bounds, audited by name, and
//! in force for the links it sends next.

use jiff::SignedDuration;
use portal_core::service::{PracticeChange, UpdatePracticeError};
use portal_core::{AuditAction, PracticeSettingError, TimeZoneName, TokenPurpose};

use crate::helpers::*;

#[tokio::test]
async fn staff_change_the_settings_and_one_audit_event_names_what_changed() {
    let w = world().await;
    let change = PracticeChange {
        name: Some("Sunrise Family Therapy".into()),
        time_zone: Some(TimeZoneName::parse("America/Chicago").unwrap()),
        date_of_birth_check: Some(true),
        invitation_reminder_hours: Some(Some(24)),
        invite_link_hours: Some(Some(72)),
        ..PracticeChange::default()
    };
    let practice = w.service.update_practice(&w.staff, change).await.unwrap();
    assert_eq!(practice.name.as_str(), "Sunrise Family Therapy");
    assert!(practice.settings.date_of_birth_check());
    assert_eq!(practice.settings.invitation_reminder().map(|lead| lead.hours()), Some(24));

    let stored = w.service.staff_practice(&w.staff).await.unwrap().unwrap();
    assert_eq!(stored, practice);
    let events: Vec<_> =
        w.store.audit_events().into_iter().filter(|event| event.action == AuditAction::PracticeUpdated).collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].client_id, None);
    assert_eq!(
        events[0].detail.as_deref(),
        Some("name, time_zone, date_of_birth_check, invitation_reminder_hours, invite_link_hours")
    );
}

#[tokio::test]
async fn a_change_that_changes_nothing_writes_nothing() {
    let w = world().await;
    let same =
        PracticeChange { discreet_mail: Some(true), date_of_birth_check: Some(false), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, same).await.unwrap();
    assert!(w.store.audit_events().iter().all(|event| event.action != AuditAction::PracticeUpdated));
}

#[tokio::test]
async fn a_setting_outside_its_bounds_is_refused_and_nothing_changes() {
    let w = world().await;
    let before = w.service.staff_practice(&w.staff).await.unwrap().unwrap();
    for change in [
        PracticeChange { invite_link_hours: Some(Some(0)), ..PracticeChange::default() },
        PracticeChange { reset_link_hours: Some(Some(24 * 8)), ..PracticeChange::default() },
        // A reminder at or after the invitation's lifetime would never come in time.
        PracticeChange { invitation_reminder_hours: Some(Some(48)), ..PracticeChange::default() },
        PracticeChange {
            invite_link_hours: Some(Some(12)),
            invitation_reminder_hours: Some(Some(12)),
            ..PracticeChange::default()
        },
    ] {
        assert!(
            matches!(w.service.update_practice(&w.staff, change.clone()).await, Err(UpdatePracticeError::Setting(_))),
            "{change:?}"
        );
    }
    assert!(matches!(
        w.service
            .update_practice(&w.staff, PracticeChange { name: Some("  ".into()), ..PracticeChange::default() })
            .await,
        Err(UpdatePracticeError::Invalid(_))
    ));
    assert_eq!(w.service.staff_practice(&w.staff).await.unwrap().unwrap(), before);
    assert!(matches!(
        w.service
            .update_practice(
                &w.staff,
                PracticeChange { invitation_reminder_hours: Some(Some(-3)), ..PracticeChange::default() }
            )
            .await,
        Err(UpdatePracticeError::Setting(PracticeSettingError::ReminderOutOfRange { max: 47, got: -3 }))
    ));
}

#[tokio::test]
async fn links_sent_after_a_change_live_as_long_as_the_practice_chose() {
    let w = world().await;
    let change = PracticeChange {
        invite_link_hours: Some(Some(72)),
        reset_link_hours: Some(Some(2)),
        ..PracticeChange::default()
    };
    w.service.update_practice(&w.staff, change).await.unwrap();
    let invite = w.service.send_invite(&w.staff, &w.client).await.unwrap();
    assert_eq!(invite.expires_at.duration_since(invite.sent_at), SignedDuration::from_hours(72));

    let link = w.latest_link(TokenPurpose::Invite);
    w.service.register(&link, "ada", &password(GOOD_PASSWORD), &ctx()).await.unwrap();
    let reset = w.service.send_reset(&w.staff, &w.client).await.unwrap();
    assert_eq!(reset.expires_at.duration_since(reset.sent_at), SignedDuration::from_hours(2));

    // Back to the server's lifetimes.
    let back =
        PracticeChange { invite_link_hours: Some(None), reset_link_hours: Some(None), ..PracticeChange::default() };
    w.service.update_practice(&w.staff, back).await.unwrap();
    let reset = w.service.send_reset(&w.staff, &w.client).await.unwrap();
    assert_eq!(reset.expires_at.duration_since(reset.sent_at), SignedDuration::from_hours(48));
}
