//! Invitation reminders over the real wiring: the server's reminder job queues the reminder of
//! a practice that turned them on, the dispatcher delivers it with the invitation's own link,
//! the link still registers, staff see when it went out, and `/metrics` counts it.

use std::time::Duration;

use jiff::SignedDuration;
use portal_core::service::{PracticeChange, StaffContext};
use portal_testkit::{LinkKind, token_after};
use reqwest::StatusCode;

use crate::helpers::{AppOptions, Backend, PASSWORD, TestApp, spawn_app_with};

async fn turn_on_reminders(app: &TestApp, hours: i64) {
    let staff = app.service().authenticate_staff(&app.staff_key).await.expect("a read").expect("the staff key");
    let staff = StaffContext { staff, request: portal_core::RequestContext::default() };
    let change = PracticeChange { invitation_reminder_hours: Some(Some(hours)), ..PracticeChange::default() };
    app.service().update_practice(&staff, change).await.expect("reminders on");
}

#[tokio::test]
async fn the_reminder_job_mails_the_invitations_own_link_which_then_still_registers() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let options =
            AppOptions { backend, reminder_interval: Some(Duration::from_millis(100)), ..AppOptions::default() };
        let Some(app) = spawn_app_with(options).await else { continue };
        turn_on_reminders(&app, 24).await;
        let client = app.create_client("Ada Lovelace", "ada@example.org").await;
        assert_eq!(app.send_invite(&client).await.status, StatusCode::ACCEPTED);
        let invitation = app.next_link_token("ada@example.org", LinkKind::Invitation).await;

        // A day later the reminder is due: the job queues it and wakes the dispatcher.
        app.advance(SignedDuration::from_hours(24));
        let reminder = app.next_email_to("ada@example.org").await;
        assert_eq!(reminder.subject, "Reminder: your account invitation");
        assert!(reminder.text.contains("(in 24 hours)"), "{}", reminder.text);
        let link = token_after(&reminder.text, &format!("{}{}", app.public_url, LinkKind::Invitation.marker()));
        assert_eq!(link.as_deref(), Some(invitation.as_str()), "the same link, no new token");

        // Staff see when it went out; the metrics count it.
        let portal = app.portal(&client).await;
        assert!(portal.body["invite"]["reminder_sent_at"].is_string(), "{portal:?}");
        let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics");
        let metrics = metrics.text().await.expect("text");
        assert!(metrics.contains(r#"portal_invitation_reminders_total{outcome="queued"} 1"#), "{metrics}");

        // The link still registers.
        let registered = app.register(&invitation, "ada", PASSWORD).await;
        assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
        app.stop().await;
    }
}
