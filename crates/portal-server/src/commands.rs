//! The administrative subcommands: `migrate`, `practice create`, `mail check` (the `staff-key`
//! ones are in [`crate::staff_keys`]).
//!
//! The database commands open the database (applying pending migrations, as the server does),
//! do one thing, and return what to print as a JSON object. Secrets in the result (a new staff
//! key) are meant for stdout, once; they are never logged. `mail check` returns lines of plain
//! words and never prints the relay's password.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use portal_core::service::{PortalService, PracticeError};
use portal_core::{
    ClientDirectory, Clock, DynPortalService, LinkKey, OsRandom, PasswordHasher, Policy, PortalStore, Randomness,
    ScryptHasher, ScryptParams, SystemClock, TimeZoneName,
};
use portal_core::{EmailAddress, MailTransport as _, RenderedEmail};
use portal_mail::{
    FileTransport, ProbeAuth, ProbeError, ProbeReport, ProbeTls, Renderer, SmtpConfig, SmtpTransport, TlsMode,
};
use portal_store::SeaOrmStore;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::cli::{MailSettings, Resolved};

/// Why a command failed. Messages are for the operator; none holds a secret or the database URL.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] portal_store::ConnectError),
    /// The practice or key was refused (bad name, taken slug, unknown practice, storage).
    #[error("{0}")]
    Refused(String),
    /// The time zone is not in the time-zone database.
    #[error("invalid --time-zone `{0}`: not an IANA time zone such as America/Chicago or Europe/Madrid")]
    UnknownTimeZone(String),
}

impl From<PracticeError> for CommandError {
    fn from(error: PracticeError) -> Self {
        let text = match &error {
            PracticeError::Invalid(invalid) => format!("invalid input: {invalid}"),
            PracticeError::SlugTaken => {
                "a practice with this slug already exists; choose another with --slug".to_owned()
            }
            PracticeError::PracticeNotFound => "no practice has this slug".to_owned(),
            PracticeError::Infrastructure(infrastructure) => crate::staff_keys::infrastructure_text(infrastructure),
        };
        Self::Refused(text)
    }
}

/// Applies pending migrations.
///
/// # Errors
/// [`CommandError::Database`].
pub async fn migrate(database_url: &str) -> Result<(), CommandError> {
    portal_store::migrate(database_url).await?;
    tracing::info!("database migrations applied");
    Ok(())
}

/// A service good for creating practices and staff keys, which neither hash passwords nor
/// derive links: the link key is a throwaway (the real one stays where it is, and these
/// commands need neither the data directory's key file nor `PORTAL_LINK_KEY`).
pub(crate) async fn admin_service(database_url: &str) -> Result<DynPortalService, CommandError> {
    admin_service_over(Arc::new(portal_store::connect(database_url).await?))
}

/// [`admin_service`] over a store the command also uses itself.
pub(crate) fn admin_service_over(store: Arc<SeaOrmStore>) -> Result<DynPortalService, CommandError> {
    let hasher = ScryptHasher::new(ScryptParams::OWASP)
        .map_err(|error| CommandError::Refused(format!("cannot set up password hashing: {error}")))?;
    let throwaway_key = LinkKey::generate(&OsRandom)
        .map_err(|error| CommandError::Refused(format!("no secure randomness: {error}")))?;
    Ok(PortalService::new(
        Arc::clone(&store) as Arc<dyn PortalStore>,
        store as Arc<dyn ClientDirectory>,
        Arc::new(hasher) as Arc<dyn PasswordHasher>,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        Arc::new(OsRandom) as Arc<dyn Randomness>,
        Policy::default(),
        throwaway_key,
    )
    .with_bundled_records())
}

/// Checks that the time-zone database knows `name` (emails state expiry times in it).
///
/// # Errors
/// [`CommandError::UnknownTimeZone`].
pub fn time_zone(name: &str) -> Result<TimeZoneName, CommandError> {
    let unknown = || CommandError::UnknownTimeZone(name.to_owned());
    let parsed = TimeZoneName::parse(name).map_err(|_| unknown())?;
    jiff::tz::TimeZone::get(parsed.as_str()).map_err(|_| unknown())?;
    Ok(parsed)
}

