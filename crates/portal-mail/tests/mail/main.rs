//! portal-mail's integration tests, one binary: templates, the dispatcher over the in-memory
//! store, and delivery to a real SMTP server on loopback (needs Debian's `python3-aiosmtpd` and
//! the `openssl` command; the tests fail with instructions when either is missing).

mod dispatcher;
mod helpers;
mod smtp;
mod templates;
