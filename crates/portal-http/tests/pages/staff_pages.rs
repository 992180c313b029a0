//! The staff pages: sign-in with a staff key, the client list and its filters, the portal panel
//! in its three looks, the panel's buttons.

use poem::http::StatusCode;

use crate::browser::{Answer, Browser};
use crate::helpers::{PASSWORD, TestApp, spawn_app};

pub async fn staff_browser(app: &TestApp) -> Browser<'_> {
    staff_browser_with(app, &app.staff_key).await
}

/// A browser signed in to the staff pages with `key`.
pub async fn staff_browser_with<'a>(app: &'a TestApp, key: &str) -> Browser<'a> {
    let browser = Browser::new(app);
    let signed_in = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", key)]).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    browser
}

/// Presses one of the profile's buttons.
pub async fn press(browser: &Browser<'_>, id: &str, action: &str, extra: &[(&str, &str)]) -> Answer {
    let profile = format!("/staff/clients/{id}");
    browser.submit(&profile, &format!("{profile}/{action}"), extra).await
}

#[tokio::test]
async fn staff_pages_need_a_valid_staff_key_and_keep_only_a_session_in_a_host_cookie() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let away = browser.get("/staff/clients").await;
    assert_eq!(away.status, StatusCode::SEE_OTHER);
    assert_eq!(away.header("location"), Some("/staff/sign-in"));

    let wrong = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", "pst_not_a_key")]).await;
    wrong.assert(StatusCode::UNAUTHORIZED, "This staff key is not valid.");

    let signed_in = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", &app.staff_key)]).await;
    assert_eq!(signed_in.header("location"), Some("/staff/clients"));
    let cookie = signed_in.set_cookie("__Host-portal_staff").unwrap();
    assert!(cookie.starts_with("__Host-portal_staff=pss_"), "the cookie holds a staff session token: {cookie}");
    assert!(cookie.ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(&app.staff_key), "the cookie never holds the key");
    let session = browser.cookie("__Host-portal_staff").unwrap();
    let list = browser.get("/staff/clients").await;
    list.assert(StatusCode::OK, "<h1>Clients</h1>");
    assert!(!list.body.contains(&app.staff_key), "the key never appears in a page");
    assert!(
        app.client.get("/api/v1/clients").header("authorization", format!("Bearer {session}")).send().await.0.status()
            == StatusCode::UNAUTHORIZED,
        "a staff session token is no API key"
    );

    let csrf = list.csrf();
    let out = browser.post("/staff/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.header("location"), Some("/staff/sign-in"));
    assert_eq!(browser.get("/staff/clients").await.status, StatusCode::SEE_OTHER);
    // A copy of the cookie taken before sign-out is worthless after it: the session is gone.
    browser.set("__Host-portal_staff", &session);
    let replayed = browser.get("/staff/clients").await;
    assert_eq!(replayed.header("location"), Some("/staff/sign-in"));
    assert_eq!(app.store.staff_session_count(), 0);
}

