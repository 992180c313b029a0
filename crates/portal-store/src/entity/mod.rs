//! sea-orm entities, one per table. They mirror the schema the [`crate::migration`] module
//! creates; the adapter converts them to and from `portal-core` records at the edge.
//!
//! The portal's own ids are UUIDs (PostgreSQL `uuid`, SQLite 16-byte blobs); a client is named
//! by the host's id, text of at most 128 characters, always together with its practice. Hashes
//! are 32-byte blobs (`bytea`), timestamps are BIGINT Unix microseconds
//! ([`UnixMicros`](crate::time::UnixMicros)).

pub mod audit_event;
pub mod client;
pub mod factor_challenge;
pub mod mail_outbox;
pub mod passkey_ceremony;
pub mod portal_account;
pub mod practice;
pub mod recovery_code;
pub mod second_factor;
pub mod session;
pub mod sign_in_throttle;
pub mod staff_key;
pub mod staff_session;
pub mod token;
