//! "Forgot your password?": the link on the sign-in page, the form, and its one neutral answer.

use poem::http::StatusCode;

use crate::browser::Browser;
use crate::helpers::{NEW_PASSWORD, TestApp, spawn_app};

fn forgot_path(app: &TestApp) -> String {
    format!("/portal/{}/forgot-password", app.slug)
}

#[tokio::test]
async fn the_sign_in_page_links_to_the_form_only_when_the_practice_allows_it() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let sign_in = format!("/portal/{}/sign-in", app.slug);
    let page = browser.get(&sign_in).await;
    page.assert(StatusCode::OK, "Ask your provider to send you a reset link");
    assert!(!page.body.contains("forgot-password"), "{}", page.body);
    browser.get(&forgot_path(&app)).await.assert(StatusCode::NOT_FOUND, "Password resets are not available here");

    app.allow_client_resets().await;
    let page = browser.get(&sign_in).await;
    page.assert(
        StatusCode::OK,
        &format!(r#"<a href="/portal/{}/forgot-password">Forgot your password?</a>"#, app.slug),
    );
    browser.get("/portal/nowhere/forgot-password").await.assert(StatusCode::NOT_FOUND, "No practice at this address");
}

#[tokio::test]
async fn the_form_is_labelled_with_autocomplete_and_a_csrf_field() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    let browser = Browser::new(&app);
    let page = browser.get(&forgot_path(&app)).await;
    page.assert(StatusCode::OK, "Forgot your password?");
    for fragment in [
        r#"<label for="username">Username</label>"#,
        r#"id="username" name="username""#,
        r#"autocomplete="username""#,
        r#"<label for="email">Email address on file</label>"#,
        r#"type="email" id="email" name="email""#,
        r#"autocomplete="email""#,
        &format!(r#"<form method="post" action="/portal/{}/forgot-password""#, app.slug),
    ] {
        assert!(page.body.contains(fragment), "{fragment} not in {}", page.body);
    }
    assert!(!page.csrf().is_empty());
    // Without the CSRF value the form is refused, and nothing is asked for.
    let refused = browser.post(&forgot_path(&app), &[("username", "ada"), ("email", "client@example.org")]).await;
    refused.assert(StatusCode::FORBIDDEN, "This form has expired");
    assert!(app.reset_requests().is_empty());
}

#[tokio::test]
async fn matching_and_non_matching_requests_get_one_neutral_page_and_only_the_match_is_mailed() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    let ada = app.registered_client("Ada", "ada").await;
    let browser = Browser::new(&app);
    let path = forgot_path(&app);

    let mut bodies = Vec::new();
    for (username, email) in
        [("ada", "someone.else@example.org"), ("nobody", "client@example.org"), ("Ada", "CLIENT@example.org")]
    {
        let answer = browser.submit(&path, &path, &[("username", username), ("email", email)]).await;
        answer.assert(StatusCode::OK, "If the username and email address match an active account");
        assert!(answer.body.contains("valid for 48 hours"), "{}", answer.body);
        assert!(answer.body.contains("check your spam folder"), "{}", answer.body);
        assert!(!answer.body.contains(username) && !answer.body.contains(email), "the page repeats nothing typed");
        bodies.push(answer.body);
    }
    assert!(bodies.windows(2).all(|pair| pair[0] == pair[1]), "one page for every case");

    app.reset_requests_done(3).await;
    assert_eq!(app.reset_mails(), 1);
    // The emailed link opens the usual reset page and completes as ever.
    let token = app.link_token(&ada, portal_core::TokenPurpose::Reset);
    browser.get(&format!("/portal/password-reset?token={token}")).await;
    let done = browser.submit("/portal/password-reset", "/portal/password-reset", &[("password", NEW_PASSWORD)]).await;
    assert!(done.status.is_success(), "{}", done.body);
    app.sign_in("ada", NEW_PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_username_or_email_that_cannot_be_one_brings_the_form_back() {
    let app = spawn_app().await;
    app.allow_client_resets().await;
    let browser = Browser::new(&app);
    let path = forgot_path(&app);
    let answer = browser.submit(&path, &path, &[("username", "ada"), ("email", "no-at-sign")]).await;
    answer.assert(StatusCode::UNPROCESSABLE_ENTITY, "Enter your username and a complete email address");
    assert!(answer.body.contains(r#"value="no-at-sign""#), "{}", answer.body);
    assert!(app.reset_requests().is_empty());
}
