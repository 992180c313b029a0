//! The client pages in Spanish, in a real browser: a client whose record says Spanish gets the
//! invitation's pages in Spanish whatever the browser asks for, the pages that follow keep it,
//! and the language links at the foot of each page switch it.

use portal_testkit::LinkKind;
use serde_json::{Value, json};

use crate::{Kit, PASSWORD, PRACTICE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spanish_speaking_client_registers_and_signs_in_in_spanish() {
    let Some(kit) = Kit::start("the Spanish flow").await else { return };
    let made: Value = kit
        .http
        .post(format!("{}/api/v1/clients", kit.server.base_url()))
        .bearer_auth(&kit.staff_key)
        .json(&json!({ "name": "Ana García", "email": "ana@example.org", "language": "es" }))
        .send()
        .await
        .expect("the client is created")
        .json()
        .await
        .expect("the created client");
    kit.invite_through_the_api(made["id"].as_str().expect("an id")).await;

    // Chromium asks for English; the record's language wins on the link's pages.
    let invitation = kit.emailed_link("ana@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    client.go(&invitation, &format!("{PRACTICE} le invita a su portal de clientes")).await;
    client.screenshot("client-invitation-es").await;
    client.fill("#username", "ana").await;
    client.fill("#password", "corta").await;
    client.click("main button[type=submit]", "Contraseña: use al menos 15 caracteres.").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Cuenta creada: inicie sesión").await;

    // The browser keeps the language: the sign-in page and the home page follow it.
    client.click("main a", &format!("En su portal de clientes de {PRACTICE}")).await;
    client.screenshot("client-sign-in-es").await;
    client.fill("#username", "ana").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Le damos la bienvenida, Ana García").await;

    // The language links switch it, and the choice sticks.
    client.click("nav.languages a[hreflang=en]", "Welcome, Ana García").await;
    client.reload("Welcome, Ana García").await;
    client.click("nav.languages a[hreflang=es]", "Le damos la bienvenida, Ana García").await;
    client.close().await;
}