#[tokio::test]
async fn the_panel_shows_the_three_looks_and_its_buttons_work() {
    let app = spawn_app().await;
    let id = app.create_client("Ada <Client>", Some("ada@example.org")).await;
    let browser = staff_browser(&app).await;
    let profile = format!("/staff/clients/{id}");

    // No account, not invited.
    let page = browser.get(&profile).await;
    page.assert(StatusCode::OK, "<p class=\"state\">No account</p>");
    assert!(page.body.contains("Send portal invite") && page.body.contains("Ada &#60;Client&#62;"), "{}", page.body);
    assert!(!page.body.contains("role=\"switch\""));

    let sent = press(&browser, &id, "invite", &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(sent.header("location"), Some(format!("{profile}?done=invite").as_str()));
    let token = app.link_token(&id, portal_core::TokenPurpose::Invite);
    let page = browser.get(&format!("{profile}?done=invite")).await;
    page.assert(StatusCode::OK, "Invitation queued.");
    for text in ["Resend invite", "Invitation", "Sent", "Expires", "queued", "Invitation sent"] {
        assert!(page.body.contains(text), "{text:?} not in {}", page.body);
    }
    assert!(!page.body.contains(&token), "staff never see a token");

    // Active.
    app.register(&token, "ada", PASSWORD).await.assert_status(StatusCode::CREATED);
    let session = app.session("ada", PASSWORD).await;
    let page = browser.get(&profile).await;
    page.assert(StatusCode::OK, "<p class=\"state\">Active</p>");
    for text in ["<dd>ada</dd>", "class=\"toggle on\" role=\"switch\" aria-checked=\"true\"", "Reset password"] {
        assert!(page.body.contains(text), "{text:?} not in {}", page.body);
    }
    assert!(!page.body.contains("invite</button>"), "{}", page.body);
    assert!(!page.body.contains(PASSWORD));

    let reset = press(&browser, &id, "reset", &[]).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);
    browser.get(&profile).await.assert(StatusCode::OK, "Password reset");

    // Disabled: the client's session ends.
    let off = press(&browser, &id, "enabled", &[("enabled", "false"), ("reason", "moved <away>")]).await;
    assert_eq!(off.header("location"), Some(format!("{profile}?done=disabled").as_str()));
    let page = browser.get(&profile).await;
    page.assert(StatusCode::OK, "<p class=\"state\">Disabled</p>");
    assert!(page.body.contains("class=\"toggle off\" role=\"switch\" aria-checked=\"false\""), "{}", page.body);
    assert!(!page.body.contains("Reset password"), "{}", page.body);
    assert!(page.body.contains("<dt>Reason</dt><dd>moved &#60;away&#62;</dd>"), "{}", page.body);
    app.me(&session).await.assert_status(StatusCode::UNAUTHORIZED);

    // A refused action says why, on the profile.
    let refused = press(&browser, &id, "reset", &[]).await;
    refused.assert(StatusCode::CONFLICT, "Not done:");

    let on = press(&browser, &id, "enabled", &[("enabled", "true")]).await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    browser.get(&profile).await.assert(StatusCode::OK, "aria-checked=\"true\"");
}

#[tokio::test]
async fn the_client_list_filters_by_portal_status() {
    let app = spawn_app().await;
    app.registered_client("Active <One>", "active1").await;
    app.create_client("Never Invited", Some("n@example.org")).await;
    let browser = staff_browser(&app).await;

    let all = browser.get("/staff/clients").await;
    assert!(all.body.contains("Active &#60;One&#62;") && all.body.contains("Never Invited"), "{}", all.body);
    assert!(all.body.contains("<a href=\"/staff/clients\" aria-current=\"page\">All</a>"), "{}", all.body);

    let active = browser.get("/staff/clients?portal=active").await;
    assert!(active.body.contains("Active &#60;One&#62;") && !active.body.contains("Never Invited"), "{}", active.body);
    assert!(active.body.contains("portal=active\" aria-current=\"page\""), "{}", active.body);
    let none = browser.get("/staff/clients?portal=no_account").await;
    assert!(!none.body.contains("Active &#60;One&#62;") && none.body.contains("Never Invited"), "{}", none.body);
}

#[tokio::test]
async fn staff_actions_need_the_csrf_value_and_a_client_of_the_practice() {
    let app = spawn_app().await;
    let id = app.create_client("Ada Client", Some("ada@example.org")).await;
    let browser = staff_browser(&app).await;
    let wrong = "0".repeat(64);
    browser
        .post(&format!("/staff/clients/{id}/invite"), &[("csrf", &wrong)])
        .await
        .assert(StatusCode::FORBIDDEN, "This form has expired");
    assert!(app.store.outbox().is_empty(), "nothing was sent");

    let other = app.service.create_practice("Other Practice", Some("other"), portal_core::TimeZoneName::utc()).await;
    let other_key = secrecy::ExposeSecret::expose_secret(other.unwrap().staff_key.expose()).to_owned();
    let stranger = Browser::new(&app);
    stranger.submit("/staff/sign-in", "/staff/sign-in", &[("key", &other_key)]).await;
    stranger.get(&format!("/staff/clients/{id}")).await.assert(StatusCode::NOT_FOUND, "No such client");
    let csrf = stranger.get("/staff/clients").await.csrf();
    stranger
        .post(&format!("/staff/clients/{id}/invite"), &[("csrf", &csrf)])
        .await
        .assert(StatusCode::NOT_FOUND, "No such client");
    assert!(app.store.outbox().is_empty(), "nothing was sent");
}

