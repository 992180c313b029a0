//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver over
//! HTTP, a few calls with `reqwest`), against the application served on a loopback port over
//! the in-memory adapters.
//!
//! Runs when `PORTAL_TEST_CHROMEDRIVER` names the chromedriver binary (Debian: `chromium` and
//! `chromium-driver`, so `PORTAL_TEST_CHROMEDRIVER=/usr/bin/chromedriver`); without it the test
//! says so and passes, like the PostgreSQL tests without `PORTAL_TEST_POSTGRES_URL`.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use portal_core::service::PortalService;
use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
use portal_core::{
    ClientId, Clock, DynPortalService, LinkKey, MailKind, PasswordHasher, Policy, PortalStore, Randomness,
    ScryptHasher, ScryptParams, TimeZoneName, TokenPurpose,
};
use portal_http::{BlockingHasher, HttpConfig, app};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

const PASSWORD: &str = "violet kettles hum at dawn";
const NEW_PASSWORD: &str = "seven quiet herons wade slowly";

/// chromedriver, stopped on drop (also when the test fails half-way).
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // `/shutdown` makes chromedriver quit its browsers too; a plain kill would leave them
        // running without a parent.
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            use std::io::{Read as _, Write as _};
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(b"GET /shutdown HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
            let _ = stream.read_to_end(&mut Vec::new());
        }
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser (its own profile, so its own cookies).
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Browser {
    async fn open(http: &reqwest::Client, driver: &str, base: &str) -> Self {
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
        } } } });
        let answer: Value =
            http.post(format!("{driver}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let id = answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}"));
        Self { http: http.clone(), session: format!("{driver}/session/{id}"), base: base.to_owned() }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(answer["value"].get("error").is_none(), "{path}: {answer}");
        answer["value"].clone()
    }

    async fn go(&self, path: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": format!("{}{path}", self.base) }))).await;
    }

    async fn element(&self, css: &str) -> String {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({ "using": "css selector", "value": css }))).await;
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_owned()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await;
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    /// The page's path (no query: tokens must have left the address bar).
    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_owned()
    }

    /// The page's text, or `None` while a navigation is under way.
    async fn text(&self) -> Option<String> {
        let body = json!({ "script": "return document.readyState === 'complete' ? document.body.innerText : null", "args": [] });
        let answer: Value = self
            .http
            .post(format!("{}/execute/sync", self.session))
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        answer["value"].as_str().map(str::to_owned)
    }

    /// Waits (up to 10 s) for the page to show `expected`.
    async fn assert_text(&self, expected: &str) {
        let mut last = None;
        for _ in 0..100 {
            last = self.text().await;
            if last.as_deref().is_some_and(|text| text.contains(expected)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{expected:?} not in page {}:\n{last:?}", self.url().await);
    }

    async fn close(self) {
        self.http.delete(&self.session).send().await.unwrap();
    }
}

fn link_token(store: &InMemoryStore, service: &DynPortalService, client: &str, purpose: TokenPurpose) -> String {
    let client = ClientId::parse(client).unwrap();
    let token_id = store
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
    service.link_key().link_token(purpose, token_id).expose().expose_secret().to_owned()
}

async fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn staff_invite_and_the_client_registers_signs_in_is_disabled_and_resets_in_a_real_browser() {
    let Ok(chromedriver) = std::env::var("PORTAL_TEST_CHROMEDRIVER") else {
        eprintln!("PORTAL_TEST_CHROMEDRIVER is not set: the browser test does not run");
        return;
    };

    // The application on a loopback port.
    let memory = InMemoryStore::new();
    let hasher = Arc::new(BlockingHasher::new(ScryptHasher::new(ScryptParams::INSECURE_FAST_FOR_TESTS).unwrap(), 2, 4));
    let service: Arc<DynPortalService> = Arc::new(PortalService::new(
        Arc::new(memory.clone()) as Arc<dyn PortalStore>,
        Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
        Arc::new(ManualClock::new(jiff::Timestamp::from_second(1_800_000_000).unwrap())) as Arc<dyn Clock>,
        Arc::new(SeededRandom::new(11)) as Arc<dyn Randomness>,
        Policy::default(),
        LinkKey::from_bytes([5; 32]),
    ));
    let created = service.create_practice("Sunrise Therapy", Some("sunrise"), TimeZoneName::utc()).await.unwrap();
    let staff_key = created.staff_key.expose().expose_secret().to_owned();
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let base = format!("http://{addr}");
    let endpoint = app(Arc::clone(&service), HttpConfig::default(), Arc::new(|| {}), &hasher);
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(endpoint));

    // chromedriver.
    let port = free_port().await;
    let _driver = Driver {
        child: Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}")),
        port,
    };
    let driver = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{driver}/status")).send().await {
            let status: Value = response.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "chromedriver did not start");

    // A client record, made through the API.
    let made: Value = http
        .post(format!("{base}/api/v1/clients"))
        .bearer_auth(&staff_key)
        .json(&json!({ "name": "Ada Client", "email": "ada@example.org" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let profile = format!("/staff/clients/{id}");

    // Staff sign in and invite.
    let staff = Browser::open(&http, &driver, &base).await;
    staff.go("/staff").await;
    staff.type_into("#key", &staff_key).await;
    staff.click("button[type=submit]").await;
    staff.assert_text("Ada Client").await;
    staff.go(&profile).await;
    staff.assert_text("No account").await;
    staff.click("form[action$='/invite'] button").await;
    staff.assert_text("Invitation queued.").await;
    staff.assert_text("Resend invite").await;

    // The client opens the emailed link and registers.
    let token = link_token(&memory, &service, &id, TokenPurpose::Invite);
    let client = Browser::open(&http, &driver, &base).await;
    client.go(&format!("/portal/invitation?token={token}")).await;
    assert_eq!(client.url().await, format!("{base}/portal/invitation"), "the token left the address bar");
    client.assert_text("Sunrise Therapy invited you").await;
    client.type_into("#username", "ada").await;
    client.type_into("#password", "short").await;
    client.click("button[type=submit]").await;
    client.assert_text("use at least 15 characters").await;
    client.type_into("#password", PASSWORD).await;
    client.click("button[type=submit]").await;
    client.assert_text("Account created — sign in").await;

    // Signs in.
    client.click("main a").await;
    client.assert_text("To your Sunrise Therapy client portal").await;
    client.type_into("#username", "ada").await;
    client.type_into("#password", PASSWORD).await;
    client.click("button[type=submit]").await;
    client.assert_text("Welcome, Ada Client").await;
    assert_eq!(client.url().await, format!("{base}/portal/home"));

    // Staff see the account and disable it: the client's next request is signed out.
    staff.go(&profile).await;
    staff.assert_text("Active").await;
    staff.click("button[role=switch]").await;
    staff.assert_text("Portal access turned off").await;
    client.go("/portal/home").await;
    client.assert_text("You are signed out").await;
    client.go("/portal/sunrise/sign-in").await;
    client.assert_text("To your Sunrise Therapy client portal").await;
    client.type_into("#username", "ada").await;
    client.type_into("#password", PASSWORD).await;
    client.click("button[type=submit]").await;
    client.assert_text("Your portal account is disabled — contact your provider.").await;

    // Enable, then a reset.
    staff.click("button[role=switch]").await;
    staff.assert_text("Portal access turned on").await;
    staff.click("form[action$='/reset'] button").await;
    staff.assert_text("Password-reset email queued.").await;

    let token = link_token(&memory, &service, &id, TokenPurpose::Reset);
    client.go(&format!("/portal/password-reset?token={token}")).await;
    client.assert_text("Choose a new password").await;
    assert_eq!(client.url().await, format!("{base}/portal/password-reset"));
    client.type_into("#password", NEW_PASSWORD).await;
    client.click("button[type=submit]").await;
    client.assert_text("Password changed — sign in").await;
    client.click("main a").await;
    client.assert_text("To your Sunrise Therapy client portal").await;
    client.type_into("#username", "ada").await;
    client.type_into("#password", NEW_PASSWORD).await;
    client.click("button[type=submit]").await;
    client.assert_text("Welcome, Ada Client").await;
    client.click("button[type=submit]").await;
    client.assert_text("To your Sunrise Therapy client portal").await;

    staff.close().await;
    client.close().await;
}
