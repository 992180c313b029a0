//! The client and staff pages (issue 6), server-rendered HTML, served next to the API. No page runs a
//! script but those of a passkey ceremony (WebAuthn has no other way), which load one same-origin file:
//!
//! | path | page |
//! |---|---|
//! | `GET /portal/invitation?token=…` | moves the token into a cookie, 303 to `/portal/invitation` |
//! | `GET/POST /portal/invitation` | the registration form; the POST redeems the invitation |
//! | `GET /portal/password-reset?token=…` | same for reset links |
//! | `GET/POST /portal/password-reset` | the new-password form; the POST redeems the link |
//! | `GET/POST /portal/{practice}/sign-in` | sign-in for one practice (named by its slug) |
//! | `GET/POST /portal/{practice}/forgot-password` | a client asks for a reset link (when the practice allows it) |
//! | `POST /portal/{practice}/second-factor` | the second step of sign-in (an app's code or a recovery code) |
//! | `POST /portal/second-factor/enrol` | the app a practice requires, confirmed right after the password |
//! | `POST /portal/{practice}/sign-in/passkey[/finish]` | passkey-first sign-in |
//! | `POST /portal/second-factor/enrol/passkey[/finish]` | a passkey as the factor a practice requires, right after the password |
//! | `GET /portal/factors` | "Sign-in security": the client's second factors |
//! | `POST /portal/factors/passkeys[/finish]` | register a passkey |
//! | `POST /portal/factors/{totp,totp/confirm,recovery-codes}`, `POST /portal/factors/{id}/remove` | set up an app, new recovery codes, remove |
//! | `GET /portal/home` | the signed-in landing page |
//! | `POST /portal/sign-out` | ends the session |
//! | `GET /portal/static/portal.css` | the stylesheet |
//! | `GET /portal/static/passkeys.js` | the one script, on the pages that run a passkey ceremony (their CSP allows `script-src 'self'`) |
//! | `GET /staff` | 303 to the client list |
//! | `GET/POST /staff/sign-in`, `POST /staff/sign-out` | staff sign in with a staff key |
//! | `GET /staff/clients[?portal=…][&q=…][&cursor=…]` | the client list, a page at a time, searched and filtered by portal status |
//! | `POST /staff/invitations` | invitations in bulk: the list's checked clients, or every client with no account |
//! | `GET /staff/clients/{id}` | a client's profile, portal panel and audit trail |
//! | `POST /staff/clients/{id}/{invite,reset,enabled}` | the panel's buttons |
//!
//! Opening a page never consumes a token: only the form POSTs redeem. Every page carries a strict
//! Content-Security-Policy (the edge adds `Cache-Control: no-store` and `Referrer-Policy:
//! no-referrer` to every response). Every form carries a CSRF token that must equal the
//! `__Host-portal_csrf` cookie (double submit), on top of `SameSite=Strict`.
//!
//! Every page is an askama template in `crates/portal-http/templates/` (a base layout, one
//! template per page, `_partial` pieces) filled from a typed struct; the engine escapes every
//! value, so no handler assembles HTML.

mod client;
mod delivery;
mod factors;
mod forgot_password;
mod language;
mod links;
mod message;
mod passkeys;
mod staff;
mod staff_invitations;
mod staff_list;
mod staff_settings;
mod staff_views;
mod texts;
mod zone;

pub(crate) use language::{PageLanguage, language, prefer_record_language, with_language};
pub(crate) use texts::{staff_texts, texts};
pub(crate) use zone::known_time_zone;

use poem::http::header::{CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE};
use poem::http::{HeaderValue, Method, StatusCode};
use poem::{IntoResponse, Request, Response, Route, get, handler};
use poem_openapi::OperationId;
use std::sync::Arc;

pub(crate) use client::busy_page;
pub(crate) use message::Message;
pub(crate) use staff::STAFF_COOKIE;

/// The language links at the foot of every page: each language in its own words.
pub(crate) const LANGUAGE_LINKS: &[(&str, &str)] = &[("en", "English"), ("es", "Español")];

/// The stylesheet.
const STYLESHEET: &str = include_str!("../../static/portal.css");

/// The Content-Security-Policy of every page: no scripts at all, styles and images only from
/// this origin, forms only to this origin, never framed.
pub(crate) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The Content-Security-Policy of the pages that run a passkey ceremony: as
/// [`CONTENT_SECURITY_POLICY`], plus the portal's one script file from this origin (no inline
/// script, no other origin, no `eval`).
pub(crate) const PASSKEY_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The passkey pages' script (WebAuthn needs one; every other page runs none).
const PASSKEY_SCRIPT: &str = include_str!("../../static/passkeys.js");

