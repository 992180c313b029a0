//! Passkeys in a real browser: Chromium's virtual authenticator (WebDriver's WebAuthn commands)
//! stands for the client's device, and the pages' own script (`passkeys.js`) runs every
//! ceremony. A client registers a passkey from "Sign-in security", signs out, signs in with the
//! passkey alone (passkey-first), then with the password and the passkey as the second step.
//! The server runs on `http://localhost`, its relying party. Every page reached gets the
//! accessibility pass.

use portal_testkit::LinkKind;

use crate::{Kit, PASSWORD, PRACTICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_registers_a_passkey_and_signs_in_with_it_in_a_real_browser() {
    let Some(kit) = Kit::start("the passkey flow").await else { return };
    let ada = kit.create_client("Ada Lovelace", "ada@example.org").await;
    kit.invite_through_the_api(&ada).await;
    let invitation = kit.emailed_link("ada@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    let device = client.add_virtual_authenticator().await;
    client.go(&invitation, &format!("{PRACTICE} invited you")).await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Account created — sign in").await;
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    let sign_in = client.path().await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main form button[type=submit]", "Welcome, Ada Lovelace").await;

    // Sign-in security: add a passkey. The page's script runs the browser's ceremony, which the
    // virtual authenticator answers, and posts the answer.
    client.click("main a[href$='/portal/factors']", "Add a passkey").await;
    client.click("form[action$='/portal/factors/passkeys'] button", "Create the passkey").await;
    client.screenshot("client-passkey-add").await;
    client.fill("#name", "Laptop").await;
    client.click("form[data-passkey] button", "Your recovery codes").await;
    let held = client.passkey_credentials(&device).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].is_resident_credential, "a discoverable passkey: {held:?}");
    assert_eq!(held[0].rp_id.as_deref(), Some("localhost"));
    client.click("main a", "Laptop").await;

    // Signed out, the passkey alone signs in: no username, no password.
    client.go("/portal/home", "Welcome, Ada Lovelace").await;
    client.click("form[action$='/portal/sign-out'] button", "Sign in").await;
    client.go(&sign_in, "Sign in with a passkey").await;
    client.click("form[action$='/sign-in/passkey'] button", "choose your passkey").await;
    client.screenshot("client-passkey-sign-in").await;
    client.click("form[data-passkey] button", "Welcome, Ada Lovelace").await;
    assert_eq!(client.path().await, "/portal/home");

    // With the password, the passkey is the second step.
    client.click("form[action$='/portal/sign-out'] button", "Sign in").await;
    client.go(&sign_in, "Sign in").await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main form button[type=submit]", "Use a passkey").await;
    client.screenshot("client-second-step-passkey").await;
    client.click("form[data-passkey] button", "Welcome, Ada Lovelace").await;
    let used = client.passkey_credentials(&device).await;
    assert!(used[0].sign_count > held[0].sign_count, "each use counts: {used:?}");

    // In Spanish, the same step speaks of a "llave de acceso".
    client.click("form[action$='/portal/sign-out'] button", "Sign in").await;
    client.go(&format!("{sign_in}?lang=es"), "Iniciar sesión con una llave de acceso").await;
    client.remove_virtual_authenticator(&device).await;
    client.close().await;
}
