//! Design §2 end to end over HTTP: invite → register → sign in → disable → enable → reset →
//! sign in with the new password, reading every link from the delivered email.

use portal_testkit::token_after;
use reqwest::{Method, StatusCode};

use crate::helpers::{AppOptions, Backend, Mail, NEW_PASSWORD, PASSWORD, TestApp, spawn_app_with};

/// What the lifecycle used, for the tests that look for secrets afterwards.
#[derive(Debug, Default)]
pub struct Secrets {
    pub link_tokens: Vec<String>,
    pub session_tokens: Vec<String>,
    pub passwords: Vec<String>,
}

/// Polls the staff view until the latest `kind` link's email is `sent`.
async fn wait_until_delivered(app: &TestApp, client: &str, kind: &str) {
    for _ in 0..300 {
        let portal = app.portal(client).await;
        if portal.body[kind]["delivery"]["state"] == "sent" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the {kind} email of {client} was never marked sent");
}

/// The whole lifecycle; returns the secrets it saw.
pub async fn the_whole_lifecycle(app: &TestApp) -> Secrets {
    let mut secrets = Secrets { passwords: vec![PASSWORD.to_owned(), NEW_PASSWORD.to_owned()], ..Secrets::default() };
    let email = "ada@example.org";

    // Staff create the client: no account yet.
    let client = app.create_client("Ada Lovelace", email).await;
    let record = app.staff(Method::GET, &format!("/api/v1/clients/{client}"), None).await;
    assert_eq!(record.status, StatusCode::OK, "{record:?}");
    assert_eq!(record.body["portal"]["state"], "no_account");
    assert_eq!(app.portal(&client).await.body["state"], "no_account");

    // Send the invite: invited, and the email arrives with the link.
    let sent = app.send_invite(&client).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    assert_eq!(app.portal(&client).await.body["state"], "invited");
    let invitation = app.next_email_to(email).await;
    assert!(!invitation.subject.is_empty(), "{invitation:?}");
    let invite_token = token_after(&invitation.text, &format!("{}/portal/invitation?token=", app.base))
        .unwrap_or_else(|| panic!("no invitation link in {invitation:?}"));
    assert!(invitation.html.contains(&invite_token), "the HTML part carries the same link");
    secrets.link_tokens.push(invite_token.clone());
    wait_until_delivered(app, &client, "invite").await;
    let listed = app.staff(Method::GET, "/api/v1/clients?portal=invited", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    assert!(listed.body.to_string().contains(&client), "{listed:?}");

    // Opening the link (verify) never consumes it.
    for _ in 0..2 {
        let verified = app.verify_invite(&invite_token).await;
        assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
        assert_eq!(verified.body["practice"]["slug"], app.slug.as_str());
    }

    // Register: active.
    let registered = app.register(&invite_token, "ada.l", PASSWORD).await;
    assert_eq!(registered.status, StatusCode::CREATED, "{registered:?}");
    assert_eq!(registered.body["username"], "ada.l");
    let portal = app.portal(&client).await;
    assert_eq!((portal.body["state"].as_str(), portal.body["username"].as_str()), (Some("active"), Some("ada.l")));
    assert_eq!(portal.body["enabled"], true);
    // The link was single use; an account now exists, so no new invite.
    app.register(&invite_token, "ada.again", PASSWORD).await.assert_problem(404, "invite_not_found");
    app.send_invite(&client).await.assert_problem(409, "account_exists");

    // Sign in, /me.
    let session = app.session("ada.l", PASSWORD).await;
    secrets.session_tokens.push(session.clone());
    let me = app.me(&session).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["username"], "ada.l");
    assert_eq!(me.body["practice"]["slug"], app.slug.as_str());
    assert_eq!(me.body["client_name"], "Ada Lovelace");
    // Usernames are case-insensitive.
    let other_session = app.session("ADA.L", PASSWORD).await;
    secrets.session_tokens.push(other_session.clone());

    // Disable: sessions revoked, sign-in refused as disabled, no reset can be sent.
    let disabled = app.set_enabled(&client, false).await;
    assert_eq!(disabled.status, StatusCode::OK, "{disabled:?}");
    assert_eq!(app.portal(&client).await.body["state"], "disabled");
    app.me(&session).await.assert_problem(401, "unauthenticated");
    app.me(&other_session).await.assert_problem(401, "unauthenticated");
    app.sign_in("ada.l", PASSWORD).await.assert_problem(403, "account_disabled");
    app.sign_in("ada.l", "not the right password at all").await.assert_problem(401, "invalid_credentials");
    app.send_reset(&client).await.assert_problem(409, "account_disabled");

    // Enable: sign-in works again, the old sessions stay revoked.
    let enabled = app.set_enabled(&client, true).await;
    assert_eq!(enabled.status, StatusCode::OK, "{enabled:?}");
    assert_eq!(app.portal(&client).await.body["state"], "active");
    app.me(&session).await.assert_problem(401, "unauthenticated");
    let session = app.session("ada.l", PASSWORD).await;
    secrets.session_tokens.push(session.clone());

    // Password reset through the emailed link.
    assert_eq!(app.send_reset(&client).await.status, StatusCode::ACCEPTED);
    let reset_email = app.next_email_to(email).await;
    assert!(!reset_email.text.contains("ada.l"), "the reset email never contains the username");
    let reset_token = token_after(&reset_email.text, &format!("{}/portal/password-reset?token=", app.base))
        .unwrap_or_else(|| panic!("no reset link in {reset_email:?}"));
    secrets.link_tokens.push(reset_token.clone());
    wait_until_delivered(app, &client, "reset").await;
    for _ in 0..2 {
        let verified = app.verify_reset(&reset_token).await;
        assert_eq!(verified.status, StatusCode::OK, "{verified:?}");
    }
    // An invitation token cannot redeem a reset.
    app.complete_reset(&invite_token, NEW_PASSWORD).await.assert_problem(404, "reset_not_found");
    let completed = app.complete_reset(&reset_token, NEW_PASSWORD).await;
    assert_eq!(completed.status, StatusCode::NO_CONTENT, "{completed:?}");
    // Every session is revoked and the client is not signed in by the reset.
    app.me(&session).await.assert_problem(401, "unauthenticated");
    app.complete_reset(&reset_token, "yet another password entirely").await.assert_problem(404, "reset_not_found");

    // A "your password was changed" notice follows, without a link or the username.
    let notice = app.next_email_to(email).await;
    assert!(!notice.text.contains("token="), "{notice:?}");
    assert!(!notice.text.contains("ada.l"), "{notice:?}");

    // Old password refused, new one accepted.
    app.sign_in("ada.l", PASSWORD).await.assert_problem(401, "invalid_credentials");
    let session = app.session("ada.l", NEW_PASSWORD).await;
    secrets.session_tokens.push(session.clone());
    assert_eq!(app.me(&session).await.status, StatusCode::OK);

    // Sign out.
    let signed_out = app.request(Method::DELETE, "/api/v1/portal/sessions/current", Some(&session), None).await;
    assert_eq!(signed_out.status, StatusCode::NO_CONTENT, "{signed_out:?}");
    app.me(&session).await.assert_problem(401, "unauthenticated");

    // The audit trail tells the story.
    let audit = app.staff(Method::GET, &format!("/api/v1/clients/{client}/portal/audit"), None).await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    assert!(audit.body.to_string().len() > 100, "{audit:?}");
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_works_over_http_with_eml_files_on_sqlite() {
    let app = spawn_app_with(AppOptions::default()).await.expect("SQLite");
    the_whole_lifecycle(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_works_over_http_with_a_real_smtp_server() {
    let app = spawn_app_with(AppOptions { mail: Mail::Smtp, ..AppOptions::default() }).await.expect("SQLite");
    the_whole_lifecycle(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_lifecycle_works_over_http_on_postgresql() {
    let options = AppOptions { backend: Backend::Postgres, mail: Mail::Smtp, ..AppOptions::default() };
    let Some(app) = spawn_app_with(options).await else { return };
    the_whole_lifecycle(&app).await;
    app.stop().await;
}