/// The session cookie (holds the session bearer token).
pub(crate) const SESSION_COOKIE: &str = "__Host-portal_session";
/// The CSRF cookie (double submit: every form repeats its value in a hidden field).
pub(crate) const CSRF_COOKIE: &str = "__Host-portal_csrf";
/// The invitation link's token, moved out of the URL.
pub(crate) const INVITE_COOKIE: &str = "__Host-portal_invite";
/// The reset link's token, moved out of the URL.
pub(crate) const RESET_COOKIE: &str = "__Host-portal_reset";
/// How long a link token may wait in its cookie (15 minutes): long enough to fill the form.
const LINK_COOKIE_MAX_AGE: u32 = 15 * 60;

/// The methods each page route answers, for the `Allow` header of a 405; keep it in step with
/// [`mount`] (a test sends every listed method to every route and expects no 405).
pub(crate) const ROUTE_METHODS: &[(&str, &[Method])] = &[
    ("/portal/static/portal.css", &[Method::GET]),
    ("/portal/static/passkeys.js", &[Method::GET]),
    ("/portal/:practice/sign-in/passkey", &[Method::POST]),
    ("/portal/:practice/sign-in/passkey/finish", &[Method::POST]),
    ("/portal/second-factor/enrol/passkey", &[Method::POST]),
    ("/portal/second-factor/enrol/passkey/finish", &[Method::POST]),
    ("/portal/factors/passkeys", &[Method::POST]),
    ("/portal/factors/passkeys/finish", &[Method::POST]),
    ("/portal/invitation", &[Method::GET, Method::POST]),
    ("/portal/password-reset", &[Method::GET, Method::POST]),
    ("/portal/:practice/sign-in", &[Method::GET, Method::POST]),
    ("/portal/:practice/forgot-password", &[Method::GET, Method::POST]),
    ("/portal/:practice/second-factor", &[Method::POST]),
    ("/portal/second-factor/enrol", &[Method::POST]),
    ("/portal/factors", &[Method::GET]),
    ("/portal/factors/totp", &[Method::POST]),
    ("/portal/factors/totp/confirm", &[Method::POST]),
    ("/portal/factors/recovery-codes", &[Method::POST]),
    ("/portal/factors/:id/remove", &[Method::POST]),
    ("/portal/home", &[Method::GET]),
    ("/portal/sign-out", &[Method::POST]),
    ("/staff", &[Method::GET]),
    ("/staff/sign-in", &[Method::GET, Method::POST]),
    ("/staff/sign-out", &[Method::POST]),
    ("/staff/clients", &[Method::GET]),
    ("/staff/invitations", &[Method::POST]),
    ("/staff/clients/:id", &[Method::GET]),
    ("/staff/clients/:id/:action", &[Method::POST]),
    ("/staff/settings", &[Method::GET, Method::POST]),
];

/// Where the portal is mounted in the host's URL space, and whether it serves the bundled
/// client list, for the links and redirects of the request being answered.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    /// "" at the root, "/client-portal" under a prefix.
    pub(crate) base_path: Arc<str>,
    /// Whether `/staff/clients` (the bundled client list) exists.
    pub(crate) client_list: bool,
}

tokio::task_local! {
    /// The [`Mount`] of the request being answered. The edge middleware sets it around every
    /// request from the configuration, so templates and redirects need not carry it through
    /// every handler.
    static MOUNT: Mount;
}

/// Answers `future` with `mount` as the mount point of its links and redirects.
pub(crate) async fn with_mount<F: std::future::Future>(mount: Mount, future: F) -> F::Output {
    MOUNT.scope(mount, future).await
}

/// The mount point of the request being answered ("" at the root). Templates write every
/// portal link as `{{ crate::pages::base_path() }}/staff/…`.
pub(crate) fn base_path() -> Arc<str> {
    MOUNT.try_with(|mount| Arc::clone(&mount.base_path)).unwrap_or_else(|_| Arc::from(""))
}

/// Whether pages may link to the bundled client list (a host that owns its clients has none).
pub(crate) fn client_list_shown() -> bool {
    MOUNT.try_with(|mount| mount.client_list).unwrap_or(true)
}

/// The page routes of the bundled client records, left out when a host owns its clients.
pub(crate) const CLIENT_LIST_ROUTES: &[&str] = &["/staff", "/staff/clients", "/staff/invitations"];

