//! Second factors in a real browser: a client sets up an authenticator app from "Sign-in
//! security" (the QR code drawn inline, the key in text; the code computed by the test with
//! totp-rs, as the app would), keeps the recovery codes, signs out, and signs in again with the
//! password and a code. Every page reached gets the accessibility pass.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portal_testkit::LinkKind;

use crate::{Kit, PASSWORD, PRACTICE};

/// The code the app shows `ahead` from now for the key shown on the set-up page.
fn app_code(key: &str, ahead: Duration) -> String {
    let bytes = totp_rs::Secret::try_from_base32(key.replace(' ', "")).expect("base32").as_bytes().to_vec();
    let totp = totp_rs::Builder::new().with_secret(bytes).build().expect("a TOTP");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970") + ahead;
    totp.generate(now.as_secs()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sets_up_an_app_and_signs_in_with_the_password_and_a_code_in_a_real_browser() {
    let Some(kit) = Kit::start("the second-factor flow").await else { return };
    let ada = kit.create_client("Ada Lovelace", "ada@example.org").await;
    kit.invite_through_the_api(&ada).await;
    let invitation = kit.emailed_link("ada@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    client.go(&invitation, &format!("{PRACTICE} invited you")).await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Account created — sign in").await;
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    let sign_in = client.path().await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Welcome, Ada Lovelace").await;

    // Sign-in security: set up an app.
    client.click("main a[href$='/portal/factors']", "Only your password protects your account").await;
    client.click("form[action$='/portal/factors/totp'] button", "Set up an authenticator app").await;
    assert_eq!(client.attribute("div.qr", "role").await.as_deref(), Some("img"), "the QR code is labelled");
    assert!(client.attribute("div.qr svg", "xmlns").await.is_some(), "the QR code is drawn inline as SVG");
    client.screenshot("client-totp-setup").await;
    let key = client.text_of("code.secret").await;
    client.fill("#code", &app_code(&key, Duration::ZERO)).await;
    client.fill("#name", "Phone").await;
    client.click("main form button[type=submit]", "Your recovery codes").await;
    client.screenshot("client-recovery-codes").await;
    client.click("main a", "10 recovery codes left.").await;

    // Signed out, the password leads to the second step; the app's next code opens the portal
    // (the code just used for the set-up would be a replay).
    client.go("/portal/home", "Welcome, Ada Lovelace").await;
    client.click("form[action$='/portal/sign-out'] button", "Sign in").await;
    client.go(&sign_in, "Sign in").await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Second sign-in step").await;
    client.screenshot("client-second-step").await;
    client.fill("#code", &app_code(&key, Duration::from_secs(30))).await;
    client.click("main form button[type=submit]", "Welcome, Ada Lovelace").await;
    assert_eq!(client.path().await, "/portal/home");
    client.close().await;
}
