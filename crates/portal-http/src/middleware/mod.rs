//! The edge of the application: request ids, the client IP, security headers, problem+json for
//! every error, per-route metrics, the body limit, (in `hashing_gate`) the early refusal of
//! hashing requests while the pool is full, and (in `ip_limit`) the per-IP rate limiter.

mod hashing_gate;
mod ip_limit;

pub(crate) use hashing_gate::HashingGate;
pub(crate) use ip_limit::{IpLimiter, ip_throttled};

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use poem::error::ReadBodyError;
use poem::http::header::{
    ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue, SET_COOKIE,
};
use poem::http::{Method, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use poem_openapi::OperationId;
use portal_core::RequestContext;

use crate::AppState;
use crate::error::{ApiError, ErrorCode, problem_for_poem_error};

/// The request-id header, read and echoed.
pub(crate) const REQUEST_ID: &str = "x-request-id";
/// Longest incoming request id accepted (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 64;

/// Who is asking: the request id and the client IP, for errors, logs and the audit trail.
#[derive(Debug, Clone)]
pub(crate) struct RequestMeta {
    pub(crate) request_id: String,
    pub(crate) client_ip: Option<IpAddr>,
}

impl RequestMeta {
    /// The core's view of it, for audit events.
    pub(crate) fn context(&self) -> RequestContext {
        RequestContext { request_id: Some(self.request_id.clone()), source_ip: self.client_ip }
    }
}

/// A sane incoming request id: 1–64 characters of `[A-Za-z0-9_-]`.
fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// 32 hex characters from the OS random source (a counter if that ever fails: ids need to be
/// unique, not secret).
fn generate_request_id() -> String {
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0_u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let n = FALLBACK.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return format!("{nanos:x}-{n:x}");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The client IP: the last hop of `X-Forwarded-For` when trusted and parseable, else the TCP
/// peer. IPv4-mapped IPv6 addresses are shown as IPv4.
fn client_ip(req: &Request, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let last_hop = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .next_back()
            .and_then(|value| value.rsplit(',').next())
            .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
        if let Some(ip) = last_hop {
            return Some(ip.to_canonical());
        }
    }
    req.remote_addr().as_socket_addr().map(|addr| addr.ip().to_canonical())
}

/// Metrics label for requests that matched no API operation (bounded: never the raw path).
fn fallback_route(path: &str) -> &'static str {
    match path {
        "/openapi.json" => "openapi",
        p if p == "/docs" || p.starts_with("/docs/") => "docs",
        _ => "unmatched",
    }
}

/// The methods each route answers, for the `Allow` header of a 405 (RFC 9110 §15.5.6 requires
/// it). The router knows the methods but does not say them, so the index is built from the
/// same sources the routes are: the OpenAPI document's paths and the page routes' table.
#[derive(Debug, Default)]
pub(crate) struct AllowIndex {
    routes: Vec<(Vec<Segment>, String)>,
}

/// One segment of a route template.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{id}` (OpenAPI) or `:id` (poem): any one non-empty segment.
    Param,
}

