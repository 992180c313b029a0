//! The EHR example end to end, over TCP: the EHR starts in-process on a free port with a fresh
//! data directory, its staff sign in with the EHR's own form, and the whole portal lifecycle
//! runs through the portal mounted under `/client-portal` (staff API behind the EHR's cookie,
//! client API, links read from the `.eml` files). At the end no portal table holds the
//! patient's name or email, while the EHR's own database does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portal_core::ScryptParams;
use portal_example_ehr::{EhrConfig, RunningEhr};
use portal_testkit::{EmlDir, Inbox, LinkKind};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, Statement};
use secrecy::SecretString;
use serde_json::{Value, json};

const STAFF_USER: &str = "frontdesk";
const STAFF_PASSWORD: &str = "ehr staff password for the test";
const PATIENT: &str = "1001";
const PATIENT_NAME: &str = "Ada Lovelace";
const PATIENT_EMAIL: &str = "ada.lovelace@example.org";
const USERNAME: &str = "ada.l";
const FIRST_PASSWORD: &str = "analytical engine notes 1843";
const NEW_PASSWORD: &str = "bernoulli numbers in note G";

/// The running example and what a test needs to talk to it.
struct Ehr {
    running: RunningEhr,
    http: reqwest::Client,
    url: String,
    inbox: Inbox<EmlDir>,
    ehr_db: PathBuf,
    portal_db: PathBuf,
    _data: tempfile::TempDir,
}

async fn start() -> Ehr {
    let data = tempfile::tempdir().expect("a data directory");
    let mut config = EhrConfig::new(data.path());
    config.bind = "127.0.0.1:0".parse().expect("an address");
    config.first_staff.password = Some(SecretString::from(STAFF_PASSWORD));
    // Flow, not strength, is under test here; production uses ScryptParams::OWASP.
    config.scrypt = ScryptParams::INSECURE_FAST_FOR_TESTS;
    config.http.ip_rate_limit.per_minute = 1_000;
    config.http.ip_rate_limit.burst = 100;
    let (ehr_db, portal_db, mail) = (config.ehr_database(), config.portal_database(), config.mail_dir());
    let running = portal_example_ehr::start(config).await.expect("the EHR starts");
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let url = running.url().to_owned();
    Ehr { running, http, url, inbox: Inbox::new(EmlDir::new(mail)), ehr_db, portal_db, _data: data }
}

impl Ehr {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Signs in with the EHR's own form; returns the `Cookie` header value.
    async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.http
            .post(self.at("/login"))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .expect("the sign-in answers")
    }

    /// A request as signed-in EHR staff (`cookie`) or as nobody.
    async fn call(&self, method: Method, path: &str, cookie: Option<&str>, body: Option<Value>) -> reqwest::Response {
        let mut request = self.http.request(method, self.at(path));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("the EHR answers")
    }

    /// The `data-portal-state` of a patient's row on `/patients`.
    async fn listed_state(&self, cookie: &str, patient: &str) -> String {
        let response = self.call(Method::GET, "/patients", Some(cookie), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.expect("a page");
        let marker = format!("data-patient=\"{patient}\" data-portal-state=\"");
        let at = html.find(&marker).unwrap_or_else(|| panic!("no row for patient {patient}: {html}")) + marker.len();
        html[at..].split('"').next().unwrap_or_default().to_owned()
    }

    /// A client signs in through the portal's client API.
    async fn client_sign_in(&self, password: &str) -> reqwest::Response {
        let body = json!({ "practice": self.running.practice_slug(), "username": USERNAME, "password": password });
        self.call(Method::POST, "/client-portal/api/v1/portal/sessions", None, Some(body)).await
    }
}

