//! Translating database errors into the core's [`StoreError`].
//!
//! Constraint violations become the typed errors the port contracts name; everything else is
//! [`StoreError::Unavailable`] with the database error as its source. No value the store writes
//! is secret (only hashes), so a database message cannot leak a password or token.

use portal_core::StoreError;
use sea_orm::{DbErr, SqlErr};

/// Wraps an unexpected database failure.
pub(crate) fn unavailable(err: DbErr) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

/// A constraint the database refused a write for.
pub(crate) enum Violation {
    /// A unique index or primary key; the text names the index (PostgreSQL) or the columns
    /// (SQLite), e.g. `ux_portal_accounts_practice_username_lower` or
    /// `portal_accounts.practice_id, portal_accounts.username_lower`.
    Unique(String),
    /// A foreign key (SQLite does not say which).
    ForeignKey,
}

/// Classifies a write error: `Ok(violation)` for a constraint violation, `Err` (already
/// translated to `Unavailable`) for anything else.
pub(crate) fn violation(err: DbErr) -> Result<Violation, StoreError> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(what)) => Ok(Violation::Unique(what)),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => Ok(Violation::ForeignKey),
        _ => Err(unavailable(err)),
    }
}

/// Maps a failed write: a unique violation through `unique` (given the index/column text), a
/// foreign-key violation to `NotFound(missing)`, anything else to `Unavailable`.
pub(crate) fn write_error(err: DbErr, unique: impl FnOnce(&str) -> StoreError, missing: &'static str) -> StoreError {
    match violation(err) {
        Ok(Violation::Unique(what)) => unique(&what),
        Ok(Violation::ForeignKey) => StoreError::NotFound(missing),
        Err(other) => other,
    }
}

/// A stored value that does not convert back into its domain type.
pub(crate) fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {why}"))
}