/// Adds the page routes to the application's routes (without [`CLIENT_LIST_ROUTES`] unless
/// `client_list`).
pub(crate) fn mount(route: Route, client_list: bool) -> Route {
    let route = if client_list {
        route
            .at("/staff", get(staff_home))
            .at("/staff/clients", get(staff_list::client_list))
            .at("/staff/invitations", poem::post(staff_invitations::send_invitations))
    } else {
        route
    };
    route
        .at("/portal/static/portal.css", get(stylesheet))
        .at("/portal/static/passkeys.js", get(passkey_script))
        .at("/portal/:practice/sign-in/passkey", poem::post(passkeys::sign_in_start))
        .at("/portal/:practice/sign-in/passkey/finish", poem::post(passkeys::sign_in_finish))
        .at("/portal/second-factor/enrol/passkey", poem::post(passkeys::required_start))
        .at("/portal/second-factor/enrol/passkey/finish", poem::post(passkeys::required_finish))
        .at("/portal/factors/passkeys", poem::post(passkeys::register_start))
        .at("/portal/factors/passkeys/finish", poem::post(passkeys::register_finish))
        .at("/portal/invitation", get(links::invitation_page).post(links::invitation_submit))
        .at("/portal/password-reset", get(links::reset_page).post(links::reset_submit))
        .at("/portal/:practice/sign-in", get(client::sign_in_page).post(client::sign_in_submit))
        .at(
            "/portal/:practice/forgot-password",
            get(forgot_password::forgot_password_page).post(forgot_password::forgot_password_submit),
        )
        .at("/portal/:practice/second-factor", poem::post(factors::second_step_submit))
        .at("/portal/second-factor/enrol", poem::post(factors::required_enrol_submit))
        .at("/portal/factors", get(factors::factors))
        .at("/portal/factors/totp", poem::post(factors::enrol_start))
        .at("/portal/factors/totp/confirm", poem::post(factors::enrol_confirm))
        .at("/portal/factors/recovery-codes", poem::post(factors::new_codes))
        .at("/portal/factors/:id/remove", poem::post(factors::remove))
        .at("/portal/home", get(client::home))
        .at("/portal/sign-out", poem::post(client::sign_out))
        .at("/staff/sign-in", get(staff::staff_sign_in_page).post(staff::staff_sign_in))
        .at("/staff/sign-out", poem::post(staff::staff_sign_out))
        .at("/staff/clients/:id", get(staff::client_page))
        .at("/staff/clients/:id/:action", poem::post(staff::client_action))
        .at("/staff/settings", get(staff_settings::settings_page).post(staff_settings::settings_submit))
}

#[handler]
fn staff_home() -> Response {
    see_other("page_staff_clients", "/staff/clients", Vec::new())
}

#[handler]
fn stylesheet() -> Response {
    let mut response = Response::builder().content_type("text/css; charset=utf-8").body(STYLESHEET);
    response.set_data(OperationId("page_stylesheet"));
    response
}

#[handler]
fn passkey_script() -> Response {
    let mut response = Response::builder().content_type("text/javascript; charset=utf-8").body(PASSKEY_SCRIPT);
    response.set_data(OperationId("page_passkey_script"));
    response
}

/// A rendered page on its way out.
pub(crate) struct Page {
    status: StatusCode,
    /// The HTML, rendered (and escaped) by the template engine.
    body: String,
    cookies: Vec<String>,
    retry_after: Option<u64>,
    route: &'static str,
    /// The language it was rendered in (`Content-Language`).
    language: portal_core::Language,
    /// Whether it runs the passkey script (its CSP then allows it).
    passkey_script: bool,
}

impl Page {
    /// Renders a page template. A template that fails to render (only a formatting error can
    /// make it) answers a bare 500 rather than half a page.
    pub(crate) fn render(route: &'static str, status: StatusCode, template: &impl askama::Template) -> Self {
        let (status, body) = match template.render() {
            Ok(body) => (status, body),
            Err(error) => {
                tracing::error!(route, %error, "page template failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.".to_owned())
            }
        };
        Self {
            status,
            body,
            cookies: Vec::new(),
            retry_after: None,
            route,
            language: language(),
            passkey_script: false,
        }
    }

    /// Adds a `Set-Cookie` header.
    pub(crate) fn cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// Adds the `Set-Cookie` header of a fresh CSRF value, when the browser needed one.
    pub(crate) fn csrf_cookie(self, cookie: Option<String>) -> Self {
        match cookie {
            Some(cookie) => self.cookie(cookie),
            None => self,
        }
    }

