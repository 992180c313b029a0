//! What contract fuzzing (`cargo xtask schemathesis`) found, pinned down: the OpenAPI document
//! states the rules the server enforces, and the server answers what the document says.

use poem::http::{Method, StatusCode};

use crate::helpers::{PASSWORD, assert_problem, spawn_app};

#[tokio::test]
async fn a_405_names_the_allowed_methods() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/portal/me", "GET, HEAD"),
        (Method::TRACE, "/api/v1/clients", "GET, HEAD, POST"),
        (Method::DELETE, "/api/v1/clients/00000000-0000-4000-8000-000000000000", "GET, HEAD, PATCH"),
        (Method::GET, "/api/v1/clients/x/portal/invitation", "POST"),
        (Method::OPTIONS, "/api/v1/portal/sessions/current", "DELETE"),
        (Method::GET, "/api/v1/portal/sessions", "POST"),
        (Method::DELETE, "/portal/home", "GET, HEAD"),
        (Method::GET, "/portal/sign-out", "POST"),
        (Method::PUT, "/portal/sunrise/sign-in", "GET, HEAD, POST"),
        (Method::GET, "/staff/clients/x/invite", "POST"),
    ] {
        let response = app.client.request(method.clone(), path.to_owned()).send().await;
        response.assert_header("allow", allow);
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

        // Every method it names is routed (whatever the handler then answers).
        for allowed in allow.split(", ") {
            let method = Method::from_bytes(allowed.as_bytes()).unwrap();
            let status = app.client.request(method, path.to_owned()).send().await.0.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{allowed} {path}");
        }
    }
}

#[tokio::test]
async fn sign_out_refuses_what_is_not_a_session_token_and_accepts_an_ended_session() {
    let app = spawn_app().await;
    let sign_out = |authorization: Option<String>| {
        let mut request = app.client.delete("/api/v1/portal/sessions/current");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };
    let staff_key = app.staff_key.clone();
    for authorization in [
        None,
        Some("Bearer".to_owned()),
        Some("Basic YWRhOnB3".to_owned()),
        Some("Bearer not-a-session".to_owned()),
        Some(format!("Bearer {staff_key}")),
        Some(format!("Bearer pcs_{}", "a".repeat(42))),
        Some(format!("Bearer pcs_{}!", "a".repeat(42))),
    ] {
        let response = sign_out(authorization.clone()).await;
        response.assert_header("www-authenticate", "Bearer");
        assert_problem(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }

    // A session token that names no live session: signing out is idempotent.
    sign_out(Some(format!("Bearer pcs_{}", "a".repeat(43)))).await.assert_status(StatusCode::NO_CONTENT);
    app.registered_client("Ada", "ada.l").await;
    let session = app.session("ada.l", PASSWORD).await;
    for _ in 0..2 {
        sign_out(Some(format!("Bearer {session}"))).await.assert_status(StatusCode::NO_CONTENT);
    }
    assert_problem(app.me(&session).await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}
