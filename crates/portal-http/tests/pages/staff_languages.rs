//! The staff pages in English and Spanish: the browser's `Accept-Language` or the choice made
//! with the language links, never a client record's language; English when neither says
//! otherwise.

use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::browser::{Answer, Browser};
use crate::helpers::{PASSWORD, TestApp, json_body, spawn_app};
use crate::staff_pages::staff_browser;

/// How a staff member asks for Spanish.
#[derive(Clone, Copy, Debug)]
enum Asked {
    /// Their browser's `Accept-Language`, on every request.
    ByBrowser,
    /// A click on "Español" at the foot of a page (`?lang=es`), kept in a cookie.
    ByChoice,
}

const BOTH: [Asked; 2] = [Asked::ByBrowser, Asked::ByChoice];
const SPANISH_FIRST: &str = "es-ES,es;q=0.9,en;q=0.5";

/// A staff browser that asked for Spanish `asked`.
async fn spanish_staff(app: &TestApp, asked: Asked) -> Browser<'_> {
    let browser = staff_browser(app).await;
    if let Asked::ByChoice = asked {
        let chosen = browser.get("/staff/clients?lang=es").await;
        assert!(chosen.set_cookie("__Host-portal_lang").is_some(), "{asked:?}");
    }
    browser
}

async fn get(browser: &Browser<'_>, asked: Asked, path: &str) -> Answer {
    match asked {
        Asked::ByBrowser => browser.get_accepting(path, SPANISH_FIRST).await,
        Asked::ByChoice => browser.get(path).await,
    }
}

async fn submit(browser: &Browser<'_>, asked: Asked, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
    match asked {
        Asked::ByBrowser => browser.submit_accepting(page, action, fields, SPANISH_FIRST).await,
        Asked::ByChoice => browser.submit(page, action, fields).await,
    }
}

fn assert_language(page: &Answer, code: &str) {
    assert!(page.body.contains(&format!("<html lang=\"{code}\">")), "{}", page.body);
    assert_eq!(page.header("content-language"), Some(code));
}

fn assert_contains(page: &Answer, texts: &[&str]) {
    for text in texts {
        assert!(page.body.contains(text), "{text:?} not in {}", page.body);
    }
}

fn assert_lacks(page: &Answer, texts: &[&str]) {
    for text in texts {
        assert!(!page.body.contains(text), "{text:?} in {}", page.body);
    }
}

/// A client whose record is in `language`; returns its id.
async fn client_in(app: &TestApp, name: &str, email: Option<&str>, language: &str) -> String {
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": name, "email": email, "language": language }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    json_body(response).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_client_list_speaks_spanish_when_asked_and_english_otherwise() {
    for asked in BOTH {
        let app = spawn_app().await;
        client_in(&app, "Ana Cliente", Some("ana@example.org"), "en").await;
        app.registered_client("Berta Activa", "berta").await;

        let english = staff_browser(&app).await.get("/staff/clients").await;
        english.assert(StatusCode::OK, "<h1>Clients</h1>");
        assert_language(&english, "en");
        assert_contains(&english, &["Search by name or email", "Send invitations to selected clients", "(berta)"]);

        let browser = spanish_staff(&app, asked).await;
        let list = get(&browser, asked, "/staff/clients").await;
        list.assert(StatusCode::OK, "<h1>Clientes</h1>");
        assert_language(&list, "es");
        assert_contains(
            &list,
            &[
                "<label for=\"q\">Buscar por nombre o correo electrónico</label>",
                "<nav aria-label=\"Estado en el portal\">",
                ">Invitación caducada</a>",
                "<td>Sin cuenta</td>",
                "<td>Activo (berta)</td>",
                "aria-label=\"Seleccionar a Ana Cliente\"",
                "Enviar invitaciones a los clientes seleccionados",
                "Invitar a todos los clientes sin cuenta (hasta 500)",
                ">Configuración de la consulta</a>",
                ">Cerrar sesión</button>",
            ],
        );
        assert_lacks(&list, &["Search by name", "No account", "Sign out"]);

        let nothing = get(&browser, asked, "/staff/clients?q=zzz&portal=disabled").await;
        nothing.assert(StatusCode::OK, "Ningún cliente coincide con «zzz» con el estado en el portal «Desactivado».");
    }
}

