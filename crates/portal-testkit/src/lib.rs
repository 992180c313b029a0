//! Test support for the portal workspace, in one place: what the crates' integration tests (and
//! `xtask`) need to run the real thing on loopback.
//!
//! - [`SmtpSink`]: a real SMTP server (Debian's `python3-aiosmtpd`) per test, on a free port,
//!   accepting into a Maildir, refusing recipients, requiring `AUTH`, or speaking STARTTLS or
//!   implicit TLS with a [`TestCertificate`] made by `openssl`.
//! - [`PgDatabase`] (feature `postgres`, on by default): a uniquely named PostgreSQL database
//!   on the server `PORTAL_TEST_POSTGRES_URL` names, dropped with the value; `None` (a clean
//!   skip) when the variable is unset.
//! - [`PortalServer`]: the real `portal-server` binary started on a free port with a temporary
//!   data directory, waited for on `/healthz`, its first-run staff key and practice slug read
//!   from its output, its log kept for assertions, stopped with SIGTERM when dropped.
//! - [`Email`], [`EmlDir`], [`Inbox`], [`newest_link`]: delivered mail parsed (MIME decoded),
//!   and the invitation and password-reset links in it.
//! - [`TcpProxy`]: a loopback proxy in front of PostgreSQL or an SMTP relay that a test cuts
//!   (closed and refused connections) or partitions (open connections that carry nothing), and
//!   then restores or heals.
//! - [`passkeys::SoftAuthenticator`] (feature `passkeys`, on by default): a software passkey
//!   authenticator that answers a relying party's options JSON as a browser would, for the
//!   passkey ceremony tests (portal-passkeys) and the API tests (portal-server).
//!
//! This crate is never a normal dependency of a shipped crate (`cargo xtask tidy` checks it): it
//! panics with instructions where a test cannot go on, and starts processes.

mod mail;
#[cfg(feature = "passkeys")]
pub mod passkeys;
#[cfg(feature = "postgres")]
mod postgres;
mod server;
mod smtp;
mod tcp_proxy;
mod wait;

use std::net::{Ipv4Addr, TcpListener};

pub use mail::{Email, EmlDir, Inbox, Link, LinkKind, MailSource, newest_link, token_after};
#[cfg(feature = "postgres")]
pub use postgres::{POSTGRES_URL_VAR, PgDatabase};
pub use postgres_url::with_database;
pub use server::{FirstRun, PortalServer, ServerBuilder, ServerError};
pub use smtp::{SinkBehaviour, SinkOptions, SinkTls, SmtpSink, TestCertificate};
pub use tcp_proxy::{TcpProxy, postgres_address, with_address};
pub use wait::poll_until;

/// A loopback port nothing listens on right now (the OS picks it; it stays free until someone
/// binds it, which is good enough for a test that binds it next).
///
/// # Panics
/// When the OS has no free port to give.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS gives a free loopback port")
}

mod postgres_url {
    /// `url` with its database name replaced by `name`; the query string stays:
    /// `postgres://u@h:5432/postgres` and `t1` give `postgres://u@h:5432/t1`.
    #[must_use]
    pub fn with_database(url: &str, name: &str) -> String {
        let (base, query) = url.split_once('?').map_or((url, None), |(base, query)| (base, Some(query)));
        let authority_start = base.find("://").map_or(0, |at| at + 3);
        let server = base[authority_start..].find('/').map_or(base, |slash| &base[..authority_start + slash]);
        match query {
            Some(query) => format!("{server}/{name}?{query}"),
            None => format!("{server}/{name}"),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::with_database;

        #[test]
        fn only_the_database_name_of_a_postgres_url_is_replaced() {
            assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
            assert_eq!(
                with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
                "postgres://u:p@h/t1?sslmode=disable"
            );
            assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
            assert_eq!(with_database("postgres://u@h:5432", "t1"), "postgres://u@h:5432/t1");
        }
    }
}
