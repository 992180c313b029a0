//! Tests of the client pages: one binary, in-process (`poem::test::TestClient` over `app(...)`)
//! with the in-memory adapters, driving the HTML forms as a browser would (a small cookie jar,
//! CSRF fields read from the page).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

#[path = "../api/helpers.rs"]
mod helpers;

mod browser;
mod client_pages;
mod date_of_birth;
mod forgot_password;
mod languages;
mod passkeys;
mod second_factors;
mod staff_languages;
mod staff_pages;
mod staff_sessions;
mod staff_settings;
mod staff_words;
