//! # portal-server
//!
//! The bundled server of portal (design §6): it reads its configuration from the command line
//! and the environment ([`cli`]), loads or creates the link key ([`link_key`]), opens and
//! migrates the database (`portal-store`), wires the core's service to the store, the bounded
//! password-hashing pool and the mail dispatcher (`portal-mail`), serves the HTTP API
//! (`portal-http`), and on an empty database creates a first practice ([`bootstrap`]).
//!
//! The binary is a thin shell over this library, so the end-to-end tests start the very same
//! wiring in-process.

pub mod bootstrap;
pub mod cli;
pub mod client_import;
pub mod commands;
pub mod link_key;
mod listeners;
pub mod logging;
mod periodic;
pub mod reminders;
pub mod retention;
pub mod server;
pub mod staff_keys;

/// The public URL in the committed `docs/openapi.json` (`cargo xtask openapi` passes it as
/// `--public-url`): a placeholder, since every installation has its own.
pub const OPENAPI_PUBLIC_URL: &str = "https://portal.example.org";
