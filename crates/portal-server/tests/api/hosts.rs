//! Design §4: emailed links are built from the configured public URL, never from the request.
//! Every request here carries a hostile `Host` and every proxy header that frameworks read a
//! host or scheme from; the emailed links (sent from the API and from the staff pages), the
//! redirects, the pages' form actions, the OpenAPI document's `servers` entry and Swagger UI must
//! all name the configured public URL or a path on it, and nothing anywhere may echo the hostile
//! host.

use std::collections::HashMap;

use portal_testkit::{Email, token_after};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, PASSWORD, TestApp, spawn_app_with};

const PUBLIC_URL: &str = "https://portal.example.org";
const EVIL: &str = "evil.example";

/// The headers an attacker (or a misconfigured proxy) may send to steer links elsewhere.
fn hostile_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", EVIL),
        ("x-forwarded-host", EVIL),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", "8443"),
        ("x-forwarded-server", EVIL),
        ("x-original-host", EVIL),
        ("x-host", EVIL),
        ("x-forwarded-prefix", "/evil"),
        ("forwarded", "for=198.51.100.7;host=evil.example;proto=http"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
}

/// A form submission, `application/x-www-form-urlencoded`.
fn with_form(request: reqwest::RequestBuilder, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let body = fields.iter().map(|(name, value)| format!("{}={}", encode(name), encode(value))).collect::<Vec<_>>();
    request.header("content-type", "application/x-www-form-urlencoded").body(body.join("&"))
}

/// A raw answer: status, headers, body text.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Raw {
    /// `name=value` pairs from `Set-Cookie`.
    fn cookies(&self) -> HashMap<String, String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|cookie| cookie.split(';').next()?.split_once('='))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// The hidden CSRF field of the page's form.
    fn csrf_field(&self) -> String {
        token_after(&self.body, "name=\"csrf\" value=\"").unwrap_or_else(|| panic!("no CSRF field in {}", self.body))
    }
}

/// Sends a request with the hostile headers and checks what every answer must satisfy.
async fn hostile(
    app: &TestApp,
    method: Method,
    path: &str,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Raw {
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let request = http.request(method.clone(), format!("{}{path}", app.base)).headers(hostile_headers());
    let response = build(request).send().await.expect("the server answers");
    let raw = Raw {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("a body"),
    };
    for (name, value) in &raw.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(!value.contains(EVIL), "{method} {path}: the {name} header echoes the hostile host: {value}");
    }
    assert!(!raw.body.contains(EVIL), "{method} {path}: the body echoes the hostile host:\n{}", raw.body);
    if let Some(location) = raw.headers.get("location") {
        let location = location.to_str().expect("an ASCII Location");
        assert_same_site(location, &format!("the Location of {method} {path}"));
    }
    for action in raw.body.split("action=\"").skip(1).filter_map(|rest| rest.split('"').next()) {
        assert_same_site(action, &format!("a form action on {method} {path}"));
    }
    raw
}

/// A path on this site (`/…` but not the scheme-relative `//…`), or a URL on the public URL.
#[track_caller]
fn assert_same_site(target: &str, what: &str) {
    let relative = target.starts_with('/') && !target.starts_with("//") && !target.starts_with("/\\");
    let on_public_url = target.starts_with(&format!("{PUBLIC_URL}/"));
    assert!(relative || on_public_url, "{what} leaves the public URL: {target}");
}

