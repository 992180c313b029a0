//! The staff pages speak in words, not codes, and state times in the practice's time zone; the
//! engine escapes whatever a client record holds.

use jiff::SignedDuration;
use poem::http::{Method, StatusCode};
use portal_core::{DeliveryCause, DeliveryProblem, MailId, MailOutbox as _, TimeZoneName, TokenPurpose};

use crate::browser::Browser;
use crate::helpers::{NEW_PASSWORD, PASSWORD, TestApp, json_body, spawn_app, t0};
use crate::staff_pages::{press, staff_browser, staff_browser_with};

/// A second practice in `zone`; returns its staff key.
async fn practice_in(app: &TestApp, slug: &str, zone: &str) -> String {
    let zone = TimeZoneName::parse(zone).unwrap();
    let created = app.service.create_practice("Prairie Clinic", Some(slug), zone).await.unwrap();
    secrecy::ExposeSecret::expose_secret(created.staff_key.expose()).to_owned()
}

/// A client of the practice whose staff key is `key`; returns its id.
async fn client_of(app: &TestApp, key: &str, name: &str) -> String {
    let response = app
        .staff_with(key, Method::POST, "/api/v1/clients")
        .body_json(&serde_json::json!({ "name": name, "email": "ada@example.org" }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    json_body(response).await["id"].as_str().unwrap().to_owned()
}

fn assert_contains(body: &str, texts: &[&str]) {
    for text in texts {
        assert!(body.contains(text), "{text:?} not in {body}");
    }
}

#[tokio::test]
async fn the_audit_trail_and_the_panel_speak_in_words_and_in_the_practice_time_zone() {
    let app = spawn_app().await;
    let key = practice_in(&app, "prairie", "America/Chicago").await;
    let id = client_of(&app, &key, "Ada Client").await;
    let browser = staff_browser_with(&app, &key).await;
    let profile = format!("/staff/clients/{id}");

    press(&browser, &id, "invite", &[]).await;
    // The test clock stands at 2027-01-15 08:00 UTC: 2 AM in Chicago (CST, UTC-6).
    let invited = browser.get(&profile).await;
    invited.assert(StatusCode::OK, "<dt>Sent</dt><dd>Jan 15, 2027, 2:00 AM (America/Chicago)</dd>");
    assert_contains(&invited.body, &["<dt>Expires</dt><dd>Jan 17, 2027, 2:00 AM (America/Chicago)</dd>"]);
    let list = browser.get("/staff/clients").await;
    list.assert(StatusCode::OK, "Invited, expires Jan 17, 2027, 2:00 AM (America/Chicago)");

    press(&browser, &id, "invite", &[]).await;
    let token = app.link_token(&id, TokenPurpose::Invite);
    app.register(&token, "ada", PASSWORD).await.assert_status(StatusCode::CREATED);
    app.sign_in_at("prairie", "ada", PASSWORD).await.assert_status(StatusCode::CREATED);
    app.sign_in_at("prairie", "ada", NEW_PASSWORD).await.assert_status(StatusCode::UNAUTHORIZED);
    press(&browser, &id, "enabled", &[("enabled", "false"), ("reason", "moved away")]).await;

    let page = browser.get(&profile).await;
    page.assert(StatusCode::OK, "Audit trail");
    assert_contains(
        &page.body,
        &[
            "<td data-label=\"When\">Jan 15, 2027, 2:00 AM (America/Chicago)</td>",
            "Client record created",
            "Invitation sent",
            "Invitation resent",
            "Portal account created: username ada",
            "Signed in",
            "Sign-in failed",
            "Refused: wrong username or password",
            "Portal access turned off: moved away",
            "Sessions revoked",
            "Staff: ",
            "The client",
            "Someone not signed in",
            "Done",
        ],
    );
    for code in ["invite_sent", "invite_resent", "account_disabled", "sessions_revoked", "invalid_credentials", "UTC"] {
        assert!(!page.body.contains(code), "{code:?} in {}", page.body);
    }
}

#[tokio::test]
async fn an_unknown_time_zone_falls_back_to_utc_and_says_so() {
    let app = spawn_app().await;
    let key = practice_in(&app, "faraway", "Mars/Olympus_Mons").await;
    let id = client_of(&app, &key, "Ada Client").await;
    let browser = staff_browser_with(&app, &key).await;
    press(&browser, &id, "invite", &[]).await;

    for path in ["/staff/clients".to_owned(), format!("/staff/clients/{id}")] {
        let page = browser.get(&path).await;
        page.assert(StatusCode::OK, "Times are in UTC: the practice&#39;s time zone “Mars/Olympus_Mons” is not known");
        assert_contains(&page.body, &["(UTC)"]);
    }
    let page = browser.get(&format!("/staff/clients/{id}")).await;
    assert_contains(&page.body, &["<dt>Sent</dt><dd>Jan 15, 2027, 8:00 AM (UTC)</dd>"]);
}

#[tokio::test]
async fn hostile_client_names_and_reasons_are_escaped_by_the_engine_on_staff_pages() {
    let app = spawn_app().await;
    let hostile = "<script>alert(1)</script> & \"Co\" 'x'";
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62; &#38; &#34;Co&#34; &#39;x&#39;";
    let id = app.registered_client(hostile, "ada").await;
    let browser = staff_browser(&app).await;
    press(&browser, &id, "enabled", &[("enabled", "false"), ("reason", "<b>gone</b>")]).await;

    let list = browser.get("/staff/clients").await;
    let profile = browser.get(&format!("/staff/clients/{id}")).await;
    for page in [&list, &profile] {
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!page.body.contains("<script>") && !page.body.contains("<b>"), "{}", page.body);
        assert_contains(&page.body, &[escaped]);
    }
    assert_contains(
        &profile.body,
        &[
            &format!("<title>{escaped} · Client portal</title>"),
            "<dt>Reason</dt><dd>&#60;b&#62;gone&#60;/b&#62;</dd>",
            "Portal access turned off: &#60;b&#62;gone&#60;/b&#62;",
        ],
    );
}

/// A client invited from the panel: the staff browser, the client's profile page, and the
/// queued mail.
async fn invited_client(app: &TestApp) -> (Browser<'_>, String, MailId) {
    let id = app.create_client("Ada Client", Some("ada@example.org")).await;
    let browser = staff_browser(app).await;
    press(&browser, &id, "invite", &[]).await;
    let mail = app.store.outbox().last().unwrap().0.id;
    (browser, format!("/staff/clients/{id}"), mail)
}

#[tokio::test]
async fn a_delivery_failure_is_shown_in_words_on_the_panel() {
    let app = spawn_app().await;
    let (browser, profile, mail) = invited_client(&app).await;
    browser.get(&profile).await.assert(StatusCode::OK, "<dt>Email</dt><dd>Waiting to be sent</dd>");

    let next_try = t0() + SignedDuration::from_mins(5);
    let refused = DeliveryProblem::new(DeliveryCause::Unreachable, "SMTP connect: Connection refused (os error 111)");
    app.store.retry_later(mail, next_try, &refused).await.unwrap();
    let retrying = browser.get(&profile).await;
    retrying.assert(StatusCode::OK, "Not delivered yet: the mail server could not be reached; retrying");
    assert_contains(
        &retrying.body,
        &[
            "(next try Jan 15, 2027, 8:05 AM (UTC); 1 attempt so far)",
            "<summary>Technical detail</summary><p>SMTP connect: Connection refused (os error 111)</p>",
        ],
    );

    let no_such_user =
        DeliveryProblem::new(DeliveryCause::AddressRefused, "SMTP RCPT TO: 550 5.1.1 <<recipient>>: no such user");
    app.store.mark_failed(mail, next_try, &no_such_user, None).await.unwrap();
    let failed = browser.get(&profile).await;
    failed.assert(StatusCode::OK, "<strong>Could not be delivered: the address was refused</strong>");
    assert_contains(
        &failed.body,
        &[
            "(Jan 15, 2027, 8:05 AM (UTC))",
            "<p>SMTP RCPT TO: 550 5.1.1 &#60;&#60;recipient&#62;&#62;: no such user</p>",
        ],
    );
}

#[tokio::test]
async fn a_delivery_given_up_after_repeated_failures_says_how_many_attempts_were_made() {
    let app = spawn_app().await;
    let (browser, profile, mail) = invited_client(&app).await;

    let timed_out = DeliveryProblem::new(DeliveryCause::TimedOut, "SMTP DATA: timed out");
    app.store.mark_failed(mail, t0(), &timed_out, Some(8)).await.unwrap();
    let failed = browser.get(&profile).await;
    failed.assert(
        StatusCode::OK,
        "<strong>Could not be delivered: the mail server did not answer in time</strong> (Jan 15, 2027, 8:00 AM (UTC), after 8 attempts)",
    );
    assert_contains(&failed.body, &["<summary>Technical detail</summary><p>SMTP DATA: timed out</p>"]);
}

#[tokio::test]
async fn a_reset_email_cancelled_because_its_link_was_used_says_so() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada Client", "ada").await;
    let staff = staff_browser(&app).await;
    press(&staff, &id, "reset", &[]).await;
    let token = app.link_token(&id, TokenPurpose::Reset);

    // The client uses the link before the dispatcher sent the email (say, from a resend).
    let client = Browser::new(&app);
    client.get(&format!("/portal/password-reset?token={token}")).await;
    let done = client.submit("/portal/password-reset", "/portal/password-reset", &[("password", NEW_PASSWORD)]).await;
    done.assert(StatusCode::OK, "Password changed");

    let page = staff.get(&format!("/staff/clients/{id}")).await;
    page.assert(StatusCode::OK, "<h3>Password reset</h3>");
    assert_contains(&page.body, &["Not sent: a newer link replaced it, or it was used (Jan 15, 2027, 8:00 AM (UTC))"]);
    assert!(!page.body.contains("cancelled:") && !page.body.contains("Could not be delivered"), "{}", page.body);
}
