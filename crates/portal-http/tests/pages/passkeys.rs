//! The passkey pages, with the offline `TestPasskeys` relying party standing in for the browser's
//! ceremony (the browser test runs the real one in Chromium): registering from "Sign-in
//! security", the second step's passkey form, passkey-first sign-in, the script and its CSP only
//! on those pages, and both languages.

use poem::http::StatusCode;
use portal_core::testing::TestPasskeys;
use portal_core::{FactorSecret, FactorStore, PasskeyChallenge, PasskeyResponse, PasskeyUserHandle};

use crate::browser::{Answer, Browser};
use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// An attribute's value on a page, unescaped as a browser reads it.
fn attribute(page: &Answer, name: &str) -> String {
    let marker = format!("{name}=\"");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", page.body)) + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    let value = &page.body[start..end];
    [("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\"")]
        .into_iter()
        .fold(value.to_owned(), |text, (entity, character)| text.replace(entity, character))
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

fn hidden(page: &Answer, name: &str) -> String {
    attribute(page, &format!("name=\"{name}\" value"))
}

fn options(page: &Answer) -> PasskeyChallenge {
    PasskeyChallenge::from_json(attribute(page, "data-passkey-options"))
}

fn scripted(page: &Answer) -> bool {
    let csp = page.header("content-security-policy").unwrap_or_default();
    csp.contains("script-src 'self'") && page.body.contains("/portal/static/passkeys.js")
}

async fn sign_in<'a>(browser: &Browser<'a>) -> Answer {
    let path = format!("/portal/{}/sign-in", browser.app.slug);
    browser.submit(&path, &path, &[("username", "ada"), ("password", PASSWORD)]).await
}

