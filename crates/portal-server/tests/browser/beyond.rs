//! What issue 14 adds to the pages, in a real browser: the practice settings page, invitations
//! in bulk from the client list, and a client who asks for a password reset from the sign-in
//! page.

use portal_testkit::LinkKind;

use crate::{Kit, NEW_PASSWORD, PASSWORD, PRACTICE};

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

    // Invitations in bulk: two clients ticked on the list, one result page.
    kit.create_client("Ada Lovelace", "ada@example.org").await;
    kit.create_client("Edsger Dijkstra", "edsger@example.org").await;
    kit.create_client("Grace Hopper", "grace@example.org").await;
    staff.go("/staff/clients", "Grace Hopper").await;
    staff.check("input[aria-label='Select Ada Lovelace']", true).await;
    staff.check("input[aria-label='Select Grace Hopper']", true).await;
    staff.click("fieldset button[type=submit]", "Invitations sent: 2. Not sent: 0.").await;
    staff.screenshot("staff-bulk-invitations").await;

    // Grace registers from her invitation (no date of birth on file: the link opens without it).
    let invitation = kit.emailed_link("grace@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    client.go(&invitation, &format!("{PRACTICE} invited you")).await;
    client.fill("#username", "grace").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Account created — sign in").await;

    // She forgets her password and asks for a link from the sign-in page.
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    client.click("a[href$='/forgot-password']", "Forgot your password?").await;
    client.screenshot("client-forgot-password").await;
    client.fill("#username", "grace").await;
    client.fill("#email", "GRACE@example.org").await;
    client.click("main button[type=submit]", "If the username and email address match an active account").await;
    let reset = kit.emailed_link("grace@example.org", LinkKind::PasswordReset).await;
    client.go(&reset, "Choose a new password").await;
    client.fill("#password", NEW_PASSWORD).await;
    client.click("main button[type=submit]", "Password changed — sign in").await;
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    client.fill("#username", "grace").await;
    client.fill("#password", NEW_PASSWORD).await;
    client.click("main button[type=submit]", "Welcome, Grace Hopper").await;

    // Hedy's record has a date of birth: her link asks for it before anything else.
    let hedy: serde_json::Value = kit
        .http
        .post(format!("{}/api/v1/clients", kit.server.base_url()))
        .bearer_auth(&kit.staff_key)
        .json(&serde_json::json!({ "name": "Hedy Lamarr", "email": "hedy@example.org", "date_of_birth": "1914-11-09" }))
        .send()
        .await
        .expect("the client is created")
        .json()
        .await
        .expect("the created client");
    let profile = format!("/staff/clients/{}", hedy["id"].as_str().expect("an id"));
    staff.go(&profile, "Send portal invite").await;
    staff.click("form[action$='/invite'] button", "Invitation queued.").await;
    let invitation = kit.emailed_link("hedy@example.org", LinkKind::Invitation).await;
    let hedy = kit.browser().await;
    hedy.go(&invitation, "Date of birth").await;
    hedy.screenshot("client-date-of-birth").await;
    // A date field takes its value in the browser's own format when typed; set it as the
    // picker would.
    let answer = |date: &str| format!("document.querySelector('#date_of_birth').value = '{date}';");
    hedy.run_script(&answer("1914-11-10")).await;
    hedy.fill("#username", "hedy").await;
    hedy.fill("#password", PASSWORD).await;
    hedy.click("main button[type=submit]", "this does not match our records. 4 more tries").await;
    hedy.run_script(&answer("1914-11-09")).await;
    hedy.fill("#password", PASSWORD).await;
    hedy.click("main button[type=submit]", "Account created — sign in").await;

    staff.close().await;
    client.close().await;
    hedy.close().await;
}
