//! What contract fuzzing (`cargo xtask schemathesis`) found, pinned down: the OpenAPI document
//! states the rules the server enforces, and the server answers what the document says.

use poem::http::{Method, StatusCode};

use crate::helpers::{assert_problem, spawn_app};

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
