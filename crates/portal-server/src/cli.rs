//! The command line (design §6): every flag is also a `PORTAL_*` environment variable, and every
//! flag may be given before or after the subcommand.
//!
//! Parsing is clap's; [`Options::resolve`] then checks what clap cannot (durations against the
//! policy bounds, the sender address, the SMTP URL, the public URL) and fills in the defaults
//! that depend on other settings. Errors name the flag. Values that may hold a password (the
//! database and SMTP URLs) are never shown by `--help` and never repeated in an error.

// The field doc comments below are also clap's `--help` text, written for a terminal:
// `HOST[:465]` and `Name <address>` are meant literally, not as rustdoc links or HTML.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::{SignedDuration, Span, SpanRelativeTo};
use portal_core::{Policy, PolicySettings, RetentionRules, TimeZoneName};
use portal_mail::{DispatcherConfig, MailFrom, SmtpConfig};
use portal_store::StoreConfig;

use checks::{check_public_url, job_interval, machine_time_zone, policy_error, staff_key_recheck};

/// The sender when `--mail-from` is not given: a neutral name and a no-reply address.
pub const DEFAULT_MAIL_FROM: &str = "Account notifications <no-reply@portal.localhost>";

/// The name of the practice created on an empty database.
pub const DEFAULT_FIRST_PRACTICE: &str = "My Practice";

/// The accepted `--database-timeout`: shorter cuts healthy queries under load; longer lets a
/// request hang on a silent database for longer than any client waits.
pub const DATABASE_TIMEOUT_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(600));

/// `portal-server`: the bundled client-portal server.
#[derive(Parser)]
#[command(
    name = "portal-server",
    version,
    about = "Client-portal credentials for clinical practice software: the bundled server.",
    long_about = "Client-portal credentials for clinical practice software: the bundled server.\n\n\
        With no arguments it serves on 127.0.0.1:8080 with a SQLite database and mail written as \
        .eml files, both under ./portal-data/. On an empty database it creates a first practice \
        and prints its staff key once.\n\n\
        Every option can also be set through the environment variable shown with it."
)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub options: Options,
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (the default): migrations, mail dispatcher, HTTP API.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage practices.
    #[command(subcommand)]
    Practice(PracticeCommand),
    /// Manage staff keys: create, list, revoke.
    #[command(name = "staff-key", subcommand)]
    StaffKey(StaffKeyCommand),
    /// Manage the bundled client records.
    #[command(subcommand)]
    Clients(crate::client_import::ClientsCommand),
    /// Print the OpenAPI document (JSON) of the HTTP API.
    Openapi,
    /// Check the mail settings.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Delete what the retention settings no longer keep (expired sessions, lifted sign-in
    /// locks, old links and mail, audit events past --audit-retention), in batches, then print
    /// JSON with the count of each kind. `serve` does the same every --prune-interval.
    Prune,
}

/// `mail …`
#[derive(Debug, Clone, Subcommand)]
pub enum MailCommand {
    /// Connect to the configured relay and say, step by step, what works: the connection, TLS,
    /// AUTH and, with --send-to, a test message. Exits non-zero when mail cannot go out. With no
    /// --smtp-url, checks that the folder of .eml files is writable.
    Check {
        /// Also send a test message to this address.
        #[arg(long, value_name = "ADDRESS")]
        send_to: Option<String>,
    },
}

