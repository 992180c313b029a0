//! The pages in a real browser against the server as a clinic runs it: the `portal-server`
//! binary on SQLite with mail written as `.eml` files, driven through headless Chromium and
//! chromedriver with fantoccini. Every page the test reaches gets an accessibility pass
//! (axe-core; serious and critical violations fail), the staff panel's three looks and the
//! client pages are screenshotted at 1280 and 390 px, and a second test goes through the toggle
//! and the forms with the keyboard alone.
//!
//! Runs when `PORTAL_TEST_CHROMEDRIVER` names the chromedriver binary (Debian: `chromium` and
//! `chromium-driver`, so `PORTAL_TEST_CHROMEDRIVER=/usr/bin/chromedriver`) and then needs
//! `PORTAL_TEST_AXE_JS` (axe-core's `axe.min.js`); without chromedriver it says so and passes,
//! like the PostgreSQL tests without `PORTAL_TEST_POSTGRES_URL`. `.ci/run` sets both.
//! Screenshots land in `target/tmp/browser-screenshots/`, and also in `docs/screenshots/` with
//! `PORTAL_UPDATE_SCREENSHOTS=1`.

mod axe;
mod beyond;
mod browser;
mod chromedriver;
mod languages;
mod passkeys;
mod second_factors;
mod virtual_authenticator;

use portal_testkit::{EmlDir, Inbox, LinkKind, PortalServer, ServerBuilder};
use serde_json::{Value, json};

use crate::axe::Axe;
use crate::browser::Browser;
use crate::chromedriver::Chromedriver;

/// The variable naming chromedriver; unset, the browser tests do not run.
const CHROMEDRIVER_VAR: &str = "PORTAL_TEST_CHROMEDRIVER";
/// The first practice's name, as a clinic would set it.
const PRACTICE: &str = "Sunrise Therapy";
/// Its time zone: staff pages state times in it, with the zone named.
const ZONE: &str = "America/Chicago";
const PASSWORD: &str = "violet kettles hum at dawn";
const NEW_PASSWORD: &str = "seven quiet herons wade slowly";

/// One browser test at a time: each starts a server and two Chromiums, and together on a loaded
/// two-core machine they starve each other (the server's first database connection included).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server, chromedriver and axe-core: what each browser test starts with.
struct Kit {
    // Dropped before the server: the browsers go first.
    driver: Chromedriver,
    axe: Axe,
    http: reqwest::Client,
    staff_key: String,
    inbox: Inbox<EmlDir>,
    server: PortalServer,
    /// Held until everything above has stopped.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Kit {
    /// Starts everything, or says the test is skipped and returns `None` when chromedriver is
    /// not configured.
    async fn start(test: &str) -> Option<Self> {
        let Ok(chromedriver) = std::env::var(CHROMEDRIVER_VAR) else {
            eprintln!("{test}: skipped, {CHROMEDRIVER_VAR} is not set (see the README's browser test)");
            return None;
        };
        let axe = Axe::from_env();
        let turn = ONE_AT_A_TIME.lock().await;
        // fantoccini's rustls connector brings the aws-lc-rs provider next to sqlx's ring one.
        portal_mail::install_crypto_provider();
        // As a clinic tries it first: SQLite and `.eml` files in the data directory, on loopback.
        // The browser visits `localhost`, the server's public URL too: passkeys need a host name
        // (a relying-party id is never an IP address) and a secure context, which plain-HTTP
        // `localhost` is.
        let server = ServerBuilder::new(env!("CARGO_BIN_EXE_portal-server"))
            .localhost_public_url()
            .env("PORTAL_FIRST_PRACTICE", PRACTICE)
            .env("PORTAL_FIRST_PRACTICE_TIME_ZONE", ZONE)
            .start()
            .unwrap_or_else(|error| panic!("{error}"));
        let staff_key = server.first_run().unwrap_or_else(|error| panic!("{error}")).staff_key;
        let inbox = Inbox::new(server.mail());
        let driver = Chromedriver::start(&chromedriver).await;
        let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        Some(Self { driver, axe, http, staff_key, inbox, server, _turn: turn })
    }

