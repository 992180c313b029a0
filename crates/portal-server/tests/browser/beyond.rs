//! What issue 14 adds to the pages, in a real browser: the practice settings page (and, as the
//! parts land, what the settings turn on).

use crate::Kit;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_change_the_practice_settings_in_a_real_browser() {
    let Some(kit) = Kit::start("the settings flow").await else { return };
    let staff = kit.browser().await;
    staff.go("/staff/sign-in", "Staff sign-in").await;
    staff.fill("#key", &kit.staff_key).await;
    staff.click("main button[type=submit]", "Clients").await;

    // From the client list to the settings, as staff find them.
    staff.click("nav.staff-nav a", "Practice settings").await;
    assert_eq!(staff.path().await, "/staff/settings");
    staff.screenshot("staff-settings").await;

    // A reminder that would come after the link expired is refused, the form kept as typed.
    staff.check("#date_of_birth_check", true).await;
    staff.check("#client_started_resets", true).await;
    staff.fill("#invitation_reminder_hours", "48").await;
    staff.click("form.settings button[type=submit]", "Not saved").await;
    staff.page("between 1 and 47 hours before the invitation expires").await;
    assert_eq!(staff.attribute("#invitation_reminder_hours", "aria-invalid").await.as_deref(), Some("true"));

    staff.fill("#invitation_reminder_hours", "24").await;
    staff.fill("#invite_link_hours", "72").await;
    staff.click("form.settings button[type=submit]", "Settings saved.").await;
    assert_eq!(staff.attribute("#invite_link_hours", "value").await.as_deref(), Some("72"));
    assert!(staff.attribute("#date_of_birth_check", "checked").await.is_some(), "the box stays ticked");

    staff.close().await;
}