/// `practice …`
#[derive(Debug, Clone, Subcommand)]
pub enum PracticeCommand {
    /// Create a practice and its first staff key; prints JSON with `slug` and `staff_key`.
    Create {
        /// The practice's display name.
        #[arg(long)]
        name: String,
        /// The URL slug clients sign in with (default: derived from the name).
        #[arg(long)]
        slug: Option<String>,
        /// IANA time zone that emails state expiry times in.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
}

/// `staff-key …`
///
/// A staff key is the bearer credential of the staff API (`Authorization: Bearer pst_…`) and
/// signs in to the staff pages (which then keep a session, never the key). An expired key stops
/// working at its expiry; a revoked one ends its staff sessions at once and is refused by a
/// running server's API within a second (the server remembers an active key that long, to save a
/// database read per request).
#[derive(Debug, Clone, Subcommand)]
pub enum StaffKeyCommand {
    /// Create another staff key for a practice; prints JSON with `staff_id` and `staff_key`
    /// (shown once, never stored).
    Create {
        /// The practice's slug.
        #[arg(long)]
        practice: String,
        /// Who or what the key is for (it names the actor in the audit trail).
        #[arg(long)]
        label: String,
        /// Let the key expire after this long, e.g. 90d, 12h, 30m (a day is 24 hours).
        /// Without it the key works until it is revoked.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List a practice's keys: id, label, state (active, expired, revoked), creation, expiry
    /// and last use (to the minute). Never shows a key.
    List {
        /// The practice's slug.
        #[arg(long)]
        practice: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by its id (from `staff-key list`): its staff-page sessions end at once, and
    /// a running server refuses it on the API within a second. Prints the key's new state as
    /// JSON.
    Revoke {
        /// The practice's slug.
        #[arg(long)]
        practice: String,
        /// The key's id (`staff_id`).
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by every command, each also an environment variable.
#[derive(Args)]
pub struct Options {
    /// Directory for the SQLite database, the link key and the .eml files.
    #[arg(long, env = "PORTAL_DATA_DIR", default_value = "./portal-data", value_name = "DIR", global = true)]
    pub data_dir: PathBuf,

    /// Database URL: sqlite://PATH?mode=rwc or postgres://USER:PASSWORD@HOST:5432/DB
    /// [default: sqlite://{data-dir}/portal.db?mode=rwc]
    #[arg(long, env = "PORTAL_DATABASE_URL", hide_env_values = true, value_name = "URL", global = true)]
    pub database_url: Option<String>,

    /// Address and port to listen on.
    #[arg(long, env = "PORTAL_BIND", default_value = "127.0.0.1:8080", value_name = "ADDR:PORT", global = true)]
    pub bind: SocketAddr,

    /// A second address serving the same portal on threads of its own, for staff: a flood of
    /// sign-ins on --bind does not slow the requests that arrive here. Give staff (and the EHR
    /// calling the staff API) this address, e.g. one on the practice's internal network.
    #[arg(long, env = "PORTAL_STAFF_BIND", value_name = "ADDR:PORT", global = true)]
    pub staff_bind: Option<SocketAddr>,

    /// The externally visible base URL; emailed links are built from it, never from a request
    /// [default: http://{bind}]
    #[arg(long, env = "PORTAL_PUBLIC_URL", value_name = "URL", global = true)]
    pub public_url: Option<String>,

    /// SMTP relay URL; without it, mail is written as .eml files under {data-dir}/mail/.
    /// Check it with `portal-server mail check`.
    ///
    /// smtps://[USER:PASSWORD@]HOST[:465] speaks TLS from the first byte.
    /// smtp://[USER:PASSWORD@]HOST[:587] upgrades with STARTTLS and requires it, except to a
    /// loopback host (localhost, 127.0.0.0/8, ::1) without USER:PASSWORD: there STARTTLS is used
    /// when offered and plain SMTP otherwise (a local relay, a development mail catcher).
    /// Choose for smtp:// with ?tls=required, ?tls=opportunistic (STARTTLS when offered) or
    /// ?tls=none. A password is never sent without TLS (?tls=none with USER:PASSWORD is
    /// refused). Write @ : / % in USER or PASSWORD as %40 %3A %2F %25. Other settings, joined with
    /// &: timeout=SECONDS (per reply), helo=NAME, ca_file=PATH (a private CA).
    #[arg(long, env = "PORTAL_SMTP_URL", hide_env_values = true, value_name = "URL", global = true)]
    pub smtp_url: Option<String>,

    /// The no-reply sender of every email: "Name <address>" or "address". The name is used for
    /// discreet mail, so keep it neutral.
    #[arg(long, env = "PORTAL_MAIL_FROM", default_value = DEFAULT_MAIL_FROM, value_name = "SENDER", global = true)]
    pub mail_from: String,

    /// How long an invitation link works (1m to 7d; e.g. 48h, 30m, 90s, 2d).
    #[arg(long, env = "PORTAL_INVITE_TTL", default_value = "48h", value_name = "DURATION", global = true)]
    pub invite_ttl: String,

    /// How long a password-reset link works (1m to 7d; NIST SP 800-63B-4 asks at most 24h).
    #[arg(long, env = "PORTAL_RESET_TTL", default_value = "48h", value_name = "DURATION", global = true)]
    pub reset_ttl: String,

    /// Name of the practice created when the database is empty.
    #[arg(long, env = "PORTAL_FIRST_PRACTICE", default_value = DEFAULT_FIRST_PRACTICE, value_name = "NAME", global = true)]
    pub first_practice: String,

    /// IANA time zone of the practice created when the database is empty: mail and staff pages
    /// state times in it (e.g. America/Chicago). Default: this machine's zone, or UTC when the
    /// machine names none.
    #[arg(long, env = "PORTAL_FIRST_PRACTICE_TIME_ZONE", value_name = "ZONE", global = true)]
    pub first_practice_time_zone: Option<String>,

    /// Take the client IP from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "PORTAL_TRUST_FORWARDED_FOR", value_name = "BOOL", num_args = 0..=1,
          default_value_t = false, default_missing_value = "true", global = true)]
    pub trust_forwarded_for: bool,

    /// Requests per minute one client IP may make to the client endpoints that check links or
    /// passwords (bursts of 10). 0 turns the limit off: only when a proxy in front limits
    /// instead, or for a contract-test run from one address.
    #[arg(long, env = "PORTAL_IP_RATE_LIMIT", default_value_t = 30, value_name = "PER_MINUTE", global = true)]
    pub ip_rate_limit: u32,

    /// Longest wait for one answer from PostgreSQL (a query, BEGIN or COMMIT, a pooled
    /// connection) before the request is answered 503 unavailable; a connection that stays
    /// silent is closed, not reused. The same limit is PostgreSQL's statement_timeout and
    /// idle_in_transaction_session_timeout for the portal's sessions (migrations excepted).
    /// 100ms to 10m. Used by serve and prune; SQLite waits by its busy timeout (5s) instead.
    #[arg(long, env = "PORTAL_DATABASE_TIMEOUT", default_value = "3s", value_name = "DURATION", global = true)]
    pub database_timeout: String,

    /// How long the server trusts a staff key it has checked before reading it again (0s to
    /// 1m). A key revoked by another process (`staff-key revoke`, a second server) is refused
    /// within this long; 0 or off reads the key on every staff request (one more database read
    /// each).
    #[arg(long, env = "PORTAL_STAFF_KEY_RECHECK", default_value = "1s", value_name = "DURATION", global = true)]
    pub staff_key_recheck: String,

    /// On SIGTERM or Ctrl-C, how long in-flight requests may take to finish.
    #[arg(long, env = "PORTAL_SHUTDOWN_TIMEOUT", default_value = "30s", value_name = "DURATION", global = true)]
    pub shutdown_timeout: String,

    /// How often the mail dispatcher looks for mail that became due (retries, mail left by a
    /// stopped server) when nothing new was queued.
    #[arg(long, env = "PORTAL_MAIL_POLL_INTERVAL", default_value = "30s", value_name = "DURATION", global = true)]
    pub mail_poll_interval: String,

    /// Longest wait between two delivery attempts of one email; waits double from 30s (or this,
    /// if shorter) up to it. A mail is given up after 60 attempts.
    #[arg(long, env = "PORTAL_MAIL_RETRY_MAX", default_value = "1h", value_name = "DURATION", global = true)]
    pub mail_retry_max: String,

    /// How long a server holds the mail it took for delivery: mail taken by a server that was
    /// killed goes out this long after. One send may take at most half of it, up to 90s.
    #[arg(long, env = "PORTAL_MAIL_LEASE", default_value = "5m", value_name = "DURATION", global = true)]
    pub mail_lease: String,

    /// How often the server deletes what the retention settings no longer keep (see `prune`);
    /// 0 or off turns the background job off (then run `portal-server prune` from cron).
    #[arg(long, env = "PORTAL_PRUNE_INTERVAL", default_value = "1h", value_name = "DURATION", global = true)]
    pub prune_interval: String,

    /// How often the server queues the invitation reminders that are due (for practices that
    /// turned reminders on); 0 or off turns the background job off. A reminder goes out at
    /// most this late.
    #[arg(long, env = "PORTAL_REMINDER_INTERVAL", default_value = "5m", value_name = "DURATION", global = true)]
    pub reminder_interval: String,

    /// How long invite and reset links are kept after they expired (1d to 3653d). The link an
    /// account still points at is always kept.
    #[arg(long, env = "PORTAL_TOKEN_RETENTION", default_value = "30d", value_name = "DURATION", global = true)]
    pub token_retention: String,

    /// How long delivered and failed mail rows are kept (1d to 3653d). The mail of an
    /// account's current link is always kept.
    #[arg(long, env = "PORTAL_OUTBOX_RETENTION", default_value = "30d", value_name = "DURATION", global = true)]
    pub outbox_retention: String,

    /// How long audit events are kept (365d to 36525d; default six years, the HIPAA
    /// documentation retention period).
    #[arg(long, env = "PORTAL_AUDIT_RETENTION", default_value = "2192d", value_name = "DURATION", global = true)]
    pub audit_retention: String,

    /// Log filter (tracing EnvFilter syntax, e.g. `info` or `info,portal_mail=debug`).
    #[arg(long = "log", env = "PORTAL_LOG", default_value = "info", value_name = "FILTER", global = true)]
    pub log_filter: String,

    /// Log format.
    #[arg(long, env = "PORTAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// A setting that cannot be used. The message names the flag and never repeats a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --{flag}: {why}")]
pub struct SettingError {
    /// The flag, without the dashes (`invite-ttl`).
    pub flag: &'static str,
    /// What is wrong.
    pub why: String,
}

impl SettingError {
    fn new(flag: &'static str, why: impl Into<String>) -> Self {
        Self { flag, why: why.into() }
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    /// `.eml` files in this directory (the embedded default).
    Files(PathBuf),
    /// An SMTP relay.
    Smtp(SmtpConfig),
}

/// The options, checked and with every default filled in. `Debug` leaves out the database URL
/// (it may hold a password).
#[derive(Clone)]
pub struct Resolved {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The database URL (may hold a password: never log it).
    pub database_url: String,
    /// Where to listen.
    pub bind: SocketAddr,
    /// Where staff are served on threads of their own, when asked for.
    pub staff_bind: Option<SocketAddr>,
    /// The public URL, when given; otherwise it is `http://{the bound address}`.
    pub public_url: Option<String>,
    /// Where mail goes.
    pub mail: MailSettings,
    /// The sender.
    pub mail_from: MailFrom,
    /// The policy, with the configured link lifetimes.
    pub policy: Policy,
    /// Name of the first practice.
    pub first_practice: String,
    /// Time zone of the first practice.
    pub first_practice_time_zone: TimeZoneName,
    /// Whether to trust `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Per-IP requests per minute on the client endpoints that hash or check tokens (0: off).
    pub ip_rate_limit: u32,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_timeout: Duration,
    /// How the store waits for the database (the database timeout).
    pub store: StoreConfig,
    /// Outbox delivery tuning (poll interval, retry ceiling, lease).
    pub dispatcher: DispatcherConfig,
    /// How often `serve` prunes; `None` when the background job is off.
    pub prune_interval: Option<Duration>,
    /// How often `serve` queues due invitation reminders; `None` when the job is off.
    pub reminder_interval: Option<Duration>,
    /// How long a checked staff key is trusted without a database read (zero: never).
    pub staff_key_recheck: Duration,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("data_dir", &self.data_dir)
            .field("database", &database_kind(&self.database_url))
            .field("bind", &self.bind)
            .field("staff_bind", &self.staff_bind)
            .field("public_url", &self.public_url)
            .field("mail", &self.mail)
            .field("mail_from", &self.mail_from)
            .field("policy", &self.policy)
            .field("first_practice", &self.first_practice)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("ip_rate_limit", &self.ip_rate_limit)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("store", &self.store)
            .field("dispatcher", &self.dispatcher)
            .field("prune_interval", &self.prune_interval)
            .field("reminder_interval", &self.reminder_interval)
            .field("staff_key_recheck", &self.staff_key_recheck)
            .finish()
    }
}

/// What a database URL names, without anything that could be secret: `sqlite` or `postgres`.
#[must_use]
pub fn database_kind(url: &str) -> &'static str {
    let url = url.trim_start();
    if url.starts_with("sqlite:") {
        "sqlite"
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgres"
    } else {
        "unknown"
    }
}

impl Options {
    /// The database URL: `--database-url`, or the SQLite file under the data directory.
    ///
    /// # Errors
    /// When the data directory is not valid UTF-8 (it has to fit in a URL).
    pub fn database_url(&self) -> Result<String, SettingError> {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => Ok(url.trim().to_owned()),
            _ => sqlite_url(&self.data_dir.join("portal.db")),
        }
    }

    /// The public URL: `--public-url` (checked), or `http://{bind}`.
    ///
    /// # Errors
    /// When `--public-url` is not an absolute http(s) URL.
    pub fn public_url(&self) -> Result<String, SettingError> {
        match self.public_url.as_deref().map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => check_public_url(url),
            None => Ok(format!("http://{}", self.bind)),
        }
    }

