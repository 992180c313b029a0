//! The client's pages: links, registration, sign-in and out, resets, CSRF, headers, escaping.

use jiff::SignedDuration;
use poem::http::StatusCode;
use portal_core::TimeZoneName;

use crate::browser::Browser;
use crate::helpers::{NEW_PASSWORD, PASSWORD, TestApp, spawn_app, spawn_app_with, test_config};

const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A client with a pending invitation; returns the link token.
async fn invited(app: &TestApp, name: &str) -> String {
    let id = app.create_client(name, Some("client@example.org")).await;
    app.invite(&id).await
}

fn sign_in_path(app: &TestApp) -> String {
    format!("/portal/{}/sign-in", app.slug)
}

async fn sign_in<'a>(browser: &Browser<'a>, username: &str, password: &str) -> crate::browser::Answer {
    let path = sign_in_path(browser.app);
    browser.submit(&path, &path, &[("username", username), ("password", password)]).await
}

#[tokio::test]
async fn opening_an_invitation_link_moves_the_token_into_a_cookie_and_consumes_nothing() {
    let app = spawn_app().await;
    let token = invited(&app, "Ada Client").await;
    let browser = Browser::new(&app);

    for _ in 0..2 {
        let opened = browser.get(&format!("/portal/invitation?token={token}")).await;
        assert_eq!(opened.status, StatusCode::SEE_OTHER);
        assert_eq!(opened.header("location"), Some("/portal/invitation"), "the token leaves the URL");
        let cookie = opened.set_cookie("__Host-portal_invite").unwrap();
        assert_eq!(
            cookie,
            format!("__Host-portal_invite={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=900")
        );

        let page = browser.get("/portal/invitation").await;
        page.assert(StatusCode::OK, "Create your portal account");
        assert!(page.body.contains("Sunrise Therapy"), "{}", page.body);
        assert!(page.body.contains("At least 15 characters"), "{}", page.body);
        assert!(!page.body.contains(&token), "the page never shows the token");
    }
    // A mail scanner (no cookies) following the link consumes nothing either.
    app.client.get(format!("/portal/invitation?token={token}")).send().await.assert_status(StatusCode::SEE_OTHER);
    assert!(app.service.verify_invite(&token).await.is_ok(), "opening the link consumed it");
}

#[tokio::test]
async fn the_invitation_page_without_a_link_says_to_open_the_email() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser.get("/portal/invitation").await.assert(StatusCode::BAD_REQUEST, "Open the link from your email");
    browser.set("__Host-portal_invite", "not-a-real-token");
    browser.get("/portal/invitation").await.assert(StatusCode::NOT_FOUND, "no longer works");
}

#[tokio::test]
async fn an_expired_invitation_says_to_ask_for_a_new_one() {
    let app = spawn_app().await;
    let token = invited(&app, "Ada Client").await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    app.clock.advance(SignedDuration::from_hours(48));
    browser
        .get("/portal/invitation")
        .await
        .assert(StatusCode::GONE, "This invitation has expired — ask your provider to resend it");
}

#[tokio::test]
async fn a_client_registers_through_the_form_and_the_link_is_then_used() {
    let app = spawn_app().await;
    let token = invited(&app, "Ada Client").await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;

    let done = browser
        .submit("/portal/invitation", "/portal/invitation", &[("username", "ada"), ("password", PASSWORD)])
        .await;
    done.assert(StatusCode::OK, "Account created — sign in");
    assert!(done.body.contains(&format!("href=\"/portal/{}/sign-in\"", app.slug)), "{}", done.body);
    assert!(done.set_cookie("__Host-portal_invite").unwrap().contains("Max-Age=0"), "the link cookie is cleared");

    // The link is used up now.
    browser.get(&format!("/portal/invitation?token={token}")).await;
    browser.get("/portal/invitation").await.assert(StatusCode::NOT_FOUND, "no longer works");
    // And the new account signs in.
    app.session("ada", PASSWORD).await;
}

