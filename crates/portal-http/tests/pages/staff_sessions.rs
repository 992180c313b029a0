//! Staff sessions of the bundled sign-in (revocation, expiry, idle and absolute limits, audit,
//! per-IP limit) and the staff-identity seam with a host's own authenticator.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use async_trait::async_trait;
use jiff::SignedDuration;
use poem::http::{Method, StatusCode};
use poem::test::TestClient;
use poem::{EndpointExt as _, Request};
use portal_core::service::{DEFAULT_STAFF_KEY_RECHECK, PortalService};
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    Actor, AuditAction, AuditFailure, Clock, DynPortalService, LinkKey, PasswordHasher, Policy, PortalStore,
    Randomness, ScryptHasher, ScryptParams, StaffMember, TimeZoneName,
};
use portal_http::{AuthError, BlockingHasher, StaffAuth, StaffAuthenticator, StaffSurface, app_with_staff_auth};
use secrecy::ExposeSecret as _;

use crate::browser::Browser;
use crate::helpers::{TestApp, spawn_app, spawn_app_with, t0, test_config};
use crate::staff_pages::staff_browser_with;

/// A new key of the test practice, with an optional lifetime: (id, key).
async fn new_key(app: &TestApp, expires_in: Option<SignedDuration>) -> (String, String) {
    let created = app.service.create_staff_key(&app.slug, "Front desk", expires_in).await.unwrap();
    (created.key.staff.id.to_string(), created.secret.expose().expose_secret().to_owned())
}

async fn api_status(app: &TestApp, key: &str) -> StatusCode {
    app.staff_with(key, Method::GET, "/api/v1/clients").send().await.0.status()
}

#[tokio::test]
async fn a_revoked_key_stops_working_at_once_and_signs_the_browser_out() {
    let app = spawn_app().await;
    let (id, key) = new_key(&app, None).await;
    let browser = staff_browser_with(&app, &key).await;
    assert_eq!(browser.get("/staff/clients").await.status, StatusCode::OK);
    assert_eq!(api_status(&app, &key).await, StatusCode::OK);

    app.service.revoke_staff_key(&app.slug, &id).await.unwrap();
    assert_eq!(app.store.staff_session_count(), 0, "revoking ends the key's sessions");
    assert_eq!(api_status(&app, &key).await, StatusCode::UNAUTHORIZED);
    let page = browser.get("/staff/clients").await;
    assert_eq!(page.header("location"), Some("/staff/sign-in"));
    assert!(browser.cookie("__Host-portal_staff").is_none(), "the dead cookie is cleared");
    let again = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", &key)]).await;
    again.assert(StatusCode::UNAUTHORIZED, "This staff key is not valid.");
    // The other key of the practice is untouched.
    assert_eq!(api_status(&app, &app.staff_key).await, StatusCode::OK);

    let events = app.store.audit_events();
    let revoked = events.iter().filter(|e| e.action == AuditAction::StaffKeyRevoked).count();
    assert_eq!(revoked, 1);
    let refused = events.iter().find(|e| e.action == AuditAction::StaffSignInFailed).unwrap();
    assert_eq!(refused.failure, Some(AuditFailure::KeyRevoked));
    assert!(matches!(&refused.actor, Actor::Staff { id: actor, .. } if actor.to_string() == id));
}

/// What another process (`portal-server staff-key revoke`, a second server) revoking `id` in the
/// same store looks like to `app`: a service of its own, with its own memory of keys.
async fn revoke_elsewhere(app: &TestApp, id: &str) {
    let elsewhere = PortalService::new(
        Arc::new(app.store.clone()) as Arc<dyn PortalStore>,
        Arc::new(app.store.clone()) as Arc<dyn portal_core::ClientDirectory>,
        Arc::clone(&app.hasher) as Arc<dyn PasswordHasher>,
        Arc::clone(&app.clock) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(8)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([9; 32]),
    );
    elsewhere.revoke_staff_key(&app.slug, id).await.unwrap();
}