    /// A new browser with an empty profile.
    async fn browser(&self) -> Browser<'_> {
        Browser::open(&self.driver, self.server.public_url(), &self.axe).await
    }

    /// A client record, made through the staff API as the practice software would; its id.
    async fn create_client(&self, name: &str, email: &str) -> String {
        let made: Value = self
            .http
            .post(format!("{}/api/v1/clients", self.server.base_url()))
            .bearer_auth(&self.staff_key)
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .expect("the client is created")
            .json()
            .await
            .expect("the created client");
        made["id"].as_str().expect("the client's id").to_owned()
    }

    /// Sends the client's portal invitation through the staff API.
    async fn invite_through_the_api(&self, id: &str) {
        let sent = self
            .http
            .post(format!("{}/api/v1/clients/{id}/portal/invitation", self.server.base_url()))
            .bearer_auth(&self.staff_key)
            .send()
            .await
            .expect("the invitation is sent");
        assert_eq!(sent.status(), reqwest::StatusCode::ACCEPTED, "the invitation through the API");
    }

    /// The link of `kind` in the next email to `to`, as written in the `.eml` file.
    async fn emailed_link(&self, to: &str, kind: LinkKind) -> String {
        let link = self.inbox.next_link(to, kind).await;
        assert!(link.url.starts_with(self.server.public_url()), "{} does not lead to the server", link.url);
        link.url
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_is_invited_registers_is_turned_off_and_on_and_resets_the_password_in_a_real_browser() {
    let Some(kit) = Kit::start("the browser flow").await else { return };

    // Staff sign in with the key the first run printed.
    let staff = kit.browser().await;
    staff.go("/staff", "Staff sign-in").await;
    assert_eq!(staff.path().await, "/staff/sign-in");
    staff.screenshot("staff-sign-in").await;
    staff.fill("#key", &kit.staff_key).await;
    staff.click("main button[type=submit]", "Clients").await;

    // Client records come from the practice software, through the API.
    let ada = kit.create_client("Ada Lovelace", "ada@example.org").await;
    kit.create_client("Edsger Dijkstra", "edsger@example.org").await;
    // One more, invited through the API, so the client list shows one of each kind.
    let grace = kit.create_client("Grace Hopper", "grace@example.org").await;
    kit.invite_through_the_api(&grace).await;
    let profile = format!("/staff/clients/{ada}");

    // Staff invite from the panel.
    staff.go(&profile, "Send portal invite").await;
    staff.click("form[action$='/invite'] button", "Invitation queued.").await;
    staff.go(&profile, "Resend invite").await;
    staff.screenshot("staff-panel-no-account").await;

    // The client opens the emailed link and registers.
    let invitation = kit.emailed_link("ada@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    client.go(&invitation, &format!("{PRACTICE} invited you")).await;
    assert_eq!(client.path().await, "/portal/invitation", "the token left the address bar");
    client.screenshot("client-invitation").await;
    client.fill("#username", "ada").await;
    client.fill("#password", "short").await;
    client.click("main button[type=submit]", "use at least 15 characters").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Account created — sign in").await;

    // Signs in.
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    let sign_in = client.path().await;
    client.screenshot("client-sign-in").await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Welcome, Ada Lovelace").await;
    assert_eq!(client.path().await, "/portal/home");
    client.screenshot("client-home").await;

    // Staff see the account and turn access off: the client's open page is signed out.
    staff.go(&profile, "Portal access on").await;
    assert_eq!(staff.attribute("button[role=switch]", "aria-checked").await.as_deref(), Some("true"));
    staff.screenshot("staff-panel-active").await;
    staff.fill("#reason", "moved away").await;
    staff.click("button[role=switch]", "Portal access turned off; the client was signed out.").await;
    staff.go(&profile, "Portal access off").await;
    assert_eq!(staff.attribute("button[role=switch]", "aria-checked").await.as_deref(), Some("false"));
    staff.screenshot("staff-panel-disabled").await;
    // The audit trail speaks in words, with times in the practice's zone, named.
    staff.go(&profile, "Portal access turned off: moved away").await;
    staff.go(&profile, &format!("({ZONE})")).await;
    staff.go("/staff/clients", "Edsger Dijkstra").await;
    staff.screenshot("staff-clients").await;
    client.reload("You are signed out").await;
    client.go(&sign_in, "Sign in").await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "Your portal account is disabled — contact your provider.").await;

    // On again, then a password reset from the panel.
    staff.go(&profile, "Portal access off").await;
    staff.click("button[role=switch]", "Portal access turned on.").await;
    staff.click("form[action$='/reset'] button", "Password-reset email queued.").await;

    // The client sets a new password from the emailed link and signs in with it.
    let reset = kit.emailed_link("ada@example.org", LinkKind::PasswordReset).await;
    client.go(&reset, "Choose a new password").await;
    assert_eq!(client.path().await, "/portal/password-reset", "the token left the address bar");
    client.screenshot("client-password-reset").await;
    client.fill("#password", NEW_PASSWORD).await;
    client.click("main button[type=submit]", "Password changed — sign in").await;
    client.click("main a", &format!("To your {PRACTICE} client portal")).await;
    client.fill("#username", "ada").await;
    client.fill("#password", PASSWORD).await;
    client.click("main button[type=submit]", "The username or password is not right.").await;
    client.fill("#username", "ada").await;
    client.fill("#password", NEW_PASSWORD).await;
    client.click("main button[type=submit]", "Welcome, Ada Lovelace").await;
    client.click("main button[type=submit]", &format!("To your {PRACTICE} client portal")).await;

    // A link that does not work (used already).
    client.go(&invitation, "This invitation link no longer works").await;
    client.screenshot("client-link-invalid").await;

    // The pages off the main path get the accessibility pass too.
    staff.go("/portal/invitation", "Open the link from your email").await;
    client.go("/portal/no-such-practice/sign-in", "No practice at this address").await;
    staff.go("/staff/clients?portal=active", "Ada Lovelace").await;
    staff.go("/staff/clients/00000000-0000-0000-0000-000000000000", "No such client").await;
    staff.go("/staff/sign-in", "Staff sign-in").await;
    staff.fill("#key", "pst_not-a-key").await;
    staff.click("main button[type=submit]", "This staff key is not valid.").await;

    // The client list's search box (a GET form), its empty state, and its pages.
    staff.go("/staff/clients", "Edsger Dijkstra").await;
    staff.fill("#q", "GRA").await;
    staff.click("form.search button", "Grace Hopper").await;
    staff.fill("#q", "nobody").await;
    staff.click("form.search button", "No clients match “nobody”.").await;
    for n in 0..50 {
        kit.create_client(&format!("Zed {n:02}"), &format!("zed{n}@example.org")).await;
    }
    staff.go("/staff/clients", "Next page").await;
    staff.click("a[rel=next]", "Zed 49").await;
    staff.click("a[rel=prev]", "Ada Lovelace").await;

    // The accessibility pass bites: an image without a text alternative and a field without a
    // label, added to this page, are both reported (and the page's CSP does not stop axe).
    assert!(client.accessibility_violations().await.is_empty());
    client
        .run_script(
            "const main = document.querySelector('main');
             main.insertAdjacentHTML('beforeend', '<img src=\"/portal/static/portal.css\"><input type=\"text\">');",
        )
        .await;
    let found = client.accessibility_violations().await;
    for rule in ["image-alt", "label"] {
        assert!(found.iter().any(|id| id == rule), "axe-core missed {rule}; it reported {found:?}");
    }

    staff.close().await;
    client.close().await;
}

/// Focus names as [`Browser::focused`] gives them.
const SKIP_LINK: &str = "\"Skip to content\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_toggle_and_the_forms_work_with_the_keyboard_alone() {
    let Some(kit) = Kit::start("the keyboard pass").await else { return };
    let grace = kit.create_client("Grace Hopper", "grace@example.org").await;
    let profile = format!("/staff/clients/{grace}");

    // Staff sign-in: Tab to the key, type it, Tab to the button, Enter.
    let staff = kit.browser().await;
    staff.go("/staff/sign-in", "Staff sign-in").await;
    staff.tab_through(&[SKIP_LINK, "#key"], false).await;
    staff.type_text(&kit.staff_key).await;
    staff.tab_through(&["\"Sign in\""], false).await;
    staff.enter("Grace Hopper").await;

    // The invite button on the panel, with Enter.
    staff.go(&profile, "Send portal invite").await;
    staff.tab_through(&[SKIP_LINK, "\"← All clients\"", "\"Send portal invite\""], false).await;
    staff.enter("Invitation queued.").await;

    // Registration: Tab through the fields, type, Shift+Tab back to the username (the focus
    // selects its text) and type it anew, Tab to the button, Enter.
    let invitation = kit.emailed_link("grace@example.org", LinkKind::Invitation).await;
    let client = kit.browser().await;
    client.go(&invitation, "Create your portal account").await;
    client.tab_through(&[SKIP_LINK, "#username"], false).await;
    client.type_text("gracex").await;
    client.tab_through(&["#password"], false).await;
    client.type_text(PASSWORD).await;
    client.tab_through(&["#username"], true).await;
    client.type_text("grace").await;
    client.tab_through(&["#password", "\"Create account\""], false).await;
    client.enter("Account created — sign in").await;

    // Sign-in: the link, then the form.
    client.tab_through(&[SKIP_LINK, "\"Sign in\""], false).await;
    client.enter(&format!("To your {PRACTICE} client portal")).await;
    client.tab_through(&[SKIP_LINK, "#username"], false).await;
    client.type_text("grace").await;
    client.tab_through(&["#password"], false).await;
    client.type_text(PASSWORD).await;
    client.tab_through(&["\"Sign in\""], false).await;
    client.enter("Welcome, Grace Hopper").await;

    // The toggle: Tab past it to the reset button, Shift+Tab back, Space turns access off.
    staff.go(&profile, "Portal access on").await;
    staff
        .tab_through(&[SKIP_LINK, "\"← All clients\"", "#reason", "\"Portal access on\"", "\"Reset password\""], false)
        .await;
    staff.tab_through(&["\"Portal access on\""], true).await;
    staff.space("Portal access turned off; the client was signed out.").await;
    assert_eq!(staff.attribute("button[role=switch]", "aria-checked").await.as_deref(), Some("false"));
    client.reload("You are signed out").await;

    // Space turns it on again; Enter on "Reset password" sends the reset.
    staff.tab_through(&[SKIP_LINK, "\"← All clients\"", "\"Portal access off\""], false).await;
    staff.space("Portal access turned on.").await;
    assert_eq!(staff.attribute("button[role=switch]", "aria-checked").await.as_deref(), Some("true"));
    staff
        .tab_through(&[SKIP_LINK, "\"← All clients\"", "#reason", "\"Portal access on\"", "\"Reset password\""], false)
        .await;
    staff.enter("Password-reset email queued.").await;

    // The reset form.
    let reset = kit.emailed_link("grace@example.org", LinkKind::PasswordReset).await;
    client.go(&reset, "Choose a new password").await;
    client.tab_through(&[SKIP_LINK, "#password"], false).await;
    client.type_text(NEW_PASSWORD).await;
    client.tab_through(&["\"Change password\""], false).await;
    client.enter("Password changed — sign in").await;

    staff.close().await;
    client.close().await;
}
