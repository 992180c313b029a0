//! Sign-in defences end to end: throttling, the dummy hash, body limits, the per-IP limit, and
//! session revocation.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use portal_core::ScryptParams;
use portal_http::IpRateLimit;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Answer, AppOptions, NEW_PASSWORD, PASSWORD, TestApp, spawn_app, spawn_app_with};

fn retry_after(answer: &Answer) -> u64 {
    answer
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {answer:?}"))
}

/// Fails sign-ins as `username` until the answer is 429; returns it.
async fn fail_until_throttled(app: &TestApp, username: &str) -> Answer {
    for _ in 0..20 {
        let answer = app.sign_in(username, "definitely not the password").await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            return answer;
        }
        answer.assert_problem(401, "invalid_credentials");
    }
    panic!("no 429 after 20 failed sign-ins as {username}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app().await;
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;

    let throttled = fail_until_throttled(&app, "ada").await;
    throttled.assert_problem(429, "throttled");
    let wait = retry_after(&throttled);
    assert!(wait >= 1, "{throttled:?}");
    // Inside the delay even the right password is answered 429, without hashing.
    app.sign_in("ada", PASSWORD).await.assert_problem(429, "throttled");
    // After the delay the right password works, and success clears the counter.
    app.advance(SignedDuration::from_secs(i64::try_from(wait).expect("small")));
    app.session("ada", PASSWORD).await;
    app.sign_in("ada", "definitely not the password").await.assert_problem(401, "invalid_credentials");

    // A username nobody has is throttled the same way: a 429 reveals nothing.
    let unknown = fail_until_throttled(&app, "nobody-here").await;
    unknown.assert_problem(429, "throttled");
    assert!(retry_after(&unknown) >= 1);
    app.stop().await;
}

/// How long one refused sign-in as `username` takes.
async fn refused_sign_in(app: &TestApp, username: &str) -> Duration {
    let started = Instant::now();
    app.sign_in(username, "a wrong password, long enough").await.assert_problem(401, "invalid_credentials");
    started.elapsed()
}

/// A loose security check, not a benchmark: the dummy hash must make an unknown username cost a
/// real hash. Measurements alternate between the two cases so both see the same machine load,
/// and only the fastest of each is compared, against a generous factor; the exact figures
/// belong to the benchmarks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_username_costs_a_full_hash_like_a_wrong_password() {
    // Production scrypt parameters, so the cost of a hash is measurable.
    let options = AppOptions { scrypt: ScryptParams::OWASP, ..AppOptions::default() };
    let app = spawn_app_with(options).await.expect("SQLite");
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;

    let (mut wrong_password, mut unknown_user) = (Duration::MAX, Duration::MAX);
    for _ in 0..4 {
        wrong_password = wrong_password.min(refused_sign_in(&app, "ada").await);
        unknown_user = unknown_user.min(refused_sign_in(&app, "nobody-at-all").await);
    }
    assert!(wrong_password >= Duration::from_millis(30), "a real hash ran: {wrong_password:?}");
    assert!(
        unknown_user * 3 >= wrong_password,
        "the dummy hash makes an unknown user as slow as a wrong password: {unknown_user:?} vs {wrong_password:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_password_is_refused_before_any_hashing() {
    let app = spawn_app().await;
    app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let huge = "x".repeat(1024 * 1024);
    for _ in 0..10 {
        let answer = app.sign_in("ada", &huge).await;
        answer.assert_problem(413, "payload_too_large");
    }
    let body = json!({"token": "t", "username": "someone", "password": huge});
    app.request(Method::POST, "/api/v1/portal/registrations", None, Some(body))
        .await
        .assert_problem(413, "payload_too_large");
    // None of the ten reached the service: they would have counted as failures and throttled.
    app.session("ada", PASSWORD).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_is_limited_across_usernames() {
    let limit = IpRateLimit { per_minute: 1, burst: 3, max_tracked_ips: 100 };
    let app = spawn_app_with(AppOptions { ip_rate_limit: limit, ..AppOptions::default() }).await.expect("SQLite");
    for n in 0..3 {
        app.sign_in(&format!("someone-{n}"), "a wrong password").await.assert_problem(401, "invalid_credentials");
    }
    let limited = app.sign_in("someone-else", "a wrong password").await;
    limited.assert_problem(429, "throttled");
    assert!(retry_after(&limited) >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_account_revokes_every_session() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let sessions = [app.session("ada", PASSWORD).await, app.session("ada", PASSWORD).await];
    for session in &sessions {
        assert_eq!(app.me(session).await.status, StatusCode::OK);
    }
    assert_eq!(app.set_enabled(&client, false).await.status, StatusCode::OK);
    for session in &sessions {
        app.me(session).await.assert_problem(401, "unauthenticated");
    }
    assert_eq!(app.set_enabled(&client, true).await.status, StatusCode::OK);
    for session in &sessions {
        app.me(session).await.assert_problem(401, "unauthenticated");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_reset_revokes_every_session_and_signs_nobody_in() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada@example.org", "ada").await;
    let sessions = [app.session("ada", PASSWORD).await, app.session("ada", PASSWORD).await];
    assert_eq!(app.send_reset(&client).await.status, StatusCode::ACCEPTED);
    let token = app.next_link_token("ada@example.org", "password-reset").await;
    // Sessions survive the request of a reset, not its completion.
    assert_eq!(app.me(&sessions[0]).await.status, StatusCode::OK);
    let completed = app.complete_reset(&token, NEW_PASSWORD).await;
    assert_eq!(completed.status, StatusCode::NO_CONTENT, "{completed:?}");
    assert_eq!(completed.body, serde_json::Value::Null, "no session token is handed out");
    for session in &sessions {
        app.me(session).await.assert_problem(401, "unauthenticated");
    }
    app.stop().await;
}
