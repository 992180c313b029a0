//! What contract fuzzing (`cargo xtask schemathesis`) found, pinned down: the OpenAPI document
//! states the rules the server enforces, and the server answers what the document says.

use poem::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, assert_problem, json_body, spawn_app};

/// The served OpenAPI document.
async fn document(app: &crate::helpers::TestApp) -> Value {
    json_body(app.client.get("/openapi.json").send().await).await
}

fn property<'a>(document: &'a Value, schema: &str, field: &str) -> &'a Value {
    &document["components"]["schemas"][schema]["properties"][field]
}

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
async fn the_document_states_the_field_rules() {
    let app = spawn_app().await;
    let document = document(&app).await;
    for schema in ["NewClient", "ClientPatch"] {
        let name = property(&document, schema, "name");
        assert!(name["pattern"].is_string() && name["maxLength"] == 200 && name["minLength"] == 1, "{name}");
        let email = property(&document, schema, "email");
        assert!(email["pattern"].is_string() && email["maxLength"] == 254 && email["nullable"] == true, "{email}");
        assert!(property(&document, schema, "language")["pattern"].is_string());
    }
    assert_eq!(document["components"]["schemas"]["Language"]["enum"], json!(["en", "es"]));
    let language = &property(&document, "Client", "language");
    assert!(language.to_string().contains("#/components/schemas/Language"), "{language}");

    let username = property(&document, "Registration", "username");
    assert_eq!((username["minLength"].as_u64(), username["maxLength"].as_u64()), (Some(3), Some(64)), "{username}");
    assert!(username["pattern"].is_string(), "{username}");
    assert!(property(&document, "SetEnabled", "reason")["pattern"].is_string());
}

#[tokio::test]
async fn a_new_client_is_refused_exactly_when_the_document_says_so() {
    let app = spawn_app().await;
    let create = |body: Value| app.staff(Method::POST, "/api/v1/clients").body_json(&body).send();

    for accepted in [
        json!({ "name": "Ada Lovelace", "email": "ada@example.org", "language": "es-MX" }),
        json!({ "name": "  Zoë  ", "email": "", "language": "en" }),
        json!({ "name": "Grace", "email": null, "language": null, "email_consent": null }),
        json!({ "name": "Linus", "email": "o'brien+tag@mail.example-one.org" }),
    ] {
        create(accepted.clone()).await.assert_status(StatusCode::CREATED);
    }
    for (refused, field) in [
        (json!({ "name": "Ada\nLovelace" }), "name"),
        (json!({ "name": "Ada\u{85}" }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "Ada", "language": "" }), "language"),
        (json!({ "name": "Ada", "language": "fr" }), "language"),
        (json!({ "name": "Ada", "email": "ada@localhost" }), "email"),
        (json!({ "name": "Ada", "email": "ada@-example.org" }), "email"),
        (json!({ "name": "Ada", "email": format!("{}@example.org", "a".repeat(65)) }), "email"),
    ] {
        let body =
            assert_problem(create(refused.clone()).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(body["detail"].as_str().is_some_and(|d| d.contains(field)), "{refused}: {body}");
    }
}

#[tokio::test]
async fn a_client_patch_refuses_null_except_for_the_email() {
    let app = spawn_app().await;
    let id = app.create_client("Ada", Some("ada@example.org")).await;
    let patch = |body: Value| app.staff(Method::PATCH, &format!("/api/v1/clients/{id}")).body_json(&body).send();

    for field in ["name", "language", "email_consent"] {
        let body =
            assert_problem(patch(json!({ field: null })).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert!(body["detail"].as_str().is_some_and(|d| d.contains(field)), "{body}");
    }
    let response = patch(json!({ "language": "es", "name": "Ada L." })).await;
    response.assert_status_is_ok();
    let client = json_body(response).await;
    assert_eq!((client["language"].as_str(), client["name"].as_str()), (Some("es"), Some("Ada L.")));

    // `"email": null` removes the address, as documented.
    let response = patch(json!({ "email": null })).await;
    response.assert_status_is_ok();
    assert!(json_body(response).await.get("email").is_none());

    let document = document(&app).await;
    for field in ["name", "language", "email_consent"] {
        assert_ne!(property(&document, "ClientPatch", field)["nullable"], true, "{field}");
    }
}

#[tokio::test]
async fn a_disable_reason_may_hold_line_breaks_but_no_other_control_characters() {
    let app = spawn_app().await;
    let id = app.registered_client("Ada", "ada.l").await;
    let set =
        |body: Value| app.staff(Method::PUT, &format!("/api/v1/clients/{id}/portal/enabled")).body_json(&body).send();
    let body = assert_problem(
        set(json!({ "enabled": true, "reason": "tab\there" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("reason")), "{body}");
    set(json!({ "enabled": false, "reason": "moved away\nasked by phone" })).await.assert_status_is_ok();
    set(json!({ "enabled": true, "reason": null })).await.assert_status_is_ok();
}

#[tokio::test]
async fn a_malformed_username_is_invalid_username_before_the_link_is_checked() {
    let app = spawn_app().await;
    for username in ["ab", "no spaces", "_ada", &"a".repeat(65)] {
        let body = assert_problem(
            app.register("nonsense", username, PASSWORD).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_username",
        )
        .await;
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("username")), "{body}");
    }
    // A well-formed one reaches the link check.
    assert_problem(app.register("nonsense", "Ada.L", PASSWORD).await, StatusCode::NOT_FOUND, "invite_not_found").await;
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

#[tokio::test]
async fn a_number_or_boolean_where_the_document_says_string_is_400() {
    let app = spawn_app().await;
    for body in [
        json!({ "name": false }),
        json!({ "name": 42 }),
        json!({ "name": "Ada", "email": 1 }),
        json!({ "name": "Ada", "language": true }),
    ] {
        let response = app.staff(Method::POST, "/api/v1/clients").body_json(&body).send().await;
        assert_problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let id = app.create_client("Ada", None).await;
    let response =
        app.staff(Method::PATCH, &format!("/api/v1/clients/{id}")).body_json(&json!({ "name": 7 })).send().await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    for (path, body) in [
        ("/api/v1/portal/sessions", json!({ "practice": "sunrise", "username": 12345, "password": PASSWORD })),
        ("/api/v1/portal/invitations/verify", json!({ "token": 1 })),
        ("/api/v1/portal/password-resets", json!({ "token": "t", "password": true })),
    ] {
        assert_problem(app.client.post(path).body_json(&body).send().await, StatusCode::BAD_REQUEST, "invalid_request")
            .await;
    }
}