#[tokio::test]
async fn a_profile_and_its_panel_speak_the_staff_language_not_the_record_language() {
    for asked in BOTH {
        let app = spawn_app().await;
        // A Spanish record seen by an English browser: the page stays English.
        let id = client_in(&app, "Ana Cliente", Some("ana@example.org"), "es").await;
        let profile = format!("/staff/clients/{id}");
        let english = staff_browser(&app).await.get(&profile).await;
        english.assert(StatusCode::OK, "<p class=\"state\">No account</p>");
        assert_language(&english, "en");
        assert_contains(
            &english,
            &["<dt>Language</dt><dd>Spanish</dd>", "Send portal invite", "Client record created"],
        );

        let browser = spanish_staff(&app, asked).await;
        // No account: the panel, the audit trail, and a refusal worded by the core error's variant.
        let page = get(&browser, asked, &profile).await;
        page.assert(StatusCode::OK, "<p class=\"state\">Sin cuenta</p>");
        assert_language(&page, "es");
        assert_contains(
            &page,
            &[
                "← Todos los clientes",
                "<dt>Correo electrónico</dt><dd>ana@example.org</dd><dt>Idioma</dt><dd>Español</dd>",
                "<h2 id=\"audit-title\">Registro de auditoría</h2>",
                "<th scope=\"col\">Cuándo</th><th scope=\"col\">Qué</th>",
                "<td data-label=\"Qué\">Ficha del cliente creada</td>",
                "<td data-label=\"Resultado\">Hecho</td>",
                "<h2 id=\"panel-title\">Portal</h2>",
                "Enviar invitación al portal",
            ],
        );
        assert_lacks(&page, &["No account", "Audit trail", "Send portal invite"]);
        let refused = submit(&browser, asked, &profile, &format!("{profile}/reset"), &[]).await;
        refused.assert(
            StatusCode::CONFLICT,
            "No se ha hecho: el cliente no tiene cuenta del portal; envíele una invitación.",
        );
        assert_language(&refused, "es");

        // Invited, then active.
        let sent = submit(&browser, asked, &profile, &format!("{profile}/invite"), &[]).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        let invited = get(&browser, asked, &format!("{profile}?done=invite")).await;
        assert_contains(
            &invited,
            &["Invitación puesta en cola.", "<h3>Invitación</h3>", "<dt>Enviado</dt>", "<dt>Caduca</dt>"],
        );
        assert_contains(&invited, &["Pendiente de envío", "Reenviar la invitación", "Invitación enviada"]);
        let token = app.link_token(&id, portal_core::TokenPurpose::Invite);
        app.register(&token, "ana", PASSWORD).await.assert_status(StatusCode::CREATED);
        let active = get(&browser, asked, &profile).await;
        active.assert(StatusCode::OK, "<p class=\"state\">Activo</p>");
        assert_contains(
            &active,
            &[
                "<dt>Nombre de usuario</dt><dd>ana</dd>",
                "<label for=\"reason\">Motivo de la desactivación (opcional)</label>",
                "</span>Acceso al portal activado</button>",
                ">Restablecer la contraseña</button>",
                // The core's detail, stored in English for the record, in the page's words.
                "<td data-label=\"Qué\">Cuenta del portal creada: nombre de usuario ana</td>",
                "<td data-label=\"Quién\">El cliente</td>",
            ],
        );

        // Disabled, with a reason.
        let fields = [("enabled", "false"), ("reason", "se mudó")];
        let off = submit(&browser, asked, &profile, &format!("{profile}/enabled"), &fields).await;
        assert_eq!(off.status, StatusCode::SEE_OTHER, "{}", off.body);
        let disabled = get(&browser, asked, &format!("{profile}?done=disabled")).await;
        disabled.assert(StatusCode::OK, "<p class=\"state\">Desactivado</p>");
        assert_contains(
            &disabled,
            &[
                "Acceso al portal desactivado; se cerró la sesión del cliente.",
                "<dt>Motivo</dt><dd>se mudó</dd>",
                "</span>Acceso al portal desactivado</button>",
                "Acceso al portal desactivado: se mudó",
            ],
        );
        assert_lacks(&disabled, &["Portal access", "Reset password"]);
    }
}

