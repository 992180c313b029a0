//! The second-factor pages: setting up an app from "Sign-in security" (the QR code drawn inline
//! as SVG, the key in text), the recovery codes shown once, the second step after the password,
//! the set-up a practice requires, and staff removing a client's factors from the profile.

use jiff::SignedDuration;
use poem::http::StatusCode;

use crate::browser::{Answer, Browser};
use crate::helpers::{PASSWORD, TestApp, spawn_app};
use crate::staff_pages::staff_browser;

/// The key shown on the set-up page, without its spaces.
fn key_on(page: &Answer) -> String {
    let start = page.body.find("<code class=\"secret\">").expect("the key in text") + "<code class=\"secret\">".len();
    let end = start + page.body[start..].find("</code>").unwrap();
    page.body[start..end].replace(' ', "")
}

/// A hidden field's value on a page.
fn hidden(page: &Answer, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.body.find(&marker).unwrap_or_else(|| panic!("no {name} in {}", page.body)) + marker.len();
    let end = start + page.body[start..].find('"').unwrap();
    page.body[start..end].to_owned()
}

/// The code an authenticator app shows now.
fn app_code(app: &TestApp, key: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(key).unwrap().as_bytes().to_vec();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().unwrap();
    totp.generate(u64::try_from(app.clock.now().as_second()).unwrap()).to_string()
}

async fn sign_in<'a>(browser: &Browser<'a>) -> Answer {
    let path = format!("/portal/{}/sign-in", browser.app.slug);
    browser.submit(&path, &path, &[("username", "ada"), ("password", PASSWORD)]).await
}

#[tokio::test]
async fn a_client_sets_up_an_app_and_then_signs_in_with_the_password_and_a_code() {
    let app = spawn_app().await;
    app.registered_client("Ada Lovelace", "ada").await;
    let browser = Browser::new(&app);
    assert_eq!(sign_in(&browser).await.status, StatusCode::SEE_OTHER);
    browser.get("/portal/home").await.assert(StatusCode::OK, "Sign-in security");
    browser.get("/portal/factors").await.assert(StatusCode::OK, "Only your password protects your account");

    let setup = browser.submit("/portal/factors", "/portal/factors/totp", &[]).await;
    setup.assert(StatusCode::OK, "Set up an authenticator app");
    assert!(setup.body.contains("<svg") && setup.body.contains("role=\"img\""), "the QR code inline");
    assert!(!setup.body.contains("<?xml"), "no XML declaration inside the page");
    let key = key_on(&setup);
    let factor_id = hidden(&setup, "factor_id");
    let csrf = setup.csrf();
    let wrong = if app_code(&app, &key) == "000000" { "111111" } else { "000000" };
    let confirm = async |code: &str| {
        let fields = [("csrf", csrf.as_str()), ("factor_id", factor_id.as_str()), ("code", code)];
        browser.post("/portal/factors/totp/confirm", &fields).await
    };
    let refused = confirm(wrong).await;
    refused.assert(StatusCode::UNPROCESSABLE_ENTITY, "The code is not right");
    assert_eq!(key_on(&refused), key, "the same key is shown again");
    let codes = confirm(&app_code(&app, &key)).await;
    codes.assert(StatusCode::OK, "Your recovery codes");
    assert_eq!(codes.body.matches("<li><code>").count(), 10);
    browser.get("/portal/factors").await.assert(StatusCode::OK, "10 recovery codes left.");

    // Signed out, the password leads to the second step; the app's next code opens the session.
    let fresh = Browser::new(&app);
    let step = sign_in(&fresh).await;
    step.assert(StatusCode::OK, "Second sign-in step");
    assert!(fresh.cookie("__Host-portal_session").is_none(), "no session after the password alone");
    app.clock.advance(SignedDuration::from_secs(30));
    let challenge = hidden(&step, "challenge");
    let action = format!("/portal/{}/second-factor", app.slug);
    let csrf = step.csrf();
    let code = app_code(&app, &key);
    let fields = [("csrf", csrf.as_str()), ("challenge", challenge.as_str()), ("kind", "totp"), ("code", "12")];
    fresh.post(&action, &fields).await.assert(StatusCode::UNAUTHORIZED, "The code is not right");
    let fields = [("csrf", csrf.as_str()), ("challenge", challenge.as_str()), ("kind", "totp"), ("code", &code)];
    let done = fresh.post(&action, &fields).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.header("location"), Some("/portal/home"));
    fresh.get("/portal/home").await.assert(StatusCode::OK, "Welcome, Ada Lovelace");
}

#[tokio::test]
async fn a_practice_that_requires_an_app_has_it_set_up_right_after_the_password() {
    let app = spawn_app().await;
    let client = app.registered_client("Ada Lovelace", "ada").await;
    let staff = staff_browser(&app).await;
    let settings = staff.get("/staff/settings").await;
    assert!(settings.body.contains("name=\"second_factor_policy\""), "the settings page offers the policy");
    let csrf = settings.csrf();
    let saved = staff
        .post(
            "/staff/settings",
            &[
                ("csrf", csrf.as_str()),
                ("name", "Sunrise Therapy"),
                ("time_zone", "UTC"),
                ("discreet_mail", "on"),
                ("second_factor_policy", "required"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);

    let browser = Browser::new(&app);
    let setup = sign_in(&browser).await;
    setup.assert(StatusCode::OK, "Sunrise Therapy asks for a second step when you sign in");
    let key = key_on(&setup);
    let fields = [
        ("csrf", setup.csrf()),
        ("challenge", hidden(&setup, "challenge")),
        ("factor_id", hidden(&setup, "factor_id")),
        ("code", app_code(&app, &key)),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let codes = browser.post("/portal/second-factor/enrol", &fields).await;
    codes.assert(StatusCode::OK, "Your recovery codes");
    assert!(browser.cookie("__Host-portal_session").is_some(), "the session opens with the set-up");
    browser.get("/portal/home").await.assert(StatusCode::OK, "Welcome, Ada Lovelace");

    // Staff see the app on the profile (never its key) and remove it.
    let profile = format!("/staff/clients/{client}");
    let page = staff.get(&profile).await;
    page.assert(StatusCode::OK, "Second sign-in steps");
    assert!(page.body.contains("Authenticator app") && page.body.contains("10 recovery codes left."), "{}", page.body);
    assert!(!page.body.contains(&key));
    let removed = staff.submit(&profile, &format!("{profile}/factors-remove"), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    staff.get(&format!("{profile}?done=factors-removed")).await.assert(StatusCode::OK, "Second sign-in steps removed");
    staff.get(&profile).await.assert(StatusCode::OK, "None: the client signs in with the password alone");
}