/// Every link in an email (text and HTML) points at the public URL, and the hostile host is
/// nowhere in it; returns the token of the `/portal/{path}?token=` link.
#[track_caller]
fn assert_links_on_public_url(email: &Email, path: &str) -> String {
    for part in [&email.text, &email.html] {
        assert!(!part.contains(EVIL), "the email echoes the hostile host: {part}");
        for scheme in ["http://", "https://"] {
            for link in part.split(scheme).skip(1) {
                let url = format!("{scheme}{link}");
                assert!(url.starts_with(&format!("{PUBLIC_URL}/")), "a link leaves the public URL: {url:.80}");
            }
        }
    }
    token_after(&email.text, &format!("{PUBLIC_URL}/portal/{path}?token="))
        .unwrap_or_else(|| panic!("no link in {email:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_host_headers_never_change_links_redirects_forms_or_the_openapi_document() {
    let options = AppOptions { public_url: Some(PUBLIC_URL.to_owned()), ..AppOptions::default() };
    let app = spawn_app_with(options).await.expect("SQLite");
    let bearer = |request: reqwest::RequestBuilder| request.bearer_auth(&app.staff_key);

    // Staff API: create a client, send the invitation.
    let created = hostile(&app, Method::POST, "/api/v1/clients", |r| {
        bearer(r).json(&json!({"name": "Ada Lovelace", "email": "ada@example.org"}))
    })
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let client: Value = serde_json::from_str(&created.body).expect("JSON");
    let client = client["id"].as_str().expect("an id").to_owned();
    let sent = hostile(&app, Method::POST, &format!("/api/v1/clients/{client}/portal/invitation"), bearer).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let invite_token = assert_links_on_public_url(&app.next_email_to("ada@example.org").await, "invitation");

    // Client pages: the link's redirect, the registration form, the sign-in form.
    let opened = hostile(&app, Method::GET, &format!("/portal/invitation?token={invite_token}"), |r| r).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    let invite_cookie = opened.cookies();
    let cookie_header =
        invite_cookie.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ");
    let form = hostile(&app, Method::GET, "/portal/invitation", |r| r.header("cookie", &cookie_header)).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert_eq!(app.register(&invite_token, "ada", PASSWORD).await.status, StatusCode::CREATED);
    let sign_in = hostile(&app, Method::GET, &format!("/portal/{}/sign-in", app.slug), |r| r).await;
    assert_eq!(sign_in.status, StatusCode::OK);
    let csrf = sign_in.cookies().get("__Host-portal_csrf").cloned().expect("a CSRF cookie");
    let signed_in = hostile(&app, Method::POST, &format!("/portal/{}/sign-in", app.slug), |r| {
        let r = r.header("cookie", format!("__Host-portal_csrf={csrf}"));
        with_form(r, &[("csrf", csrf.as_str()), ("username", "ada"), ("password", PASSWORD)])
    })
    .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);

    // Staff API: a password reset.
    let sent = hostile(&app, Method::POST, &format!("/api/v1/clients/{client}/portal/password-reset"), bearer).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
    let reset_token = assert_links_on_public_url(&app.next_email_to("ada@example.org").await, "password-reset");
    let opened = hostile(&app, Method::GET, &format!("/portal/password-reset?token={reset_token}"), |r| r).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);

    // Staff pages: sign in with the key, then send an invitation to a second client from its
    // profile page; the redirects, forms and the emailed link stay on the public URL.
    let page = hostile(&app, Method::GET, "/staff/sign-in", |r| r).await;
    let csrf = page.cookies().get("__Host-portal_csrf").cloned().expect("a CSRF cookie");
    assert_eq!(page.csrf_field(), csrf);
    let signed_in = hostile(&app, Method::POST, "/staff/sign-in", |r| {
        let r = r.header("cookie", format!("__Host-portal_csrf={csrf}"));
        with_form(r, &[("csrf", csrf.as_str()), ("key", app.staff_key.as_str())])
    })
    .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let staff_cookie = signed_in.cookies().get("__Host-portal_staff").cloned().expect("a staff cookie");
    let cookies = format!("__Host-portal_csrf={csrf}; __Host-portal_staff={staff_cookie}");
    let bea = app.create_client("Bea Example", "bea@example.org").await;
    for path in ["/staff".to_owned(), "/staff/clients".to_owned(), format!("/staff/clients/{bea}")] {
        let page = hostile(&app, Method::GET, &path, |r| r.header("cookie", &cookies)).await;
        assert!(page.status.is_success() || page.status.is_redirection(), "{path}: {}", page.status);
    }
    let invited = hostile(&app, Method::POST, &format!("/staff/clients/{bea}/invite"), |r| {
        with_form(r.header("cookie", &cookies), &[("csrf", csrf.as_str())])
    })
    .await;
    assert_eq!(invited.status, StatusCode::SEE_OTHER, "{}", invited.body);
    assert_links_on_public_url(&app.next_email_to("bea@example.org").await, "invitation");

    // The OpenAPI document names the public URL as its only server; Swagger UI echoes nothing.
    let spec = hostile(&app, Method::GET, "/openapi.json", |r| r).await;
    assert_eq!(spec.status, StatusCode::OK);
    let spec: Value = serde_json::from_str(&spec.body).expect("JSON");
    assert_eq!(spec["servers"], json!([{"url": PUBLIC_URL}]));
    let docs = hostile(&app, Method::GET, "/docs", |r| r).await;
    assert_eq!(docs.status, StatusCode::OK);
    for path in ["/healthz", "/readyz", "/api/v1/portal/me", "/no/such/page"] {
        hostile(&app, Method::GET, path, |r| r).await;
    }
    app.stop().await;
}
