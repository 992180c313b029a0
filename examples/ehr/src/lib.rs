//! # portal-example-ehr
//!
//! A small EHR that embeds the portal the way design §7 means it: the EHR owns **patients and
//! staff**, the portal owns **credentials**.
//!
//! - Its own SQLite database (`ehr.db`, sea-orm) with `patients`, `staff_users` and
//!   `staff_sessions` ([`db`]), apart from the portal's (`portal.db`, `portal-store`).
//! - Its own staff sign-in (`/login`, `/logout`, the `ehr_session` cookie; [`auth`]).
//! - The two seams: [`PatientDirectory`] is the portal's `ClientDirectory` over `patients`,
//!   [`EhrStaffAuth`] the portal's `StaffAuthenticator` over the EHR's sessions.
//! - Its own pages (`/patients` with every patient's portal state from one batch call,
//!   `/patients/{id}` linking to the portal panel).
//! - The portal's staff API, staff panel and client pages nested under `/client-portal`,
//!   without the bundled client records, and the outbox dispatcher writing `.eml` files.
//!
//! `cargo run -p portal-example-ehr` starts it; see [`server::start`].

pub mod auth;
pub mod db;
mod directory;
mod link_key;
mod pages;
pub mod server;

pub use auth::{EhrStaffAuth, SESSION_COOKIE, StaffSessions};
pub use directory::PatientDirectory;
pub use server::{CreatedStaff, EhrConfig, FirstStaff, PORTAL_PREFIX, RunningEhr, StartError, start};

/// A failure of the EHR's own work (its database, hashing, randomness, or a call into the
/// portal). Logged with its chain; never shown to a user.
#[derive(Debug, thiserror::Error)]
pub enum EhrError {
    /// The EHR's database.
    #[error("the EHR database failed")]
    Database(#[from] sea_orm::DbErr),
    /// Password hashing (`Saturated`: the pool is full, try again).
    #[error("password hashing failed")]
    Hashing(#[from] portal_core::HashError),
    /// No secure randomness.
    #[error("no secure randomness")]
    Randomness(#[from] portal_core::RandomnessError),
    /// The portal's storage.
    #[error("the portal failed")]
    Portal(#[from] portal_core::service::Infrastructure),
    /// A stored row the EHR cannot use.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}
