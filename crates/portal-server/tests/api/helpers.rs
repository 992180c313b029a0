//! `spawn_app()`: the real server wiring (`portal_server::server::start`) on port 0 over a fresh
//! database (a SQLite file in a temporary directory, or a new PostgreSQL database when
//! `PORTAL_TEST_POSTGRES_URL` is set), with mail written as `.eml` files or sent to a real SMTP
//! sink, driven over TCP with reqwest.
#![allow(dead_code)] // Each test module uses some of the helpers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portal_core::testing::ManualClock;
use portal_core::{Clock, LinkKey, Policy, ScryptParams};
use portal_http::{HttpConfig, IpRateLimit};
use portal_mail::{DispatcherConfig, MailFrom, SmtpConfig};
use portal_server::cli::{LogFormat, MailSettings, sqlite_url};
use portal_server::server::{RunningServer, ServerConfig};
use portal_testkit::{Email, EmlDir, Inbox, LinkKind, MailSource, PgDatabase, SmtpSink, token_after};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

/// A password the default policy accepts.
pub const PASSWORD: &str = "violet kettles hum at dawn";
/// Another one.
pub const NEW_PASSWORD: &str = "seven quiet herons wade slowly";

// ------------------------------------------------------------------------------------ logs

/// Every log line of this test binary, as JSON lines (the server's own log set-up at `debug`).
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the capturing subscriber once for the whole test binary.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let subscriber =
            portal_server::logging::subscriber("debug", LogFormat::Json, false, Capture(Arc::clone(&buffer)))
                .expect("a valid filter");
        tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
        buffer
    });
}

/// Everything logged so far by every test of this binary.
pub fn captured_logs() -> String {
    let buffer = LOGS.get().expect("capture_logs() was called");
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

// ---------------------------------------------------------------------------- options

/// Which database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where mail goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    /// `.eml` files under the data directory (the embedded default).
    Files,
    /// A real SMTP server on loopback (aiosmtpd).
    Smtp,
}

/// How to start the app.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub mail: Mail,
    /// scrypt parameters: cheap by default (these tests are about flows); OWASP for timing tests.
    pub scrypt: ScryptParams,
    pub policy: Policy,
    /// Per-IP limit (generous by default; the per-IP test sets its own).
    pub ip_rate_limit: IpRateLimit,
    pub max_body_bytes: Option<usize>,
    pub first_practice: String,
    /// `--public-url`; `None` means the server's own `http://127.0.0.1:{port}`.
    pub public_url: Option<String>,
    /// `--reminder-interval`; `None` (the default here) runs no reminder job.
    pub reminder_interval: Option<Duration>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            mail: Mail::Files,
            scrypt: ScryptParams::INSECURE_FAST_FOR_TESTS,
            policy: Policy::default(),
            ip_rate_limit: IpRateLimit { per_minute: 60_000, burst: 10_000, max_tracked_ips: 100 },
            max_body_bytes: None,
            first_practice: "Sunrise Therapy".to_owned(),
            public_url: None,
            reminder_interval: None,
        }
    }
}

// ---------------------------------------------------------------------------- the app

/// Where the app's mail goes, read message by message.
pub type Mailbox = Inbox<Box<dyn MailSource + Send + Sync>>;

/// A running server and what the tests need to drive it.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// What emailed links start with: `--public-url`, or `base` when none is configured.
    pub public_url: String,
    pub http: reqwest::Client,
    /// The first practice (created by the server's own first-run bootstrap).
    pub slug: String,
    pub staff_key: String,
    pub clock: Arc<ManualClock>,
    /// The delivered mail (`.eml` files or the SMTP sink).
    pub mailbox: Mailbox,
    pub database_url: String,
    pub backend: Backend,
    /// The data directory (SQLite file, `.eml` files).
    pub dir: tempfile::TempDir,
    pub link_key: [u8; 32],
    server: Option<RunningServer>,
    // Dropped last: the server must stop before its database goes.
    pg: Option<PgDatabase>,
}

/// Where a test's portal keeps its data: a temporary data directory and the database URL, on
/// SQLite (a file in the directory) or a throwaway PostgreSQL database.
pub struct TestDatabase {
    /// The data directory (SQLite file, link key, `.eml` files).
    pub dir: tempfile::TempDir,
    /// The database URL.
    pub url: String,
    /// The PostgreSQL database, dropped with the value.
    pub pg: Option<PgDatabase>,
}

