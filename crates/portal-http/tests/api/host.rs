//! The host seams over HTTP: portal states in bulk, and an application mounted under a prefix
//! without the bundled client records, over a directory of the host's own patients.

use std::sync::Arc;

use jiff::Timestamp;
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem::{EndpointExt, Route};
use portal_core::service::PortalService;
use portal_core::testing::{InMemoryDirectory, InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    Client, ClientDirectory, ClientId, Clock, DisplayName, DynPortalService, EmailAddress, Language, LinkKey,
    PasswordHasher, Policy, PortalStore, Randomness, ScryptHasher, ScryptParams, TimeZoneName,
};
use portal_http::{BlockingHasher, app};
use secrecy::ExposeSecret as _;
use serde_json::json;

use crate::helpers::{assert_problem, json_body, spawn_app, t0, test_config};

#[tokio::test]
async fn portal_states_answer_for_many_clients_in_the_order_asked() {
    let app = spawn_app().await;
    let ada = app.create_client("Ada", Some("ada@example.org")).await;
    let grace = app.create_client("Grace", Some("grace@example.org")).await;
    app.invite(&ada).await;
    let response = app
        .staff(Method::POST, "/api/v1/portal/states")
        .body_json(&json!({ "client_ids": [grace, ada, "not-a-client-here", ada] }))
        .send()
        .await;
    response.assert_status_is_ok();
    let body = json_body(response).await;
    let states = body["states"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> =
        states.iter().map(|s| (s["client_id"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
    assert_eq!(pairs, [(grace.as_str(), "no_account"), (ada.as_str(), "invited"), ("not-a-client-here", "no_account")]);
    assert!(states[1]["invite_expires_at"].is_string(), "{body}");
    assert_eq!(states[1]["enabled"], false);
}

#[tokio::test]
async fn portal_states_refuse_bad_ids_too_many_ids_and_anonymous_callers() {
    let app = spawn_app().await;
    let bad = app.staff(Method::POST, "/api/v1/portal/states").body_json(&json!({ "client_ids": ["ok", "a b"] }));
    let body = assert_problem(bad.send().await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["detail"].as_str().unwrap().contains("client_ids"), "{body}");
    // An id is a JSON string, never a number or a boolean taken as one.
    let not_text = app.staff(Method::POST, "/api/v1/portal/states").body_json(&json!({ "client_ids": [false] }));
    assert_problem(not_text.send().await, StatusCode::BAD_REQUEST, "invalid_request").await;

    let many: Vec<String> = (0..501).map(|n| n.to_string()).collect();
    let too_many = app.staff(Method::POST, "/api/v1/portal/states").body_json(&json!({ "client_ids": many }));
    let response = too_many.send().await;
    assert!(response.0.status().is_client_error(), "{:?}", response.0.status());

    // The largest valid request fits under its body limit (the general limit is 16 KiB).
    let largest: Vec<String> = (0..500).map(|n| format!("{n:0>128}")).collect();
    let full = app.staff(Method::POST, "/api/v1/portal/states").body_json(&json!({ "client_ids": largest }));
    full.send().await.assert_status_is_ok();

    let none = app.staff(Method::POST, "/api/v1/portal/states").body_json(&json!({ "client_ids": [] }));
    assert!(none.send().await.0.status().is_client_error());

    let anonymous = app.client.post("/api/v1/portal/states").body_json(&json!({ "client_ids": ["1"] }));
    assert_problem(anonymous.send().await, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

/// An EHR's arrangement: its patients in its own directory, the portal nested under
/// `/client-portal` beside its own routes, without the bundled client records.
pub struct Host {
    pub client: TestClient<poem::endpoint::BoxEndpoint<'static, poem::Response>>,
    pub staff_key: String,
    pub store: InMemoryStore,
}

pub async fn host() -> Host {
    let (store, patients) = (InMemoryStore::new(), InMemoryDirectory::new());
    let mut config = test_config();
    config.public_url = "https://ehr.example.org/client-portal".into();
    config.client_records = false;
    let hasher = Arc::new(BlockingHasher::new(
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(),
        config.hash_permits,
        config.hash_queue,
    ));
    let service: Arc<DynPortalService> = Arc::new(PortalService::new(
        Arc::new(store.clone()) as Arc<dyn PortalStore>,
        Arc::new(patients.clone()) as Arc<dyn ClientDirectory>,
        Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
        Arc::new(ManualClock::new(t0())) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(5)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([3; 32]),
    ));
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    patients.insert(Client {
        id: ClientId::parse("1001").unwrap(),
        practice_id: created.practice.id,
        name: DisplayName::parse("name", "Ada Lovelace").unwrap(),
        email: Some(EmailAddress::parse("ada@example.org").unwrap()),
        language: Language::En,
        email_consent: true,
        date_of_birth: None,
        created_at: Timestamp::UNIX_EPOCH,
    });
    let base = config.base_path();
    let portal = app(service, config, Arc::new(|| {}), &hasher);
    let routes = Route::new().at("/", poem::endpoint::make_sync(|_| "the EHR's own home")).nest(base, portal);
    Host {
        client: TestClient::new(routes.map_to_response().boxed()),
        staff_key: created.staff_key.expose().expose_secret().to_owned(),
        store,
    }
}

#[tokio::test]
async fn a_host_mounts_the_portal_under_a_prefix_over_its_own_patients() {
    let h = host().await;
    let bearer = format!("Bearer {}", h.staff_key);
    h.client.get("/").send().await.assert_text("the EHR's own home").await;

    let invite = h.client.post("/client-portal/api/v1/clients/1001/portal/invitation").header("authorization", &bearer);
    invite.send().await.assert_status(StatusCode::ACCEPTED);
    let unknown =
        h.client.post("/client-portal/api/v1/clients/1002/portal/invitation").header("authorization", &bearer);
    assert_problem(unknown.send().await, StatusCode::NOT_FOUND, "client_not_found").await;
    assert!(h.store.client_records().is_empty(), "the portal copied a patient record");

    // The bundled client records are not served, and the document does not list them.
    let list = h.client.get("/client-portal/api/v1/clients").header("authorization", &bearer);
    assert_eq!(list.send().await.0.status(), StatusCode::NOT_FOUND);
    let spec = json_body(h.client.get("/client-portal/openapi.json").send().await).await;
    let paths = spec["paths"].as_object().unwrap();
    assert!(!paths.contains_key("/api/v1/clients") && !paths.contains_key("/api/v1/clients/{id}"), "{paths:?}");
    assert!(paths.contains_key("/api/v1/portal/states"));
    assert_eq!(spec["servers"][0]["url"], "https://ehr.example.org/client-portal");
}

#[tokio::test]
async fn page_links_and_redirects_stay_under_the_prefix() {
    let h = host().await;
    let page = h.client.get("/client-portal/portal/sunrise/sign-in").send().await;
    page.assert_status_is_ok();
    let html = page.0.into_body().into_string().await.unwrap();
    assert!(html.contains(r#"href="/client-portal/portal/static/portal.css""#), "{html}");
    assert!(html.contains(r#"action="/client-portal/portal/sunrise/sign-in""#), "{html}");
    h.client.get("/client-portal/portal/static/portal.css").send().await.assert_status_is_ok();

    let opened = h.client.get("/client-portal/portal/invitation?token=abc").send().await;
    opened.assert_status(StatusCode::SEE_OTHER);
    opened.assert_header("location", "/client-portal/portal/invitation");

    // No bundled client list under a host.
    assert_eq!(h.client.get("/client-portal/staff/clients").send().await.0.status(), StatusCode::NOT_FOUND);
}

/// A host's authenticator that knows nobody: every staff request is unauthenticated.
struct NobodyAuth;

#[async_trait::async_trait]
impl portal_http::StaffAuthenticator for NobodyAuth {
    async fn authenticate(
        &self,
        _: &poem::Request,
        _: portal_http::StaffSurface,
    ) -> Result<Option<portal_core::StaffMember>, portal_http::AuthError> {
        Ok(None)
    }
}

#[tokio::test]
async fn under_a_prefix_the_hosts_sign_in_url_is_linked_as_given() {
    let mut config = test_config();
    config.public_url = "https://ehr.example.org/client-portal".into();
    config.client_records = false;
    let hasher = Arc::new(BlockingHasher::new(ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(), 1, 2));
    let store = InMemoryStore::new();
    let service: Arc<DynPortalService> = Arc::new(PortalService::new(
        Arc::new(store.clone()) as Arc<dyn PortalStore>,
        Arc::new(InMemoryDirectory::new()) as Arc<dyn ClientDirectory>,
        Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
        Arc::new(ManualClock::new(t0())) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(6)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([4; 32]),
    ));
    let base = config.base_path();
    let staff_auth =
        portal_http::StaffAuth::Host { authenticator: Arc::new(NobodyAuth), sign_in_url: Some("/login".to_owned()) };
    let portal = portal_http::app_with_staff_auth(service, config, Arc::new(|| {}), &hasher, staff_auth);
    let client = TestClient::new(Route::new().nest(base, portal).map_to_response().boxed());

    let page = client.get("/client-portal/staff/clients/1001").send().await;
    page.assert_status(StatusCode::UNAUTHORIZED);
    let html = page.0.into_body().into_string().await.unwrap();
    assert!(html.contains(r#"href="/login""#), "the host's URL, not below the mount point: {html}");

    let csrf = "a".repeat(64);
    let sign_out = client
        .post("/client-portal/staff/sign-out")
        .header("cookie", format!("__Host-portal_csrf={csrf}"))
        .content_type("application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await;
    sign_out.assert_status(StatusCode::SEE_OTHER);
    sign_out.assert_header("location", "/login");
}
