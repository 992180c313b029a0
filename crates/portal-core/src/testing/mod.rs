//! In-memory implementations of every port, for offline tests and for embedders that want to run
//! the whole credential lifecycle without a database or a mail server (a demo, a trial, an EHR's
//! own integration tests).
//!
//! - [`ManualClock`]: a [`Clock`](crate::Clock) that moves only when told to.
//! - [`SeededRandom`]: a deterministic [`Randomness`](crate::Randomness). **Not secure**: tests
//!   only.
//! - [`InMemoryStore`]: every storage port ([`Directory`](crate::Directory),
//!   [`AccountStore`](crate::AccountStore), [`SessionStore`](crate::SessionStore),
//!   [`ThrottleStore`](crate::ThrottleStore), [`AuditLog`](crate::AuditLog),
//!   [`MailOutbox`](crate::MailOutbox)), so it is a [`PortalStore`](crate::PortalStore); and a
//!   [`ClientDirectory`](crate::ClientDirectory) over its own client records, as the bundled
//!   server's store is.
//! - [`InMemoryDirectory`]: a [`ClientDirectory`](crate::ClientDirectory) standing for a host's
//!   own client records, kept apart from the portal's state (design §7).
//! - [`TestSealer`]: a [`SecretSealer`](crate::SecretSealer) keeping the port's contract with a
//!   toy construction. **Not secure**: tests only.
//! - [`TestPasskeys`]: a [`PasskeyRelyingParty`](crate::PasskeyRelyingParty) keeping the
//!   port's rules without cryptography, and making an authenticator's answers. **Not
//!   secure**: tests only.
//! - [`RecordingTransport`]: a [`MailTransport`](crate::MailTransport) that keeps what it was
//!   given and fails on request.
//!
//! Nothing here is durable: the state lives in memory and is gone when the last clone is
//! dropped. Within that limit these are real implementations, not mocks: the store keeps every
//! `# Errors` contract of the ports exactly as a database adapter must (optimistic concurrency,
//! all-or-nothing commits, unique usernames per practice, token voiding, outbox leases), so a
//! test that passes against it exercises the same rules the store crate's contract tests hold a
//! real database to. Lookups are linear scans: fine for tests and small offline use, not meant
//! for production volumes.
//!
//! Every type is cheap to [`Clone`]; clones share one state (an `Arc`), so a test can keep a
//! handle to inspect what the service under test did.
//!
//! One file per part: `clock`, `directory`, `randomness`, `transport`, and `store` with one submodule per
//! storage port beside the state and the commit they share.

mod clock;
mod directory;
mod passkeys;
mod randomness;
mod sealer;
mod store;
#[cfg(test)]
mod tests;
mod transport;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use clock::ManualClock;
pub use directory::InMemoryDirectory;
pub use passkeys::TestPasskeys;
pub use randomness::SeededRandom;
pub use sealer::TestSealer;
pub use store::{InMemoryStore, StoredToken};
pub use transport::RecordingTransport;

/// Locks a mutex, ignoring poisoning: every mutation of the store validates first and cannot panic
/// midway, so a poisoned lock never guards half-written state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
