//! # portal-http
//!
//! The HTTP adapter of portal (design §5): the staff API, the client-portal API, operations
//! endpoints, authentication, errors as `application/problem+json`, request ids, security
//! headers, body and rate limits, and a bounded pool of low-priority threads for password hashing. Built with
//! poem and poem-openapi over `portal-core`'s [`PortalService`](portal_core::service::PortalService);
//! it depends on no other adapter.
//!
//! ```no_run
//! use std::sync::Arc;
//! use portal_core::service::PortalService;
//! use portal_core::testing::{InMemoryStore, ManualClock, SeededRandom};
//! use portal_core::{
//!     ClientDirectory, Clock, LinkKey, PasswordHasher, Policy, PortalStore, Randomness, ScryptHasher, ScryptParams,
//! };
//! use portal_http::{BlockingHasher, HttpConfig, app};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = HttpConfig::default();
//! let hasher = Arc::new(BlockingHasher::new(ScryptHasher::new(ScryptParams::OWASP)?, config.hash_permits, config.hash_queue));
//! let store = Arc::new(InMemoryStore::new());
//! let service = Arc::new(PortalService::new(
//!     Arc::clone(&store) as Arc<dyn PortalStore>,
//!     store as Arc<dyn ClientDirectory>, // an EHR passes its own patients here
//!     Arc::clone(&hasher) as Arc<dyn PasswordHasher>,
//!     Arc::new(ManualClock::new(jiff::Timestamp::UNIX_EPOCH)) as Arc<dyn Clock>,
//!     Arc::new(SeededRandom::new(1)) as Arc<dyn Randomness>,
//!     Policy::default(),
//!     LinkKey::from_bytes([7; 32]),
//! ));
//! let endpoint = app(service, config, Arc::new(|| {}), &hasher);
//! poem::Server::new(poem::listener::TcpListener::bind("127.0.0.1:8080")).run(endpoint).await?;
//! # Ok(()) }
//! ```

mod auth;
mod client;
mod client_factors;
mod error;
mod hashing;
mod middleware;
mod ops;
mod pages;
mod reset_requests;
mod staff;
mod staff_auth;
mod text;

use std::sync::Arc;

use poem::endpoint::BoxEndpoint;
use poem::{Endpoint, EndpointExt, IntoEndpoint, Response, Route};
use poem_openapi::OpenApiService;
use portal_core::DynPortalService;

pub use error::{ApiError, ErrorCode, PROBLEM_JSON, Problem, Reason};
pub use hashing::{BlockingHasher, HASH_THREAD_NICENESS};
pub use ops::{PruneCounters, ReminderCounters};
pub use staff_auth::{AuthError, BundledStaffAuth, StaffAuth, StaffAuthenticator, StaffSurface};

use crate::middleware::{AllowIndex, BodyLimit, Edge, HashingGate, IpLimiter};
use crate::ops::Metrics;

/// Per-IP request budget for the client endpoints that hash passwords or check tokens (sign-in,
/// registration, reset completion, link verification): a token bucket per client IP (IPv6 by
/// /64), refilled at `per_minute` and holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRateLimit {
    /// Sustained requests per minute per IP (default 30). Zero turns the limit off.
    pub per_minute: u32,
    /// Requests an idle IP may make at once (default 10).
    pub burst: u32,
    /// Most IPs tracked at once (default 10 000), so memory stays bounded whatever the traffic.
    /// An IP is forgotten once its budget has refilled; while the table is full of IPs that
    /// still have a spent budget, the IPs not in it share one budget (the limit fails closed
    /// rather than letting a flood that filled the table guess without limit).
    pub max_tracked_ips: usize,
}

impl Default for IpRateLimit {
    fn default() -> Self {
        Self { per_minute: 30, burst: 10, max_tracked_ips: 10_000 }
    }
}

