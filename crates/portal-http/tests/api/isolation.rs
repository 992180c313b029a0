//! Practice isolation: another practice's staff key never reaches a client.

use poem::http::{Method, StatusCode};
use portal_core::TimeZoneName;
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::helpers::{PASSWORD, assert_problem, json_body, spawn_app};

#[tokio::test]
async fn another_practices_staff_key_gets_404_for_every_client_operation() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada", "ada.l").await;
    let other =
        app.service.create_practice("Moonrise Counselling", Some("moonrise"), TimeZoneName::utc()).await.unwrap();
    let other_key = other.staff_key.expose().expose_secret().to_owned();

    let requests = [
        (Method::GET, format!("/api/v1/clients/{id}"), None),
        (Method::PATCH, format!("/api/v1/clients/{id}"), Some(json!({ "name": "Mallory" }))),
        (Method::GET, format!("/api/v1/clients/{id}/portal"), None),
        (Method::POST, format!("/api/v1/clients/{id}/portal/invitation"), None),
        (Method::POST, format!("/api/v1/clients/{id}/portal/password-reset"), None),
        (Method::PUT, format!("/api/v1/clients/{id}/portal/enabled"), Some(json!({ "enabled": false }))),
        (Method::GET, format!("/api/v1/clients/{id}/portal/audit"), None),
    ];
    for (method, path, body) in requests {
        let mut request = app.staff_with(&other_key, method.clone(), &path);
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        let problem = assert_problem(request.send().await, StatusCode::NOT_FOUND, "client_not_found").await;
        assert!(problem.get("detail").is_none(), "{method} {path}: {problem}");
    }

    // The other practice lists none of our clients, and nothing changed here.
    let listed = json_body(app.staff_with(&other_key, Method::GET, "/api/v1/clients").send().await).await;
    assert_eq!(listed, json!({ "clients": [] }));
    let client = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}")).send().await).await;
    assert_eq!(client["name"], "Ada");
    assert_eq!(client["portal"]["state"], "active");

    // A username is per practice: signing in at the other practice fails.
    assert_problem(
        app.sign_in_at("moonrise", "ada.l", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
}
