//! Operations endpoints: liveness, readiness and Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi};
use portal_core::{Directory as _, MailOutbox as _, PruneKind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::ApiTags;
use crate::auth::Ctx;
use crate::error::{ApiError, ErrorCode, Problem, chain};

/// Labels of the request metrics: the operation (never the raw path) and the status class.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: &'static str,
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Label of the retention counters: the kind of row ([`PruneKind::as_str`]).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PruneLabels {
    kind: &'static str,
}

/// Rows deleted by the retention job, per kind: `portal_pruned_rows_total{kind=…}` on
/// `/metrics`. Cheap to clone; clones count together. The server hands one clone to the HTTP
/// layer (in [`crate::HttpConfig::prune_counters`]) and one to its prune job, so neither
/// adapter needs the other.
#[derive(Debug, Clone)]
pub struct PruneCounters(Arc<Family<PruneLabels, Counter>>);

/// Two handles are equal when they count together (clones of one another).
impl PartialEq for PruneCounters {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for PruneCounters {}

impl Default for PruneCounters {
    fn default() -> Self {
        let family = Family::<PruneLabels, Counter>::default();
        // Every kind is reported from the start, at 0, so a dashboard sees the series at once.
        for kind in PruneKind::ALL {
            family.get_or_create(&PruneLabels { kind: kind.as_str() }).inc_by(0);
        }
        Self(Arc::new(family))
    }
}

impl PruneCounters {
    /// Counts `rows` deleted rows of `kind`.
    pub fn add(&self, kind: PruneKind, rows: u64) {
        self.0.get_or_create(&PruneLabels { kind: kind.as_str() }).inc_by(rows);
    }

    /// The count so far of `kind` (for tests and logs).
    #[must_use]
    pub fn get(&self, kind: PruneKind) -> u64 {
        self.0.get_or_create(&PruneLabels { kind: kind.as_str() }).get()
    }
}

/// Label of the reminder counters: what became of a due invitation's reminder.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReminderLabels {
    outcome: &'static str,
}

/// Invitation reminders handled by the reminder job: `portal_invitation_reminders_total
/// {outcome="queued"|"skipped"}` on `/metrics` (skipped: the client could not be emailed when
/// it fell due). Shared like [`PruneCounters`]: the server hands one clone to the HTTP layer
/// (in [`crate::HttpConfig::reminder_counters`]) and one to its reminder job.
#[derive(Debug, Clone)]
pub struct ReminderCounters(Arc<Family<ReminderLabels, Counter>>);

/// Two handles are equal when they count together (clones of one another).
impl PartialEq for ReminderCounters {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ReminderCounters {}

impl Default for ReminderCounters {
    fn default() -> Self {
        let family = Family::<ReminderLabels, Counter>::default();
        for outcome in [Self::QUEUED, Self::SKIPPED] {
            family.get_or_create(&ReminderLabels { outcome }).inc_by(0);
        }
        Self(Arc::new(family))
    }
}

impl ReminderCounters {
    const QUEUED: &'static str = "queued";
    const SKIPPED: &'static str = "skipped";

    /// Counts `queued` reminder mails queued and `skipped` reminders that could not be mailed.
    pub fn add(&self, queued: u64, skipped: u64) {
        self.0.get_or_create(&ReminderLabels { outcome: Self::QUEUED }).inc_by(queued);
        self.0.get_or_create(&ReminderLabels { outcome: Self::SKIPPED }).inc_by(skipped);
    }

    /// Reminder mails queued so far.
    #[must_use]
    pub fn queued(&self) -> u64 {
        self.0.get_or_create(&ReminderLabels { outcome: Self::QUEUED }).get()
    }

    /// Reminders skipped so far.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.0.get_or_create(&ReminderLabels { outcome: Self::SKIPPED }).get()
    }
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The application's metrics registry.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    outbox_pending: Gauge,
    hash_in_flight: Gauge,
    hash_queue: Gauge,
}

impl Metrics {
    pub(crate) fn new(pruned: &PruneCounters, reminders: &ReminderCounters) -> Self {
        let mut registry = Registry::with_prefix("portal");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::new_with_constructor(latency_histogram);
        let (outbox_pending, hash_in_flight, hash_queue) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register("http_requests", "HTTP requests by operation and status class", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by operation and status class",
            latency.clone(),
        );
        registry.register("outbox_pending", "Mail outbox rows not yet delivered", outbox_pending.clone());
        registry.register("hash_pool_in_flight", "Password hashes running now", hash_in_flight.clone());
        registry.register("hash_pool_queue_depth", "Password hashes waiting for a slot", hash_queue.clone());
        registry.register("pruned_rows", "Rows deleted by the retention job, by kind", Family::clone(&pruned.0));
        registry.register(
            "invitation_reminders",
            "Invitation reminders handled by the reminder job, by outcome (queued, skipped)",
            Family::clone(&reminders.0),
        );
        Self { registry, requests, latency, outbox_pending, hash_in_flight, hash_queue }
    }

    /// Records one answered request.
    pub(crate) fn observe(&self, route: &'static str, status: StatusCode, elapsed: Duration) {
        let labels = RequestLabels { route, status: status_class(status) };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Liveness.
#[derive(Object)]
struct Health {
    /// `ok` (liveness) or `ready` (readiness).
    status: String,
}

/// Answers of `GET /healthz`.
#[derive(ApiResponse)]
enum HealthResponse {
    /// The process is running.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

/// Answers of `GET /readyz`.
#[derive(ApiResponse)]
enum ReadyResponse {
    /// The database is reachable.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// `unavailable`: the database is not reachable.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

/// Answers of `GET /metrics`.
#[derive(ApiResponse)]
enum MetricsResponse {
    /// Metrics in the OpenMetrics text format.
    #[oai(status = 200, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")]
    Ok(PlainText<String>),
}

/// The operations endpoints.
pub(crate) struct OpsApi;

#[OpenApi(tag = "ApiTags::Operations")]
impl OpsApi {
    /// Liveness
    ///
    /// 200 while the process runs.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health { status: "ok".to_owned() }))
    }

    /// Readiness
    ///
    /// 200 when the database answers, 503 otherwise.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, ctx: Ctx) -> ReadyResponse {
        match ctx.state.service.store().practice_count().await {
            Ok(_) => ReadyResponse::Ok(Json(Health { status: "ready".to_owned() })),
            Err(error) => {
                tracing::warn!(request_id = %ctx.rid(), error = %chain(&error), "not ready: the store failed");
                ReadyResponse::Unavailable(Json(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    ctx.rid(),
                )))
            }
        }
    }

    /// Metrics
    ///
    /// Request counts and latencies per operation and status class, the mail outbox depth and
    /// the password-hashing pool, in the OpenMetrics text format.
    #[oai(path = "/metrics", method = "get", operation_id = "metrics")]
    async fn metrics(&self, ctx: Ctx) -> Result<MetricsResponse, ApiError> {
        let state = &ctx.state;
        match state.service.store().pending_count().await {
            Ok(pending) => {
                state.metrics.outbox_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
            }
            Err(error) => tracing::warn!(request_id = %ctx.rid(), error = %chain(&error), "outbox depth unavailable"),
        }
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        state.metrics.hash_in_flight.set(gauge(state.hash_pool.in_flight()));
        state.metrics.hash_queue.set(gauge(state.hash_pool.queue_depth()));
        match state.metrics.encode() {
            Ok(text) => Ok(MetricsResponse::Ok(PlainText(text))),
            Err(error) => {
                tracing::error!(request_id = %ctx.rid(), error = %error, "metrics encoding failed");
                Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, ctx.rid()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_metrics_are_labelled_by_route_and_status_class() -> Result<(), std::fmt::Error> {
        let metrics = Metrics::new(&PruneCounters::default(), &ReminderCounters::default());
        metrics.observe("sign_in", StatusCode::UNAUTHORIZED, Duration::from_millis(3));
        metrics.observe("sign_in", StatusCode::CREATED, Duration::from_millis(3));
        let text = metrics.encode()?;
        assert!(text.contains(r#"portal_http_requests_total{route="sign_in",status="4xx"} 1"#), "{text}");
        assert!(text.contains("portal_http_request_duration_seconds_bucket"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        Ok(())
    }

    #[test]
    fn pruned_rows_are_counted_per_kind_from_zero() -> Result<(), std::fmt::Error> {
        let counters = PruneCounters::default();
        let metrics = Metrics::new(&counters, &ReminderCounters::default());
        let text = metrics.encode()?;
        assert!(text.contains(r#"portal_pruned_rows_total{kind="audit"} 0"#), "{text}");
        // The job holds a clone: what it adds shows on /metrics.
        let job = counters.clone();
        job.add(PruneKind::Throttle, 1000);
        job.add(PruneKind::Throttle, 7);
        assert_eq!(counters.get(PruneKind::Throttle), 1007);
        let text = metrics.encode()?;
        assert!(text.contains(r#"portal_pruned_rows_total{kind="throttle"} 1007"#), "{text}");
        Ok(())
    }

    #[test]
    fn invitation_reminders_are_counted_by_outcome_from_zero() -> Result<(), std::fmt::Error> {
        let counters = ReminderCounters::default();
        let metrics = Metrics::new(&PruneCounters::default(), &counters);
        let text = metrics.encode()?;
        assert!(text.contains(r#"portal_invitation_reminders_total{outcome="queued"} 0"#), "{text}");
        counters.clone().add(3, 1);
        assert_eq!((counters.queued(), counters.skipped()), (3, 1));
        let text = metrics.encode()?;
        assert!(text.contains(r#"portal_invitation_reminders_total{outcome="queued"} 3"#), "{text}");
        assert!(text.contains(r#"portal_invitation_reminders_total{outcome="skipped"} 1"#), "{text}");
        Ok(())
    }
}