#[tokio::test]
async fn every_refusal_reason_is_shown_on_the_form() {
    let app = spawn_app().await;
    app.registered_client("Taken Client", "taken").await;
    let token = invited(&app, "Ada Client").await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    let register = |username: &'static str, password: &'static str| {
        let browser = &browser;
        async move {
            browser
                .submit("/portal/invitation", "/portal/invitation", &[("username", username), ("password", password)])
                .await
        }
    };

    let invalid = register("x", PASSWORD).await;
    invalid.assert(StatusCode::UNPROCESSABLE_ENTITY, "Username:");
    assert!(invalid.body.contains("aria-invalid=\"true\""), "{}", invalid.body);

    register("taken", PASSWORD).await.assert(StatusCode::CONFLICT, "this username is taken");

    let weak = register("adaclient", "adaclient").await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", weak.body);
    for reason in ["use at least 15 characters", "the password must not contain your username"] {
        assert!(weak.body.contains(reason), "{reason:?} not in {}", weak.body);
    }
    let common = register("adaclient", "password").await;
    assert!(common.body.contains("this password is too common"), "{}", common.body);
    let practice = register("adaclient", "i love sunrise therapy so much").await;
    assert!(practice.body.contains("the password must not contain the practice&#39;s name"), "{}", practice.body);
    // The username typed is kept; the password never comes back.
    assert!(practice.body.contains("value=\"adaclient\""), "{}", practice.body);
    assert!(!practice.body.contains("i love sunrise"), "{}", practice.body);

    // None of this used the link.
    assert!(app.service.verify_invite(&token).await.is_ok());
}