/// Settings of the HTTP layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The externally visible base URL, e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    /// Absolute URLs (the OpenAPI `servers` entry) come from here, never from the `Host` header.
    ///
    /// Its path is where the portal is mounted: a host that nests the application under
    /// `/client-portal` sets `https://ehr.example.org/client-portal`, and every page link and
    /// redirect starts with `/client-portal`. See [`HttpConfig::base_path`].
    pub public_url: String,
    /// Password hashes that run at once (default: available parallelism). Used by whoever builds
    /// the [`BlockingHasher`].
    pub hash_permits: usize,
    /// Callers that may wait for a hashing slot before the answer is 503 `busy` (default:
    /// twice the permits).
    pub hash_queue: usize,
    /// Largest accepted request body in bytes (default 16 KiB); larger is 413
    /// `payload_too_large` before anything is parsed or hashed. `POST /api/v1/portal/states`
    /// and `POST /api/v1/invitations` allow at least 96 KiB, their largest valid body (500 ids),
    /// and hash nothing.
    pub max_body_bytes: usize,
    /// Take the client IP (for rate limits and the audit trail) from the last hop of
    /// `X-Forwarded-For` instead of the TCP peer. Only behind a trusted reverse proxy (default
    /// false).
    pub trust_forwarded_for: bool,
    /// Per-IP limit on the client endpoints that hash or check tokens.
    pub ip_rate_limit: IpRateLimit,
    /// Serve the bundled client records: `POST/GET /api/v1/clients`, `GET/PATCH
    /// /api/v1/clients/{id}` and the staff client list page (default true). A host that owns
    /// its clients (design §7) turns this off: its own screens list and edit patients, and the
    /// portal reads them through its `ClientDirectory`.
    pub client_records: bool,
    /// The retention job's counters, reported on `/metrics` as `portal_pruned_rows_total`
    /// (default: fresh counters nobody adds to). The embedder that runs the job passes a
    /// clone of the counters the job adds to.
    pub prune_counters: PruneCounters,
    /// The invitation reminder job's counters, reported on `/metrics` as
    /// `portal_invitation_reminders_total` (default: fresh counters nobody adds to).
    pub reminder_counters: ReminderCounters,
}

impl HttpConfig {
    /// Where the portal is mounted: the path of [`HttpConfig::public_url`] without its trailing
    /// slash ("" at the root). Nest [`app`] at this path in the host's routes.
    ///
    /// ```
    /// let mut config = portal_http::HttpConfig::default();
    /// assert_eq!(config.base_path(), "");
    /// config.public_url = "https://ehr.example.org/client-portal/".into();
    /// assert_eq!(config.base_path(), "/client-portal");
    /// ```
    #[must_use]
    pub fn base_path(&self) -> String {
        let url = self.public_url.trim();
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        path.trim_end_matches('/').to_owned()
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        let permits = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self {
            public_url: "http://127.0.0.1:8080".to_owned(),
            hash_permits: permits,
            hash_queue: permits.saturating_mul(2),
            max_body_bytes: 16 * 1024,
            trust_forwarded_for: false,
            ip_rate_limit: IpRateLimit::default(),
            client_records: true,
            prune_counters: PruneCounters::default(),
            reminder_counters: ReminderCounters::default(),
        }
    }
}

/// Called after a use case queued mail (send invite, send reset, complete reset), so the mail
/// dispatcher wakes at once.
pub type MailQueuedHook = Arc<dyn Fn() + Send + Sync>;

/// The OpenAPI tags.
#[derive(poem_openapi::Tags)]
pub(crate) enum ApiTags {
    /// Client records and their portal accounts. Every operation takes a staff key.
    Staff,
    /// What clients do: check links, register, sign in, reset their password.
    #[oai(rename = "Client portal")]
    ClientPortal,
    /// Liveness, readiness and metrics.
    Operations,
}

