//! `serve`: the wiring. One [`SeaOrmStore`] shared by the service and
//! the mail dispatcher, scrypt on the HTTP crate's bounded hashing pool, the outbox dispatcher
//! woken by the HTTP layer whenever a use case queued mail, and poem with a graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portal_core::service::{CreatedPractice, PortalService};
use portal_core::{
    ClientDirectory, Clock, DynPortalService, LinkKey, MailTransport, OsRandom, PasswordHasher, Policy, PortalStore,
    Randomness, Retention, ScryptHasher, ScryptParams, SystemClock, TimeZoneName,
};
use portal_http::{BlockingHasher, HttpConfig, MailQueuedHook};
use portal_mail::{Dispatcher, DispatcherConfig, DispatcherHandle, FileTransport, MailFrom, Renderer, SmtpTransport};
use portal_store::{ConnectError, SeaOrmStore, StoreConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bootstrap::{self, BootstrapError};
use crate::cli::{MailSettings, Resolved, database_kind};
use crate::listeners::{StaffListener, bind_std, serve_until_stopped};
use crate::reminders::ReminderJob;
use crate::retention::PruneJob;

/// How long `serve` keeps trying to open the database at start-up while it does not answer yet
/// (refused, silent, starting up, out of connection slots, or a SQLite file busy on a machine
/// so loaded that the first connection takes longer than the pool's acquire timeout). Errors
/// that waiting cannot fix (a wrong password, a missing database, a failed migration) stop the
/// start at once.
pub const DATABASE_START_WAIT: Duration = Duration::from_secs(30);

/// The pause between two tries to open the database at start-up.
const DATABASE_START_PAUSE: Duration = Duration::from_secs(1);

/// Everything `serve` needs. [`ServerConfig::new`] builds the production set-up from the
/// command line; tests adjust the public fields (port 0, a manual clock, cheap scrypt
/// parameters, a generous per-IP limit).
pub struct ServerConfig {
    /// Database URL (may hold a password: never logged).
    pub database_url: String,
    /// How the store waits for the database (the database timeout).
    pub store: StoreConfig,
    /// Where to listen (port 0: any free port; see [`RunningServer::local_addr`]).
    pub bind: SocketAddr,
    /// A second address serving the same application from threads of its own (`--staff-bind`;
    /// see [`RunningServer::staff_addr`]).
    pub staff_bind: Option<SocketAddr>,
    /// The externally visible base URL; `None`: `http://{the bound address}`.
    pub public_url: Option<String>,
    /// Where mail goes.
    pub mail: MailSettings,
    /// The no-reply sender.
    pub mail_from: MailFrom,
    /// Link lifetimes and the other rules.
    pub policy: Policy,
    /// The link key.
    pub link_key: LinkKey,
    /// Name of the practice created on an empty database.
    pub first_practice: String,
    /// Time zone of the first practice.
    pub first_practice_time_zone: TimeZoneName,
    /// How long in-flight requests may take to finish after a stop was asked for.
    pub shutdown_timeout: Duration,
    /// The HTTP layer's settings (its `public_url` is overwritten with the resolved one).
    pub http: HttpConfig,
    /// scrypt parameters for new hashes ([`ScryptParams::OWASP`]).
    pub scrypt: ScryptParams,
    /// The clock ([`SystemClock`]).
    pub clock: Arc<dyn Clock>,
    /// Outbox delivery tuning.
    pub dispatcher: DispatcherConfig,
    /// How often the retention job runs (`None`: not at all; run `portal-server prune`).
    pub prune_interval: Option<Duration>,
    /// How often the invitation reminder job runs (`None`: not at all).
    pub reminder_interval: Option<Duration>,
    /// How long a checked staff key is trusted without a database read
    /// (`PortalService::with_staff_key_recheck`; zero: every request reads it).
    pub staff_key_recheck: Duration,
}

impl ServerConfig {
    /// The production set-up for resolved command-line options and a link key: OWASP scrypt on
    /// one hashing slot per core, the system clock, the dispatcher as the `--mail-*` flags say.
    #[must_use]
    pub fn new(resolved: Resolved, link_key: LinkKey) -> Self {
        let mut http = HttpConfig { trust_forwarded_for: resolved.trust_forwarded_for, ..HttpConfig::default() };
        http.ip_rate_limit.per_minute = resolved.ip_rate_limit;
        Self {
            database_url: resolved.database_url,
            store: resolved.store,
            bind: resolved.bind,
            staff_bind: resolved.staff_bind,
            public_url: resolved.public_url,
            mail: resolved.mail,
            mail_from: resolved.mail_from,
            policy: resolved.policy,
            link_key,
            first_practice: resolved.first_practice,
            first_practice_time_zone: resolved.first_practice_time_zone,
            shutdown_timeout: resolved.shutdown_timeout,
            http,
            scrypt: ScryptParams::OWASP,
            clock: Arc::new(SystemClock),
            dispatcher: resolved.dispatcher,
            prune_interval: resolved.prune_interval,
            reminder_interval: resolved.reminder_interval,
            staff_key_recheck: resolved.staff_key_recheck,
        }
    }
}

/// Why the server could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] portal_store::ConnectError),
    /// A mail setting cannot be used.
    #[error(transparent)]
    Mail(#[from] portal_mail::ConfigError),
    /// The scrypt parameters were refused.
    #[error("invalid password-hashing parameters")]
    Hashing(#[source] portal_core::HashError),
    /// The first practice could not be created.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while running.
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
}

/// A started server: listening, dispatching mail, serving requests.
pub struct RunningServer {
    local_addr: SocketAddr,
    staff: Option<StaffListener>,
    public_url: String,
    first_run: Option<CreatedPractice>,
    service: Arc<DynPortalService>,
    stop: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    dispatcher: DispatcherHandle,
    mail_check: JoinHandle<()>,
    prune: Option<PruneJob>,
    reminders: Option<ReminderJob>,
}

/// The start-up check of the mail settings: one probe of the relay, or a test write in the
/// folder of `.eml` files. A failure is a warning, not a crash: the server runs, mail waits in
/// the outbox, and the warning says why and where to look.
enum StartupMailCheck {
    Relay(Arc<SmtpTransport>),
    Files(Arc<FileTransport>),
}

impl StartupMailCheck {
    async fn run(self) {
        match self {
            Self::Relay(relay) => match relay.probe(None).await {
                Ok(report) => {
                    tracing::info!(relay = %report.relay, tls = ?report.tls, auth = ?report.auth, "mail relay reachable")
                }
                Err(error) => tracing::warn!(
                    relay = %error.report.relay,
                    step = %error.step,
                    advice = error.advice().unwrap_or_default(),
                    "mail cannot go out: {}; queued mail waits in the outbox until this is fixed. \
                     Run `portal-server mail check` with the same settings for details",
                    error.failure,
                ),
            },
            Self::Files(files) => match files.check_writable() {
                Ok(()) => tracing::info!(folder = %files.dir().display(), "mail goes to .eml files"),
                Err(error) => tracing::warn!(
                    folder = %files.dir().display(),
                    "mail cannot be written: {error}; queued mail waits in the outbox until this is fixed. \
                     Run `portal-server mail check` with the same settings for details",
                ),
            },
        }
    }
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Starts the server: installs the rustls *ring* provider, opens and migrates the database,
/// wires the service, starts the mail dispatcher, binds the address, creates the first practice
/// on an empty database, and serves. Nothing is created when binding fails.
///
/// # Errors
/// [`ServeError`] for whatever part could not start.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServeError> {
    portal_mail::install_crypto_provider();

    let (transport, mail_check): (Arc<dyn MailTransport>, StartupMailCheck) = match &config.mail {
        MailSettings::Files(dir) => {
            let files = Arc::new(FileTransport::new(dir)?);
            (Arc::clone(&files) as Arc<dyn MailTransport>, StartupMailCheck::Files(files))
        }
        MailSettings::Smtp(smtp) => {
            let relay = Arc::new(SmtpTransport::new(smtp.clone())?);
            (Arc::clone(&relay) as Arc<dyn MailTransport>, StartupMailCheck::Relay(relay))
        }
    };
    let store = open_store(&config.database_url, config.store).await?;
    tracing::info!(database = database_kind(&config.database_url), "database ready (migrations applied)");

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServeError::Bind { addr: config.bind, source })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind { addr: config.bind, source })?;
    let staff_listener = match config.staff_bind {
        Some(addr) => Some(bind_std(addr).await?),
        None => None,
    };
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{local_addr}"));
    if config.public_url.is_none() && local_addr.ip().is_unspecified() {
        tracing::warn!(%public_url, "listening on all interfaces without --public-url: emailed links will not work from other machines");
    }
    if matches!(config.mail, MailSettings::Smtp(_)) && config.mail_from.address().as_str().ends_with(".localhost") {
        tracing::warn!(
            "mail goes through SMTP but --mail-from is the placeholder address; relays will likely refuse it"
        );
    }

    let hasher = BlockingHasher::new(
        ScryptHasher::new(config.scrypt).map_err(ServeError::Hashing)?,
        config.http.hash_permits,
        config.http.hash_queue,
    );
    // The bundled server owns its clients: its store is also the client directory (design §7).
    let store = Arc::new(store);
    let retention: Arc<dyn Retention> = Arc::clone(&store) as Arc<dyn Retention>;
    let directory: Arc<dyn ClientDirectory> = Arc::clone(&store) as Arc<dyn ClientDirectory>;
    let store: Arc<dyn PortalStore> = store;
    let service = PortalService::new(
        Arc::clone(&store),
        Arc::clone(&directory),
        Arc::new(hasher.clone()) as Arc<dyn PasswordHasher>,
        Arc::clone(&config.clock),
        Arc::new(OsRandom) as Arc<dyn Randomness>,
        config.policy,
        LinkKey::from_bytes(*config.link_key.expose()),
    )
    // The store is the directory: a client and its portal state are one read.
    .with_bundled_records()
    // TOTP secrets are sealed under a key derived from the link key (portal_core::LinkKeySealer).
    .with_secret_sealer(Arc::new(portal_core::LinkKeySealer::new(&config.link_key)))
    .with_staff_key_recheck(
        jiff::SignedDuration::try_from(config.staff_key_recheck).unwrap_or(jiff::SignedDuration::MAX),
    );
    // Passkeys are bound to the public URL's host name; WebAuthn refuses IP addresses, so the
    // default `http://127.0.0.1:8080` runs without them.
    let service: Arc<DynPortalService> = Arc::new(match portal_passkeys::WebauthnPasskeys::new(&public_url) {
        Ok(passkeys) => {
            tracing::info!(relying_party = passkeys.relying_party().id(), "passkeys on");
            service.with_passkeys(Arc::new(passkeys))
        }
        Err(error) => {
            tracing::info!(
                %public_url,
                reason = %error,
                "passkeys off: they need a host name in --public-url (http://localhost:8080 to try them on this machine)"
            );
            service
        }
    });

    // The bench's store-read yardstick reads through the same store as the portal.
    #[cfg(feature = "bench-baseline")]
    let bench_directory = Arc::clone(&directory);
    let renderer = Renderer::new(&public_url, config.mail_from)?;
    let dispatcher = Dispatcher::new(
        store,
        directory,
        transport,
        Arc::clone(&config.clock),
        OsRandom,
        renderer,
        config.link_key,
        config.dispatcher,
    )?
    .spawn();
    let waker = dispatcher.waker();
    let on_mail_queued: MailQueuedHook = Arc::new(move || waker.wake());

    let first_run = match bootstrap::first_practice(
        &service,
        &config.first_practice,
        config.first_practice_time_zone.clone(),
    )
    .await
    {
        Ok(first_run) => first_run,
        Err(error) => {
            dispatcher.shutdown().await;
            return Err(error.into());
        }
    };
    if let Some(created) = &first_run {
        tracing::info!(practice = %created.practice.slug, "empty database: created the first practice");
    }

    let prune_counters = config.http.prune_counters.clone();
    let reminder_counters = config.http.reminder_counters.clone();
    let http_config = HttpConfig { public_url: public_url.clone(), ..config.http };
    let endpoint = portal_http::app(Arc::clone(&service), http_config, on_mail_queued, &hasher);
    #[cfg(feature = "bench-baseline")]
    let endpoint = bench_baseline::mount(endpoint, bench_directory);
    let endpoint = Arc::new(endpoint);
    let staff = match staff_listener {
        Some((addr, listener)) => {
            match StaffListener::spawn(addr, listener, Arc::clone(&endpoint), config.shutdown_timeout) {
                Ok(staff) => Some(staff),
                Err(source) => {
                    dispatcher.shutdown().await;
                    return Err(ServeError::Bind { addr, source });
                }
            }
        }
        None => None,
    };
    let acceptor = match poem::listener::TcpAcceptor::from_tokio(listener) {
        Ok(acceptor) => acceptor,
        Err(source) => {
            dispatcher.shutdown().await;
            return Err(ServeError::Bind { addr: config.bind, source });
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown_timeout = config.shutdown_timeout;
    let http = tokio::spawn(serve_until_stopped(acceptor, endpoint, stopped, shutdown_timeout));
    if let Some(staff) = &staff {
        tracing::info!(staff_addr = %staff.local_addr, "staff are also served here, on threads of their own");
    }
    tracing::info!(%local_addr, %public_url, "portal is listening");
    // In the background: a slow or absent relay must not delay the listener.
    let mail_check = tokio::spawn(mail_check.run());
    let prune = config.prune_interval.map(|interval| {
        PruneJob::spawn(retention, service.policy().clone(), Arc::clone(&config.clock), interval, prune_counters)
    });
    let reminders = config
        .reminder_interval
        .map(|interval| ReminderJob::spawn(Arc::clone(&service), dispatcher.waker(), interval, reminder_counters));
    Ok(RunningServer {
        local_addr,
        staff,
        public_url,
        first_run,
        service,
        stop,
        http,
        dispatcher,
        mail_check,
        prune,
        reminders,
    })
}

/// Opens and migrates the database, trying again for up to [`DATABASE_START_WAIT`] while the
/// failure is one that waiting may fix ([`ConnectError::is_transient`]), each try logged.
async fn open_store(url: &str, config: StoreConfig) -> Result<SeaOrmStore, ConnectError> {
    let started = Instant::now();
    let mut attempt = 1u32;
    loop {
        match portal_store::connect_with(url, config).await {
            Ok(store) => {
                if attempt > 1 {
                    tracing::info!(database = database_kind(url), attempt, "the database answered");
                }
                return Ok(store);
            }
            Err(error) if error.is_transient() && started.elapsed() + DATABASE_START_PAUSE < DATABASE_START_WAIT => {
                let cause = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
                tracing::warn!(
                    database = database_kind(url), attempt, %cause,
                    "{error}; trying again for up to {} s after the start",
                    DATABASE_START_WAIT.as_secs(),
                );
                tokio::time::sleep(DATABASE_START_PAUSE).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

impl RunningServer {
    /// The address the server listens on (the real port when bound to port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the staff listener (`--staff-bind`; the real port when bound to port 0),
    /// when there is one.
    #[must_use]
    pub fn staff_addr(&self) -> Option<SocketAddr> {
        self.staff.as_ref().map(|staff| staff.local_addr)
    }

    /// The public base URL links and the OpenAPI document use (no trailing slash).
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The first practice and its staff key, when this start created them; `None` afterwards
    /// (the key is handed out once).
    pub fn take_first_run(&mut self) -> Option<CreatedPractice> {
        self.first_run.take()
    }

    /// The service the HTTP layer calls (for embedding and tests).
    #[must_use]
    pub fn service(&self) -> &Arc<DynPortalService> {
        &self.service
    }

    /// Serves until `signal` completes, then stops gracefully (see [`RunningServer::stop`]).
    ///
    /// # Errors
    /// [`ServeError::Http`] when the HTTP server failed on its own (the dispatcher is stopped
    /// too).
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), ServeError> {
        tokio::select! {
            () = signal => {
                tracing::info!("shutting down: no new connections; finishing requests in flight and the current delivery");
                self.stop().await
            }
            ended = &mut self.http => {
                self.mail_check.abort();
                if let Some(staff) = self.staff.take() {
                    let _ = staff.stop().await;
                }
                if let Some(prune) = self.prune.take() {
                    prune.shutdown().await;
                }
                if let Some(reminders) = self.reminders.take() {
                    reminders.shutdown().await;
                }
                self.dispatcher.shutdown().await;
                match ended {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(ServeError::Http(error)),
                    Err(join) => Err(ServeError::Http(std::io::Error::other(join))),
                }
            }
        }
    }

    /// Stops accepting connections, lets requests in flight finish (up to the shutdown timeout),
    /// then stops the mail dispatcher after the delivery in progress. Queued mail stays in the
    /// outbox for the next start.
    ///
    /// # Errors
    /// [`ServeError::Http`] when the HTTP server had failed.
    pub async fn stop(self) -> Result<(), ServeError> {
        self.mail_check.abort();
        let _ = self.stop.send(());
        let staff_ended = match self.staff {
            Some(staff) => staff.stop().await,
            None => Ok(()),
        };
        let ended = self.http.await;
        if let Some(prune) = self.prune {
            prune.shutdown().await;
        }
        if let Some(reminders) = self.reminders {
            reminders.shutdown().await;
        }
        self.dispatcher.shutdown().await;
        tracing::info!("portal stopped");
        match ended {
            Ok(Ok(())) => staff_ended.map_err(ServeError::Http),
            Ok(Err(error)) => Err(ServeError::Http(error)),
            Err(join) => Err(ServeError::Http(std::io::Error::other(join))),
        }
    }
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("received SIGINT"),
        () = terminate => tracing::info!("received SIGTERM"),
    }
}

/// The yardsticks of `cargo xtask bench` (only with the `bench-baseline` feature).
#[cfg(feature = "bench-baseline")]
mod bench_baseline;