#[tokio::test]
async fn a_key_revoked_by_another_process_signs_the_browser_out_at_once_and_leaves_the_api_within_a_second() {
    let app = spawn_app().await;
    let (id, key) = new_key(&app, None).await;
    let browser = staff_browser_with(&app, &key).await;
    assert_eq!(api_status(&app, &key).await, StatusCode::OK);

    revoke_elsewhere(&app, &id).await;
    // Revoking ended the key's staff sessions in the same transaction.
    assert_eq!(browser.get("/staff/clients").await.header("location"), Some("/staff/sign-in"));
    // The server remembers an active key for up to a second (DEFAULT_STAFF_KEY_RECHECK), so a
    // staff request is one store read: that is the price of it.
    app.clock.advance(DEFAULT_STAFF_KEY_RECHECK - SignedDuration::from_micros(1));
    assert_eq!(api_status(&app, &key).await, StatusCode::OK, "still remembered");
    app.clock.advance(SignedDuration::from_micros(1));
    assert_eq!(api_status(&app, &key).await, StatusCode::UNAUTHORIZED, "read again, and refused");
    assert_eq!(api_status(&app, &app.staff_key).await, StatusCode::OK, "the other key is untouched");
}

#[tokio::test]
async fn an_expired_key_stops_working_over_the_api_and_in_the_pages() {
    let app = spawn_app().await;
    let (_, key) = new_key(&app, Some(SignedDuration::from_hours(1))).await;
    let browser = staff_browser_with(&app, &key).await;
    for minutes in [20, 20, 19] {
        // Within the session's idle limit each time, and before the key's expiry.
        app.clock.advance(SignedDuration::from_mins(minutes));
        assert_eq!(api_status(&app, &key).await, StatusCode::OK);
        assert_eq!(browser.get("/staff/clients").await.status, StatusCode::OK);
    }

    app.clock.advance(SignedDuration::from_mins(1));
    assert_eq!(api_status(&app, &key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.get("/staff/clients").await.header("location"), Some("/staff/sign-in"));
    let again = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", &key)]).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    let refused = app.store.audit_events().into_iter().find(|e| e.action == AuditAction::StaffSignInFailed).unwrap();
    assert_eq!(refused.failure, Some(AuditFailure::KeyExpired));
}

#[tokio::test]
async fn a_staff_session_ends_after_its_idle_and_absolute_limits() {
    let app = spawn_app().await;
    let policy = Policy::default();
    let idle = staff_browser_with(&app, &app.staff_key).await;
    app.clock.advance(policy.session_idle() - SignedDuration::from_secs(1));
    assert_eq!(idle.get("/staff/clients").await.status, StatusCode::OK, "use restarts the idle limit");
    app.clock.advance(policy.session_idle());
    assert_eq!(idle.get("/staff/clients").await.header("location"), Some("/staff/sign-in"));

    let busy = staff_browser_with(&app, &app.staff_key).await;
    let start = app.clock.now();
    while app.clock.now() < start + policy.session_absolute() - SignedDuration::from_mins(20) {
        app.clock.advance(SignedDuration::from_mins(20));
        assert_eq!(busy.get("/staff/clients").await.status, StatusCode::OK);
    }
    app.clock.set(start + policy.session_absolute());
    assert_eq!(busy.get("/staff/clients").await.header("location"), Some("/staff/sign-in"));
}

#[tokio::test]
async fn staff_sign_in_and_sign_out_are_audited_and_key_use_is_recorded_once_a_minute() {
    let app = spawn_app().await;
    let browser = staff_browser_with(&app, &app.staff_key).await;
    let csrf = browser.get("/staff/clients").await.csrf();
    browser.post("/staff/sign-out", &[("csrf", &csrf)]).await;
    let actions: Vec<AuditAction> = app.store.audit_events().iter().map(|e| e.action).collect();
    assert!(actions.contains(&AuditAction::StaffSignedIn), "{actions:?}");
    assert!(actions.contains(&AuditAction::StaffSignedOut), "{actions:?}");
    let signed_in = app.store.audit_events().into_iter().find(|e| e.action == AuditAction::StaffSignedIn).unwrap();
    assert!(signed_in.context.request_id.is_some() && signed_in.client_id.is_none());

    let (_, keys) = app.service.staff_keys(&app.slug).await.unwrap();
    assert_eq!(keys[0].last_used_at, Some(t0()));
    app.clock.advance(SignedDuration::from_secs(30));
    api_status(&app, &app.staff_key).await;
    assert_eq!(app.service.staff_keys(&app.slug).await.unwrap().1[0].last_used_at, Some(t0()));
    app.clock.advance(SignedDuration::from_secs(30));
    api_status(&app, &app.staff_key).await;
    let later = t0() + SignedDuration::from_mins(1);
    assert_eq!(app.service.staff_keys(&app.slug).await.unwrap().1[0].last_used_at, Some(later));
}

#[tokio::test]
async fn staff_sign_in_spends_the_per_ip_budget() {
    let mut config = test_config();
    config.ip_rate_limit.per_minute = 1;
    config.ip_rate_limit.burst = 2;
    let app = spawn_app_with(config).await;
    let browser = Browser::new(&app);
    for _ in 0..2 {
        let wrong = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", "pst_guess")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let limited = browser.submit("/staff/sign-in", "/staff/sign-in", &[("key", &app.staff_key)]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
}

/// A host's authenticator: its own session cookie `ehr_session=<staff label>` names a staff
/// member of the host's practice.
struct HostAuth {
    staff: StaffMember,
}

#[async_trait]
impl StaffAuthenticator for HostAuth {
    async fn authenticate(&self, req: &Request, _surface: StaffSurface) -> Result<Option<StaffMember>, AuthError> {
        let cookie = req.headers().get("cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match cookie.split(';').map(str::trim).find_map(|pair| pair.strip_prefix("ehr_session=")) {
            Some("down") => Err(AuthError::Host("the EHR's session store is down".into())),
            Some("nurse") => Ok(Some(self.staff.clone())),
            _ => Ok(None),
        }
    }
}

async fn host_app() -> TestApp {
    let memory = InMemoryStore::new();
    let clock = Arc::new(ManualClock::new(t0()));
    let hasher = Arc::new(BlockingHasher::new(ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(), 2, 4));
    let service: Arc<DynPortalService> = Arc::new(PortalService::new(
        Arc::new(memory.clone()) as Arc<dyn PortalStore>,
        Arc::new(memory.clone()) as Arc<dyn portal_core::ClientDirectory>,
        Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
        Arc::clone(&clock) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(7)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([9; 32]),
    ));
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let staff = StaffMember { label: portal_core::DisplayName::parse("label", "Nurse Joy").unwrap(), ..created.staff };
    let staff_auth =
        StaffAuth::Host { authenticator: Arc::new(HostAuth { staff }), sign_in_url: Some("/login".to_owned()) };
    let endpoint = app_with_staff_auth(Arc::clone(&service), test_config(), Arc::new(|| {}), &hasher, staff_auth);
    TestApp {
        client: TestClient::new(endpoint.boxed()),
        service,
        store: memory,
        clock,
        hasher,
        mail_wakeups: Arc::new(AtomicUsize::new(0)),
        slug: created.practice.slug.as_str().to_owned(),
        staff_key: created.staff_key.expose().expose_secret().to_owned(),
    }
}

#[tokio::test]
async fn a_host_authenticator_replaces_staff_keys_and_the_key_sign_in_form() {
    let app = host_app().await;
    let host = |cookie: &str, path: &str| {
        app.client.get(path.to_owned()).header("cookie", format!("ehr_session={cookie}")).send()
    };
    assert_eq!(host("nurse", "/api/v1/clients").await.0.status(), StatusCode::OK);
    assert_eq!(host("stranger", "/api/v1/clients").await.0.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(host("down", "/api/v1/clients").await.0.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(api_status(&app, &app.staff_key).await, StatusCode::UNAUTHORIZED, "staff keys mean nothing here");

    let page = host("nurse", "/staff/clients").await;
    assert_eq!(page.0.status(), StatusCode::OK);
    let browser = Browser::new(&app);
    let sign_in = browser.get("/staff/sign-in").await;
    sign_in.assert(StatusCode::UNAUTHORIZED, "href=\"/login\"");
    assert!(!sign_in.body.contains("name=\"key\""), "no key form: {}", sign_in.body);
    assert_eq!(browser.get("/staff/clients").await.status, StatusCode::UNAUTHORIZED);
    browser.set("__Host-portal_csrf", &"a".repeat(64));
    let posted = browser.post("/staff/sign-in", &[("csrf", &"a".repeat(64)), ("key", &app.staff_key)]).await;
    assert_eq!(posted.status, StatusCode::UNAUTHORIZED);
    assert!(posted.set_cookie("__Host-portal_staff").is_none());

    // The host's staff member acts, and is named in the trail.
    let created = app
        .client
        .post("/api/v1/clients")
        .header("cookie", "ehr_session=nurse")
        .body_json(&serde_json::json!({"name": "Ada", "email": "ada@example.org"}))
        .send()
        .await;
    assert_eq!(created.0.status(), StatusCode::CREATED);
    let event = app.store.audit_events().into_iter().find(|e| e.action == AuditAction::ClientCreated).unwrap();
    assert!(matches!(&event.actor, Actor::Staff { label, .. } if label.as_str() == "Nurse Joy"));
}