    /// Checks every setting and fills in the defaults.
    ///
    /// # Errors
    /// [`SettingError`] naming the first flag that cannot be used.
    pub fn resolve(&self) -> Result<Resolved, SettingError> {
        let invite_ttl = parse_duration(&self.invite_ttl).map_err(|why| SettingError::new("invite-ttl", why))?;
        let reset_ttl = parse_duration(&self.reset_ttl).map_err(|why| SettingError::new("reset-ttl", why))?;
        let retention = RetentionRules {
            tokens_kept: parse_duration(&self.token_retention)
                .map_err(|why| SettingError::new("token-retention", why))?,
            outbox_kept: parse_duration(&self.outbox_retention)
                .map_err(|why| SettingError::new("outbox-retention", why))?,
            audit_kept: parse_duration(&self.audit_retention)
                .map_err(|why| SettingError::new("audit-retention", why))?,
        };
        let policy = Policy::new(PolicySettings { invite_ttl, reset_ttl, retention, ..PolicySettings::default() })
            .map_err(policy_error)?;
        let prune_interval = job_interval("prune-interval", &self.prune_interval)?;
        let reminder_interval = job_interval("reminder-interval", &self.reminder_interval)?;
        let staff_key_recheck = staff_key_recheck(&self.staff_key_recheck)?;
        let shutdown_timeout = parse_duration(&self.shutdown_timeout)
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or_else(|| SettingError::new("shutdown-timeout", "expected a duration such as 30s"))?;
        let store = StoreConfig { database_timeout: self.database_timeout()? };
        let mail_from = MailFrom::parse(&self.mail_from).map_err(|error| SettingError::new("mail-from", error.why))?;
        let mail = match self.smtp_url.as_deref().map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => {
                MailSettings::Smtp(SmtpConfig::from_url(url).map_err(|error| SettingError::new("smtp-url", error.why))?)
            }
            None => MailSettings::Files(self.data_dir.join("mail")),
        };
        let public_url = match self.public_url.as_deref().map(str::trim).filter(|url| !url.is_empty()) {
            Some(url) => Some(check_public_url(url)?),
            None => None,
        };
        let dispatcher = self.dispatcher()?;
        if self.first_practice.trim().is_empty() {
            return Err(SettingError::new("first-practice", "must not be empty"));
        }
        let first_practice_time_zone =
            match self.first_practice_time_zone.as_deref().map(str::trim).filter(|zone| !zone.is_empty()) {
                Some(zone) => crate::commands::time_zone(zone).map_err(|_| {
                    SettingError::new(
                        "first-practice-time-zone",
                        "is not a known IANA time zone (e.g. America/Chicago)",
                    )
                })?,
                None => machine_time_zone(),
            };
        Ok(Resolved {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url()?,
            bind: self.bind,
            staff_bind: self.staff_bind,
            public_url,
            mail,
            mail_from,
            policy,
            first_practice: self.first_practice.trim().to_owned(),
            first_practice_time_zone,
            trust_forwarded_for: self.trust_forwarded_for,
            ip_rate_limit: self.ip_rate_limit,
            shutdown_timeout,
            store,
            dispatcher,
            prune_interval,
            reminder_interval,
            staff_key_recheck,
        })
    }

