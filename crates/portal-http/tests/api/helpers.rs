//! `spawn_app()` and the requests the tests share.
#![allow(dead_code)] // Each test module uses some of the helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::Timestamp;
use poem::endpoint::BoxEndpoint;
use poem::http::{Method, StatusCode};
use poem::test::{TestClient, TestRequestBuilder, TestResponse};
use poem::{EndpointExt, Response};
use portal_core::service::{PortalService, PracticeChange, StaffContext};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    AuditAction, AuditEvent, ClientDirectory, ClientId, Clock, DynPortalService, LinkKey, MailKind, PasswordHasher,
    Policy, PortalStore, Randomness, RequestContext, ScryptHasher, ScryptParams, TimeZoneName, TokenPurpose,
};
use portal_http::{BlockingHasher, HttpConfig, app};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

pub type Client = TestClient<BoxEndpoint<'static, Response>>;

/// A password the default policy accepts.
pub const PASSWORD: &str = "violet kettles hum at dawn";
/// Another one.
pub const NEW_PASSWORD: &str = "seven quiet herons wade slowly";

/// A running application over fresh in-memory adapters.
pub struct TestApp {
    pub client: Client,
    pub service: Arc<DynPortalService>,
    /// The in-memory store behind the service (also when a wrapper sits in between).
    pub store: InMemoryStore,
    pub clock: Arc<ManualClock>,
    pub hasher: Arc<BlockingHasher>,
    pub mail_wakeups: Arc<AtomicUsize>,
    /// The first practice's slug and staff key.
    pub slug: String,
    pub staff_key: String,
}

pub fn t0() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

