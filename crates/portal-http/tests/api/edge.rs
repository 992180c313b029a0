//! The edge: request ids, security headers, the per-IP limit.

use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_problem, json_body, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn a_sane_request_id_is_echoed_and_reaches_the_audit_trail() {
    let app = spawn_app().await;
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .header("x-request-id", "req-42_abc")
        .body_json(&json!({ "name": "Ada", "email": "ada@example.org" }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    response.assert_header("x-request-id", "req-42_abc");
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let trail = json_body(app.staff(Method::GET, &format!("/api/v1/clients/{id}/portal/audit")).send().await).await;
    assert_eq!(trail[0]["request_id"], "req-42_abc");

    // In problem bodies too.
    let response = app.client.get("/api/v1/portal/me").header("x-request-id", "req-43").send().await;
    let body = assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_eq!(body["request_id"], "req-43");
}

#[tokio::test]
async fn an_insane_request_id_is_replaced() {
    let app = spawn_app().await;
    for bad in ["has spaces", "semi;colon", &"x".repeat(65), ""] {
        let response = app.client.get("/healthz").header("x-request-id", bad).send().await;
        let id = response.0.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }
    // Without one, each response gets its own.
    let a = app.client.get("/healthz").send().await.0.headers()["x-request-id"].clone();
    let b = app.client.get("/healthz").send().await.0.headers()["x-request-id"].clone();
    assert_ne!(a, b);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let responses = [
        app.client.get("/healthz").send().await,
        app.staff(Method::GET, "/api/v1/clients").send().await,
        app.client.get("/api/v1/clients").send().await,
        app.client.get("/nowhere").send().await,
        app.client.get("/openapi.json").send().await,
    ];
    for response in responses {
        response.assert_header("cache-control", "no-store");
        response.assert_header("referrer-policy", "no-referrer");
        response.assert_header("x-content-type-options", "nosniff");
        response.assert_header_exist("x-request-id");
    }
}

#[tokio::test]
async fn the_per_ip_limit_answers_429_with_retry_after() {
    let mut config = test_config();
    config.ip_rate_limit.per_minute = 30;
    config.ip_rate_limit.burst = 3;
    config.trust_forwarded_for = true;
    let app = spawn_app_with(config).await;
    let verify = |ip: &'static str| {
        let client = &app.client;
        async move {
            client
                .post("/api/v1/portal/invitations/verify")
                .header("x-forwarded-for", format!("198.51.100.200, {ip}"))
                .body_json(&json!({ "token": "nonsense" }))
                .send()
                .await
        }
    };
    for _ in 0..3 {
        assert_problem(verify("203.0.113.7").await, StatusCode::NOT_FOUND, "invite_not_found").await;
    }
    let response = verify("203.0.113.7").await;
    let retry_after: u64 = response.0.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "throttled").await;

    // The budget is shared by the expensive client endpoints, per IP (the last hop counts).
    let response = app
        .client
        .post("/api/v1/portal/sessions")
        .header("x-forwarded-for", "203.0.113.7")
        .body_json(&json!({ "practice": "sunrise", "username": "a.b", "password": "whatever it is" }))
        .send()
        .await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
    assert_problem(verify("203.0.113.8").await, StatusCode::NOT_FOUND, "invite_not_found").await;
    // Staff endpoints are not limited per IP.
    app.staff(Method::GET, "/api/v1/clients")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .assert_status_is_ok();
}

#[tokio::test]
async fn a_flood_from_many_addresses_neither_frees_the_repeat_offender_nor_goes_unlimited() {
    let mut config = test_config();
    config.ip_rate_limit.per_minute = 1;
    config.ip_rate_limit.burst = 2;
    config.ip_rate_limit.max_tracked_ips = 8;
    config.trust_forwarded_for = true;
    let app = spawn_app_with(config).await;
    let verify = |ip: String| {
        let client = &app.client;
        async move {
            client
                .post("/api/v1/portal/invitations/verify")
                .header("x-forwarded-for", ip)
                .body_json(&json!({ "token": "nonsense" }))
                .send()
                .await
        }
    };
    let offender = || "203.0.113.7".to_owned();
    for _ in 0..2 {
        verify(offender()).await.assert_status(StatusCode::NOT_FOUND);
    }
    assert_problem(verify(offender()).await, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
    // Far more addresses than the limiter tracks, each new: the seven that fit in the table are
    // answered, then the rest share one overflow budget (a burst of two), so filling the table
    // buys no unlimited guessing.
    let mut answered = 0;
    for n in 0..64_u8 {
        let response = verify(format!("198.51.100.{n}")).await;
        if response.0.status() == StatusCode::NOT_FOUND {
            answered += 1;
        } else {
            assert_problem(response, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
        }
    }
    assert_eq!(answered, 7 + 2, "while the table is full, new addresses share one budget");
    assert_problem(verify(offender()).await, StatusCode::TOO_MANY_REQUESTS, "throttled").await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let mut config = test_config();
    config.ip_rate_limit.burst = 2;
    config.ip_rate_limit.per_minute = 1;
    let app = spawn_app_with(config).await;
    // Without trust, every request counts against the (unknown) peer, whatever the header says.
    for (i, ip) in ["192.0.2.1", "192.0.2.2", "192.0.2.3"].into_iter().enumerate() {
        let response = app
            .client
            .post("/api/v1/portal/invitations/verify")
            .header("x-forwarded-for", ip)
            .body_json(&json!({ "token": "nonsense" }))
            .send()
            .await;
        let expected = if i < 2 { StatusCode::NOT_FOUND } else { StatusCode::TOO_MANY_REQUESTS };
        response.assert_status(expected);
    }
}
