//! `POST /api/v1/invitations`: invitations in bulk, client by client.

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::failing_store::{FailingStore, Mode};
use crate::helpers::{assert_problem, json_body, spawn_app, spawn_app_over, test_config};
use crate::host::host;

fn lines(body: &Value) -> Vec<(String, String, String)> {
    body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            let text = |key: &str| line[key].as_str().unwrap_or_default().to_owned();
            (text("client_id"), text("outcome"), text("reason"))
        })
        .collect()
}

#[tokio::test]
async fn each_named_client_is_sent_resent_or_skipped_with_the_reason() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada", Some("ada@example.org")).await;
    let grace = app.create_client("Grace", Some("grace@example.org")).await;
    let hedy = app.create_client("Hedy", None).await;
    let registered = app.registered_client("Registered", "registered").await;
    app.invite(&grace).await;
    let wakeups = app.wakeups();

    let response = app
        .staff(Method::POST, "/api/v1/invitations")
        .body_json(&json!({ "client_ids": [ada, grace, hedy, registered, "nobody-here", ada] }))
        .send()
        .await;
    response.assert_status_is_ok();
    let body = json_body(response).await;
    let got = lines(&body);
    let expected = [
        (ada.clone(), "sent", ""),
        (grace.clone(), "resent", ""),
        (hedy, "skipped", "no_email"),
        (registered, "skipped", "account_exists"),
        ("nobody-here".to_owned(), "skipped", "client_not_found"),
    ]
    .map(|(id, outcome, reason)| (id, outcome.to_owned(), reason.to_owned()));
    assert_eq!(got, expected, "{body}");
    assert!(body["results"][0]["expires_at"].is_string(), "{body}");
    assert!(body.get("remaining").is_none(), "{body}");
    assert!(app.wakeups() > wakeups, "the dispatcher is woken for the queued mail");

    let panel = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{ada}/portal")).send().await).await;
    assert_eq!(panel["state"], "invited");
    let trail = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{grace}/portal/audit")).send().await).await;
    let actions: Vec<&str> = trail.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.ends_with(&["invite_sent", "invite_resent"]), "{actions:?}");
}

#[tokio::test]
async fn every_client_without_an_account_is_invited_and_the_answer_says_how_many_remain() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada", Some("ada@example.org")).await;
    app.create_client("Hedy", None).await;
    let grace = app.create_client("Grace", Some("grace@example.org")).await;
    app.invite(&grace).await;

    let every = json!({ "every_client_without_account": true });
    let response = app.staff(Method::POST, "/api/v1/invitations").body_json(&every).send().await;
    response.assert_status_is_ok();
    let body = json_body(response).await;
    assert_eq!(lines(&body), [(ada, "sent".to_owned(), String::new())], "{body}");
    assert_eq!(body["remaining"], 0);

    let again = json_body(app.staff(Method::POST, "/api/v1/invitations").body_json(&every).send().await).await;
    assert_eq!(again["results"], json!([]));
}

#[tokio::test]
async fn an_empty_oversized_or_ambiguous_request_is_refused_with_422() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada", Some("ada@example.org")).await;
    let many: Vec<String> = (0..501).map(|n| n.to_string()).collect();
    for (body, hint) in [
        (json!({ "client_ids": [] }), "no client"),
        (json!({ "client_ids": many }), "at most 500"),
        (json!({ "client_ids": [ada], "every_client_without_account": true }), "not both"),
        (json!({}), "every_client_without_account"),
        (json!({ "every_client_without_account": false }), "every_client_without_account"),
    ] {
        let response = app.staff(Method::POST, "/api/v1/invitations").body_json(&body).send().await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(problem["detail"].as_str().unwrap().contains(hint), "{problem}");
    }
    let bad = app.staff(Method::POST, "/api/v1/invitations").body_json(&json!({ "client_ids": [ada, "a b"] }));
    assert_problem(bad.send().await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // The largest valid request fits under the body limit.
    let largest: Vec<String> = (0..500).map(|n| format!("{n:0>128}")).collect();
    let full = app.staff(Method::POST, "/api/v1/invitations").body_json(&json!({ "client_ids": largest }));
    full.send().await.assert_status_is_ok();
    let anonymous = app.client.post("/api/v1/invitations").body_json(&json!({ "client_ids": [ada] }));
    assert_problem(anonymous.send().await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(app.store.outbox().len(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_host_invites_named_patients_but_cannot_ask_for_every_client() {
    let h = host().await;
    let bearer = format!("Bearer {}", h.staff_key);
    let named = h
        .client
        .post("/client-portal/api/v1/invitations")
        .header("authorization", &bearer)
        .body_json(&json!({ "client_ids": ["1001", "1002"] }));
    let response = named.send().await;
    response.assert_status_is_ok();
    let body = json_body(response).await;
    let expected = [("1001", "sent", ""), ("1002", "skipped", "client_not_found")]
        .map(|(id, outcome, reason)| (id.to_owned(), outcome.to_owned(), reason.to_owned()));
    assert_eq!(lines(&body), expected, "{body}");

    let every = h
        .client
        .post("/client-portal/api/v1/invitations")
        .header("authorization", &bearer)
        .body_json(&json!({ "every_client_without_account": true }));
    assert_problem(every.send().await, StatusCode::UNPROCESSABLE_ENTITY, "no_client_records").await;
}

#[tokio::test]
async fn an_unavailable_database_is_a_503_that_tells_nothing_inside() {
    let memory = portal_core::testing::InMemoryStore::new();
    let failing = FailingStore::new(memory.clone());
    let app = spawn_app_over(std::sync::Arc::new(failing.clone()), memory, test_config()).await;
    let ada = app.create_client("Ada", Some("ada@example.org")).await;
    failing.set(Mode::Unavailable);
    let every =
        app.staff(Method::POST, "/api/v1/invitations").body_json(&json!({ "every_client_without_account": true }));
    // The staff key itself is checked against the store, so the whole request is unavailable.
    let response = every.send().await;
    assert_eq!(response.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = response.0.into_body().into_string().await.unwrap();
    assert!(!text.contains(crate::failing_store::SECRET_TEXT), "{text}");
    failing.set(Mode::Healthy);
    let named = app.staff(Method::POST, "/api/v1/invitations").body_json(&json!({ "client_ids": [ada] }));
    named.send().await.assert_status_is_ok();
}
