//! The hashing gate: a request that would hash a password is refused with 503 `busy` before
//! its body is read when the hashing pool has no room for it.
//!
//! Under a flood of sign-ins the pool is full nearly all the time, and every refused request
//! would otherwise still be read, parsed, routed and checked by its handler before being told
//! so. Refusing at the edge makes each refusal cost a path comparison and one look at the
//! pool, which leaves the CPU to the requests that can be served (a staff lookup). The
//! handlers look again after the body has arrived (the pool may have filled meanwhile), and
//! the pool itself enforces its bound whatever the look-ups said.
//!
//! A body that is already on the wire is drained by the HTTP server if it is small and at
//! hand; otherwise the connection is closed after the answer, so a client that never sends
//! its body costs nothing either.
//!
//! The refusal is answered after a pause ([`BUSY_ANSWER_PAUSE`]). A refusal is cheap, but a
//! client that asks again as soon as it is answered (a script, an attack tool, a retry loop)
//! turns cheap refusals into tens of thousands a second, and answering them then takes the CPU
//! from everything else: the hashes in progress and the staff requests beside the flood. Paused,
//! each such connection costs one timer until its answer and asks at most four times a second.
//! A person who meets the busy page loses a quarter of a second.

use std::sync::Arc;
use std::time::Duration;

use poem::http::Method;
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OperationId;

use super::RequestMeta;
use crate::AppState;
use crate::error::ApiError;

/// How long a request refused at the gate waits for its 503 `busy` (see the module's
/// documentation).
pub(crate) const BUSY_ANSWER_PAUSE: Duration = Duration::from_millis(250);

/// Which requests hash a password, so the gate knows what to refuse when the pool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// An API operation (answered with problem+json), by its operation id.
    Api(&'static str),
    /// A page form (answered with the busy page).
    Page,
}

/// The request hashes a password: sign-in, registration and reset completion, through the API
/// or the pages. `path` is the application's own (a host's mount prefix is already stripped).
pub(crate) fn hashing_request(method: &Method, path: &str) -> Option<Hashing> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/api/v1/portal/sessions" => Some(Hashing::Api("sign_in")),
        "/api/v1/portal/registrations" => Some(Hashing::Api("register")),
        "/api/v1/portal/password-resets" => Some(Hashing::Api("complete_password_reset")),
        "/portal/invitation" | "/portal/password-reset" => Some(Hashing::Page),
        _ => {
            // `/portal/{practice}/sign-in`: one non-empty segment between the two.
            let practice = path.strip_prefix("/portal/")?.strip_suffix("/sign-in")?;
            (!practice.is_empty() && !practice.contains('/')).then_some(Hashing::Page)
        }
    }
}

/// Refuses hashing requests while the pool is full; lets everything else through untouched.
pub(crate) struct HashingGate<E> {
    inner: E,
}

impl<E> HashingGate<E> {
    pub(crate) fn new(inner: E) -> Self {
        Self { inner }
    }
}

impl<E: Endpoint> Endpoint for HashingGate<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if let Some(hashing) = hashing_request(req.method(), req.uri().path())
            && let Some(state) = req.data::<Arc<AppState>>()
            && state.hash_pool.is_saturated()
        {
            let request_id = req.data::<RequestMeta>().map_or("", |meta| meta.request_id.as_str());
            // The 503s are counted in the metrics; a line per refusal would flood the log.
            tracing::debug!(request_id, "request refused before its body: busy (hashing pool full)");
            tokio::time::sleep(BUSY_ANSWER_PAUSE).await;
            return Ok(match hashing {
                Hashing::Api(operation) => {
                    let mut response = ApiError::busy(request_id).into_response();
                    response.set_data(OperationId(operation));
                    response
                }
                Hashing::Page => crate::pages::busy_page().into_response(),
            });
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_posts_that_hash_pass_through_the_gate() {
        let post = Method::POST;
        assert_eq!(hashing_request(&post, "/api/v1/portal/sessions"), Some(Hashing::Api("sign_in")));
        assert_eq!(hashing_request(&post, "/api/v1/portal/registrations"), Some(Hashing::Api("register")));
        assert_eq!(
            hashing_request(&post, "/api/v1/portal/password-resets"),
            Some(Hashing::Api("complete_password_reset"))
        );
        assert_eq!(hashing_request(&post, "/portal/invitation"), Some(Hashing::Page));
        assert_eq!(hashing_request(&post, "/portal/password-reset"), Some(Hashing::Page));
        assert_eq!(hashing_request(&post, "/portal/sunrise/sign-in"), Some(Hashing::Page));
        // Nothing that does not hash: link checks, sign-out, staff sign-in, reads.
        for path in [
            "/api/v1/portal/invitations/verify",
            "/api/v1/portal/password-resets/verify",
            "/api/v1/portal/sessions/current",
            "/portal/sign-out",
            "/staff/sign-in",
            "/portal//sign-in",
            "/portal/a/b/sign-in",
            "/api/v1/clients",
        ] {
            assert_eq!(hashing_request(&post, path), None, "{path}");
        }
        assert_eq!(hashing_request(&Method::GET, "/portal/sunrise/sign-in"), None);
        assert_eq!(hashing_request(&Method::GET, "/api/v1/portal/sessions"), None);
    }
}