async fn code_of(response: reqwest::Response) -> String {
    let body: Value = response.json().await.expect("a problem+json body");
    body["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_ehr_runs_the_portal_lifecycle_behind_its_own_sign_in_and_the_portal_keeps_no_patient_data() {
    let ehr = start().await;

    // The EHR's own sign-in: its pages send strangers to /login; a wrong password is refused.
    let anonymous = ehr.call(Method::GET, "/patients", None, None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/login");
    assert_eq!(ehr.sign_in(STAFF_USER, "not the password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ehr.sign_in("nobody", STAFF_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let signed_in = ehr.sign_in(STAFF_USER, STAFF_PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let set_cookie = signed_in.headers()["set-cookie"].to_str().expect("a cookie").to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    assert!(cookie.starts_with("ehr_session=") && cookie.len() > 40, "{cookie}");
    let cookie = cookie.as_str();

    // Without the EHR's session the portal's staff API and pages refuse; a made-up session too.
    let panel_api = format!("/client-portal/api/v1/clients/{PATIENT}/portal");
    for who in [None, Some("ehr_session=made-up")] {
        let api = ehr.call(Method::GET, &panel_api, who, None).await;
        assert_eq!(api.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code_of(api).await, "unauthenticated");
        let page = ehr.call(Method::GET, &format!("/client-portal/staff/clients/{PATIENT}"), who, None).await;
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(page.text().await.expect("a page").contains("href=\"/login\""), "the 401 page links to /login");
    }
    let states = json!({ "client_ids": [PATIENT] });
    let anonymous_states = ehr.call(Method::POST, "/client-portal/api/v1/portal/states", None, Some(states)).await;
    assert_eq!(anonymous_states.status(), StatusCode::UNAUTHORIZED);
    // The bundled client records are not served: the EHR owns its patients.
    for who in [None, Some(cookie)] {
        assert_eq!(
            ehr.call(Method::GET, "/client-portal/api/v1/clients", who, None).await.status(),
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(
        ehr.call(Method::GET, "/client-portal/staff/clients", Some(cookie), None).await.status(),
        StatusCode::NOT_FOUND
    );

    // With it, the panel reads the patient from the EHR through the directory.
    let panel = ehr.call(Method::GET, &panel_api, Some(cookie), None).await;
    assert_eq!(panel.status(), StatusCode::OK);
    assert_eq!(panel.json::<Value>().await.expect("json")["state"], "no_account");
    let page = ehr.call(Method::GET, &format!("/client-portal/staff/clients/{PATIENT}"), Some(cookie), None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("a page").contains(PATIENT_NAME), "the panel names the patient");
    let patient_page = ehr.call(Method::GET, &format!("/patients/{PATIENT}"), Some(cookie), None).await;
    let patient_page = patient_page.text().await.expect("a page");
    assert!(patient_page.contains(&format!("href=\"/client-portal/staff/clients/{PATIENT}\"")), "{patient_page}");
    for missing in ["/patients/9999", "/patients/abc"] {
        assert_eq!(ehr.call(Method::GET, missing, Some(cookie), None).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(ehr.listed_state(cookie, PATIENT).await, "no_account");

    // Invite: the link arrives by mail, under the prefix.
    let invite = format!("/client-portal/api/v1/clients/{PATIENT}/portal/invitation");
    assert_eq!(ehr.call(Method::POST, &invite, Some(cookie), None).await.status(), StatusCode::ACCEPTED);
    for unknown in ["9999", "abc", "01001"] {
        let path = format!("/client-portal/api/v1/clients/{unknown}/portal/invitation");
        let refused = ehr.call(Method::POST, &path, Some(cookie), None).await;
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{unknown}");
        assert_eq!(code_of(refused).await, "client_not_found");
    }
    let link = ehr.inbox.next_link(PATIENT_EMAIL, LinkKind::Invitation).await;
    assert!(link.url.starts_with(&ehr.at("/client-portal/portal/invitation?token=")), "{}", link.url);
    assert_eq!(ehr.listed_state(cookie, PATIENT).await, "invited");
    assert_eq!(ehr.listed_state(cookie, "1002").await, "no_account");

    // Register, then sign in; the portal names the client from the EHR's record.
    let registration = json!({ "token": link.token, "username": USERNAME, "password": FIRST_PASSWORD });
    let registered = ehr.call(Method::POST, "/client-portal/api/v1/portal/registrations", None, Some(registration));
    assert_eq!(registered.await.status(), StatusCode::CREATED);
    let session = ehr.client_sign_in(FIRST_PASSWORD).await;
    assert_eq!(session.status(), StatusCode::CREATED);
    let session: Value = session.json().await.expect("a session");
    let bearer = format!("Bearer {}", session["token"].as_str().expect("a token"));
    let me = ehr.http.get(ehr.at("/client-portal/api/v1/portal/me")).header("authorization", &bearer).send().await;
    let me: Value = me.expect("me answers").json().await.expect("json");
    assert_eq!(me["client_name"], PATIENT_NAME);
    assert_eq!(ehr.listed_state(cookie, PATIENT).await, "active");
    // The EHR seals authenticator apps' secrets (under its link key): an enrolment starts.
    let totp = ehr.http.post(ehr.at("/client-portal/api/v1/portal/factors/totp")).header("authorization", &bearer);
    let totp = totp.send().await.expect("the enrolment answers");
    assert_eq!(totp.status(), StatusCode::CREATED);
    let totp: Value = totp.json().await.expect("json");
    let totp_secret = totp["secret"].as_str().expect("the app's secret").to_owned();

    // Disable: sign-in refused. Enable: allowed again.
    let enabled = format!("/client-portal/api/v1/clients/{PATIENT}/portal/enabled");
    let off = ehr.call(Method::PUT, &enabled, Some(cookie), Some(json!({ "enabled": false }))).await;
    assert_eq!(off.status(), StatusCode::OK);
    let refused = ehr.client_sign_in(FIRST_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(code_of(refused).await, "account_disabled");
    assert_eq!(ehr.listed_state(cookie, PATIENT).await, "disabled");
    let on = ehr.call(Method::PUT, &enabled, Some(cookie), Some(json!({ "enabled": true }))).await;
    assert_eq!(on.status(), StatusCode::OK);

    // Staff send a reset; the client completes it from the emailed link.
    let reset = format!("/client-portal/api/v1/clients/{PATIENT}/portal/password-reset");
    assert_eq!(ehr.call(Method::POST, &reset, Some(cookie), None).await.status(), StatusCode::ACCEPTED);
    let link = ehr.inbox.next_link(PATIENT_EMAIL, LinkKind::PasswordReset).await;
    let completion = json!({ "token": link.token, "password": NEW_PASSWORD });
    let completed = ehr.call(Method::POST, "/client-portal/api/v1/portal/password-resets", None, Some(completion));
    assert_eq!(completed.await.status(), StatusCode::NO_CONTENT);
    assert_eq!(ehr.client_sign_in(FIRST_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ehr.client_sign_in(NEW_PASSWORD).await.status(), StatusCode::CREATED);
    let changed = ehr.inbox.next_to(PATIENT_EMAIL).await;
    assert!(changed.link(LinkKind::PasswordReset).is_none() && changed.link(LinkKind::Invitation).is_none());
    assert_eq!(ehr.listed_state(cookie, PATIENT).await, "active");

    // Signing out of the EHR ends the portal access too.
    let out = ehr.call(Method::POST, "/logout", Some(cookie), None).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(out.headers()["set-cookie"].to_str().expect("a cookie").contains("Max-Age=0"));
    assert_eq!(ehr.call(Method::GET, &panel_api, Some(cookie), None).await.status(), StatusCode::UNAUTHORIZED);

    // Once every mail is delivered, the portal's database holds no patient data.
    let portal = open(&ehr.portal_db).await;
    wait_until_delivered(&portal, 3).await;
    for needle in [PATIENT_NAME, PATIENT_EMAIL, "Lovelace", "1985-12-10", totp_secret.as_str()] {
        assert_eq!(holders(&portal, needle).await, Vec::<String>::new(), "the portal keeps {needle:?}");
    }
    // The scan does find what the portal does keep (the username, the EHR's patient id) …
    assert!(!holders(&portal, USERNAME).await.is_empty(), "the scan reads the portal's tables");
    // … and the patient data, where it belongs: in the EHR's database.
    let own = open(&ehr.ehr_db).await;
    assert_eq!(holders(&own, PATIENT_NAME).await, ["patients.name"]);
    assert_eq!(holders(&own, PATIENT_EMAIL).await, ["patients.email"]);

    ehr.running.stop().await.expect("a clean stop");
}

async fn open(path: &Path) -> DatabaseConnection {
    Database::connect(format!("sqlite://{}?mode=ro", path.display())).await.expect("the database opens")
}

async fn rows(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) -> Vec<sea_orm::QueryResult> {
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, values);
    db.query_all_raw(statement).await.unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Waits until the portal's outbox holds `count` mails, all sent (bodies and recipients purged).
async fn wait_until_delivered(portal: &DatabaseConnection, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let sql = "SELECT COUNT(*) AS total, COALESCE(SUM(status = 'sent'), 0) AS sent FROM mail_outbox";
        let row = rows(portal, sql, Vec::new()).await.pop().expect("one row");
        let (total, sent): (i64, i64) =
            (row.try_get("", "total").expect("total"), row.try_get("", "sent").expect("sent"));
        if total == count && sent == count {
            return;
        }
        assert!(Instant::now() < deadline, "{sent} of {total} mails sent, expected {count}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every `table.column` of the database whose value, read as text, contains `needle` (case
/// insensitive). Generic: every table of `sqlite_master` and every column of `PRAGMA
/// table_info`, whatever its declared type, so a table added later is covered too.
async fn holders(db: &DatabaseConnection, needle: &str) -> Vec<String> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let tables = rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", Vec::new()).await;
    let mut found = Vec::new();
    for table in tables {
        let table: String = table.try_get("", "name").expect("a table name");
        let columns = rows(db, &format!("PRAGMA table_info({})", quote(&table)), Vec::new()).await;
        for column in columns {
            let column: String = column.try_get("", "name").expect("a column name");
            let sql = format!(
                "SELECT COUNT(*) AS hits FROM {} WHERE instr(lower(CAST({} AS TEXT)), lower(?)) > 0",
                quote(&table),
                quote(&column)
            );
            let hits: i64 =
                rows(db, &sql, vec![needle.into()]).await.pop().expect("one row").try_get("", "hits").expect("hits");
            if hits > 0 {
                found.push(format!("{table}.{column}"));
            }
        }
    }
    found
}
