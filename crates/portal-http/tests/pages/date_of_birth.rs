//! The date-of-birth question on the link pages: asked first when the link needs it (a labelled
//! date field), a wrong answer shows the form again with a neutral error and the tries left,
//! a closed link has its own page, and the staff panel says why a link was closed or that no
//! date is on file.

use poem::http::{Method, StatusCode};
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{NEW_PASSWORD, PASSWORD, TestApp, json_body, spawn_app};
use crate::staff_pages::staff_browser;

const BORN: &str = "1990-07-14";

/// A client with `born` on file, the practice's check on; returns the client's id.
async fn client_born(app: &TestApp, born: Option<&str>) -> String {
    app.date_of_birth_check_on().await;
    let response = app
        .staff(Method::POST, "/api/v1/clients")
        .body_json(&json!({ "name": "Ada Client", "email": "ada@example.org", "date_of_birth": born }))
        .send()
        .await;
    response.assert_status(StatusCode::CREATED);
    json_body(response).await["id"].as_str().unwrap().to_owned()
}

async fn register<'a>(browser: &Browser<'a>, born: &str) -> crate::browser::Answer {
    let fields = [("date_of_birth", born), ("username", "ada"), ("password", PASSWORD)];
    browser.submit("/portal/invitation", "/portal/invitation", &fields).await
}

#[tokio::test]
async fn the_registration_form_asks_for_the_date_of_birth_first_and_a_wrong_one_shows_the_tries_left() {
    let app = spawn_app().await;
    let id = client_born(&app, Some(BORN)).await;
    let token = app.invite(&id).await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;

    let form = browser.get("/portal/invitation").await;
    form.assert(StatusCode::OK, "<label for=\"date_of_birth\">Date of birth</label>");
    assert!(form.body.contains("type=\"date\" id=\"date_of_birth\" name=\"date_of_birth\""), "{}", form.body);
    assert!(form.body.contains("autocomplete=\"bday\""), "{}", form.body);
    let (date, username) = (form.body.find("date_of_birth").unwrap(), form.body.find("id=\"username\"").unwrap());
    assert!(date < username, "the date of birth comes first");

    let wrong = register(&browser, "1990-07-15").await;
    wrong.assert(StatusCode::FORBIDDEN, "Date of birth: this does not match our records. 4 more tries");
    assert!(wrong.body.contains("aria-invalid=\"true\""), "{}", wrong.body);
    assert!(!wrong.body.contains("1990-07-15"), "the wrong answer is not shown again");

    register(&browser, BORN).await.assert(StatusCode::OK, "Account created — sign in");
}

#[tokio::test]
async fn without_the_check_the_form_has_no_date_field() {
    let app = spawn_app().await;
    let id = client_born(&app, None).await;
    let token = app.invite(&id).await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    let form = browser.get("/portal/invitation").await;
    form.assert(StatusCode::OK, "Create your portal account");
    assert!(!form.body.contains("date_of_birth"), "{}", form.body);

    let staff = staff_browser(&app).await;
    staff
        .get(&format!("/staff/clients/{id}"))
        .await
        .assert(StatusCode::OK, "No date of birth on file: the link opens without it.");
}

#[tokio::test]
async fn five_wrong_answers_close_the_link_with_its_own_page_and_staff_see_why() {
    let app = spawn_app().await;
    let id = client_born(&app, Some(BORN)).await;
    let token = app.invite(&id).await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    for left in ["4 more tries", "3 more tries", "2 more tries", "1 more try"] {
        register(&browser, "2001-01-01").await.assert(StatusCode::FORBIDDEN, left);
    }
    let closed = register(&browser, "2001-01-01").await;
    closed.assert(
        StatusCode::NOT_FOUND,
        "This link was closed after too many wrong answers; ask your provider to send a new one.",
    );
    browser.get("/portal/invitation").await.assert(StatusCode::NOT_FOUND, "This link was closed");

    let staff = staff_browser(&app).await;
    let profile = staff.get(&format!("/staff/clients/{id}")).await;
    profile.assert(StatusCode::OK, "This link was closed after too many wrong dates of birth; send a new one.");
    assert!(profile.body.contains("Resend invite"), "{}", profile.body);
    assert!(!profile.body.contains("No date of birth on file"), "{}", profile.body);
}

#[tokio::test]
async fn the_reset_form_asks_for_the_date_of_birth_too() {
    let app = spawn_app().await;
    let id = client_born(&app, Some(BORN)).await;
    let token = app.invite(&id).await;
    let browser = Browser::new(&app);
    browser.get(&format!("/portal/invitation?token={token}")).await;
    register(&browser, BORN).await.assert(StatusCode::OK, "Account created");

    let reset = app.send_reset(&id).await;
    browser.get(&format!("/portal/password-reset?token={reset}")).await;
    let form = browser.get("/portal/password-reset").await;
    form.assert(StatusCode::OK, "<label for=\"date_of_birth\">Date of birth</label>");
    let submit = |born: &'static str, password: &'static str| {
        let browser = &browser;
        async move {
            let fields = [("date_of_birth", born), ("password", password)];
            browser.submit("/portal/password-reset", "/portal/password-reset", &fields).await
        }
    };
    submit("", NEW_PASSWORD).await.assert(StatusCode::FORBIDDEN, "5 more tries");
    submit("1990-07-15", NEW_PASSWORD).await.assert(StatusCode::FORBIDDEN, "4 more tries");
    // A right date with a weak password keeps the date and names only the password.
    let weak = submit(BORN, "short").await;
    weak.assert(StatusCode::UNPROCESSABLE_ENTITY, "use at least 15 characters");
    assert!(weak.body.contains(&format!("value=\"{BORN}\"")), "{}", weak.body);
    submit(BORN, NEW_PASSWORD).await.assert(StatusCode::OK, "Password changed — sign in");
}
