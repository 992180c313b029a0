//! Fault tests (issue 7): the real `portal-server` binary under `kill -9` during a burst of
//! invitations, with its SMTP relay down for a while, and with its database out of reach. Run
//! alone with `cargo xtask faults`; `docs/fault-tests.md` says what each proves.

#[path = "../api/helpers.rs"]
mod helpers;

mod common;
mod database_outage;
mod kill;
mod silent_database;
mod smtp_outage;
