//! Operations endpoints and the OpenAPI document.

use std::collections::BTreeSet;

use poem::http::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{json_body, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;
    let response = app.client.get("/healthz").send().await;
    response.assert_status_is_ok();
    assert_eq!(json_body(response).await["status"], "ok");
    let response = app.client.get("/readyz").send().await;
    response.assert_status_is_ok();
    assert_eq!(json_body(response).await["status"], "ready");
}

#[tokio::test]
async fn metrics_count_requests_per_operation_and_report_the_outbox_and_hash_pool() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada", "ada.l").await;
    app.sign_in("ada.l", "wrong password entirely").await.assert_status(StatusCode::UNAUTHORIZED);
    app.staff(Method::GET, &format!("/api/v1/clients/{id}")).send().await.assert_status_is_ok();
    app.client.get("/no/such/path/qzx").send().await.assert_status(StatusCode::NOT_FOUND);
    // Registration cancelled the used invitation's mail; queue one reset mail to count.
    app.staff(Method::POST, &format!("/api/v1/clients/{id}/portal/password-reset"))
        .send()
        .await
        .assert_status(StatusCode::ACCEPTED);

    let response = app.client.get("/metrics").send().await;
    response.assert_status_is_ok();
    response.assert_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
    let text = response.0.into_body().into_string().await.unwrap();
    for expected in [
        r#"portal_http_requests_total{route="sign_in",status="4xx"} 1"#,
        r#"portal_http_requests_total{route="register",status="2xx"} 1"#,
        r#"portal_http_requests_total{route="get_client",status="2xx"} 1"#,
        r#"portal_http_requests_total{route="unmatched",status="4xx"} 1"#,
        r#"portal_http_request_duration_seconds_bucket{le="0.001",route="sign_in",status="4xx"}"#,
        // One reset queued, not delivered (no dispatcher in these tests).
        "portal_outbox_pending 1",
        "portal_hash_pool_in_flight 0",
        "portal_hash_pool_queue_depth 0",
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    // Raw paths (and their ids) never become labels.
    assert!(!text.contains(&id) && !text.contains("qzx"), "{text}");
}

#[tokio::test]
async fn the_openapi_document_lists_every_path_of_the_contract() {
    let app = spawn_app().await;
    let response = app.client.get("/openapi.json").send().await;
    response.assert_status_is_ok();
    let spec = json_body(response).await;
    assert_eq!(spec, serde_json::from_str::<Value>(&portal_http::openapi_json("http://127.0.0.1:8080")).unwrap());
    assert_eq!(spec["servers"][0]["url"], "http://127.0.0.1:8080");

    let operations: BTreeSet<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "POST /api/v1/clients",
        "GET /api/v1/clients",
        "GET /api/v1/clients/{id}",
        "PATCH /api/v1/clients/{id}",
        "GET /api/v1/clients/{id}/portal",
        "POST /api/v1/clients/{id}/portal/invitation",
        "POST /api/v1/clients/{id}/portal/password-reset",
        "PUT /api/v1/clients/{id}/portal/enabled",
        "GET /api/v1/clients/{id}/portal/audit",
        "POST /api/v1/invitations",
        "POST /api/v1/portal/states",
        "GET /api/v1/practice/settings",
        "PATCH /api/v1/practice/settings",
        "POST /api/v1/portal/invitations/verify",
        "POST /api/v1/portal/registrations",
        "POST /api/v1/portal/sessions",
        "GET /api/v1/portal/me",
        "DELETE /api/v1/portal/sessions/current",
        "POST /api/v1/portal/password-resets/verify",
        "POST /api/v1/portal/password-resets",
        "POST /api/v1/portal/password-reset-requests",
        "POST /api/v1/portal/sessions/second-factor",
        "POST /api/v1/portal/sessions/second-factor/totp",
        "POST /api/v1/portal/sessions/second-factor/totp/confirm",
        "GET /api/v1/portal/factors",
        "POST /api/v1/portal/factors/totp",
        "POST /api/v1/portal/factors/totp/confirm",
        "DELETE /api/v1/portal/factors/{factor_id}",
        "POST /api/v1/portal/factors/recovery-codes",
        "POST /api/v1/portal/factors/passkeys",
        "POST /api/v1/portal/factors/passkeys/finish",
        "POST /api/v1/portal/sessions/second-factor/passkey",
        "POST /api/v1/portal/sessions/second-factor/passkey-registration",
        "POST /api/v1/portal/sessions/second-factor/passkey-registration/finish",
        "POST /api/v1/portal/sessions/passkey",
        "POST /api/v1/portal/sessions/passkey/finish",
        "GET /api/v1/clients/{id}/portal/factors",
        "DELETE /api/v1/clients/{id}/portal/factors",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(operations, expected);

    // Security schemes, tags and the documented refusals.
    assert_eq!(spec["components"]["securitySchemes"]["StaffKey"]["scheme"], "bearer");
    assert_eq!(spec["components"]["securitySchemes"]["ClientSessionToken"]["scheme"], "bearer");
    let tags: BTreeSet<&str> = spec["tags"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(tags, BTreeSet::from(["Staff", "Client portal", "Operations"]));
    let invitation = &spec["paths"]["/api/v1/clients/{id}/portal/invitation"]["post"]["responses"];
    for status in ["202", "404", "409", "4XX", "5XX"] {
        assert!(invitation.get(status).is_some(), "no {status} in {invitation}");
    }
    assert!(invitation["409"]["content"]["application/problem+json"].is_object(), "{invitation}");
    let sign_in = &spec["paths"]["/api/v1/portal/sessions"]["post"]["responses"];
    assert!(
        sign_in["429"]["headers"]["RETRY-AFTER"].is_object() || sign_in["429"]["headers"]["Retry-After"].is_object(),
        "{sign_in}"
    );
    let codes = &spec["components"]["schemas"]["ErrorCode"]["enum"];
    for code in ["unauthenticated", "weak_password", "throttled", "busy", "payload_too_large", "internal"] {
        assert!(codes.as_array().unwrap().iter().any(|c| c == code), "{code} not in {codes}");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_at_docs() {
    let app = spawn_app().await;
    let response = app.client.get("/docs").send().await;
    response.assert_status_is_ok();
    let html = response.0.into_body().into_string().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
}
