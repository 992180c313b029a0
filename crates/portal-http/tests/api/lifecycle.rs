//! The lifecycle of design §2 over HTTP.

use poem::http::{Method, StatusCode};
use portal_core::TokenPurpose;
use serde_json::json;

use crate::helpers::{NEW_PASSWORD, PASSWORD, assert_problem, json_body, spawn_app};

#[tokio::test]
async fn a_client_goes_from_invitation_to_a_new_password_over_http() {
    let app = spawn_app().await;

    // Staff create a client: no account yet.
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ada Lovelace", "email": "ada@example.org", "language": "es-MX" }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    let created = json_body(response).await;
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(created["email"], "ada@example.org");
    assert_eq!(created["language"], "es");
    assert_eq!(created["portal"]["state"], "no_account");
    assert_eq!(created["portal"]["enabled"], false);
    let id = created["id"].as_str().unwrap().to_owned();

    // Invite: 202 with the times; the dispatcher is woken.
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{id}/portal/invitation")).send().await;
    response.assert_status(StatusCode::ACCEPTED);
    let sent = json_body(response).await;
    assert_eq!(sent["sent_at"], "2027-01-15T08:00:00Z");
    assert_eq!(sent["expires_at"], "2027-01-17T08:00:00Z");
    assert_eq!(sent["replaced_previous"], false);
    assert_eq!(app.wakeups(), 1);

    let portal = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await).await;
    assert_eq!(portal["state"], "invited");
    assert_eq!(portal["invite"]["sent_at"], "2027-01-15T08:00:00Z");
    assert_eq!(portal["invite"]["expires_at"], "2027-01-17T08:00:00Z");
    assert_eq!(portal["invite"]["delivery"]["state"], "pending");
    assert_eq!(portal["invite"]["delivery"]["attempts"], 0);

    // The client opens the link (twice: verifying never consumes it) and registers.
    let token = app.link_token(&id, TokenPurpose::Invite);
    for _ in 0..2 {
        let response =
            app.client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": token })).send().await;
        response.assert_status_is_ok();
        let info = json_body(response).await;
        assert_eq!(info["practice"]["name"], "Sunrise Therapy");
        assert_eq!(info["practice"]["slug"], "sunrise");
        assert_eq!(info["expires_at"], "2027-01-17T08:00:00Z");
        assert_eq!(info["language"], "es", "the record's language, for a host's own pages");
    }
    let response = app.register(&token, "Ada.Lovelace", PASSWORD).await;
    response.assert_status(StatusCode::CREATED);
    let registered = json_body(response).await;
    assert_eq!(registered["username"], "ada.lovelace");
    assert_eq!(registered["practice"]["slug"], "sunrise");

    // The link is used up.
    let response = app.register(&token, "someone.else", PASSWORD).await;
    assert_problem(response, StatusCode::NOT_FOUND, "invite_not_found").await;

    // Sign in, then /me.
    let response = app.sign_in("ada.lovelace", PASSWORD).await;
    response.assert_status(StatusCode::CREATED);
    let session = json_body(response).await;
    assert_eq!(session["expires_at"], "2027-01-15T08:30:00Z");
    let session = session["token"].as_str().unwrap().to_owned();
    assert!(session.starts_with("pcs_"));
    let me = app.me(&session).await;
    me.assert_status_is_ok();
    me.assert_json(json!({
        "username": "ada.lovelace",
        "practice": { "slug": "sunrise", "name": "Sunrise Therapy" },
        "client_name": "Ada Lovelace",
    }))
    .await;

    let listed = json_body(app.staff(Method::GET, "/api/v1/clients?portal=active").send().await).await;
    assert_eq!(listed["clients"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["clients"][0]["portal"]["username"], "ada.lovelace");
    assert_eq!(listed["clients"][0]["portal"]["enabled"], true);

    // Disable: the session ends at once and sign-in is refused with 403.
    let response = app
        .staff(Method::PUT, &format!("/api/v1/clients/{id}/portal/enabled"))
        .body_json(&json!({ "enabled": false, "reason": "moved away" }))
        .send()
        .await;
    response.assert_status_is_ok();
    let portal = json_body(response).await;
    assert_eq!(portal["state"], "disabled");
    assert_eq!(portal["enabled"], false);
    assert_eq!(portal["disabled_reason"], "moved away");
    assert_eq!(portal["username"], "ada.lovelace");
    assert_problem(app.me(&session).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(app.sign_in("ada.lovelace", PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;
    let disabled = json_body(app.staff(Method::GET, "/api/v1/clients?portal=disabled").send().await).await;
    assert_eq!(disabled["clients"].as_array().map(Vec::len), Some(1));

    // Enable, then a password reset.
    let response = app.set_enabled(&id, true).await;
    response.assert_status_is_ok();
    assert_eq!(json_body(response).await["state"], "active");
    let session = app.session("ada.lovelace", PASSWORD).await;
    let reset = app.send_reset(&id).await;
    assert_eq!(app.wakeups(), 2);
    let portal = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await).await;
    assert_eq!(portal["reset"]["expires_at"], "2027-01-17T08:00:00Z");
    assert_eq!(portal["reset"]["used"], false);

    let response =
        app.client.post("/api/v1/portal/password-resets/verify").body_json(&json!({ "token": reset })).send().await;
    response.assert_status_is_ok();
    assert_eq!(json_body(response).await["practice"]["slug"], "sunrise");
    let response = app
        .client
        .post("/api/v1/portal/password-resets")
        .body_json(&json!({ "token": reset, "password": NEW_PASSWORD }))
        .send()
        .await;
    response.assert_status(StatusCode::NO_CONTENT);
    assert_eq!(app.wakeups(), 3, "the password-changed notice wakes the dispatcher");

    // Every session ended; the old password no longer works, the new one does.
    assert_problem(app.me(&session).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_problem(app.sign_in("ada.lovelace", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let session = app.session("ada.lovelace", NEW_PASSWORD).await;
    app.me(&session).await.assert_status_is_ok();

    // Sign out: the token stops working; signing out again is still 204.
    for _ in 0..2 {
        app.client
            .delete("/api/v1/portal/sessions/current")
            .header("authorization", format!("Bearer {session}"))
            .send()
            .await
            .assert_status(StatusCode::NO_CONTENT);
    }
    assert_problem(app.me(&session).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // The audit trail tells the story, with request ids.
    let response = app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal/audit")).send().await;
    response.assert_status_is_ok();
    let trail = json_body(response).await;
    let actions: Vec<&str> = trail.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for expected in [
        "client_created",
        "invite_sent",
        "registered",
        "sign_in_succeeded",
        "account_disabled",
        "sessions_revoked",
        "sign_in_failed",
        "account_enabled",
        "reset_sent",
        "reset_completed",
        "signed_out",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let first = &trail[0];
    assert_eq!(first["actor"]["kind"], "staff");
    assert_eq!(first["actor"]["label"], "First administrator key");
    assert!(first["request_id"].as_str().is_some_and(|id| id.len() == 32), "{first}");
    let disabled = trail.as_array().unwrap().iter().find(|e| e["action"] == "account_disabled").unwrap();
    assert_eq!(disabled["detail"], "moved away");
}

#[tokio::test]
async fn staff_change_a_client_record_and_remove_the_email() {
    let app = spawn_app().await;
    let id = app.create_client("Grace Hopper", Some("grace@example.org")).await;
    let response = app
        .staff(Method::PATCH, &format!("/api/v1/clients/{id}"))
        .body_json(&json!({ "name": "Grace B. Hopper", "email_consent": false }))
        .send()
        .await;
    response.assert_status_is_ok();
    let client = json_body(response).await;
    assert_eq!(client["name"], "Grace B. Hopper");
    assert_eq!(client["email"], "grace@example.org", "an absent field stays");
    assert_eq!(client["email_consent"], false);

    let response =
        app.staff(Method::PATCH, &format!("/api/v1/clients/{id}")).body_json(&json!({ "email": null })).send().await;
    response.assert_status_is_ok();
    let client = json_body(response).await;
    assert!(client.get("email").is_none(), "{client}");

    let response = app.staff(Method::GET, &format!("/api/v1/clients/{id}")).send().await;
    response.assert_status_is_ok();
    assert_eq!(json_body(response).await["name"], "Grace B. Hopper");
}

#[tokio::test]
async fn a_resent_invitation_voids_the_previous_link() {
    let app = spawn_app().await;
    let id = app.create_client("Ada", Some("ada@example.org")).await;
    let first = app.invite(&id).await;
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{id}/portal/invitation")).send().await;
    response.assert_status(StatusCode::ACCEPTED);
    assert_eq!(json_body(response).await["replaced_previous"], true);
    let response =
        app.client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": first })).send().await;
    assert_problem(response, StatusCode::NOT_FOUND, "invite_not_found").await;
    let second = app.link_token(&id, TokenPurpose::Invite);
    app.register(&second, "ada.l", PASSWORD).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_delivery_given_up_on_still_reads_as_one_sentence_with_the_attempts_made() {
    use portal_core::{DeliveryCause, DeliveryProblem, MailOutbox as _};

    let app = spawn_app().await;
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ada Lovelace", "email": "ada@example.org" }))
        .send()
        .await;
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    app.staff(Method::POST, &format!("/api/v1/clients/{id}/portal/invitation"))
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);
    let mail = app.store.outbox().last().unwrap().0.id;
    let refused = DeliveryProblem::new(DeliveryCause::Unreachable, "SMTP connect: Connection refused (os error 111)");
    app.store.mark_failed(mail, jiff::Timestamp::from_second(1_800_000_000).unwrap(), &refused, Some(8)).await.unwrap();

    let portal = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await).await;
    assert_eq!(portal["invite"]["delivery"]["state"], "failed");
    assert_eq!(
        portal["invite"]["delivery"]["last_error"],
        "gave up after 8 attempts; last error: SMTP connect: Connection refused (os error 111)"
    );
}