/// What every handler reaches through the request's data.
pub(crate) struct AppState {
    pub(crate) service: Arc<DynPortalService>,
    pub(crate) on_mail_queued: MailQueuedHook,
    pub(crate) metrics: Metrics,
    pub(crate) ip_limiter: IpLimiter,
    pub(crate) hash_pool: BlockingHasher,
    pub(crate) trust_forwarded_for: bool,
    /// Where the application is mounted, for page links and redirects.
    pub(crate) mount: pages::Mount,
    /// Who the staff API and pages say a request comes from.
    pub(crate) staff_auth: Arc<dyn StaffAuthenticator>,
    /// `None` with the bundled staff sign-in (the key form); `Some` when the host signs its
    /// staff in, holding where (if it said).
    pub(crate) host_staff_sign_in: Option<Option<String>>,
    /// The bound on client-started reset requests whose work runs after their answer.
    pub(crate) reset_requests: Arc<tokio::sync::Semaphore>,
}

const API_DESCRIPTION: &str = "Client-portal credentials for clinical practice software: staff invite clients, see \
     their portal status, turn accounts off and on and send password resets; clients register, sign in and reset \
     their password. Errors are `application/problem+json` with a stable `code`.";

/// An OpenAPI service over `apis`, described and pointed at `public_url`.
fn described<T: poem_openapi::OpenApi>(apis: T, public_url: &str) -> OpenApiService<T, ()> {
    OpenApiService::new(apis, "portal", env!("CARGO_PKG_VERSION"))
        .description(API_DESCRIPTION)
        .server(public_url.trim_end_matches('/').to_owned())
}

/// The API as the application serves it: the document, and the endpoints that serve the
/// operations, the document and Swagger UI.
struct ApiParts {
    document: String,
    operations: BoxEndpoint<'static, Response>,
    spec: BoxEndpoint<'static, Response>,
    docs: BoxEndpoint<'static, Response>,
}

impl ApiParts {
    fn of<T: poem_openapi::OpenApi + 'static>(api: OpenApiService<T, ()>) -> Self {
        Self {
            document: api.spec(),
            spec: api.spec_endpoint().map_to_response().boxed(),
            docs: api.swagger_ui().map_to_response().boxed(),
            operations: api.into_endpoint().map_to_response().boxed(),
        }
    }

    /// Every operation of design §5 plus the operations endpoints; without the bundled client
    /// records when `client_records` is off.
    fn new(public_url: &str, client_records: bool) -> Self {
        if client_records {
            Self::of(described(
                (
                    staff::STAFF_API,
                    client::ClientApi,
                    client_factors::ClientFactorsApi,
                    client_factors::PasskeysApi,
                    reset_requests::ResetRequestApi,
                    ops::OpsApi,
                ),
                public_url,
            ))
        } else {
            Self::of(described(
                (
                    staff::PORTAL_STAFF_API,
                    client::ClientApi,
                    client_factors::ClientFactorsApi,
                    client_factors::PasskeysApi,
                    reset_requests::ResetRequestApi,
                    ops::OpsApi,
                ),
                public_url,
            ))
        }
    }
}

/// Builds the whole HTTP application: the staff and client APIs under `/api/v1`, the pages,
/// `/openapi.json`, Swagger UI at `/docs`, `/healthz`, `/readyz` and `/metrics`, wrapped in the
/// edge middleware (request ids, security headers, problem+json for every error, metrics), the
/// hashing gate (sign-in, registration and reset completion are 503 `busy` before their body is
/// read while the hashing pool is full) and the body limit.
///
/// `hash_pool` is the [`BlockingHasher`] the service hashes with; `/metrics` reports its
/// in-flight and queue depth.
///
/// Returns an endpoint (not a `Route`) because the middleware wraps the routes. Hand it to
/// `poem::Server::run`, or nest it in a host's own routes at [`HttpConfig::base_path`]:
///
/// ```no_run
/// # fn host(portal: impl poem::Endpoint<Output = poem::Response> + 'static, config: &portal_http::HttpConfig) {
/// // config.public_url = "https://ehr.example.org/client-portal"
/// let routes = poem::Route::new().nest(config.base_path(), portal); // beside the host's own routes
/// # }
/// ```
///
/// Staff are authenticated the bundled way ([`StaffAuth::Bundled`]: staff keys on the API,
/// staff sessions on the pages); [`app_with_staff_auth`] takes a host's authenticator instead.
pub fn app(
    service: Arc<DynPortalService>,
    config: HttpConfig,
    on_mail_queued: MailQueuedHook,
    hash_pool: &BlockingHasher,
) -> impl Endpoint<Output = Response> + 'static {
    app_with_staff_auth(service, config, on_mail_queued, hash_pool, StaffAuth::Bundled)
}

