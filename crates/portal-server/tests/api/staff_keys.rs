//! Staff keys over the real binary, on SQLite and PostgreSQL: a key made with `staff-key
//! create` works on the API and signs in to the staff pages; `staff-key revoke` signs the
//! browser out on the very next request and stops the key on the API within the server's
//! recheck interval (the server remembers an active key for a second, so a staff request is one
//! database read); a key made with `--expires` stops working at its expiry; `staff-key list`
//! shows the keys' state and last use, never a key.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use portal_core::service::DEFAULT_STAFF_KEY_RECHECK;
use portal_testkit::{PortalServer, ServerBuilder, free_port};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::helpers::{Backend, TestDatabase};

/// Runs `portal-server staff-key …` against the database; its stdout as JSON (or text).
fn cli(data_dir: &Path, database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_DATABASE_URL", database_url)
        .env("PORTAL_LOG", "warn")
        .arg("staff-key")
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "staff-key {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookie| {
        let (pair, _) = cookie.split_once(';').unwrap_or((cookie, ""));
        pair.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

struct Site {
    base: String,
    http: reqwest::Client,
}

impl Site {
    async fn api(&self, key: &str) -> StatusCode {
        let response = self.http.get(format!("{}/api/v1/clients", self.base)).bearer_auth(key).send().await;
        response.expect("an answer").status()
    }

    /// Signs in to the staff pages with `key`: the staff cookie (a session token).
    async fn sign_in(&self, key: &str) -> String {
        let form = self.http.get(format!("{}/staff/sign-in", self.base)).send().await.expect("an answer");
        let csrf = set_cookie(&form, "__Host-portal_csrf").expect("a CSRF cookie");
        let posted = self
            .http
            .post(format!("{}/staff/sign-in", self.base))
            .header(COOKIE, format!("__Host-portal_csrf={csrf}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            // Hex and base64url need no percent-encoding.
            .body(format!("csrf={csrf}&key={key}"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(posted.status(), StatusCode::SEE_OTHER);
        let session = set_cookie(&posted, "__Host-portal_staff").expect("a staff cookie");
        assert!(session.starts_with("pss_") && !session.contains(key), "the cookie holds a session, not the key");
        session
    }

    /// `GET /staff/clients` with the staff cookie: 200, or where it redirects.
    async fn page(&self, session: &str) -> (StatusCode, Option<String>) {
        let response = self
            .http
            .get(format!("{}/staff/clients", self.base))
            .header(COOKIE, format!("__Host-portal_staff={session}"))
            .send()
            .await
            .expect("an answer");
        let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        (response.status(), location)
    }
}

async fn revocation_and_expiry_over_the_binary(backend: Backend) {
    let Some(TestDatabase { dir: data, url: database_url, pg: _pg }) = TestDatabase::create(backend).await else {
        return;
    };
    let server: PortalServer = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
        .data_dir(data.path())
        .port(free_port())
        .env("PORTAL_DATABASE_URL", &database_url)
        .start()
        .expect("portal-server answers");
    let first = server.first_run().expect("a first-run block");
    let site = Site {
        base: server.base_url().to_owned(),
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
    };
    let practice = first.slug.as_str();

    // A new key works over the API and in the pages.
    let created = json(&cli(data.path(), &database_url, &["create", "--practice", practice, "--label", "Front desk"]));
    let key = created["staff_key"].as_str().expect("a key").to_owned();
    let id = created["staff_id"].as_str().expect("an id").to_owned();
    assert!(created["expires_at"].is_null(), "no expiry unless asked: {created}");
    assert_eq!(site.api(&key).await, StatusCode::OK);
    let session = site.sign_in(&key).await;
    assert_eq!(site.page(&session).await.0, StatusCode::OK);

    let listed = json(&cli(data.path(), &database_url, &["list", "--practice", practice, "--json"]));
    let entry = listed.as_array().expect("a list").iter().find(|k| k["staff_id"] == id.as_str()).expect("the key");
    assert_eq!(entry["state"], "active");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(!listed.to_string().contains("pst_"), "a listing never shows a key");
    let table = cli(data.path(), &database_url, &["list", "--practice", practice]);
    assert!(table.starts_with("ID") && table.contains("Front desk"), "{table}");

    // Revoked by another process: the browser is signed out on the very next request (a staff
    // session reads its key every time); the API, which may answer from the server's memory of
    // the key, refuses it once the recheck interval has passed.
    assert_eq!(site.api(&key).await, StatusCode::OK);
    let revoked = json(&cli(data.path(), &database_url, &["revoke", "--practice", practice, &id]));
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(site.page(&session).await, (StatusCode::SEE_OTHER, Some("/staff/sign-in".to_owned())));
    tokio::time::sleep(DEFAULT_STAFF_KEY_RECHECK.unsigned_abs() + Duration::from_millis(100)).await;
    assert_eq!(site.api(&key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(site.api(&first.staff_key).await, StatusCode::OK, "the other key is untouched");

    // A key made with a short lifetime stops working at its expiry, in the pages too.
    let short = json(&cli(
        data.path(),
        &database_url,
        &["create", "--practice", practice, "--label", "Locum", "--expires", "3s"],
    ));
    let short_key = short["staff_key"].as_str().expect("a key").to_owned();
    assert!(short["expires_at"].is_string(), "{short}");
    assert_eq!(site.api(&short_key).await, StatusCode::OK);
    let short_session = site.sign_in(&short_key).await;
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    assert_eq!(site.api(&short_key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(site.page(&short_session).await.0, StatusCode::SEE_OTHER);
    let listed = json(&cli(data.path(), &database_url, &["list", "--practice", practice, "--json"]));
    let states: Vec<&str> = listed.as_array().expect("a list").iter().filter_map(|k| k["state"].as_str()).collect();
    assert_eq!(states, ["active", "revoked", "expired"]);

    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "{log}");
    for secret in [&key, &short_key, &session, &short_session, &first.staff_key] {
        assert!(!log.contains(secret.as_str()), "a secret is in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_within_the_recheck_interval_and_an_expired_one_at_its_expiry_on_sqlite() {
    revocation_and_expiry_over_the_binary(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_working_within_the_recheck_interval_and_an_expired_one_at_its_expiry_on_postgres() {
    revocation_and_expiry_over_the_binary(Backend::Postgres).await;
}

/// `--staff-key-recheck off` (here as its environment variable): the server reads the key on
/// every request, so a revocation made by another process is refused on the very next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_recheck_off_a_key_revoked_elsewhere_is_refused_on_the_next_request() {
    let Some(TestDatabase { dir: data, url: database_url, pg: _pg }) = TestDatabase::create(Backend::Sqlite).await
    else {
        return;
    };
    let server: PortalServer = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
        .data_dir(data.path())
        .port(free_port())
        .env("PORTAL_DATABASE_URL", &database_url)
        .env("PORTAL_STAFF_KEY_RECHECK", "off")
        .start()
        .expect("portal-server answers");
    let practice = server.first_run().expect("a first-run block").slug.clone();
    let site = Site {
        base: server.base_url().to_owned(),
        http: reqwest::Client::builder().no_proxy().build().expect("an HTTP client"),
    };
    let created = json(&cli(data.path(), &database_url, &["create", "--practice", &practice, "--label", "Front desk"]));
    let key = created["staff_key"].as_str().expect("a key").to_owned();
    let id = created["staff_id"].as_str().expect("an id").to_owned();
    assert_eq!(site.api(&key).await, StatusCode::OK);

    json(&cli(data.path(), &database_url, &["revoke", "--practice", &practice, &id]));
    assert_eq!(site.api(&key).await, StatusCode::UNAUTHORIZED, "no second of grace with the recheck off");

    let (status, log) = server.terminate().expect("a stop");
    assert_eq!(status.code(), Some(0), "{log}");
}
