//! End-to-end tests of the bundled server: the real wiring on port 0 over a fresh database,
//! driven over TCP (one test binary; see `helpers.rs`).

mod binary;
mod concurrency;
mod dispatchers;
mod errors;
mod helpers;
mod hosts;
mod imports;
mod injection;
mod lifecycle;
mod log_secrets;
mod mail_check;
mod openapi;
mod passkeys;
mod prune;
mod reminders;
mod reset_requests;
mod second_factors;
mod secrets;
mod security;
mod shutdown;
mod staff_keys;
