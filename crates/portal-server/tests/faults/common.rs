//! What every fault test shares: a deployment of the real binary (data directory, database,
//! settings) that can be started again on the same data, and direct reads of the database.

use std::collections::HashMap;
use std::time::Duration;

use portal_server::cli::sqlite_url;
use portal_testkit::{PgDatabase, PortalServer, ServerBuilder, free_port};
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};

use crate::helpers::{Answer, Backend};

/// The sender every fault test uses; Message-IDs end in its domain.
pub const MAIL_FROM: &str = "Portal <no-reply@portal.example.org>";

/// Longer than any answer may take: a request that needs it counts as a hang.
pub const HANG: Duration = Duration::from_secs(20);

/// One installation of the server: a data directory, a database and the settings, on a fixed
/// loopback port so a restart is reached at the same address.
pub struct Deployment {
    pub data: tempfile::TempDir,
    /// The database the server is given (for PostgreSQL behind a proxy, the proxy's URL).
    pub server_database_url: String,
    /// The database itself, for the test's own reads.
    pub database_url: String,
    pub base: String,
    pub http: reqwest::Client,
    port: u16,
    env: Vec<(String, String)>,
    // Dropped last: the server must be gone before its database is.
    _pg: Option<PgDatabase>,
}

impl Deployment {
    /// A fresh database of `backend`, with these further `PORTAL_*` settings. `None` when
    /// PostgreSQL is asked for and `PORTAL_TEST_POSTGRES_URL` is not set.
    pub async fn new(backend: Backend, env: &[(&str, &str)]) -> Option<Self> {
        let data = tempfile::tempdir().expect("a temporary directory");
        let pg = match backend {
            Backend::Postgres => Some(PgDatabase::create().await?),
            Backend::Sqlite => None,
        };
        let database_url = match &pg {
            Some(pg) => pg.url().to_owned(),
            None => sqlite_url(&data.path().join("portal.db")).expect("a UTF-8 path"),
        };
        let port = free_port();
        Some(Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder().no_proxy().timeout(HANG).build().expect("an HTTP client"),
            server_database_url: database_url.clone(),
            database_url,
            data,
            port,
            env: env.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect(),
            _pg: pg,
        })
    }

    /// Starts the server and waits until it answers.
    pub async fn start(&self) -> PortalServer {
        let server = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
            .data_dir(self.data.path())
            .port(self.port)
            .env("PORTAL_DATABASE_URL", &self.server_database_url)
            .env("PORTAL_MAIL_FROM", MAIL_FROM)
            // Warnings and errors only: a burst at `info` would be thousands of lines.
            .env("PORTAL_LOG", "warn")
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        // The start blocks while the server migrates, which may go through the test's own
        // database proxy on this runtime.
        tokio::task::spawn_blocking(move || server.start()).await.expect("the start").expect("portal-server answers")
    }

    /// Starts the server on its empty database; returns it with the first practice's staff key.
    pub async fn first_start(&self) -> (PortalServer, String) {
        let server = self.start().await;
        let key = server.first_run().expect("a first-run block").staff_key;
        (server, key)
    }

    /// The database, read directly.
    pub async fn database(&self) -> DatabaseConnection {
        sea_orm::Database::connect(self.database_url.as_str()).await.expect("the test's own connection")
    }

    /// A staff request; `Err` when no answer came (connection refused or reset, or a hang).
    pub async fn staff(&self, key: &str, method: Method, path: &str, body: Option<Value>) -> reqwest::Result<Answer> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Answer::read(request.send().await?).await
    }

    /// Creates a client `n` (`client{n}@example.org`) and returns its id.
    pub async fn create_client(&self, key: &str, n: usize) -> String {
        let body = json!({"name": format!("Client {n}"), "email": email_of(n)});
        let answer = self.staff(key, Method::POST, "/api/v1/clients", Some(body)).await.expect("an answer");
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.body["id"].as_str().expect("an id").to_owned()
    }

    /// `GET /readyz`.
    pub async fn readyz(&self) -> Answer {
        let response = self.http.get(format!("{}/readyz", self.base)).send().await.expect("/readyz answers");
        Answer::read(response).await.expect("a body")
    }

    /// `POST /api/v1/clients/{id}/portal/invitation`.
    pub async fn send_invite(&self, key: &str, client: &str) -> reqwest::Result<Answer> {
        self.staff(key, Method::POST, &format!("/api/v1/clients/{client}/portal/invitation"), None).await
    }
}

/// The address of client `n`.
pub fn email_of(n: usize) -> String {
    format!("client{n}@example.org")
}

impl Answer {
    /// Asserts the store-down answer: 503 problem+json `unavailable` with a `Retry-After`.
    #[track_caller]
    pub fn assert_unavailable(&self) {
        self.assert_problem(503, "unavailable");
        let retry_after = self.headers.get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(retry_after.parse::<u64>().is_ok_and(|seconds| seconds > 0), "{self:?}");
    }
}

/// What the database holds about each client's invitation: the rows one invite writes in one
/// transaction (token, outbox row, audit event, and the account's pointer to the token).
#[derive(Debug, Default, Clone)]
pub struct InviteRows {
    pub tokens: Vec<uuid::Uuid>,
    /// Outbox rows: (id, token id, status).
    pub mails: Vec<(uuid::Uuid, Option<uuid::Uuid>, String)>,
    pub audits: usize,
    pub account_token: Option<uuid::Uuid>,
}

impl InviteRows {
    /// Either nothing was written, or all of it, pointing at the same token.
    pub fn is_whole(&self) -> bool {
        match (self.tokens.as_slice(), self.mails.as_slice()) {
            ([], []) => self.audits == 0 && self.account_token.is_none(),
            ([token], [(_, mail_token, _)]) => {
                self.audits == 1 && *mail_token == Some(*token) && self.account_token == Some(*token)
            }
            _ => false,
        }
    }
}

/// The invitation rows of every client, by client id.
pub async fn invite_rows(db: &DatabaseConnection) -> HashMap<String, InviteRows> {
    use portal_store::entity::{audit_event, mail_outbox, portal_account, token};
    let mut rows: HashMap<String, InviteRows> = HashMap::new();
    for row in token::Entity::find().all(db).await.expect("tokens") {
        if row.purpose == "invite" {
            rows.entry(row.client_id).or_default().tokens.push(row.id);
        }
    }
    for row in mail_outbox::Entity::find().all(db).await.expect("the outbox") {
        if row.kind == "invitation" {
            rows.entry(row.client_id).or_default().mails.push((row.id, row.token_id, row.status));
        }
    }
    for row in audit_event::Entity::find().all(db).await.expect("the audit trail") {
        if let (Some(client), "invite_sent") = (row.client_id, row.action.as_str()) {
            rows.entry(client).or_default().audits += 1;
        }
    }
    for row in portal_account::Entity::find().all(db).await.expect("the accounts") {
        if row.invite_token_id.is_some() {
            rows.entry(row.client_id).or_default().account_token = row.invite_token_id;
        }
    }
    rows
}

/// Outbox rows not yet sent.
pub async fn pending_mail(db: &DatabaseConnection) -> u64 {
    use portal_store::entity::mail_outbox::{Column, Entity, STATUS_PENDING};
    Entity::find().filter(Column::Status.eq(STATUS_PENDING)).count(db).await.expect("the outbox")
}
