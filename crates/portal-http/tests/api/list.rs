//! `GET /api/v1/clients`: a page at a time (`limit`, `cursor`), searched (`q`) and filtered
//! (`portal`), with a 422 for every parameter out of its rules and for a cursor the list never
//! gave out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem::http::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, json_body, spawn_app};

/// The names on a page.
fn names(page: &Value) -> Vec<&str> {
    page["clients"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let response = app.staff(Method::GET, &format!("/api/v1/clients{query}")).send().await;
    response.assert_status_is_ok();
    json_body(response).await
}

/// A cursor of a page (base64url: it goes into a query string as it is).
fn cursor(page: &Value, which: &str) -> String {
    page[which].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_list_comes_a_page_at_a_time_in_name_order_with_cursors_both_ways() {
    let app = spawn_app().await;
    for name in ["eve", "Bo", "dee", "Al", "Cy", "flo", "Gus"] {
        app.create_client(name, Some(&format!("{}@example.org", name.to_lowercase()))).await;
    }
    let first = list(&app, "?limit=3").await;
    assert_eq!(names(&first), ["Al", "Bo", "Cy"], "case-insensitive order");
    assert!(first.get("previous_cursor").is_none(), "no cursor before the first page: {first}");
    let second = list(&app, &format!("?limit=3&cursor={}", cursor(&first, "next_cursor"))).await;
    assert_eq!(names(&second), ["dee", "eve", "flo"]);
    let third = list(&app, &format!("?limit=3&cursor={}", cursor(&second, "next_cursor"))).await;
    assert_eq!(names(&third), ["Gus"]);
    assert!(third.get("next_cursor").is_none(), "no cursor after the last page: {third}");
    let back = list(&app, &format!("?limit=3&cursor={}", cursor(&third, "previous_cursor"))).await;
    assert_eq!(back, second, "the previous page of the third is the second");

    // Without a limit: 50 per page.
    let whole = list(&app, "").await;
    assert_eq!(names(&whole).len(), 7);
    assert!(whole.get("next_cursor").is_none() && whole.get("previous_cursor").is_none());
    assert_eq!(whole["clients"][0]["portal"]["state"], "no_account");
}

#[tokio::test]
async fn a_search_finds_a_name_or_email_prefix_and_combines_with_the_status_filter() {
    let app = spawn_app().await;
    let grace = app.create_client("Grace Hopper", Some("grace@example.org")).await;
    app.create_client("Alan Turing", Some("hopper.fan@example.org")).await;
    app.create_client("Gracie Mansion", None).await;
    app.invite(&grace).await;
    assert_eq!(names(&list(&app, "?q=GRAC").await), ["Grace Hopper", "Gracie Mansion"]);
    assert_eq!(names(&list(&app, "?q=hopper").await), ["Alan Turing"], "an email prefix, not a surname");
    assert_eq!(names(&list(&app, "?q=grac&portal=invited").await), ["Grace Hopper"]);
    assert_eq!(names(&list(&app, "?q=%20%20gracie%20").await), ["Gracie Mansion"], "trimmed");
    let none = list(&app, "?q=zzz").await;
    assert_eq!(none, serde_json::json!({ "clients": [] }));

    // Paging a search keeps to its matches.
    let first = list(&app, "?q=grac&limit=1").await;
    assert_eq!(names(&first), ["Grace Hopper"]);
    let next = list(&app, &format!("?q=grac&limit=1&cursor={}", cursor(&first, "next_cursor"))).await;
    assert_eq!(names(&next), ["Gracie Mansion"]);
    assert!(next.get("next_cursor").is_none());
}

#[tokio::test]
async fn parameters_out_of_their_rules_are_422_and_never_reach_the_list() {
    let app = spawn_app().await;
    app.create_client("Ada", None).await;
    for query in ["?limit=0", "?limit=201", "?limit=-1", "?q=", "?q=%20%20", "?q=a%0Ab", "?cursor=", "?cursor=a%20b"] {
        let response = app.staff(Method::GET, &format!("/api/v1/clients{query}")).send().await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let long = "é".repeat(101);
    let response = app.staff(Method::GET, &format!("/api/v1/clients?q={}", urlencode(&long))).send().await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let response = app.staff(Method::GET, &format!("/api/v1/clients?q={}", urlencode(&"é".repeat(100)))).send().await;
    response.assert_status_is_ok();
    let response = app.staff(Method::GET, "/api/v1/clients?limit=many").send().await;
    assert_problem(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    list(&app, "?limit=1").await;
    list(&app, "?limit=200").await;
}

#[tokio::test]
async fn a_cursor_that_was_cut_altered_or_made_up_is_422_invalid_cursor() {
    let app = spawn_app().await;
    for name in ["Ada", "Bo"] {
        app.create_client(name, None).await;
    }
    let next = cursor(&list(&app, "?limit=1").await, "next_cursor");
    let mut altered = URL_SAFE_NO_PAD.decode(&next).unwrap();
    altered[5] ^= 1;
    for bad in [
        next[..next.len() - 3].to_owned(),
        URL_SAFE_NO_PAD.encode(&altered),
        "AAAA".to_owned(),
        "not-a-cursor".to_owned(),
        "A".repeat(180),
    ] {
        let response = app.staff(Method::GET, &format!("/api/v1/clients?cursor={bad}")).send().await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_cursor").await;
        assert_eq!(problem["detail"], "parameter `cursor` is not a cursor of this list");
    }
    let response = app.staff(Method::GET, &format!("/api/v1/clients?cursor={}", "A".repeat(181))).send().await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(names(&list(&app, &format!("?limit=1&cursor={next}")).await), ["Bo"]);
}

/// Percent-encodes every byte that is not unreserved.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