/// `practice create`: a practice and its first staff key, as
/// `{"practice_id", "slug", "name", "time_zone", "staff_label", "staff_key"}`.
///
/// # Errors
/// [`CommandError`].
pub async fn create_practice(
    database_url: &str,
    name: &str,
    slug: Option<&str>,
    time_zone_name: &str,
) -> Result<Value, CommandError> {
    let time_zone = time_zone(time_zone_name)?;
    let service = admin_service(database_url).await?;
    let created = service.create_practice(name, slug, time_zone).await?;
    tracing::info!(practice = %created.practice.slug, "practice created");
    Ok(json!({
        "practice_id": created.practice.id.to_string(),
        "slug": created.practice.slug.as_str(),
        "name": created.practice.name.as_str(),
        "time_zone": created.practice.time_zone.as_str(),
        "staff_label": created.staff.label.as_str(),
        "staff_key": created.staff_key.expose().expose_secret(),
    }))
}

/// What `mail check` found: the lines to print, and whether mail can go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailCheck {
    /// One line per step, in plain words, ending with a newline.
    pub text: String,
    /// `Err` with a one-line reason when mail cannot go out.
    pub outcome: Result<(), String>,
}

/// `mail check [--send-to ADDRESS]`: probes the configured relay (or checks the folder of
/// `.eml` files) and says what works, step by step; with `send_to`, a test message goes out
/// too. Never prints the password.
pub async fn mail_check(resolved: &Resolved, public_url: &str, send_to: Option<&str>) -> MailCheck {
    let mut text = String::new();
    let test = match send_to.map(|to| test_message(resolved, public_url, to)).transpose() {
        Ok(test) => test,
        Err(why) => return MailCheck { text, outcome: Err(why) },
    };
    let outcome = match &resolved.mail {
        MailSettings::Smtp(config) => check_relay(config, test.as_ref(), &mut text).await,
        MailSettings::Files(dir) => check_folder(dir, test.as_ref(), &mut text).await,
    };
    MailCheck { text, outcome }
}

fn test_message(resolved: &Resolved, public_url: &str, to: &str) -> Result<RenderedEmail, String> {
    let to = EmailAddress::parse(to).map_err(|error| format!("invalid --send-to: {error}"))?;
    let renderer = Renderer::new(public_url, resolved.mail_from.clone()).map_err(|error| error.to_string())?;
    renderer.test_message(&to, jiff::Timestamp::now()).map_err(|error| error.to_string())
}

async fn check_relay(config: &SmtpConfig, test: Option<&RenderedEmail>, text: &mut String) -> Result<(), String> {
    let _ = writeln!(text, "Mail relay {} ({})", config.relay(), tls_rule(config));
    let transport = SmtpTransport::new(config.clone()).map_err(|error| error.to_string())?;
    match transport.probe(test).await {
        Ok(report) => {
            steps(&report, text);
            let _ = writeln!(text, "Mail can go out.");
            Ok(())
        }
        Err(error) => {
            steps(&error.report, text);
            let _ = writeln!(text, "FAILED  {}", error);
            if let Some(advice) = error.advice() {
                let _ = writeln!(text, "        what to do: {advice}");
            }
            let _ = writeln!(text, "Mail cannot go out.");
            Err(cannot_go_out(&error))
        }
    }
}

/// The TLS rule of a relay setting, in words.
fn tls_rule(config: &SmtpConfig) -> &'static str {
    match (config.tls, config.is_loopback()) {
        (TlsMode::Implicit, _) => "smtps: TLS from the first byte",
        (TlsMode::StartTls, _) => "STARTTLS required",
        (TlsMode::Opportunistic, true) => "on this machine: STARTTLS when offered, plain otherwise",
        (TlsMode::Opportunistic, false) => "tls=opportunistic: STARTTLS when offered, plain otherwise",
        (TlsMode::None, _) => "tls=none: no TLS",
    }
}