#[tokio::test]
async fn sign_in_and_out_go_through_forms_with_a_host_session_cookie() {
    let app = spawn_app().await;
    app.registered_client("Ada Client", "ada").await;
    let browser = Browser::new(&app);

    let signed_in = sign_in(&browser, "ada", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    assert_eq!(signed_in.header("location"), Some("/portal/home"));
    let cookie = signed_in.set_cookie("__Host-portal_session").unwrap();
    let token = browser.cookie("__Host-portal_session").unwrap();
    assert_eq!(cookie, format!("__Host-portal_session={token}; Path=/; Secure; HttpOnly; SameSite=Strict"));
    app.me(&token).await.assert_status(StatusCode::OK);

    let home = browser.get("/portal/home").await;
    home.assert(StatusCode::OK, "Ada Client");
    assert!(home.body.contains("ada") && home.body.contains("Sunrise Therapy"), "{}", home.body);

    let csrf = home.csrf();
    let out = browser.post("/portal/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    assert_eq!(out.header("location"), Some(sign_in_path(&app).as_str()));
    assert!(out.set_cookie("__Host-portal_session").unwrap().contains("Max-Age=0"));
    app.me(&token).await.assert_status(StatusCode::UNAUTHORIZED);

    // The old cookie, replayed, is signed out.
    browser.set("__Host-portal_session", &token);
    browser.get("/portal/home").await.assert(StatusCode::UNAUTHORIZED, "You are signed out");
}

#[tokio::test]
async fn sign_in_refusals_have_their_own_pages() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada Client", "ada").await;
    let browser = Browser::new(&app);

    let wrong = sign_in(&browser, "ada", NEW_PASSWORD).await;
    wrong.assert(StatusCode::UNAUTHORIZED, "The username or password is not right.");
    assert!(wrong.body.contains("value=\"ada\""), "{}", wrong.body);
    assert!(browser.cookie("__Host-portal_session").is_none());

    app.set_enabled(&id, false).await.assert_status(StatusCode::OK);
    sign_in(&browser, "ada", PASSWORD)
        .await
        .assert(StatusCode::FORBIDDEN, "Your portal account is disabled — contact your provider.");

    let mut last = sign_in(&browser, "ghost", NEW_PASSWORD).await;
    for _ in 0..10 {
        if last.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        last = sign_in(&browser, "ghost", NEW_PASSWORD).await;
    }
    last.assert(StatusCode::TOO_MANY_REQUESTS, "Too many sign-in attempts — try again in ");
    let seconds = last.header("retry-after").unwrap().to_owned();
    assert!(last.body.contains(&format!("try again in {seconds} seconds")), "{}", last.body);

    let path = "/portal/no-such-practice/sign-in";
    browser.get(path).await.assert(StatusCode::NOT_FOUND, "No practice at this address");
}

#[tokio::test]
async fn a_form_without_the_matching_csrf_value_is_refused() {
    let app = spawn_app().await;
    app.registered_client("Ada Client", "ada").await;
    let browser = Browser::new(&app);
    let path = sign_in_path(&app);
    let page = browser.get(&path).await;
    assert!(page.set_cookie("__Host-portal_csrf").unwrap().ends_with("Path=/; Secure; HttpOnly; SameSite=Strict"));
    let csrf = page.csrf();

    let wrong = "0".repeat(64);
    for fields in [vec![("csrf", wrong.as_str())], vec![]] {
        let mut fields = fields;
        fields.extend([("username", "ada"), ("password", PASSWORD)]);
        browser.post(&path, &fields).await.assert(StatusCode::FORBIDDEN, "This form has expired");
    }
    // The right value from another browser (no cookie) is refused too.
    let stranger = Browser::new(&app);
    stranger
        .post(&path, &[("csrf", &csrf), ("username", "ada"), ("password", PASSWORD)])
        .await
        .assert(StatusCode::FORBIDDEN, "This form has expired");
    for action in ["/portal/invitation", "/portal/password-reset", "/portal/sign-out"] {
        browser.post(action, &[("csrf", &wrong), ("password", PASSWORD)]).await.assert(StatusCode::FORBIDDEN, "");
    }
    assert!(browser.cookie("__Host-portal_session").is_none());
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let token = invited(&app, "Ada Client").await;
    let browser = Browser::new(&app);
    let paths = [
        format!("/portal/invitation?token={token}"),
        "/portal/invitation".to_owned(),
        "/portal/password-reset".to_owned(),
        sign_in_path(&app),
        "/portal/home".to_owned(),
    ];
    for path in &paths {
        let answer = browser.get(path).await;
        assert_eq!(answer.header("content-security-policy"), Some(CSP), "{path}");
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(answer.header("referrer-policy"), Some("no-referrer"), "{path}");
        if answer.status != StatusCode::SEE_OTHER {
            assert_eq!(answer.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
            assert!(answer.body.contains("<label for=\"") || !answer.body.contains("<input type=\"text\""));
        }
    }
    let css = browser.get("/portal/static/portal.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.body.contains(":focus-visible"));
}

#[tokio::test]
async fn names_are_escaped_in_every_page() {
    let app = spawn_app().await;
    let evil = app
        .service
        .create_practice("<script>alert('p')</script> & Co", Some("evil"), TimeZoneName::utc())
        .await
        .unwrap();
    let key = secrecy::ExposeSecret::expose_secret(evil.staff_key.expose()).to_owned();
    let response = app
        .staff_with(&key, poem::http::Method::POST, "/api/v1/clients")
        .body_json(&serde_json::json!({ "name": "<script>alert(1)</script>", "email": "c@example.org" }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    let id = crate::helpers::json_body(response).await["id"].as_str().unwrap().to_owned();
    app.staff_with(&key, poem::http::Method::POST, &format!("/api/v1/clients/{id}/portal/invitation"))
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);
    let token = app.link_token(&id, portal_core::TokenPurpose::Invite);

    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    let form = browser.get("/portal/invitation").await;
    let registered = browser
        .submit("/portal/invitation", "/portal/invitation", &[("username", "eve"), ("password", PASSWORD)])
        .await;
    let signed_in = browser
        .submit("/portal/evil/sign-in", "/portal/evil/sign-in", &[("username", "eve"), ("password", PASSWORD)])
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let home = browser.get("/portal/home").await;
    let typed = browser
        .submit(
            "/portal/evil/sign-in",
            "/portal/evil/sign-in",
            &[("username", "\"><script>x</script>"), ("password", "x")],
        )
        .await;
    for page in [&form, &registered, &home, &typed] {
        assert!(!page.body.contains("<script>"), "{}", page.body);
        assert!(page.body.contains("&#60;script&#62;"), "{}", page.body);
    }
    assert!(home.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{}", home.body);
    assert!(home.body.contains("&#60;script&#62;alert(&#39;p&#39;)&#60;/script&#62; &#38; Co"), "{}", home.body);
}

#[tokio::test]
async fn a_client_resets_the_password_through_the_form_and_is_not_signed_in() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada Client", "ada").await;
    let old_session = app.session("ada", PASSWORD).await;
    let token = app.send_reset(&id).await;
    let browser = Browser::new(&app);

    let opened = browser.get(&format!("/portal/password-reset?token={token}")).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    assert_eq!(opened.header("location"), Some("/portal/password-reset"));
    assert!(opened.set_cookie("__Host-portal_reset").is_some());
    browser.get("/portal/password-reset").await.assert(StatusCode::OK, "Choose a new password");
    assert!(app.service.verify_reset(&token).await.is_ok(), "opening the link consumed it");

    browser
        .submit("/portal/password-reset", "/portal/password-reset", &[("password", "short")])
        .await
        .assert(StatusCode::UNPROCESSABLE_ENTITY, "use at least 15 characters");

    let done = browser.submit("/portal/password-reset", "/portal/password-reset", &[("password", NEW_PASSWORD)]).await;
    done.assert(StatusCode::OK, "Password changed — sign in");
    assert!(done.body.contains(&format!("href=\"/portal/{}/sign-in\"", app.slug)), "{}", done.body);
    assert!(browser.cookie("__Host-portal_session").is_none(), "not signed in after a reset");
    app.me(&old_session).await.assert_status(StatusCode::UNAUTHORIZED);

    browser.get("/portal/password-reset").await.assert(StatusCode::BAD_REQUEST, "Open the link from your email");
    browser.get(&format!("/portal/password-reset?token={token}")).await;
    browser.get("/portal/password-reset").await.assert(StatusCode::NOT_FOUND, "no longer works");
    sign_in(&browser, "ada", NEW_PASSWORD).await.assert(StatusCode::SEE_OTHER, "");
}

#[tokio::test]
async fn a_reset_link_of_a_disabled_account_says_so() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada Client", "ada").await;
    let token = app.send_reset(&id).await;
    app.set_enabled(&id, false).await.assert_status(StatusCode::OK);
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/password-reset?token={token}")).await;
    // Disabling voids the pending reset, so the link no longer works.
    let page = browser.get("/portal/password-reset").await;
    assert!(matches!(page.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{}", page.body);
}

#[tokio::test]
async fn disabling_the_account_signs_the_browser_out_at_its_next_request() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada Client", "ada").await;
    let browser = Browser::new(&app);
    sign_in(&browser, "ada", PASSWORD).await.assert(StatusCode::SEE_OTHER, "");
    browser.get("/portal/home").await.assert(StatusCode::OK, "Ada Client");

    app.set_enabled(&id, false).await.assert_status(StatusCode::OK);
    let home = browser.get("/portal/home").await;
    home.assert(StatusCode::UNAUTHORIZED, "You are signed out");
    assert!(home.set_cookie("__Host-portal_session").unwrap().contains("Max-Age=0"));
    assert!(!home.body.contains("Ada Client"), "{}", home.body);

    // Enabling brings the session back no more than it did the API's.
    app.set_enabled(&id, true).await.assert_status(StatusCode::OK);
    browser.get("/portal/home").await.assert(StatusCode::UNAUTHORIZED, "You are signed out");
}

#[tokio::test]
async fn the_per_ip_limit_answers_with_a_page() {
    let mut config = test_config();
    config.ip_rate_limit.per_minute = 1;
    config.ip_rate_limit.burst = 2;
    let app = spawn_app_with(config).await;
    let browser = Browser::new(&app);
    let path = sign_in_path(&app);
    let mut last = None;
    for _ in 0..3 {
        last = Some(browser.submit(&path, &path, &[("username", "ada"), ("password", PASSWORD)]).await);
    }
    let last = last.unwrap();
    last.assert(StatusCode::TOO_MANY_REQUESTS, "Too many requests from your network. Try again in ");
    assert!(last.header("retry-after").is_some());
    assert_eq!(last.header("content-type"), Some("text/html; charset=utf-8"));
}