    /// `--database-timeout`, within [`DATABASE_TIMEOUT_RANGE`].
    fn database_timeout(&self) -> Result<Duration, SettingError> {
        let timeout = std_duration("database-timeout", &self.database_timeout)?;
        let (min, max) = DATABASE_TIMEOUT_RANGE;
        if timeout < min || timeout > max {
            return Err(SettingError::new("database-timeout", format!("must be between {min:?} and {max:?}")));
        }
        Ok(timeout)
    }

    /// The dispatcher settings: the defaults with the three `--mail-*` durations applied.
    fn dispatcher(&self) -> Result<DispatcherConfig, SettingError> {
        let defaults = DispatcherConfig::default();
        let poll_interval = std_duration("mail-poll-interval", &self.mail_poll_interval)?;
        let max_backoff =
            parse_duration(&self.mail_retry_max).map_err(|why| SettingError::new("mail-retry-max", why))?;
        let lease = parse_duration(&self.mail_lease).map_err(|why| SettingError::new("mail-lease", why))?;
        // Half the lease leaves the other half for recording the outcome before another
        // dispatcher may take the row.
        let send_timeout = Duration::try_from(lease / 2)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| SettingError::new("mail-lease", "must be at least 2ms"))?
            .min(defaults.send_timeout);
        let config = DispatcherConfig {
            poll_interval,
            base_backoff: defaults.base_backoff.min(max_backoff),
            max_backoff,
            lease,
            send_timeout,
            ..defaults
        };
        config.validate().map_err(|error| SettingError::new("mail-lease", error.why))?;
        Ok(config)
    }
}

