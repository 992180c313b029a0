//! The wiring: the EHR's database and pages, the portal's store, service and mail dispatcher,
//! and one poem server with the portal nested under [`PORTAL_PREFIX`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use poem::EndpointExt as _;
use portal_core::service::{PortalService, PracticeError, StaffKeyError};
use portal_core::{
    Client, ClientDirectory, ClientId, Clock, DynPortalService, HashError, MailTransport, OsRandom, PasswordHasher,
    Policy, PortalStore, PracticeId, Randomness, ScryptHasher, ScryptParams, StoreError, SystemClock, TimeZoneName,
};
use portal_http::{BlockingHasher, HttpConfig, MailQueuedHook, StaffAuth};
use portal_mail::{Dispatcher, DispatcherConfig, DispatcherHandle, FileTransport, MailFrom, Renderer};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{EhrStaffAuth, StaffSessions};
use crate::directory::PatientDirectory;
use crate::pages::{self, EhrState};
use crate::{EhrError, db, link_key};

/// Where the portal is mounted in the EHR.
pub const PORTAL_PREFIX: &str = "/client-portal";

/// The first staff user, created on an empty `staff_users` table.
#[derive(Debug, Clone)]
pub struct FirstStaff {
    /// Sign-in name.
    pub username: String,
    /// Display name (also the actor's name in the portal's audit trail).
    pub display_name: String,
    /// The password; `None`: generate one and hand it out once ([`RunningEhr::take_first_staff`]).
    pub password: Option<SecretString>,
}

/// Everything the EHR needs to start. [`EhrConfig::new`] gives the demo's defaults.
pub struct EhrConfig {
    /// Holds `ehr.db` (the EHR's), `portal.db` (the portal's), `link.key` and `mail/`.
    pub data_dir: PathBuf,
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// The EHR's external origin, e.g. `https://ehr.example.org`; `None`: `http://{bound address}`.
    pub public_url: Option<String>,
    /// The portal practice that stands for this EHR (created on first run).
    pub practice_name: String,
    /// Its URL name: clients sign in at `/client-portal/portal/{slug}/sign-in`.
    pub practice_slug: String,
    /// The staff user created on first run.
    pub first_staff: FirstStaff,
    /// scrypt parameters for portal and EHR passwords alike.
    pub scrypt: ScryptParams,
    /// The portal's rules (link lifetimes, password policy, throttling).
    pub policy: Policy,
    /// How long an EHR staff session lasts.
    pub session_lifetime: SignedDuration,
    /// The sender of portal mail.
    pub mail_from: MailFrom,
    /// Outbox delivery tuning.
    pub dispatcher: DispatcherConfig,
    /// The portal's HTTP settings (its `public_url` and `client_records` are set by [`start`]).
    pub http: HttpConfig,
    /// How long requests in flight may take to finish at shutdown.
    pub shutdown_timeout: Duration,
}

impl EhrConfig {
    /// The demo set-up: data in `data_dir`, listening on 127.0.0.1:8090, OWASP scrypt, the
    /// portal's default policy, 8-hour staff sessions, mail as `.eml` files.
    ///
    /// # Panics
    /// Never: the built-in sender address is valid.
    #[must_use]
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8090)),
            public_url: None,
            practice_name: "Sunrise Family Health".to_owned(),
            practice_slug: "sunrise".to_owned(),
            first_staff: FirstStaff {
                username: "frontdesk".to_owned(),
                display_name: "Front desk".to_owned(),
                password: None,
            },
            scrypt: ScryptParams::OWASP,
            policy: Policy::default(),
            session_lifetime: SignedDuration::from_hours(8),
            mail_from: MailFrom::parse("Client portal <no-reply@ehr.localhost>").expect("a valid sender"),
            dispatcher: DispatcherConfig::default(),
            http: HttpConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }

    /// The EHR's own SQLite file.
    #[must_use]
    pub fn ehr_database(&self) -> PathBuf {
        self.data_dir.join("ehr.db")
    }

    /// The portal's SQLite file.
    #[must_use]
    pub fn portal_database(&self) -> PathBuf {
        self.data_dir.join("portal.db")
    }

    /// Where portal mail is written as `.eml` files.
    #[must_use]
    pub fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }
}

