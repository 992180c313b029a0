//! The staff-identity seam (design §7): "which staff member of which practice is this
//! request?". The staff API and the staff pages ask a [`StaffAuthenticator`] and nothing else.
//!
//! The bundled server answers with [`BundledStaffAuth`]: staff keys (`Authorization: Bearer
//! pst_…`) on the API, and on the pages a server-side staff session made by signing in with a
//! key (the `__Host-portal_staff` cookie holds a `pss_…` session token, never the key). A host
//! that embeds the portal (an EHR) supplies its own authenticator, e.g. one that reads its own
//! session cookie, through [`StaffAuth::Host`]; the pages then show no key sign-in form.

use std::sync::Arc;

use async_trait::async_trait;
use poem::Request;
use poem::http::header::AUTHORIZATION;
use portal_core::service::Infrastructure;
use portal_core::{BoxError, DynPortalService, StaffMember};

use crate::pages::{STAFF_COOKIE, read_cookie};

/// Where a staff request arrived: the JSON API or the server-rendered pages. The bundled
/// authenticator takes a bearer key on the API and only its session cookie on the pages; a host
/// whose one sign-in serves both may ignore it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffSurface {
    /// `/api/v1/clients…` and the other staff operations of the OpenAPI document.
    Api,
    /// `/staff/…`.
    Pages,
}

/// Why a staff request could not be checked (not: why it was refused; a request that names no
/// one is `Ok(None)`). Answered 503 (or as the core's infrastructure error says), with the
/// cause logged under the request id and never shown.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The portal's own check (staff keys, staff sessions) failed.
    #[error("the staff check failed")]
    Portal(#[from] Infrastructure),
    /// A host's authenticator failed (its session store is down, …).
    #[error("the host's staff check failed")]
    Host(#[source] BoxError),
}

/// Tells the portal which staff member of which practice a request comes from.
///
/// Implementations MUST return `Ok(None)` for a request that carries no valid credential (the
/// API answers 401 `unauthenticated`, the pages ask to sign in), and MUST NOT return a member of
/// a practice the request's credential does not belong to: every staff operation is confined to
/// [`StaffMember::practice_id`]. The member's `id` and `label` name the actor in the audit trail.
#[async_trait]
pub trait StaffAuthenticator: Send + Sync + 'static {
    /// The staff member behind `req`, arriving on `surface`.
    ///
    /// # Errors
    /// [`AuthError`] only when the check itself could not be made.
    async fn authenticate(&self, req: &Request, surface: StaffSurface) -> Result<Option<StaffMember>, AuthError>;
}

/// How the application authenticates staff.
#[derive(Clone, Default)]
pub enum StaffAuth {
    /// The bundled staff keys and staff sessions ([`BundledStaffAuth`]); the pages have the key
    /// sign-in form at `/staff/sign-in`.
    #[default]
    Bundled,
    /// The host's own sign-in. `/staff/sign-in` shows no form: an unauthenticated page request
    /// answers 401 with a link to `sign_in_url` when one is given, and `POST /staff/sign-in` is
    /// refused. Signing out is the host's business too.
    Host {
        /// The host's authenticator.
        authenticator: Arc<dyn StaffAuthenticator>,
        /// Where the host's staff sign in (shown as a link on the 401 page), e.g. `/login`.
        sign_in_url: Option<String>,
    },
}

impl std::fmt::Debug for StaffAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bundled => f.write_str("StaffAuth::Bundled"),
            Self::Host { sign_in_url, .. } => {
                f.debug_struct("StaffAuth::Host").field("sign_in_url", sign_in_url).finish_non_exhaustive()
            }
        }
    }
}

/// The bundled server's authenticator: a staff key as a bearer token on the API, a staff session
/// cookie on the pages.
///
/// A staff session is read from storage with its key on every request, so the pages refuse a
/// revoked or expired key on the next request. On the API an active key is remembered for a
/// second ([`PortalService::authenticate_staff`]): otherwise every staff request would be two
/// reads, the key and then what it asks for. So an expired key is refused the moment it expires
/// and a key revoked through this server's service at once, but a key revoked by another
/// process (`portal-server staff-key revoke`, a second server on the same database) is refused
/// here within a second: the usual price of such a cache, and a small one.
///
/// [`PortalService::authenticate_staff`]: portal_core::service::PortalService::authenticate_staff
pub struct BundledStaffAuth {
    service: Arc<DynPortalService>,
}

impl BundledStaffAuth {
    /// Over the service whose store holds the keys and sessions.
    #[must_use]
    pub fn new(service: Arc<DynPortalService>) -> Self {
        Self { service }
    }
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[async_trait]
impl StaffAuthenticator for BundledStaffAuth {
    async fn authenticate(&self, req: &Request, surface: StaffSurface) -> Result<Option<StaffMember>, AuthError> {
        match surface {
            StaffSurface::Api => match bearer(req) {
                Some(key) => Ok(self.service.authenticate_staff(key).await?),
                None => Ok(None),
            },
            StaffSurface::Pages => match read_cookie(req, STAFF_COOKIE) {
                Some(token) => Ok(self.service.authenticate_staff_session(&token).await?),
                None => Ok(None),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_header_carries_a_key() {
        let with = |value: &str| Request::builder().header(AUTHORIZATION, value).finish();
        assert_eq!(bearer(&with("Bearer pst_abc")), Some("pst_abc"));
        assert_eq!(bearer(&with("bearer  pst_abc ")), Some("pst_abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&Request::builder().finish()), None);
    }
}
