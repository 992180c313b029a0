//! Integration tests of the HTTP application: one binary, in-process (`poem::test::TestClient`
//! over `app(...)`), with the in-memory store, a manual clock and seeded randomness.

#![allow(clippy::unwrap_used)] // helpers are test code: a panic is the failure report

mod bulk;
mod busy_gate;
mod contract;
mod date_of_birth;
mod edge;
mod errors;
mod failing_store;
mod hashing;
mod helpers;
mod host;
mod isolation;
mod lifecycle;
mod list;
mod ops;
mod reset_requests;
mod settings;
