//! `GET` and `PATCH /api/v1/practice/settings`: the practice's name, zone, mail discretion and
//! portal settings, changed within their bounds, audited, and in force for the next link.

use poem::http::{Method, StatusCode};
use portal_core::AuditAction;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, json_body, spawn_app};

async fn settings(app: &TestApp) -> Value {
    let response = app.staff(Method::GET, "/api/v1/practice/settings").send().await;
    response.assert_status_is_ok();
    json_body(response).await
}

async fn patch(app: &TestApp, body: Value) -> poem::test::TestResponse {
    app.staff(Method::PATCH, "/api/v1/practice/settings").body_json(&body).send().await
}

#[tokio::test]
async fn a_new_practice_has_every_addition_off_and_the_servers_link_lifetimes() {
    let app = spawn_app().await;
    let body = settings(&app).await;
    assert_eq!(body["slug"], app.slug.as_str());
    assert_eq!(body["discreet_mail"], true);
    assert_eq!(body["date_of_birth_check"], false);
    assert_eq!(body["client_started_resets"], false);
    for field in ["invitation_reminder_hours", "invite_link_hours", "reset_link_hours"] {
        assert_eq!(body[field], Value::Null, "{field}: {body}");
    }
    assert_eq!(body["invite_link_seconds"], 48 * 3600);
    assert_eq!(body["reset_link_seconds"], 48 * 3600);
}

#[tokio::test]
async fn staff_change_what_they_name_and_the_next_invitation_lives_as_long_as_they_chose() {
    let app = spawn_app().await;
    let response = patch(
        &app,
        json!({
            "name": "Sunrise Family Therapy",
            "time_zone": "America/Chicago",
            "date_of_birth_check": true,
            "invitation_reminder_hours": 24,
            "invite_link_hours": 72
        }),
    )
    .await;
    response.assert_status_is_ok();
    let body = json_body(response).await;
    assert_eq!(body["name"], "Sunrise Family Therapy");
    assert_eq!(body["time_zone"], "America/Chicago");
    assert_eq!(body["date_of_birth_check"], true);
    assert_eq!(body["client_started_resets"], false, "not named, not changed");
    assert_eq!(body["invitation_reminder_hours"], 24);
    assert_eq!(body["invite_link_hours"], 72);
    assert_eq!(body["invite_link_seconds"], 72 * 3600);
    assert_eq!(settings(&app).await, body, "what the answer says is what is stored");

    let client = app.create_client("Ada", Some("ada@example.org")).await;
    let response = app.staff(Method::POST, &format!("/api/v1/clients/{client}/portal/invitation")).send().await;
    response.assert_status(StatusCode::ACCEPTED);
    let portal = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{client}/portal")).send().await).await;
    let sent: jiff::Timestamp = portal["invite"]["sent_at"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = portal["invite"]["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.duration_since(sent), jiff::SignedDuration::from_hours(72));

    // `null` turns the reminder off and gives the lifetime back to the server.
    let body =
        json_body(patch(&app, json!({ "invitation_reminder_hours": null, "invite_link_hours": null })).await).await;
    assert_eq!(body["invitation_reminder_hours"], Value::Null);
    assert_eq!(body["invite_link_seconds"], 48 * 3600);
    let changes = app.store.audit_events().into_iter().filter(|e| e.action == AuditAction::PracticeUpdated).count();
    assert_eq!(changes, 2, "one audit event per change");
}

#[tokio::test]
async fn a_value_outside_its_bounds_is_422_and_changes_nothing() {
    let app = spawn_app().await;
    let before = settings(&app).await;
    for body in [
        json!({ "invite_link_hours": 0 }),
        json!({ "reset_link_hours": 169 }),
        json!({ "invitation_reminder_hours": 48 }),
        json!({ "invite_link_hours": 12, "invitation_reminder_hours": 12 }),
        json!({ "time_zone": "Mars/Olympus_Mons" }),
        json!({ "time_zone": "../etc" }),
        json!({ "name": "   " }),
        json!({ "name": null }),
        json!({ "date_of_birth_check": null }),
    ] {
        let problem =
            assert_problem(patch(&app, body.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}: {problem}");
    }
    assert_problem(patch(&app, json!({ "invite_link_hours": "72" })).await, StatusCode::BAD_REQUEST, "invalid_request")
        .await;
    assert_eq!(settings(&app).await, before);
    assert!(app.store.audit_events().iter().all(|e| e.action != AuditAction::PracticeUpdated));
}

#[tokio::test]
async fn settings_need_a_staff_key_and_an_empty_change_writes_nothing() {
    let app = spawn_app().await;
    let anonymous = app.client.get("/api/v1/practice/settings").send().await;
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let response = patch(&app, json!({})).await;
    response.assert_status_is_ok();
    assert!(app.store.audit_events().iter().all(|e| e.action != AuditAction::PracticeUpdated));
}