/// The `href` of the page link with `rel` (`next`, `prev`), as a browser reads it.
fn page_link(answer: &Answer, rel: &str) -> Option<String> {
    let end = answer.body.find(&format!("\" rel=\"{rel}\""))?;
    let start = answer.body[..end].rfind("href=\"")? + "href=\"".len();
    Some(answer.body[start..end].replace("&#38;", "&"))
}

#[tokio::test]
async fn the_client_list_is_searched_and_paged_with_links_that_keep_the_filters() {
    let app = spawn_app().await;
    for n in 0..52 {
        app.create_client(&format!("Client {n:02}"), Some(&format!("c{n}@example.org"))).await;
    }
    app.create_client("ada Lovelace", Some("countess@example.org")).await;
    let browser = staff_browser(&app).await;

    // Fifty per page, in name order whatever the case, with a link to the next page.
    let first = browser.get("/staff/clients").await;
    first.assert(StatusCode::OK, "ada Lovelace");
    assert!(first.body.contains("Client 48") && !first.body.contains("Client 49"), "{}", first.body);
    assert_eq!(page_link(&first, "prev"), None);
    let next = page_link(&first, "next").expect("a next page");
    let second = browser.get(&next).await;
    assert!(second.body.contains("Client 49") && second.body.contains("Client 51"), "{}", second.body);
    assert!(!second.body.contains("ada Lovelace"), "{}", second.body);
    assert_eq!(page_link(&second, "next"), None);
    let back = browser.get(&page_link(&second, "prev").expect("a previous page")).await;
    assert_eq!(back.body.replace(&back.csrf(), ""), first.body.replace(&first.csrf(), ""));

    // The search box: its label, the text shown back, the status filters keep it, and the
    // status filter stays in the form.
    let search = browser.get("/staff/clients?q=client+5&portal=no_account").await;
    search.assert(StatusCode::OK, "<label for=\"q\">Search by name or email</label>");
    assert!(search.body.contains("id=\"q\" name=\"q\" value=\"client 5\""), "{}", search.body);
    assert!(search.body.contains("<input type=\"hidden\" name=\"portal\" value=\"no_account\">"), "{}", search.body);
    assert!(search.body.contains("Client 50") && search.body.contains("Client 51"), "{}", search.body);
    assert!(!search.body.contains("Client 49") && !search.body.contains("ada Lovelace"), "{}", search.body);
    assert!(search.body.contains("/staff/clients?portal=active&#38;q=client%205\""), "{}", search.body);
    assert!(search.body.contains("/staff/clients?q=client%205\""), "the All filter keeps the search: {}", search.body);
    let by_email = browser.get("/staff/clients?q=COUNTESS").await;
    assert!(by_email.body.contains("ada Lovelace") && !by_email.body.contains("Client 0"), "{}", by_email.body);
    browser.get("/staff/clients?q=").await.assert(StatusCode::OK, "Client 00");

    // Honest empty states.
    browser.get("/staff/clients?q=%3Czed%3E").await.assert(StatusCode::OK, "No clients match “&#60;zed&#62;”.");
    browser
        .get("/staff/clients?q=ada&portal=active")
        .await
        .assert(StatusCode::OK, "No clients match “ada” with portal status “Active”.");
    browser
        .get("/staff/clients?portal=disabled")
        .await
        .assert(StatusCode::OK, "No clients with portal status “Disabled”.");

    // A search out of its rules, and a page link that was tampered with, say so.
    let long = browser.get(&format!("/staff/clients?q={}", "x".repeat(101))).await;
    long.assert(StatusCode::UNPROCESSABLE_ENTITY, "Not searched: a search is at most 100 characters.");
    let broken = browser.get("/staff/clients?q=a%0Ab").await;
    broken.assert(StatusCode::UNPROCESSABLE_ENTITY, "Not searched: a search cannot hold line breaks");
    assert!(long.body.contains("aria-invalid=\"true\""), "{}", long.body);
    let tampered = browser.get("/staff/clients?cursor=AAAA").await;
    tampered.assert(StatusCode::UNPROCESSABLE_ENTITY, "That page link is not valid any more; here is the first page.");
    assert!(tampered.body.contains("ada Lovelace"), "{}", tampered.body);
}

