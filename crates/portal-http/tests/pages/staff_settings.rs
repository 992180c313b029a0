//! The staff settings page: filled from the stored practice, saved with one audit event, a
//! refused value shown again as typed with the problem named, and a CSRF-less post refused.

use poem::http::StatusCode;
use portal_core::{AuditAction, TokenPurpose};

use crate::helpers::{TestApp, spawn_app};
use crate::staff_pages::staff_browser;

/// A form as posted.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// Every field of the form as a browser posts it (ticked checkboxes only).
fn fields<'a>(name: &'a str, zone: &'a str, ticked: &[&'a str], hours: [&'a str; 3]) -> Fields<'a> {
    let mut fields = vec![
        ("name", name),
        ("time_zone", zone),
        ("invitation_reminder_hours", hours[0]),
        ("invite_link_hours", hours[1]),
        ("reset_link_hours", hours[2]),
    ];
    fields.extend(ticked.iter().map(|checkbox| (*checkbox, "on")));
    fields
}

async fn practice(app: &TestApp) -> portal_core::Practice {
    app.service.practice_by_slug(&app.slug).await.unwrap().unwrap()
}

#[tokio::test]
async fn the_settings_page_shows_the_practice_and_saves_a_change_once() {
    let app = spawn_app().await;
    let browser = staff_browser(&app).await;
    let list = browser.get("/staff/clients").await;
    list.assert(StatusCode::OK, r#"href="/staff/settings">Practice settings</a>"#);

    let page = browser.get("/staff/settings").await;
    page.assert(StatusCode::OK, "<h1>Practice settings</h1>");
    page.assert(StatusCode::OK, r#"id="discreet_mail" name="discreet_mail" checked"#);
    // The sentence comes from the catalogue, so its apostrophe is escaped like any value.
    page.assert(StatusCode::OK, "Empty: this server&#39;s setting (48 hours)");
    assert!(!page.body.contains(r#"name="date_of_birth_check" aria-describedby="date_of_birth_check-hint" checked"#));

    let form =
        fields("Sunrise & Co", "America/Chicago", &["date_of_birth_check", "client_started_resets"], ["24", "72", ""]);
    let saved = browser.submit("/staff/settings", "/staff/settings", &form).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.header("location"), Some("/staff/settings?done=saved"));
    let after = browser.get("/staff/settings?done=saved").await;
    after.assert(StatusCode::OK, "Settings saved.");
    after.assert(StatusCode::OK, r#"value="Sunrise &#38; Co""#);

    let stored = practice(&app).await;
    assert_eq!(stored.name.as_str(), "Sunrise & Co");
    assert_eq!(stored.time_zone.as_str(), "America/Chicago");
    assert!(!stored.discreet_mail, "an unticked box turns the setting off");
    assert!(stored.settings.date_of_birth_check() && stored.settings.client_started_resets());
    assert_eq!(stored.settings.invitation_reminder().map(|lead| lead.hours()), Some(24));
    assert_eq!(stored.settings.own_link_lifetime(TokenPurpose::Invite).map(|l| l.hours()), Some(72));
    assert_eq!(stored.settings.own_link_lifetime(TokenPurpose::Reset), None);
    let events = app.store.audit_events();
    let changes: Vec<_> = events.iter().filter(|e| e.action == AuditAction::PracticeUpdated).collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].detail.as_deref(),
        Some(
            "name, time_zone, discreet_mail, date_of_birth_check, client_started_resets, invitation_reminder_hours, invite_link_hours"
        )
    );

    // Saving the form unchanged writes nothing more.
    let again = browser.submit("/staff/settings", "/staff/settings", &form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(app.store.audit_events().iter().filter(|e| e.action == AuditAction::PracticeUpdated).count(), 1);
}

#[tokio::test]
async fn a_refused_value_comes_back_as_typed_with_its_problem_and_nothing_is_saved() {
    let app = spawn_app().await;
    let browser = staff_browser(&app).await;
    let before = practice(&app).await;
    let cases = [
        (fields("Sunrise", "Mars/Olympus", &[], ["", "", ""]), "time_zone", "The time zone: time_zone is not valid"),
        (fields("Sunrise", "UTC", &[], ["soon", "", ""]), "invitation_reminder_hours", "Enter a whole number of hours"),
        (
            fields("Sunrise", "UTC", &[], ["", "200", ""]),
            "invite_link_hours",
            "A link lifetime is between 1 and 168 hours.",
        ),
        (fields("Sunrise", "UTC", &[], ["48", "", ""]), "invitation_reminder_hours", "between 1 and 47 hours before"),
    ];
    for (form, field, words) in cases {
        let answer = browser.submit("/staff/settings", "/staff/settings", &form).await;
        answer.assert(StatusCode::UNPROCESSABLE_ENTITY, words);
        answer.assert(StatusCode::UNPROCESSABLE_ENTITY, &format!(r##"<a href="#{field}">"##));
        answer.assert(StatusCode::UNPROCESSABLE_ENTITY, &format!(r#"id="{field}" name="{field}""#));
        assert!(answer.body.contains(r#"aria-invalid="true""#), "{field}");
    }
    assert_eq!(practice(&app).await, before);

    let forged = browser.post("/staff/settings", &fields("Mallory", "UTC", &[], ["", "", ""])).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(practice(&app).await, before);
}

#[tokio::test]
async fn the_settings_page_needs_a_signed_in_staff_member() {
    let app = spawn_app().await;
    let browser = crate::browser::Browser::new(&app);
    let away = browser.get("/staff/settings").await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(away.header("location"), Some("/staff/sign-in"));
}