/// Why the EHR could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data directory or the link key file.
    #[error("cannot prepare {path}")]
    Files {
        /// What.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The EHR's own database or its seed.
    #[error("the EHR database failed")]
    Ehr(#[from] EhrError),
    /// The portal's database could not be opened or migrated.
    #[error(transparent)]
    PortalDatabase(#[from] portal_store::ConnectError),
    /// A mail setting cannot be used.
    #[error(transparent)]
    Mail(#[from] portal_mail::ConfigError),
    /// The scrypt parameters were refused.
    #[error("invalid password-hashing parameters")]
    Hashing(#[from] HashError),
    /// The portal practice could not be found or created.
    #[error("cannot set up the portal practice")]
    Practice(#[from] PracticeError),
    /// The practice's bundled staff key could not be revoked.
    #[error("cannot revoke the practice's bundled staff key")]
    StaffKey(#[from] StaffKeyError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("the HTTP server failed")]
    Http(#[source] std::io::Error),
}

/// The staff user created by this start, with the generated password (shown once).
#[derive(Debug)]
pub struct CreatedStaff {
    /// Sign-in name.
    pub username: String,
    /// The password, when it was generated (not when the configuration gave it).
    pub generated_password: Option<SecretString>,
}

/// A started EHR: serving its pages and the portal, delivering portal mail.
pub struct RunningEhr {
    local_addr: SocketAddr,
    url: String,
    practice_slug: String,
    first_staff: Option<CreatedStaff>,
    stop: oneshot::Sender<()>,
    http: JoinHandle<std::io::Result<()>>,
    dispatcher: DispatcherHandle,
}

impl std::fmt::Debug for RunningEhr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningEhr").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Finds nobody. Only for finding or creating the portal practice at start-up, before the
/// patients can be attached to it (the directory needs the practice's id).
struct NoClientsYet;

#[async_trait]
impl ClientDirectory for NoClientsYet {
    async fn client(&self, _: PracticeId, _: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(None)
    }
    async fn clients(&self, _: PracticeId, _: &[ClientId]) -> Result<Vec<Client>, StoreError> {
        Ok(Vec::new())
    }
}

fn service(
    store: &Arc<dyn PortalStore>,
    directory: Arc<dyn ClientDirectory>,
    hasher: &BlockingHasher,
    clock: &Arc<dyn Clock>,
    policy: Policy,
    link_key: &portal_core::LinkKey,
    passkeys: Option<&Arc<portal_passkeys::WebauthnPasskeys>>,
) -> DynPortalService {
    let service = PortalService::new(
        Arc::clone(store),
        directory,
        Arc::new(hasher.clone()) as Arc<dyn PasswordHasher>,
        Arc::clone(clock),
        Arc::new(OsRandom) as Arc<dyn Randomness>,
        policy,
        portal_core::LinkKey::from_bytes(*link_key.expose()),
    )
    // Authenticator apps' secrets are sealed under a key derived from the link key, which
    // stays outside both databases.
    .with_secret_sealer(Arc::new(portal_core::LinkKeySealer::new(link_key)));
    match passkeys {
        Some(passkeys) => service.with_passkeys(Arc::clone(passkeys) as Arc<dyn portal_core::PasskeyRelyingParty>),
        None => service,
    }
}

/// The passkey relying party of the portal's public URL, when it can be one (a host name:
/// `http://localhost` on one machine, https elsewhere; never an IP address).
fn passkeys(portal_public_url: &str) -> Option<Arc<portal_passkeys::WebauthnPasskeys>> {
    match portal_passkeys::WebauthnPasskeys::new(portal_public_url) {
        Ok(passkeys) => Some(Arc::new(passkeys)),
        Err(error) => {
            tracing::info!(%error, "portal passkeys off: the public URL needs a host name");
            None
        }
    }
}

/// The portal practice this EHR is: found by slug, or created on first run. Creating a
/// practice also creates the bundled server's first staff key; the EHR signs its staff in
/// itself, so that key is revoked at once and never shown.
async fn practice(service: &DynPortalService, config: &EhrConfig) -> Result<PracticeId, StartError> {
    if let Some(practice) = service.practice_by_slug(&config.practice_slug).await.map_err(EhrError::from)? {
        return Ok(practice.id);
    }
    let created =
        service.create_practice(&config.practice_name, Some(&config.practice_slug), TimeZoneName::utc()).await?;
    service.revoke_staff_key(created.practice.slug.as_str(), &created.staff.id.to_string()).await?;
    tracing::info!(practice = %created.practice.slug, "created the portal practice");
    Ok(created.practice.id)
}

/// Creates the first staff user on an empty `staff_users` table.
async fn first_staff(
    sessions: &StaffSessions,
    ehr_db: &sea_orm::DatabaseConnection,
    hasher: &BlockingHasher,
    first: &FirstStaff,
) -> Result<Option<CreatedStaff>, EhrError> {
    if db::staff_count(ehr_db).await? > 0 {
        return Ok(None);
    }
    let generated = match &first.password {
        Some(_) => None,
        None => {
            let mut bytes = [0u8; 18];
            OsRandom.fill(&mut bytes)?;
            Some(SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
        }
    };
    let password = first.password.as_ref().or(generated.as_ref()).map_or("", |p| p.expose_secret());
    sessions.create_user(hasher, &OsRandom, &first.username, password, &first.display_name).await?;
    Ok(Some(CreatedStaff { username: first.username.trim().to_lowercase(), generated_password: generated }))
}

/// Starts the EHR: opens both databases (creating and seeding them on first run), finds or
/// creates the portal practice, starts the mail dispatcher, binds and serves.
///
/// # Errors
/// [`StartError`] for whatever could not start.
pub async fn start(config: EhrConfig) -> Result<RunningEhr, StartError> {
    portal_mail::install_crypto_provider();
    let files = |path: PathBuf| move |source| StartError::Files { path, source };
    std::fs::create_dir_all(&config.data_dir).map_err(files(config.data_dir.clone()))?;
    let link_key_path = config.data_dir.join("link.key");
    let link_key = link_key::load_or_create(&link_key_path).map_err(files(link_key_path))?;

    let ehr_db = db::open(&config.ehr_database()).await.map_err(EhrError::from)?;
    db::seed_patients(&ehr_db, Timestamp::now().as_second()).await.map_err(EhrError::from)?;
    let portal_url = format!("sqlite://{}?mode=rwc", config.portal_database().display());
    let store: Arc<dyn PortalStore> = Arc::new(portal_store::connect(&portal_url).await?);
    let transport: Arc<dyn MailTransport> = Arc::new(FileTransport::new(config.mail_dir())?);

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|source| StartError::Bind { addr: config.bind, source })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.bind, source })?;
    let url = config.public_url.clone().unwrap_or_else(|| format!("http://{local_addr}"));
    let url = url.trim_end_matches('/').to_owned();

    let hasher =
        BlockingHasher::new(ScryptHasher::new(config.scrypt)?, config.http.hash_permits, config.http.hash_queue);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let portal_public_url = format!("{url}{PORTAL_PREFIX}");
    let passkeys = passkeys(&portal_public_url);
    let bootstrap =
        service(&store, Arc::new(NoClientsYet), &hasher, &clock, config.policy.clone(), &link_key, passkeys.as_ref());
    let practice_id = practice(&bootstrap, &config).await?;

    // The two seams: the EHR's patients are the portal's clients, its sessions its staff.
    let patients: Arc<dyn ClientDirectory> = Arc::new(PatientDirectory::new(ehr_db.clone(), practice_id));
    let service =
        Arc::new(service(&store, Arc::clone(&patients), &hasher, &clock, config.policy, &link_key, passkeys.as_ref()));
    let sessions = StaffSessions::new(ehr_db.clone(), practice_id, config.session_lifetime);
    let first_staff = first_staff(&sessions, &ehr_db, &hasher, &config.first_staff).await?;

    let renderer = Renderer::new(&portal_public_url, config.mail_from)?;
    let dispatcher = Dispatcher::new(
        store,
        patients,
        transport,
        Arc::clone(&clock),
        OsRandom,
        renderer,
        link_key,
        config.dispatcher,
    )?
    .spawn();
    let waker = dispatcher.waker();
    let on_mail_queued: MailQueuedHook = Arc::new(move || waker.wake());

    let http_config = HttpConfig { public_url: portal_public_url, client_records: false, ..config.http };
    let base_path = http_config.base_path();
    let staff_auth = StaffAuth::Host {
        authenticator: Arc::new(EhrStaffAuth::new(sessions.clone())),
        sign_in_url: Some("/login".to_owned()),
    };
    let portal =
        portal_http::app_with_staff_auth(Arc::clone(&service), http_config, on_mail_queued, &hasher, staff_auth);
    let state = Arc::new(EhrState {
        db: ehr_db,
        sessions,
        service,
        hasher,
        secure_cookies: url.starts_with("https://"),
        portal_base: base_path.clone(),
        practice_slug: config.practice_slug.clone(),
    });
    // The EHR's pages and the portal side by side; the EHR's state is visible to its handlers
    // (the portal's ignore it).
    let app = pages::routes().nest(base_path, portal).data(state);

    let acceptor = match poem::listener::TcpAcceptor::from_tokio(listener) {
        Ok(acceptor) => acceptor,
        Err(source) => {
            dispatcher.shutdown().await;
            return Err(StartError::Bind { addr: config.bind, source });
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown_timeout = config.shutdown_timeout;
    let http = tokio::spawn(async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = stopped.await;
                },
                Some(shutdown_timeout),
            )
            .await
    });
    tracing::info!(%local_addr, %url, "EHR example listening");
    Ok(RunningEhr { local_addr, url, practice_slug: config.practice_slug, first_staff, stop, http, dispatcher })
}

impl RunningEhr {
    /// The bound address.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The EHR's base URL (no trailing slash).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The portal practice's slug.
    #[must_use]
    pub fn practice_slug(&self) -> &str {
        &self.practice_slug
    }

    /// The staff user this start created, once.
    pub fn take_first_staff(&mut self) -> Option<CreatedStaff> {
        self.first_staff.take()
    }

    /// Serves until `signal` completes, then stops gracefully.
    ///
    /// # Errors
    /// [`StartError::Http`] when the server failed on its own.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), StartError> {
        tokio::select! {
            () = signal => self.stop().await,
            ended = &mut self.http => {
                self.dispatcher.shutdown().await;
                match ended {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(StartError::Http(error)),
                    Err(join) => Err(StartError::Http(std::io::Error::other(join))),
                }
            }
        }
    }

    /// Stops accepting, lets requests in flight finish, then stops the dispatcher after the
    /// delivery in progress (queued mail waits in the outbox for the next start).
    ///
    /// # Errors
    /// [`StartError::Http`] when the server had failed.
    pub async fn stop(self) -> Result<(), StartError> {
        let _ = self.stop.send(());
        let ended = self.http.await;
        self.dispatcher.shutdown().await;
        tracing::info!("EHR example stopped");
        match ended {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StartError::Http(error)),
            Err(join) => Err(StartError::Http(std::io::Error::other(join))),
        }
    }
}