/// A positive duration for a `std` timer setting, or an error naming `flag`.
fn std_duration(flag: &'static str, text: &str) -> Result<Duration, SettingError> {
    parse_duration(text)
        .ok()
        .and_then(|duration| Duration::try_from(duration).ok())
        .ok_or_else(|| SettingError::new(flag, format!("`{}` is not a positive duration such as 30s", text.trim())))
}

/// `sqlite://PATH?mode=rwc` for a file path (`%`, `?` and `#` escaped: sqlx percent-decodes).
///
/// # Errors
/// When the path is not valid UTF-8.
pub fn sqlite_url(path: &Path) -> Result<String, SettingError> {
    let text = path.to_str().ok_or_else(|| SettingError::new("data-dir", "the path must be valid UTF-8"))?;
    let escaped = text.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
    Ok(format!("sqlite://{escaped}?mode=rwc"))
}

/// A friendly duration: `48h`, `30m`, `1m`, `90s`, `1h30m`, `2d` (a day is 24 hours), or ISO 8601
/// (`PT48H`). Must be positive.
///
/// # Errors
/// A sentence saying what is accepted.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let text = text.trim();
    let parsed = text.parse::<SignedDuration>().ok().or_else(|| {
        text.parse::<Span>().ok().and_then(|span| span.to_duration(SpanRelativeTo::days_are_24_hours()).ok())
    });
    match parsed {
        Some(duration) if duration.is_positive() => Ok(duration),
        _ => Err(format!("`{text}` is not a positive duration; use e.g. 48h, 30m, 90s, 1h30m or 2d")),
    }
}

#[path = "cli_checks.rs"]
mod checks;

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
