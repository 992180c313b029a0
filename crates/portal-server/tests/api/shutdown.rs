//! A graceful stop: requests in flight finish and get their answer; new connections are refused.

use std::time::{Duration, Instant};

use portal_core::ScryptParams;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{AppOptions, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_the_requests_in_flight_finish() {
    // Production scrypt: a sign-in takes long enough to be caught in flight.
    let options = AppOptions { scrypt: ScryptParams::OWASP, ..AppOptions::default() };
    let app = spawn_app_with(options).await.expect("SQLite");
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;

    let (http, base, slug) = (app.http.clone(), app.base.clone(), app.slug.clone());
    let in_flight = tokio::spawn(async move {
        let body = json!({"practice": slug, "username": "ada", "password": "a wrong password, long enough"});
        http.post(format!("{base}/api/v1/portal/sessions")).json(&body).send().await.map(|r| r.status())
    });
    // Wait until its hash runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics");
        if metrics.text().await.expect("text").contains("portal_hash_pool_in_flight 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the sign-in never started hashing");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let (http, base) = (app.http.clone(), app.base.clone());
    app.stop().await;
    assert_eq!(in_flight.await.expect("the request task").expect("an answer"), StatusCode::UNAUTHORIZED);
    assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "no new connections after the stop");
}
