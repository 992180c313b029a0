//! Integration tests of the HTTP application: one binary, in-process (`poem::test::TestClient`
//! over `app(...)`), with the in-memory store, a manual clock and seeded randomness.

mod helpers;
mod ops;
