//! The date-of-birth check over the client API: `verify` says when it is needed, registration
//! and reset completion carry it, a missing or wrong one is 403 `date_of_birth_mismatch` with
//! the tries left, and after five wrong answers the link answers like a voided one.

use poem::http::{Method, StatusCode};
use portal_core::TokenPurpose;
use serde_json::json;

use crate::helpers::*;

const BORN: &str = "1990-07-14";

/// A client with `born` on file (the practice's check on), invited; returns (id, link).
async fn invited_with_date(app: &TestApp, born: Option<&str>) -> (String, String) {
    app.date_of_birth_check_on().await;
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ada", "email": "ada@example.org", "date_of_birth": born }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let link = app.invite(&id).await;
    (id, link)
}

async fn register_with(app: &TestApp, token: &str, born: Option<&str>) -> poem::test::TestResponse {
    app.client
        .post("/api/v1/portal/registrations")
        .body_json(&json!({ "token": token, "username": "ada", "password": PASSWORD, "date_of_birth": born }))
        .send()
        .await
}

async fn verify_invite(app: &TestApp, token: &str) -> poem::test::TestResponse {
    app.client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": token })).send().await
}

async fn portal_panel(app: &TestApp, id: &str) -> serde_json::Value {
    let response = app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal")).send().await;
    response.assert_status(StatusCode::OK);
    json_body(response).await
}

#[tokio::test]
async fn verify_says_when_the_date_of_birth_is_needed_and_registration_checks_it() {
    let app = spawn_app().await;
    let (_, link) = invited_with_date(&app, Some(BORN)).await;
    let verified = verify_invite(&app, &link).await;
    verified.assert_status(StatusCode::OK);
    assert_eq!(json_body(verified).await["date_of_birth_required"], true);

    let missing =
        assert_problem(register_with(&app, &link, None).await, StatusCode::FORBIDDEN, "date_of_birth_mismatch").await;
    assert_eq!(missing["tries_left"], 5);
    let wrong = register_with(&app, &link, Some("1990-07-15")).await;
    let wrong = assert_problem(wrong, StatusCode::FORBIDDEN, "date_of_birth_mismatch").await;
    assert_eq!(wrong["tries_left"], 4);
    assert!(!wrong.to_string().contains("1990"), "the answer is never echoed: {wrong}");
    register_with(&app, &link, Some(BORN)).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn a_wrong_date_is_refused_before_the_username_is_looked_at() {
    let app = spawn_app().await;
    app.registered_client("Bo", "ada").await;
    let (_, link) = invited_with_date(&app, Some(BORN)).await;
    // "ada" is taken, but a wrong date is all the answer says.
    assert_problem(
        register_with(&app, &link, Some("1990-07-15")).await,
        StatusCode::FORBIDDEN,
        "date_of_birth_mismatch",
    )
    .await;
    assert_problem(register_with(&app, &link, Some(BORN)).await, StatusCode::CONFLICT, "username_taken").await;
}

#[tokio::test]
async fn without_a_date_on_file_the_link_opens_without_one_and_the_panel_says_none_is_on_file() {
    let app = spawn_app().await;
    let (id, link) = invited_with_date(&app, None).await;
    assert_eq!(json_body(verify_invite(&app, &link).await).await["date_of_birth_required"], false);
    assert_eq!(portal_panel(&app, &id).await["date_of_birth_on_file"], false);
    register_with(&app, &link, None).await.assert_status(StatusCode::CREATED);
}

#[tokio::test]
async fn five_wrong_answers_void_the_invitation_and_staff_see_why() {
    let app = spawn_app().await;
    let (id, link) = invited_with_date(&app, Some(BORN)).await;
    for left in (0..5).rev() {
        let body = assert_problem(
            register_with(&app, &link, Some("2001-01-01")).await,
            StatusCode::FORBIDDEN,
            "date_of_birth_mismatch",
        )
        .await;
        assert_eq!(body["tries_left"], left);
    }
    assert_problem(register_with(&app, &link, Some(BORN)).await, StatusCode::NOT_FOUND, "invite_not_found").await;
    assert_problem(verify_invite(&app, &link).await, StatusCode::NOT_FOUND, "invite_not_found").await;
    let panel = portal_panel(&app, &id).await;
    assert_eq!(panel["invite"]["voided_after_date_of_birth_failures"], true, "{panel}");
    assert_eq!(panel["state"], "no_account", "{panel}");
    assert_eq!(panel["date_of_birth_on_file"], true, "{panel}");
}

#[tokio::test]
async fn a_reset_link_asks_for_the_date_of_birth_and_is_voided_after_five_wrong_answers() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada", "ada").await;
    app.date_of_birth_check_on().await;
    app.staff(Method::PATCH, &format!("/api/v1/clients/{id}"))
        .body_json(&json!({ "date_of_birth": BORN }))
        .send()
        .await
        .assert_status(StatusCode::OK);
    let link = app.send_reset(&id).await;
    assert_eq!(link, app.link_token(&id, TokenPurpose::Reset));
    let verified =
        app.client.post("/api/v1/portal/password-resets/verify").body_json(&json!({ "token": link })).send().await;
    verified.assert_status(StatusCode::OK);
    assert_eq!(json_body(verified).await["date_of_birth_required"], true);

    let complete = |born: Option<&'static str>| {
        let body = json!({ "token": link, "password": NEW_PASSWORD, "date_of_birth": born });
        app.client.post("/api/v1/portal/password-resets").body_json(&body).send()
    };
    let missing = assert_problem(complete(None).await, StatusCode::FORBIDDEN, "date_of_birth_mismatch").await;
    assert_eq!(missing["tries_left"], 5);
    for _ in 0..5 {
        assert_problem(complete(Some("1990-07-15")).await, StatusCode::FORBIDDEN, "date_of_birth_mismatch").await;
    }
    assert_problem(complete(Some(BORN)).await, StatusCode::NOT_FOUND, "reset_not_found").await;
    let panel = portal_panel(&app, &id).await;
    assert_eq!(panel["reset"]["voided_after_date_of_birth_failures"], true, "{panel}");

    let fresh = app.send_reset(&id).await;
    let body = json!({ "token": fresh, "password": NEW_PASSWORD, "date_of_birth": BORN });
    app.client
        .post("/api/v1/portal/password-resets")
        .body_json(&body)
        .send()
        .await
        .assert_status(StatusCode::NO_CONTENT);
}