/// [`app`], with staff authenticated as `staff_auth` says: a host that signs its staff in itself
/// passes [`StaffAuth::Host`] with its [`StaffAuthenticator`], and the staff API and pages then
/// act for whoever it names (the key sign-in form is gone from the pages).
pub fn app_with_staff_auth(
    service: Arc<DynPortalService>,
    config: HttpConfig,
    on_mail_queued: MailQueuedHook,
    hash_pool: &BlockingHasher,
    staff_auth: StaffAuth,
) -> impl Endpoint<Output = Response> + 'static {
    let (staff_auth, host_staff_sign_in): (Arc<dyn StaffAuthenticator>, _) = match staff_auth {
        StaffAuth::Bundled => (Arc::new(BundledStaffAuth::new(Arc::clone(&service))), None),
        StaffAuth::Host { authenticator, sign_in_url } => (authenticator, Some(sign_in_url)),
    };
    let api = ApiParts::new(&config.public_url, config.client_records);
    let mount = pages::Mount { base_path: Arc::from(config.base_path()), client_list: config.client_records };
    let state = Arc::new(AppState {
        service,
        on_mail_queued,
        metrics: Metrics::new(&config.prune_counters, &config.reminder_counters),
        ip_limiter: IpLimiter::new(config.ip_rate_limit),
        hash_pool: hash_pool.clone(),
        trust_forwarded_for: config.trust_forwarded_for,
        mount,
        staff_auth,
        host_staff_sign_in,
        reset_requests: reset_requests::in_flight_limit(),
    });
    let mut allow = AllowIndex::default();
    match serde_json::from_str(&api.document) {
        Ok(document) => allow.add_openapi(&document),
        // The document is generated from our own types: this cannot happen without a bug there,
        // and the only loss is the `Allow` header of API 405s, so it is logged, not fatal.
        Err(error) => tracing::error!(%error, "the OpenAPI document is not JSON; 405s on API paths carry no Allow"),
    }
    for (template, methods) in pages::ROUTE_METHODS {
        if config.client_records || !pages::CLIENT_LIST_ROUTES.contains(template) {
            allow.add(template, *methods);
        }
    }
    let routes = pages::mount(Route::new(), config.client_records)
        .at("/openapi.json", api.spec)
        .nest("/docs", api.docs)
        .nest("/", api.operations);
    // The gate comes before the body limit, which reads the body: a hashing request refused
    // for want of room in the pool is refused before its body is read.
    Edge::new(HashingGate::new(BodyLimit::new(routes.into_endpoint(), config.max_body_bytes)), state, allow)
}

/// The OpenAPI document of the bundled server as JSON (for `portal-server openapi` and `cargo
/// xtask openapi`).
#[must_use]
pub fn openapi_json(public_url: &str) -> String {
    ApiParts::new(public_url, true).document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let config = HttpConfig::default();
        assert_eq!(config.max_body_bytes, 16 * 1024);
        assert!(config.hash_permits >= 1);
        assert_eq!(config.hash_queue, 2 * config.hash_permits);
        assert!(!config.trust_forwarded_for);
        assert_eq!(config.ip_rate_limit, IpRateLimit { per_minute: 30, burst: 10, max_tracked_ips: 10_000 });
    }

    #[test]
    fn the_document_names_the_public_url_as_its_server() {
        let spec = openapi_json("https://portal.example.org/");
        assert!(spec.contains(r#""url": "https://portal.example.org""#), "{spec}");
    }
}