/// Test defaults: a generous per-IP budget (the per-IP tests set their own), two hashing slots.
pub fn test_config() -> HttpConfig {
    let mut config = HttpConfig { hash_permits: 2, hash_queue: 4, ..HttpConfig::default() };
    config.ip_rate_limit.per_minute = 6000;
    config.ip_rate_limit.burst = 1000;
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

pub async fn spawn_app_with(config: HttpConfig) -> TestApp {
    let memory = InMemoryStore::new();
    spawn_app_over(Arc::new(memory.clone()), memory, config).await
}

/// `store` is what the service uses, as the portal's store and as the client directory (the
/// bundled arrangement); `memory` is the in-memory store behind it.
pub async fn spawn_app_over<S: PortalStore + ClientDirectory>(
    store: Arc<S>,
    memory: InMemoryStore,
    config: HttpConfig,
) -> TestApp {
    let clock = Arc::new(ManualClock::new(t0()));
    let hasher = Arc::new(BlockingHasher::new(
        ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(),
        config.hash_permits,
        config.hash_queue,
    ));
    let service: Arc<DynPortalService> = Arc::new(
        PortalService::new(
            Arc::clone(&store) as Arc<dyn PortalStore>,
            store as Arc<dyn ClientDirectory>,
            Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
            Arc::clone(&clock) as Arc<dyn Clock>,
            Arc::new(SeededRandom::new(7)) as Arc<dyn Randomness>,
            Policy::default(),
            LinkKey::from_bytes([9; 32]),
        )
        .with_bundled_records()
        .with_secret_sealer(Arc::new(portal_core::testing::TestSealer::new([5; 32])))
        .with_passkeys(Arc::new(portal_core::testing::TestPasskeys::new())),
    );
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let mail_wakeups = Arc::new(AtomicUsize::new(0));
    let wakeups = Arc::clone(&mail_wakeups);
    let hook = Arc::new(move || {
        wakeups.fetch_add(1, Ordering::SeqCst);
    });
    let endpoint = app(Arc::clone(&service), config, hook, &hasher);
    TestApp {
        client: TestClient::new(endpoint.boxed()),
        service,
        store: memory,
        clock,
        hasher,
        mail_wakeups,
        slug: created.practice.slug.as_str().to_owned(),
        staff_key: created.staff_key.expose().expose_secret().to_owned(),
    }
}

/// The JSON body of a response.
pub async fn json_body(response: TestResponse) -> Value {
    response.0.into_body().into_json().await.unwrap()
}

/// Asserts a problem answer and returns its body.
pub async fn assert_problem(response: TestResponse, status: StatusCode, code: &str) -> Value {
    let actual = response.0.status();
    let content_type = response.0.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = response.0.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = json_body(response).await;
    assert_eq!(actual, status, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/problem+json"), "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["type"], format!("urn:portal:problem:{code}"), "{body}");
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(request_id.is_some(), "no X-Request-Id");
    assert_eq!(body["request_id"].as_str(), request_id.as_deref(), "{body}");
    body
}

impl TestApp {
    /// A request with the practice's staff key.
    pub fn staff(&self, method: Method, path: &str) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.staff_with(&self.staff_key, method, path)
    }

    /// A request with another staff key.
    pub fn staff_with(
        &self,
        key: &str,
        method: Method,
        path: &str,
    ) -> TestRequestBuilder<'_, BoxEndpoint<'static, Response>> {
        self.client.request(method, path.to_owned()).header("authorization", format!("Bearer {key}"))
    }

    /// Creates a client and returns its id.
    pub async fn create_client(&self, name: &str, email: Option<&str>) -> String {
        let response = self
            .staff(Method::POST, "/api/v1/clients")
            .body_json(&json!({ "name": name, "email": email }))
            .send()
            .await;
        response.assert_status(StatusCode::CREATED);
        json_body(response).await["id"].as_str().unwrap().to_owned()
    }

    /// Sends the invitation and returns the link token derived from the outbox row.
    pub async fn invite(&self, client: &str) -> String {
        let response = self.staff(Method::POST, &format!("/api/v1/clients/{client}/portal/invitation")).send().await;
        response.assert_status(StatusCode::ACCEPTED);
        self.link_token(client, TokenPurpose::Invite)
    }

    /// Sends a password reset and returns the link token derived from the outbox row.
    pub async fn send_reset(&self, client: &str) -> String {
        let response =
            self.staff(Method::POST, &format!("/api/v1/clients/{client}/portal/password-reset")).send().await;
        response.assert_status(StatusCode::ACCEPTED);
        self.link_token(client, TokenPurpose::Reset)
    }

    /// The link of the client's latest invitation or reset email, as the mail dispatcher derives
    /// it: from the token id in the outbox row and the link key.
    pub fn link_token(&self, client: &str, purpose: TokenPurpose) -> String {
        let client = ClientId::parse(client).unwrap();
        let token_id = self
            .store
            .outbox()
            .into_iter()
            .filter(|(mail, _)| mail.client_id == client)
            .filter_map(|(mail, _)| match (purpose, mail.kind) {
                (TokenPurpose::Invite, MailKind::Invitation { token_id, .. })
                | (TokenPurpose::Reset, MailKind::PasswordReset { token_id, .. }) => Some(token_id),
                _ => None,
            })
            .next_back()
            .unwrap();
        self.service.link_key().link_token(purpose, token_id).expose().expose_secret().to_owned()
    }

    pub async fn register(&self, token: &str, username: &str, password: &str) -> TestResponse {
        self.client
            .post("/api/v1/portal/registrations")
            .body_json(&json!({ "token": token, "username": username, "password": password }))
            .send()
            .await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> TestResponse {
        self.sign_in_at(&self.slug, username, password).await
    }

    pub async fn sign_in_at(&self, practice: &str, username: &str, password: &str) -> TestResponse {
        self.client
            .post("/api/v1/portal/sessions")
            .body_json(&json!({ "practice": practice, "username": username, "password": password }))
            .send()
            .await
    }

    /// Signs in and returns the session token.
    pub async fn session(&self, username: &str, password: &str) -> String {
        let response = self.sign_in(username, password).await;
        response.assert_status(StatusCode::CREATED);
        json_body(response).await["token"].as_str().unwrap().to_owned()
    }

    pub async fn me(&self, session: &str) -> TestResponse {
        self.client.get("/api/v1/portal/me").header("authorization", format!("Bearer {session}")).send().await
    }

    pub async fn set_enabled(&self, client: &str, enabled: bool) -> TestResponse {
        self.staff(Method::PUT, &format!("/api/v1/clients/{client}/portal/enabled"))
            .body_json(&json!({ "enabled": enabled }))
            .send()
            .await
    }

    /// A client invited and registered as `username` with [`PASSWORD`]; returns its id.
    pub async fn registered_client(&self, name: &str, username: &str) -> String {
        let id = self.create_client(name, Some("client@example.org")).await;
        let token = self.invite(&id).await;
        self.register(&token, username, PASSWORD).await.assert_status(StatusCode::CREATED);
        id
    }

    /// Turns the practice's date-of-birth check on (through the service: the settings API is
    /// not part of this crate's tests yet).
    pub async fn date_of_birth_check_on(&self) {
        let staff = self.service.authenticate_staff(&self.staff_key).await.unwrap().unwrap();
        let staff = StaffContext { staff, request: RequestContext::default() };
        let change = PracticeChange { date_of_birth_check: Some(true), ..PracticeChange::default() };
        self.service.update_practice(&staff, change).await.unwrap();
    }

    /// Lets the practice's clients start password resets (as its staff would).
    pub async fn allow_client_resets(&self) {
        let staff = self.service.authenticate_staff(&self.staff_key).await.unwrap().unwrap();
        let staff = StaffContext { staff, request: RequestContext::default() };
        let change = PracticeChange { client_started_resets: Some(true), ..PracticeChange::default() };
        self.service.update_practice(&staff, change).await.unwrap();
    }

    /// Asks for a password-reset email over the API.
    pub async fn request_reset(&self, practice: &str, username: &str, email: &str) -> TestResponse {
        self.client
            .post("/api/v1/portal/password-reset-requests")
            .body_json(&json!({ "practice": practice, "username": username, "email": email }))
            .send()
            .await
    }

    /// The audit events of client-started reset requests so far.
    pub fn reset_requests(&self) -> Vec<AuditEvent> {
        self.store.audit_events().into_iter().filter(|event| event.action == AuditAction::ResetRequested).collect()
    }

    /// Waits until `count` reset requests have been audited: their work runs after the answer.
    /// Bounded, so a request whose work never ends fails the test instead of hanging it.
    pub async fn reset_requests_done(&self, count: usize) -> Vec<AuditEvent> {
        for _ in 0..2_000 {
            let done = self.reset_requests();
            if done.len() >= count {
                return done;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("only {} of {count} reset requests finished", self.reset_requests().len());
    }

    /// How many password-reset emails are queued.
    pub fn reset_mails(&self) -> usize {
        self.store.outbox().iter().filter(|(mail, _)| matches!(mail.kind, MailKind::PasswordReset { .. })).count()
    }

    pub fn wakeups(&self) -> usize {
        self.mail_wakeups.load(Ordering::SeqCst)
    }
}