    /// Lets the page run the passkey script (`/portal/static/passkeys.js`, and nothing else).
    pub(crate) fn with_passkey_script(mut self) -> Self {
        self.passkey_script = true;
        self
    }

    /// Adds a `Retry-After` header.
    pub(crate) fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = Response::builder()
            .status(self.status)
            .header(CONTENT_TYPE, "text/html; charset=utf-8")
            .header(
                "content-security-policy",
                if self.passkey_script { PASSKEY_CONTENT_SECURITY_POLICY } else { CONTENT_SECURITY_POLICY },
            )
            .header("content-language", self.language.code())
            .body(self.body);
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(SET_COOKIE, value);
            }
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.set_data(OperationId(self.route));
        response
    }
}

/// A redirect (303 See Other) with cookies.
pub(crate) fn see_other(route: &'static str, location: &str, cookies: Vec<String>) -> Response {
    // A portal path: under a prefix it lives below the mount point.
    redirect(route, format!("{}{location}", base_path()), cookies)
}

/// 303 to a URL of the host's own (its sign-in page), written as given: not below the mount
/// point.
pub(crate) fn see_other_to_host(route: &'static str, location: &str) -> Response {
    redirect(route, location.to_owned(), Vec::new())
}

fn redirect(route: &'static str, location: String, cookies: Vec<String>) -> Response {
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .finish();
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response.set_data(OperationId(route));
    response
}

/// The value of a request cookie.
pub(crate) fn read_cookie(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// A `__Host-` cookie: `Secure`, `HttpOnly`, `Path=/`, no `Domain`.
///
/// `SameSite=Strict` for the session and CSRF cookies. Link cookies are `SameSite=Lax`: they are
/// set on the answer to a click in a mail client (a cross-site navigation), and browsers do not
/// send `Strict` cookies on the redirect that follows such a click. They only carry the link's
/// token, which the URL carried anyway, and they live 15 minutes.
pub(crate) fn set_cookie(name: &str, value: &str, same_site: &str, max_age: Option<u32>) -> String {
    let max_age = max_age.map_or_else(String::new, |seconds| format!("; Max-Age={seconds}"));
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite={same_site}{max_age}")
}

/// Deletes a cookie.
pub(crate) fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Stores a link token out of the URL.
pub(crate) fn link_cookie(name: &str, token: &str) -> String {
    set_cookie(name, token, "Lax", Some(LINK_COOKIE_MAX_AGE))
}

/// 32 random bytes as hex, for the CSRF cookie.
fn random_hex() -> Option<String> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The CSRF value of this browser: the cookie's when it has a sane one, else a new one (and the
/// cookie that sets it).
pub(crate) fn csrf_token(req: &Request) -> (String, Option<String>) {
    if let Some(existing) = read_cookie(req, CSRF_COOKIE).filter(|value| is_sane_csrf(value)) {
        return (existing, None);
    }
    let fresh = random_hex().unwrap_or_default();
    let cookie = set_cookie(CSRF_COOKIE, &fresh, "Strict", None);
    (fresh, Some(cookie))
}

fn is_sane_csrf(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a submitted form's CSRF field matches the cookie (compared in constant time).
pub(crate) fn csrf_ok(req: &Request, submitted: &str) -> bool {
    let Some(cookie) = read_cookie(req, CSRF_COOKIE).filter(|value| is_sane_csrf(value)) else {
        return false;
    };
    if cookie.len() != submitted.len() {
        return false;
    }
    cookie.bytes().zip(submitted.bytes()).fold(0_u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The 403 page for a form whose CSRF token does not match (`wide` on staff pages).
pub(crate) fn csrf_refused(wide: bool) -> Page {
    let message = Message::said(&texts().form_expired);
    let message = if wide { message.wide() } else { message };
    message.page("page_csrf", StatusCode::FORBIDDEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_the_host_prefix_rules() {
        let cookie = set_cookie(SESSION_COOKIE, "abc", "Strict", None);
        assert_eq!(cookie, "__Host-portal_session=abc; Path=/; Secure; HttpOnly; SameSite=Strict");
        assert!(link_cookie(INVITE_COOKIE, "t").ends_with("SameSite=Lax; Max-Age=900"));
        assert!(clear_cookie(RESET_COOKIE).ends_with("Max-Age=0"));
    }

    #[test]
    fn csrf_values_are_checked_strictly() {
        assert!(is_sane_csrf(&"a".repeat(64)));
        assert!(!is_sane_csrf(&"a".repeat(63)));
        assert!(!is_sane_csrf(&"g".repeat(64)));
    }
}