impl TestDatabase {
    /// A fresh one on `backend`; `None` for PostgreSQL when none is configured.
    pub async fn create(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pg = match backend {
            Backend::Postgres => Some(PgDatabase::create().await?),
            Backend::Sqlite => None,
        };
        let url = match &pg {
            Some(pg) => pg.url().to_owned(),
            None => sqlite_url(&dir.path().join("portal.db")).expect("a UTF-8 path"),
        };
        Some(Self { dir, url, pg })
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await.expect("SQLite is always available")
}

/// Starts an app; `None` when the options ask for PostgreSQL and none is configured.
pub async fn spawn_app_with(options: AppOptions) -> Option<TestApp> {
    capture_logs();
    let TestDatabase { dir, url: database_url, pg } = TestDatabase::create(options.backend).await?;
    let (mail, source): (_, Box<dyn MailSource + Send + Sync>) = match options.mail {
        Mail::Files => {
            let mail_dir = dir.path().join("mail");
            (MailSettings::Files(mail_dir.clone()), Box::new(EmlDir::new(mail_dir)))
        }
        Mail::Smtp => {
            let sink = SmtpSink::start();
            let config = SmtpConfig::from_url(&sink.url()).expect("a URL");
            (MailSettings::Smtp(config), Box::new(sink))
        }
    };
    let mut link_key = [0u8; 32];
    getrandom_fill(&mut link_key);
    // The real time, frozen: tests move it explicitly.
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let mut http = HttpConfig { hash_permits: 2, hash_queue: 8, ..HttpConfig::default() };
    http.ip_rate_limit = options.ip_rate_limit;
    if let Some(max) = options.max_body_bytes {
        http.max_body_bytes = max;
    }
    let config = ServerConfig {
        database_url: database_url.clone(),
        store: portal_store::StoreConfig::default(),
        bind: "127.0.0.1:0".parse().expect("an address"),
        staff_bind: None,
        public_url: options.public_url.clone(),
        mail,
        mail_from: MailFrom::parse("Account notifications <no-reply@portal.example.org>").expect("a sender"),
        policy: options.policy,
        link_key: LinkKey::from_bytes(link_key),
        first_practice: options.first_practice,
        first_practice_time_zone: portal_core::TimeZoneName::utc(),
        shutdown_timeout: Duration::from_secs(5),
        http,
        scrypt: options.scrypt,
        clock: Arc::clone(&clock) as Arc<dyn Clock>,
        dispatcher: DispatcherConfig { poll_interval: Duration::from_millis(500), ..DispatcherConfig::default() },
        prune_interval: None,
        reminder_interval: options.reminder_interval,
        staff_key_recheck: Duration::from_secs(1),
    };
    let mut server = portal_server::server::start(config).await.expect("the server starts");
    let first = server.take_first_run().expect("a fresh database gets a first practice");
    let base = format!("http://{}", server.local_addr());
    let public_url = server.public_url().to_owned();
    assert_eq!(public_url, options.public_url.unwrap_or_else(|| base.clone()));
    Some(TestApp {
        base,
        public_url,
        http: reqwest::Client::builder().no_proxy().build().expect("an HTTP client"),
        slug: first.practice.slug.as_str().to_owned(),
        staff_key: first.staff_key.expose().expose_secret().to_owned(),
        clock,
        mailbox: Inbox::new(source),
        database_url,
        backend: options.backend,
        dir,
        link_key,
        server: Some(server),
        pg,
    })
}

fn getrandom_fill(bytes: &mut [u8]) {
    use portal_core::Randomness as _;
    portal_core::OsRandom.fill(bytes).expect("OS randomness");
}

/// An HTTP answer: status, headers, body as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// Reads a response whole.
    pub async fn read(response: reqwest::Response) -> reqwest::Result<Self> {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok(Self { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) })
    }

    /// The problem's `code` (empty when absent).
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.code(), code, "{self:?}");
        assert!(self.content_type().starts_with("application/problem+json"), "{self:?}");
    }
}

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        Answer::read(response).await.expect("a body")
    }

    /// As staff of the first practice.
    pub async fn staff(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.request(method, path, Some(&self.staff_key), body).await
    }

    pub async fn create_client(&self, name: &str, email: &str) -> String {
        let answer = self.staff(Method::POST, "/api/v1/clients", Some(json!({"name": name, "email": email}))).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["id"].as_str().expect("an id").to_owned()
    }

    pub async fn send_invite(&self, client: &str) -> Answer {
        self.staff(Method::POST, &format!("/api/v1/clients/{client}/portal/invitation"), None).await
    }

    pub async fn send_reset(&self, client: &str) -> Answer {
        self.staff(Method::POST, &format!("/api/v1/clients/{client}/portal/password-reset"), None).await
    }

    pub async fn set_enabled(&self, client: &str, enabled: bool) -> Answer {
        let body = json!({"enabled": enabled, "reason": "test"});
        self.staff(Method::PUT, &format!("/api/v1/clients/{client}/portal/enabled"), Some(body)).await
    }

    pub async fn portal(&self, client: &str) -> Answer {
        self.staff(Method::GET, &format!("/api/v1/clients/{client}/portal"), None).await
    }

    pub async fn verify_invite(&self, token: &str) -> Answer {
        self.request(Method::POST, "/api/v1/portal/invitations/verify", None, Some(json!({"token": token}))).await
    }

    pub async fn register(&self, token: &str, username: &str, password: &str) -> Answer {
        let body = json!({"token": token, "username": username, "password": password});
        self.request(Method::POST, "/api/v1/portal/registrations", None, Some(body)).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Answer {
        self.sign_in_to(&self.slug, username, password).await
    }

    pub async fn sign_in_to(&self, practice: &str, username: &str, password: &str) -> Answer {
        let body = json!({"practice": practice, "username": username, "password": password});
        self.request(Method::POST, "/api/v1/portal/sessions", None, Some(body)).await
    }

    /// Signs in and returns the session token.
    pub async fn session(&self, username: &str, password: &str) -> String {
        let answer = self.sign_in(username, password).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["token"].as_str().expect("a token").to_owned()
    }

    pub async fn me(&self, session: &str) -> Answer {
        self.request(Method::GET, "/api/v1/portal/me", Some(session), None).await
    }

    pub async fn verify_reset(&self, token: &str) -> Answer {
        self.request(Method::POST, "/api/v1/portal/password-resets/verify", None, Some(json!({"token": token}))).await
    }

    pub async fn complete_reset(&self, token: &str, password: &str) -> Answer {
        let body = json!({"token": token, "password": password});
        self.request(Method::POST, "/api/v1/portal/password-resets", None, Some(body)).await
    }

    /// Waits (up to 15 s) for a delivered email to `to` that this test has not looked at yet.
    pub async fn next_email_to(&self, to: &str) -> Email {
        self.mailbox.next_to(to).await
    }

    /// The token of the `/portal/{path}?token=` link in the next email to `to`.
    pub async fn next_link_token(&self, to: &str, kind: LinkKind) -> String {
        let email = self.next_email_to(to).await;
        token_after(&email.text, &format!("{}{}", self.public_url, kind.marker()))
            .unwrap_or_else(|| panic!("no {kind:?} link in {email:?}"))
    }

    /// Creates a client, invites them, registers through the emailed link and returns the
    /// client id.
    pub async fn registered_client(&self, name: &str, email: &str, username: &str) -> String {
        let client = self.create_client(name, email).await;
        assert_eq!(self.send_invite(&client).await.status, StatusCode::ACCEPTED);
        let token = self.next_link_token(email, LinkKind::Invitation).await;
        let answer = self.register(&token, username, PASSWORD).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        client
    }

    pub fn advance(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    /// The running server's service (for settings the API does not reach yet).
    pub fn service(&self) -> &Arc<portal_core::DynPortalService> {
        self.server.as_ref().expect("a running server").service()
    }

    /// A second practice in the same database, with its own staff key (the CLI's code path).
    pub async fn another_practice(&self, name: &str, slug: &str) -> (String, String) {
        let created = portal_server::commands::create_practice(&self.database_url, name, Some(slug), "UTC")
            .await
            .expect("a second practice");
        (created["slug"].as_str().expect("a slug").to_owned(), created["staff_key"].as_str().expect("a key").to_owned())
    }

    /// The SQLite database and its WAL and shared-memory files, raw.
    pub fn sqlite_files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        ["portal.db", "portal.db-wal", "portal.db-shm"]
            .iter()
            .map(|name| self.dir.path().join(name))
            .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
            .collect()
    }

    /// Stops the server gracefully (and drops a PostgreSQL database afterwards); returns the
    /// data directory, which is deleted when the caller drops it.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("a clean stop");
        }
        self.dir
    }
}