impl AllowIndex {
    /// Adds a route template (`/api/v1/clients/{id}` or `/staff/clients/:id`) and its methods.
    /// A route that answers GET also answers HEAD (the router runs GET without a body).
    pub(crate) fn add<'m>(&mut self, template: &str, methods: impl IntoIterator<Item = &'m Method>) {
        let mut names: Vec<&str> = methods.into_iter().map(Method::as_str).collect();
        if names.contains(&"GET") && !names.contains(&"HEAD") {
            names.push("HEAD");
        }
        names.sort_unstable();
        names.dedup();
        let segments = template
            .trim_matches('/')
            .split('/')
            .map(|segment| {
                if segment.starts_with(':') || (segment.starts_with('{') && segment.ends_with('}')) {
                    Segment::Param
                } else {
                    Segment::Literal(segment.to_owned())
                }
            })
            .collect();
        self.routes.push((segments, names.join(", ")));
    }

    /// Adds every path of an OpenAPI document with the methods it lists.
    pub(crate) fn add_openapi(&mut self, document: &serde_json::Value) {
        let Some(paths) = document.get("paths").and_then(serde_json::Value::as_object) else { return };
        for (template, operations) in paths {
            let methods: Vec<Method> = operations
                .as_object()
                .into_iter()
                .flat_map(|operations| operations.keys())
                .filter_map(|name| Method::from_bytes(name.to_ascii_uppercase().as_bytes()).ok())
                .collect();
            self.add(template, &methods);
        }
    }

    /// The `Allow` value for a request path: of the templates that match it, the one with the
    /// most literal segments (as the router prefers them).
    pub(crate) fn allow(&self, path: &str) -> Option<&str> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(segment, part)| match segment {
                        Segment::Literal(literal) => literal == part,
                        Segment::Param => !part.is_empty(),
                    })
            })
            .max_by_key(|(segments, _)| segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count())
            .map(|(_, allow)| allow.as_str())
    }
}

/// Marks the response produced for a panicking handler.
#[derive(Debug, Clone, Copy)]
struct Panicked;

/// The outermost endpoint. Assigns the request id and client IP, renders every error as
/// problem+json, adds the security headers and records metrics.
pub(crate) struct Edge<E> {
    inner: E,
    state: Arc<AppState>,
    allow: AllowIndex,
}

impl<E: Endpoint> Edge<E> {
    pub(crate) fn new(
        inner: E,
        state: Arc<AppState>,
        allow: AllowIndex,
    ) -> Edge<poem::middleware::CatchPanicEndpoint<E, PanicResponse>> {
        let inner = poem::middleware::CatchPanic::new().with_handler(PanicResponse).transform(inner);
        Edge { inner, state, allow }
    }
}

/// Answers a panic with a bare 500 that [`Edge`] turns into an `internal` problem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanicResponse;

impl poem::middleware::PanicHandler for PanicResponse {
    type Response = Response;

    fn get_response(&self, _panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.set_data(Panicked);
        response
    }
}

impl<E: Endpoint> Endpoint for Edge<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .filter(|id| is_sane_request_id(id))
            .map_or_else(generate_request_id, str::to_owned);
        let meta = RequestMeta { request_id, client_ip: client_ip(&req, self.state.trust_forwarded_for) };
        let fallback = fallback_route(req.uri().path());
        let allow = self.allow.allow(req.uri().path());
        let method = req.method().clone();
        req.extensions_mut().insert(meta.clone());
        req.extensions_mut().insert(Arc::clone(&self.state));

        let language = crate::pages::PageLanguage::of(&req);
        let (answered, language_cookie) = crate::pages::with_language(
            language,
            crate::pages::with_mount(self.state.mount.clone(), self.inner.call(req)),
        )
        .await;
        let mut response = match answered {
            Ok(response) => response.into_response(),
            // Handlers' `ApiError`s and response enums arrive rendered.
            Err(error) if error.is_from_response() => error.into_response(),
            Err(error) => {
                let operation = error.data::<OperationId>().copied();
                let mut response = problem_for_poem_error(&error, &meta.request_id).into_response();
                if let Some(operation) = operation {
                    response.set_data(operation);
                }
                response
            }
        };
        if response.data::<Panicked>().is_some() {
            tracing::error!(request_id = %meta.request_id, "a handler panicked");
            let operation = response.data::<OperationId>().copied();
            response =
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, &meta.request_id).into_response();
            if let Some(operation) = operation {
                response.set_data(operation);
            }
        }

        let route = response.data::<OperationId>().map_or(fallback, |operation| operation.0);
        let status = response.status();
        let headers = response.headers_mut();
        if status == StatusCode::METHOD_NOT_ALLOWED
            && let Some(value) = allow.and_then(|allow| HeaderValue::from_str(allow).ok())
        {
            headers.insert(ALLOW, value);
        }
        if let Ok(value) = HeaderValue::from_str(&meta.request_id) {
            headers.insert(HeaderName::from_static(REQUEST_ID), value);
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body was never read: the connection cannot carry another request,
            // so say it closes (RFC 9112 §9.6) rather than let a client reuse it and fail mid-write.
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // A language chosen with `?lang=` is kept for the pages only: an API answer sets no cookie.
        let is_page = headers.get(CONTENT_TYPE).is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
        if let Some(value) = language_cookie.filter(|_| is_page).and_then(|cookie| HeaderValue::from_str(&cookie).ok())
        {
            headers.append(SET_COOKIE, value);
        }
        headers.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
        headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
        headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));

        let elapsed = started.elapsed();
        self.state.metrics.observe(route, status, elapsed);
        let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
        if matches!(route, "healthz" | "readyz" | "metrics") {
            // Probes and scrapes every few seconds would drown the log.
            tracing::debug!(request_id = %meta.request_id, %method, route, status = status.as_u16(), elapsed_ms, "request");
        } else {
            tracing::info!(request_id = %meta.request_id, %method, route, status = status.as_u16(), elapsed_ms, "request");
        }
        Ok(response)
    }
}