/// The steps that worked, one line each.
fn steps(report: &ProbeReport, text: &mut String) {
    if let Some(address) = report.connected {
        let _ = writeln!(text, "ok      connect: connected to {address}");
    }
    let tls_first = matches!(report.tls, Some(ProbeTls::Implicit { .. }));
    let tls_line = report.tls.as_ref().map(|tls| match tls {
        ProbeTls::Implicit { session } => format!("ok      TLS: from the first byte ({session})"),
        ProbeTls::StartTls { session } => format!("ok      TLS: STARTTLS ({session})"),
        ProbeTls::NotOffered => {
            "ok      TLS: none; the relay offers no STARTTLS, allowed here as no password is sent".to_owned()
        }
        ProbeTls::Off => "ok      TLS: none, as tls=none asks".to_owned(),
    });
    let greeting_line = report.greeting.as_ref().map(|greeting| format!("ok      greeting: {greeting}"));
    let (first, second) = if tls_first { (tls_line, greeting_line) } else { (greeting_line, tls_line) };
    for line in [first, second].into_iter().flatten() {
        let _ = writeln!(text, "{line}");
    }
    match &report.auth {
        Some(ProbeAuth::Accepted { user }) => {
            let _ = writeln!(text, "ok      AUTH: accepted for user {user}");
        }
        Some(ProbeAuth::NotConfigured { offered: true }) => {
            let _ = writeln!(
                text,
                "ok      AUTH: not used (no user name in the URL); the relay offers it, so add USER:PASSWORD@ if it needs a login"
            );
        }
        Some(ProbeAuth::NotConfigured { offered: false }) => {
            let _ = writeln!(text, "ok      AUTH: not used (no user name in the URL, and the relay asks for none)");
        }
        None => {}
    }
    if let Some(to) = &report.test_message {
        let _ = writeln!(text, "ok      test message: accepted by the relay for {to}");
    }
}

/// Why mail cannot go out, in one line, for the log and the exit message.
#[must_use]
pub fn cannot_go_out(error: &ProbeError) -> String {
    format!("mail cannot go out through {}: {error}", error.report.relay)
}

async fn check_folder(dir: &Path, test: Option<&RenderedEmail>, text: &mut String) -> Result<(), String> {
    let _ = writeln!(text, "Mail goes to .eml files in {} (no --smtp-url is set)", dir.display());
    let fail = |text: &mut String, why: String| {
        let _ = writeln!(text, "FAILED  {why}");
        let _ = writeln!(text, "Mail cannot go out.");
        Err(why)
    };
    let transport = match FileTransport::new(dir) {
        Ok(transport) => transport,
        Err(error) => return fail(text, error.why),
    };
    if let Err(error) = transport.check_writable() {
        return fail(text, format!("cannot write in {}: {error}", dir.display()));
    }
    let _ = writeln!(text, "ok      the folder exists and is writable");
    if let Some(email) = test {
        if let Err(error) = transport.send(email).await {
            return fail(text, format!("the test message could not be written: {error}"));
        }
        let _ = writeln!(text, "ok      test message written to {}", transport.path_for(email).display());
    }
    let _ = writeln!(text, "Mail can go out (as files, which any mail program opens).");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_must_exist() {
        assert!(time_zone("America/Chicago").is_ok());
        assert!(time_zone("UTC").is_ok());
        assert!(matches!(time_zone("Mars/Olympus_Mons"), Err(CommandError::UnknownTimeZone(_))));
        assert!(matches!(time_zone("../etc/passwd"), Err(CommandError::UnknownTimeZone(_))));
    }

    #[tokio::test]
    async fn practices_and_staff_keys_are_created_in_the_database() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = crate::cli::sqlite_url(&dir.path().join("portal.db"))?;
        migrate(&url).await?;
        let created = create_practice(&url, "Sunrise Therapy", None, "America/Chicago").await?;
        assert_eq!(created["slug"], "sunrise-therapy");
        assert_eq!(created["time_zone"], "America/Chicago");
        let key = created["staff_key"].as_str().ok_or("no staff key")?;
        assert!(key.starts_with("pst_"), "{key}");

        let again = create_practice(&url, "Sunrise Therapy", None, "UTC").await;
        assert!(matches!(again, Err(CommandError::Refused(ref why)) if why.contains("--slug")));

        let second = crate::staff_keys::create(&url, "sunrise-therapy", "Front desk", None).await?;
        assert_eq!(second["label"], "Front desk");
        assert_ne!(second["staff_key"], created["staff_key"]);
        let unknown = crate::staff_keys::create(&url, "nowhere", "Front desk", None).await;
        assert!(matches!(unknown, Err(CommandError::Refused(ref why)) if why.contains("no practice")));
        Ok(())
    }
}