/// Registers a passkey from "Sign-in security" with the answer `answer` makes of the page.
async fn register(browser: &Browser<'_>, credential: &[u8], name: &str) -> Answer {
    let page = browser.submit("/portal/factors", "/portal/factors/passkeys", &[]).await;
    page.assert(StatusCode::OK, "Add a passkey");
    assert!(page.body.contains("data-passkey=\"create\""));
    let answer = TestPasskeys::created(&options(&page), credential);
    let fields = [
        ("csrf", page.csrf()),
        ("ceremony", hidden(&page, "ceremony")),
        ("passkey_response", answer.into_json()),
        ("name", name.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    browser.post("/portal/factors/passkeys/finish", &fields).await
}

async fn user_handle(app: &TestApp, client: &str) -> PasskeyUserHandle {
    let client = portal_core::ClientId::parse(client).unwrap();
    let practice = app.service.practice_by_slug(&app.slug).await.unwrap().unwrap().id;
    let factors = app.store.factors(practice, &client).await.unwrap();
    factors
        .iter()
        .find_map(|f| match &f.secret {
            FactorSecret::Passkey { user_handle, .. } => Some(*user_handle),
            FactorSecret::Totp { .. } => None,
        })
        .expect("a passkey")
}

#[tokio::test]
async fn a_client_registers_a_passkey_and_then_signs_in_with_the_password_and_the_passkey() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada").await;
    let browser = Browser::new(&app);
    assert_eq!(sign_in(&browser).await.status, StatusCode::SEE_OTHER);
    let factors = browser.get("/portal/factors").await;
    factors.assert(StatusCode::OK, "Add a passkey");
    assert!(!scripted(&factors), "a page without a ceremony runs no script");
    assert!(!factors.header("content-security-policy").unwrap().contains("script-src"));

    let page = browser.submit("/portal/factors", "/portal/factors/passkeys", &[]).await;
    assert!(scripted(&page), "the ceremony's page loads the script under a CSP that allows it");
    // A refused answer shows the page again with a fresh ceremony.
    let other = TestPasskeys::created(&PasskeyChallenge::from_json("challenge=999".to_owned()), b"key");
    let csrf = page.csrf();
    let ceremony = hidden(&page, "ceremony");
    let fields = [("csrf", csrf.as_str()), ("ceremony", ceremony.as_str()), ("passkey_response", other.as_json())];
    let refused = browser.post("/portal/factors/passkeys/finish", &fields).await;
    refused.assert(StatusCode::UNPROCESSABLE_ENTITY, "The passkey was not accepted");
    assert_ne!(hidden(&refused, "ceremony"), ceremony, "a new ceremony");

    let codes = register(&browser, b"laptop-key", "Laptop").await;
    codes.assert(StatusCode::OK, "Your recovery codes");
    browser.get("/portal/factors").await.assert(StatusCode::OK, "<strong>Laptop</strong> (Passkey)");
    // Staff read the trail in words, in their language: the kind, never a credential.
    let staff = crate::staff_pages::staff_browser(&app).await;
    let profile = format!("/staff/clients/{client}");
    staff.get(&profile).await.assert(StatusCode::OK, "Second sign-in step added: Passkey");
    staff.get(&format!("{profile}?lang=es")).await.assert(StatusCode::OK, "añadido: Llave de acceso");

    // Signed out, the password leads to the second step with the passkey's form.
    let fresh = Browser::new(&app);
    let step = sign_in(&fresh).await;
    step.assert(StatusCode::OK, "Use a passkey");
    assert!(scripted(&step));
    assert!(fresh.cookie("__Host-portal_session").is_none());
    let action = format!("/portal/{}/second-factor", app.slug);
    let (csrf, challenge) = (step.csrf(), hidden(&step, "challenge"));
    let wrong = TestPasskeys::signed(&options(&step), b"another-key", None, 1);
    let fields = [
        ("csrf", csrf.as_str()),
        ("challenge", challenge.as_str()),
        ("kind", "passkey"),
        ("ceremony", &hidden(&step, "ceremony")),
        ("passkey_response", wrong.as_json()),
    ];
    let refused = fresh.post(&action, &fields).await;
    refused.assert(StatusCode::UNAUTHORIZED, "The passkey was not accepted");
    let answer = TestPasskeys::signed(&options(&refused), b"laptop-key", None, 2);
    let fields = [
        ("csrf", csrf.as_str()),
        ("challenge", challenge.as_str()),
        ("kind", "passkey"),
        ("ceremony", &hidden(&refused, "ceremony")),
        ("passkey_response", answer.as_json()),
    ];
    let done = fresh.post(&action, &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert!(fresh.cookie("__Host-portal_session").is_some());
    fresh.get("/portal/home").await.assert(StatusCode::OK, "Sign-in security");
}

#[tokio::test]
async fn passkey_first_sign_in_needs_no_username_and_refuses_a_disabled_account() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada").await;
    let browser = Browser::new(&app);
    sign_in(&browser).await;
    register(&browser, b"laptop-key", "").await.assert(StatusCode::OK, "Your recovery codes");
    let user = user_handle(&app, &client).await;

    let fresh = Browser::new(&app);
    let sign_in_path = format!("/portal/{}/sign-in", app.slug);
    fresh.get(&sign_in_path).await.assert(StatusCode::OK, "Sign in with a passkey");
    let page = fresh.submit(&sign_in_path, &format!("{sign_in_path}/passkey"), &[]).await;
    page.assert(StatusCode::OK, "choose your passkey");
    assert!(scripted(&page) && page.body.contains("data-passkey=\"get\""));
    let answer: PasskeyResponse = TestPasskeys::signed(&options(&page), b"laptop-key", Some(user), 1);
    let ceremony = hidden(&page, "ceremony");
    let fields = [("csrf", page.csrf()), ("ceremony", ceremony.clone()), ("passkey_response", answer.into_json())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let done = fresh.post(&format!("{sign_in_path}/passkey/finish"), &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.header("location"), Some("/portal/home"));
    fresh.get("/portal/home").await.assert(StatusCode::OK, "Ada");

    // The same answer again: its ceremony is spent; the page comes back with a new one.
    let again = fresh.post(&format!("{sign_in_path}/passkey/finish"), &fields).await;
    again.assert(StatusCode::UNPROCESSABLE_ENTITY, "The passkey was not accepted");

    // Staff turn the account off: the passkey no longer opens a session.
    app.set_enabled(&client, false).await.assert_status_is_ok();
    let other = Browser::new(&app);
    let page = other.submit(&sign_in_path, &format!("{sign_in_path}/passkey"), &[]).await;
    let answer = TestPasskeys::signed(&options(&page), b"laptop-key", Some(user), 2);
    let fields =
        [("csrf", page.csrf()), ("ceremony", hidden(&page, "ceremony")), ("passkey_response", answer.into_json())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = other.post(&format!("{sign_in_path}/passkey/finish"), &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(other.cookie("__Host-portal_session").is_none());
}

#[tokio::test]
async fn the_script_is_served_and_the_passkey_pages_speak_spanish() {
    let app = spawn_app().await;
    let script = Browser::new(&app).get("/portal/static/passkeys.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(script.body.contains("navigator.credentials"));

    app.registered_client("Ada Lovelace", "ada").await;
    let browser = Browser::new(&app);
    sign_in(&browser).await;
    browser.get("/portal/factors?lang=es").await.assert(StatusCode::OK, "Agregar una llave de acceso");
    let page = browser.submit("/portal/factors", "/portal/factors/passkeys", &[]).await;
    page.assert(StatusCode::OK, "Crear la llave de acceso");
    assert!(page.body.contains("data-passkey-unsupported=\"Este navegador no puede usar llaves de acceso"));
}