/// Reads at most `max` bytes of body: a larger `Content-Length` is refused before reading, and
/// a body that turns out larger (chunked, or a lying header) is refused as soon as it passes the
/// limit. Nothing downstream (JSON parsing, hashing) ever sees an oversized body.
pub(crate) struct BodyLimit<E> {
    inner: E,
    max: usize,
}

/// The body limit of `POST /api/v1/portal/states` and `POST /api/v1/invitations`: their largest
/// valid body (500 ids of 128
/// ASCII characters, quoted and comma-separated, about 64 KiB) with room for formatting. No
/// password is hashed there, so the small general limit has nothing to protect on it.
const PORTAL_STATES_BODY_LIMIT: usize = 96 * 1024;

impl<E> BodyLimit<E> {
    pub(crate) fn new(inner: E, max: usize) -> Self {
        Self { inner, max }
    }

    /// The limit for a request to `path`: the configured one, or the batch read's when larger.
    fn limit_for(&self, path: &str) -> usize {
        if path.ends_with("/api/v1/portal/states") || path.ends_with("/api/v1/invitations") {
            self.max.max(PORTAL_STATES_BODY_LIMIT)
        } else {
            self.max
        }
    }
}

impl<E: Endpoint> Endpoint for BodyLimit<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let limit = self.limit_for(req.uri().path());
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
            let body = req.take_body();
            let bytes = body.into_bytes_limit(limit).await.map_err(|error| match error {
                ReadBodyError::PayloadTooLarge => poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE),
                _ => poem::Error::from_status(StatusCode::BAD_REQUEST),
            })?;
            req.set_body(bytes);
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked_and_generated() {
        assert!(is_sane_request_id("abc-DEF_123"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("has space"));
        assert!(!is_sane_request_id(&"x".repeat(65)));
        let generated = generate_request_id();
        assert_eq!(generated.len(), 32);
        assert!(is_sane_request_id(&generated));
        assert_ne!(generated, generate_request_id());
    }

    /// A limiter and the clock it reads (clones of a fake clock share its time).
    #[test]
    fn the_allow_index_prefers_literal_segments_and_adds_head_to_get() {
        let mut index = AllowIndex::default();
        index.add("/api/v1/clients/{id}", &[Method::GET, Method::PATCH]);
        index.add("/api/v1/clients/current", &[Method::DELETE]);
        index.add("/staff/clients/:id/:action", &[Method::POST]);
        assert_eq!(index.allow("/api/v1/clients/42"), Some("GET, HEAD, PATCH"));
        assert_eq!(index.allow("/api/v1/clients/current"), Some("DELETE"));
        assert_eq!(index.allow("/staff/clients/42/invite"), Some("POST"));
        assert_eq!(index.allow("/api/v1/clients"), None);
        assert_eq!(index.allow("/api/v1/clients//"), None);
    }
}
