//! Use-case tests of `PortalService`, offline: the in-memory store, a manual clock, seeded
//! randomness, and either the real scrypt hasher (cheap parameters) or a mockall mock of the
//! hasher port where the test is about *whether* hashing happens.
#![allow(clippy::unwrap_used)] // helpers are test code: a panic is the failure report

mod bulk;
mod date_of_birth;
mod helpers;
mod host;
mod lifecycle;
mod passkeys;
mod races;
mod reminders;
mod reset_requests;
mod rules;
mod second_factors;
mod settings;
mod sign_in;
mod staff;