#[tokio::test]
async fn the_list_sends_invitations_to_the_checked_clients_and_says_what_happened_to_each() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada <Lovelace>", Some("ada@example.org")).await;
    let hedy = app.create_client("Hedy Lamarr", None).await;
    let grace = app.registered_client("Grace Hopper", "grace").await;
    let browser = staff_browser(&app).await;

    let list = browser.get("/staff/clients").await;
    list.assert(StatusCode::OK, "<legend>Select clients to invite to the portal</legend>");
    assert!(
        list.body.contains(&format!(
            "<input type=\"checkbox\" name=\"client\" value=\"{ada}\" id=\"pick-1\" aria-label=\"Select Ada &#60;Lovelace&#62;\">"
        )),
        "each checkbox is named after its client: {}",
        list.body
    );
    assert!(list.body.contains("Send invitations to selected clients"), "{}", list.body);
    assert!(list.body.contains("Invite every client with no account (up to 500)"), "{}", list.body);

    let csrf = list.csrf();
    let fields =
        [("csrf", csrf.as_str()), ("client", ada.as_str()), ("client", hedy.as_str()), ("client", grace.as_str())];
    let result = browser.post("/staff/invitations", &fields).await;
    result.assert(StatusCode::OK, "Invitations sent: 1. Not sent: 2.");
    for words in [
        "Ada &#60;Lovelace&#62;</a></td>\n<td data-label=\"Invitation\">Sent</td>",
        "Hedy Lamarr</a></td>\n<td data-label=\"Invitation\">Skipped: no email address on file</td>",
        "Grace Hopper</a></td>\n<td data-label=\"Invitation\">Skipped: already has a portal account (send a password reset instead)</td>",
    ] {
        assert!(result.body.contains(words), "{words} in {}", result.body);
    }
    assert_eq!(app.store.outbox().iter().filter(|(mail, _)| mail.client_id.as_str() == ada).count(), 1);

    // Nothing checked: nothing sent, and the page says why.
    let none = browser.post("/staff/invitations", &[("csrf", csrf.as_str())]).await;
    none.assert(StatusCode::UNPROCESSABLE_ENTITY, "select at least one client");
    // Without the form's CSRF value, nothing happens.
    let forged =
        browser.post("/staff/invitations", &[("csrf", "0".repeat(64).as_str()), ("client", hedy.as_str())]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // Every client with no account: Ada now has a live invitation, so only a new client is left.
    let new = app.create_client("New Client", Some("new@example.org")).await;
    let every = browser.post("/staff/invitations", &[("csrf", csrf.as_str()), ("every", "true")]).await;
    every.assert(StatusCode::OK, "Invitations sent: 1. Not sent: 0.");
    assert!(every.body.contains(&format!("/staff/clients/{new}\">New Client</a>")), "{}", every.body);
    let again = browser.post("/staff/invitations", &[("csrf", csrf.as_str()), ("every", "true")]).await;
    again.assert(StatusCode::OK, "no invitations were sent");
}

#[tokio::test]
async fn the_panel_says_when_the_invitations_reminder_was_sent() {
    let app = spawn_app().await;
    let staff = app.service.authenticate_staff(&app.staff_key).await.unwrap().unwrap();
    let staff = portal_core::service::StaffContext { staff, request: portal_core::RequestContext::default() };
    let change = portal_core::service::PracticeChange {
        invitation_reminder_hours: Some(Some(24)),
        ..portal_core::service::PracticeChange::default()
    };
    app.service.update_practice(&staff, change).await.unwrap();
    let id = app.create_client("Ada", Some("ada@example.org")).await;
    app.invite(&id).await;
    let browser = staff_browser(&app).await;
    let profile = format!("/staff/clients/{id}");
    let page = browser.get(&profile).await;
    assert!(!page.body.contains("Reminder sent at"), "{}", page.body);

    app.clock.advance(jiff::SignedDuration::from_hours(24));
    assert_eq!(app.service.queue_due_reminders(10).await.unwrap().queued, 1);
    // A day later the first staff session has lapsed: sign in again.
    let page = staff_browser(&app).await.get(&profile).await;
    page.assert(StatusCode::OK, "<p>Reminder sent at ");
}