#[tokio::test]
async fn a_refused_setting_is_named_in_spanish() {
    for asked in BOTH {
        let app = spawn_app().await;
        let browser = spanish_staff(&app, asked).await;
        let page = get(&browser, asked, "/staff/settings").await;
        page.assert(StatusCode::OK, "<h1>Configuración de la consulta</h1>");
        assert_language(&page, "es");
        assert_contains(
            &page,
            &[
                "<legend>Portal de clientes</legend>",
                "Vacío: el valor de este servidor (48 horas).",
                "Guardar la configuración",
            ],
        );

        let fields = [("name", "Sunrise"), ("time_zone", "Mars/Olympus"), ("invite_link_hours", "")];
        let zone = submit(&browser, asked, "/staff/settings", "/staff/settings", &fields).await;
        zone.assert(StatusCode::UNPROCESSABLE_ENTITY, "<h2>No se ha guardado</h2>");
        assert_contains(&zone, &["La zona horaria: use un nombre IANA que conozca este servidor"]);
        assert_lacks(&zone, &["time_zone is not valid", "Not saved"]);
        let fields = [("name", "Sunrise"), ("time_zone", "UTC"), ("invite_link_hours", "200")];
        let hours = submit(&browser, asked, "/staff/settings", "/staff/settings", &fields).await;
        hours.assert(StatusCode::UNPROCESSABLE_ENTITY, "Un enlace puede ser válido entre 1 y 168 horas.");
        let fields = [("name", " "), ("time_zone", "UTC")];
        let name = submit(&browser, asked, "/staff/settings", "/staff/settings", &fields).await;
        name.assert(StatusCode::UNPROCESSABLE_ENTITY, "Escriba el nombre de la consulta.");
        assert_language(&name, "es");
    }
    // English by default, as before.
    let app = spawn_app().await;
    let fields = [("name", "Sunrise"), ("time_zone", "UTC"), ("invite_link_hours", "200")];
    let browser = staff_browser(&app).await;
    let english = browser.submit("/staff/settings", "/staff/settings", &fields).await;
    english.assert(StatusCode::UNPROCESSABLE_ENTITY, "A link lifetime is between 1 and 168 hours.");
    assert_language(&english, "en");
}

#[tokio::test]
async fn the_bulk_invitations_result_names_each_client_in_spanish() {
    for asked in BOTH {
        let app = spawn_app().await;
        let with_email = client_in(&app, "Ana Cliente", Some("ana@example.org"), "en").await;
        let without = client_in(&app, "Sin Correo", None, "es").await;
        let browser = spanish_staff(&app, asked).await;
        let fields = [("client", with_email.as_str()), ("client", without.as_str())];
        let result = submit(&browser, asked, "/staff/clients", "/staff/invitations", &fields).await;
        result.assert(StatusCode::OK, "<h1>Invitaciones</h1>");
        assert_language(&result, "es");
        assert_contains(
            &result,
            &[
                "<p role=\"status\">Invitaciones enviadas: 1. Sin enviar: 1.</p>",
                "<th scope=\"col\">Cliente</th><th scope=\"col\">Invitación</th>",
                "<td data-label=\"Invitación\">Enviada</td>",
                "<td data-label=\"Invitación\">Omitido: no hay correo electrónico en su ficha</td>",
                ">Volver a los clientes</a>",
            ],
        );
        assert_lacks(&result, &["Skipped", "Invitations sent"]);
        let none = submit(&browser, asked, "/staff/clients", "/staff/invitations", &[]).await;
        none.assert(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No se envió ninguna invitación: seleccione antes al menos un cliente en la lista.",
        );
    }
    let app = spawn_app().await;
    let id = client_in(&app, "Ana Cliente", Some("ana@example.org"), "es").await;
    let browser = staff_browser(&app).await;
    let english = browser.submit("/staff/clients", "/staff/invitations", &[("client", id.as_str())]).await;
    english.assert(StatusCode::OK, "Invitations sent: 1. Not sent: 0.");
    assert_language(&english, "en");
}
