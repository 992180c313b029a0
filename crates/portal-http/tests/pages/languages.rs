//! The pages in English and Spanish: the record's language on the link and signed-in pages,
//! `Accept-Language` elsewhere, and a choice made with the language links kept in a cookie that
//! beats both.

use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::browser::{Answer, Browser};
use crate::helpers::{PASSWORD, TestApp, json_body, spawn_app};

/// A client whose record says `language`, invited; returns the client's id and the link token.
async fn invited_in(app: &TestApp, language: &str) -> (String, String) {
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ana Cliente", "email": "ana@example.org", "language": language }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    let id = json_body(response).await["id"].as_str().unwrap().to_owned();
    let token = app.invite(&id).await;
    (id, token)
}

fn assert_language(page: &Answer, code: &str) {
    assert!(page.body.contains(&format!("<html lang=\"{code}\">")), "{}", page.body);
    assert_eq!(page.header("content-language"), Some(code));
}

#[tokio::test]
async fn a_spanish_record_opens_its_invitation_and_registers_in_spanish() {
    let app = spawn_app().await;
    let (_, token) = invited_in(&app, "es").await;
    let verified =
        app.client.post("/api/v1/portal/invitations/verify").body_json(&json!({ "token": token })).send().await;
    assert_eq!(json_body(verified).await["language"], "es", "the API says it too, for a host's own pages");
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;

    let form = browser.get_accepting("/portal/invitation", "en-US,en;q=0.9").await;
    form.assert(StatusCode::OK, "Cree su cuenta del portal");
    assert_language(&form, "es");
    assert!(form.body.contains("Sunrise Therapy le invita a su portal de clientes"), "{}", form.body);
    assert!(form.body.contains("Esta invitación es válida hasta el "), "{}", form.body);
    assert!(form.body.contains("Al menos 15 caracteres"), "{}", form.body);
    assert!(!form.body.contains("Create your portal account"), "{}", form.body);

    let fields = [("username", "an"), ("password", "password")];
    let refused = browser.submit("/portal/invitation", "/portal/invitation", &fields).await;
    refused.assert(StatusCode::UNPROCESSABLE_ENTITY, "Corrija lo siguiente");
    assert!(refused.body.contains("Nombre de usuario: use al menos 3 caracteres."), "{}", refused.body);
    let fields = [("username", "ana"), ("password", "password")];
    let weak = browser.submit("/portal/invitation", "/portal/invitation", &fields).await;
    weak.assert(StatusCode::UNPROCESSABLE_ENTITY, "Contraseña: use al menos 15 caracteres.");
    assert!(weak.body.contains("Contraseña: esta contraseña es demasiado común"), "{}", weak.body);

    let fields = [("username", "ana"), ("password", PASSWORD)];
    let done = browser.submit("/portal/invitation", "/portal/invitation", &fields).await;
    done.assert(StatusCode::OK, "Cuenta creada: inicie sesión");
    assert!(done.body.contains("Su cuenta <strong>ana</strong> en Sunrise Therapy está lista."), "{}", done.body);
    assert_language(&done, "es");

    // The browser was shown Spanish for its record, so it keeps it: the sign-in page follows.
    assert_eq!(browser.cookie("__Host-portal_client_lang").as_deref(), Some("es"));
    assert_eq!(browser.cookie("__Host-portal_lang"), None, "nobody chose it");
    let sign_in = browser.get_accepting(&format!("/portal/{}/sign-in", app.slug), "en").await;
    sign_in.assert(StatusCode::OK, "<h1>Iniciar sesión</h1>");
    // Staff who opened the link in their own browser keep their own language on staff pages.
    let staff = browser.get_accepting("/staff/sign-in", "en").await;
    staff.assert(StatusCode::OK, "<html lang=\"en\">");
}

#[tokio::test]
async fn the_sign_in_page_follows_the_browser_and_a_chosen_language_beats_it() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let path = format!("/portal/{}/sign-in", app.slug);

    let english = browser.get(&path).await;
    english.assert(StatusCode::OK, "<h1>Sign in</h1>");
    assert_language(&english, "en");
    let spanish = browser.get_accepting(&path, "es-MX,es;q=0.9,en;q=0.5").await;
    spanish.assert(StatusCode::OK, "<h1>Iniciar sesión</h1>");
    assert_language(&spanish, "es");
    assert!(spanish.body.contains("href=\"?lang=en\" hreflang=\"en\" lang=\"en\">English</a>"), "{}", spanish.body);
    assert!(spanish.body.contains("lang=\"es\" aria-current=\"true\">Español</a>"), "{}", spanish.body);

    // The link at the foot of the page: the choice is kept for a year and beats the browser.
    let chosen = browser.get(&format!("{path}?lang=en")).await;
    let cookie = chosen.set_cookie("__Host-portal_lang").unwrap();
    assert_eq!(cookie, "__Host-portal_lang=en; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=31536000");
    assert_language(&chosen, "en");
    browser.get_accepting(&path, "es").await.assert(StatusCode::OK, "<h1>Sign in</h1>");

    // A wrong password answers in the chosen language too.
    browser.get(&format!("{path}?lang=es")).await;
    let refused = browser.submit(&path, &path, &[("username", "nobody"), ("password", PASSWORD)]).await;
    refused.assert(StatusCode::UNAUTHORIZED, "El nombre de usuario o la contraseña no son correctos.");
}

#[tokio::test]
async fn a_language_chosen_on_the_browser_beats_the_record() {
    let app = spawn_app().await;
    let (_, token) = invited_in(&app, "es").await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    let chosen = browser.get("/portal/invitation?lang=en").await;
    chosen.assert(StatusCode::OK, "Create your portal account");
    assert_language(&chosen, "en");
}

#[tokio::test]
async fn refusal_pages_speak_the_browser_language() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    let page = browser.get_accepting("/portal/invitation", "es").await;
    page.assert(StatusCode::BAD_REQUEST, "Abra el enlace de su correo");
    assert_language(&page, "es");
    let nowhere = browser.get_accepting("/portal/no-such-practice/sign-in", "es").await;
    nowhere.assert(StatusCode::NOT_FOUND, "No hay ninguna consulta en esta dirección");
}

#[tokio::test]
async fn the_api_never_keeps_a_language() {
    let app = spawn_app().await;
    let response = app.staff(Method::GET, "/api/v1/clients?lang=es").send().await;
    response.assert_status_is_ok();
    assert!(response.0.headers().get("set-cookie").is_none());
}
