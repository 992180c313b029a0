//! One person's browser: a headless Chromium session with its own profile, the steps the test
//! takes in it (each page it reaches is checked with axe-core), its keyboard, and screenshots.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::axe::Axe;
use crate::chromedriver::Chromedriver;
use crate::virtual_authenticator::{self, AuthenticatorId, VirtualCredential};

/// The widths the README shows each page at: desktop and phone.
const WIDTHS: [(u32, &str); 2] = [(1280, "desktop"), (390, "phone")];
/// Set to `1` to write the screenshots into `docs/screenshots/` too (the README's pictures).
pub const UPDATE_SCREENSHOTS_VAR: &str = "PORTAL_UPDATE_SCREENSHOTS";

/// How long a page may take to show what a step expects.
const PAGE_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Browser<'a> {
    client: Client,
    base: String,
    axe: &'a Axe,
    /// Keeps the profile directory until the browser is closed.
    _profile: tempfile::TempDir,
}

impl<'a> Browser<'a> {
    /// Opens a new browser (empty profile) on the site at `base`.
    pub async fn open(driver: &Chromedriver, base: &str, axe: &'a Axe) -> Self {
        let profile = tempfile::tempdir().expect("a profile directory");
        let client = driver.session(profile.path()).await;
        Self { client, base: base.to_owned(), axe, _profile: profile }
    }

    /// Opens `target` (a path on the site, or a whole URL such as an emailed link) and waits for
    /// the page to show `expected`.
    pub async fn go(&self, target: &str, expected: &str) {
        let url = if target.starts_with("http") { target.to_owned() } else { format!("{}{target}", self.base) };
        self.leaving().await;
        self.client.goto(&url).await.unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
        self.page(expected).await;
    }

    /// Marks the page on show, so [`Browser::page`] waits for the next one: the old page may
    /// show the expected words too (the audit trail repeats the notices).
    async fn leaving(&self) {
        // A property of the page's window object: a new document comes with a new one.
        let _ = self.client.execute("window.portalTestLeft = true", Vec::new()).await;
    }

    /// Waits for a new page (see [`Browser::leaving`]) to show `expected`, then runs the
    /// accessibility pass on it: every page the test reaches comes through here.
    pub async fn page(&self, expected: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        let mut last = None;
        loop {
            last = self.text().await.or(last);
            if last.as_deref().is_some_and(|text| text.contains(expected)) {
                break;
            }
            if Instant::now() > deadline {
                panic!("{expected:?} not on {} within {PAGE_TIMEOUT:?}; it shows:\n{last:?}", self.path().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.axe.check(&self.client, &format!("{} ({expected:?})", self.path().await)).await;
    }

    /// The ids of the serious and critical accessibility violations on the page as it is now.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let page = self.path().await;
        let failing = self.axe.failing(&self.client, &page).await;
        failing.iter().filter_map(|violation| violation["id"].as_str().map(str::to_owned)).collect()
    }

    /// Runs `script` in the page (for the test's own changes to a page, never the site's).
    pub async fn run_script(&self, script: &str) {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|error| panic!("{script}: {error}"));
    }

    // ------------------------------------------------------------------------------ passkeys

    /// Gives the browser a built-in passkey device (see [`virtual_authenticator::add`]): it
    /// answers the page's WebAuthn calls from now on.
    pub async fn add_virtual_authenticator(&self) -> AuthenticatorId {
        virtual_authenticator::add(&self.client).await
    }

    /// The passkeys the virtual authenticator `id` holds.
    pub async fn passkey_credentials(&self, id: &AuthenticatorId) -> Vec<VirtualCredential> {
        virtual_authenticator::credentials(&self.client, id).await
    }

    /// Takes the virtual authenticator `id` (and its passkeys) away.
    pub async fn remove_virtual_authenticator(&self, id: &AuthenticatorId) {
        virtual_authenticator::remove(&self.client, id).await;
    }

    /// Reloads the page and waits for it to show `expected`.
    pub async fn reload(&self, expected: &str) {
        self.leaving().await;
        self.client.refresh().await.expect("the page reloads");
        self.page(expected).await;
    }

    /// The page's text, or `None` while a navigation is under way.
    async fn text(&self) -> Option<String> {
        let script = "return !window.portalTestLeft && document.readyState === 'complete' && document.body
            ? document.body.innerText : null";
        match self.client.execute(script, Vec::new()).await {
            Ok(Value::String(text)) => Some(text),
            _ => None,
        }
    }

    /// The address bar: path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The element `css` finds (waiting for it, up to the page timeout).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(error) if Instant::now() > deadline => panic!("no {css} on {}: {error}", self.path().await),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Replaces the text in the field `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap_or_else(|error| panic!("cannot clear {css}: {error}"));
        field.send_keys(text).await.unwrap_or_else(|error| panic!("cannot type into {css}: {error}"));
    }

    /// Ticks or unticks the checkbox `css` so that it is `checked` (a click on the page, no
    /// navigation).
    pub async fn check(&self, css: &str, checked: bool) {
        let field = self.find(css).await;
        let now = field.prop("checked").await.unwrap_or_else(|error| panic!("cannot read {css}: {error}"));
        if (now.as_deref() == Some("true")) != checked {
            field.click().await.unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
        }
    }

    /// Clicks `css` and waits for the page that follows to show `expected`.
    pub async fn click(&self, css: &str, expected: &str) {
        let element = self.find(css).await;
        self.leaving().await;
        element.click().await.unwrap_or_else(|error| panic!("cannot click {css}: {error}"));
        self.page(expected).await;
    }

    /// The text of the element `css`, as shown.
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap_or_else(|error| panic!("cannot read {css}: {error}"))
    }

    /// The attribute `name` of the element `css`.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("an attribute read")
    }

    // ------------------------------------------------------------------------------ keyboard

    /// Presses `key` (with Shift held when `shift`) on whatever has the focus.
    async fn press(&self, key: Key, shift: bool) {
        let mut keys = KeyActions::new("keyboard".to_owned());
        if shift {
            keys = keys.then(KeyAction::Down { value: Key::Shift.into() });
        }
        keys = keys.then(KeyAction::Down { value: key.into() }).then(KeyAction::Up { value: key.into() });
        if shift {
            keys = keys.then(KeyAction::Up { value: Key::Shift.into() });
        }
        self.client.perform_actions(keys).await.expect("the key press");
        self.client.release_actions().await.expect("the keys are released");
    }

    /// Types `text` into whatever has the focus, one key at a time.
    pub async fn type_text(&self, text: &str) {
        let mut keys = KeyActions::new("keyboard".to_owned());
        for character in text.chars() {
            keys = keys.then(KeyAction::Down { value: character }).then(KeyAction::Up { value: character });
        }
        self.client.perform_actions(keys).await.expect("typing");
    }

    /// What has the focus, as the test names controls (`#id` for a field, the text of a button
    /// or link in quotes, `"Sign in"`, `body` for nothing), and whether it shows a focus ring
    /// (an outline or a box shadow).
    async fn focused(&self) -> (String, bool) {
        let script = "const e = document.activeElement;
            if (!e || e === document.body) return ['body', false];
            const style = getComputedStyle(e);
            const ring = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                || style.boxShadow !== 'none';
            if (e.id && (e.tagName === 'INPUT' || e.tagName === 'TEXTAREA' || e.tagName === 'SELECT')) {
                return ['#' + e.id, ring];
            }
            return ['\"' + e.innerText.trim().replace(/\\s+/g, ' ') + '\"', ring];";
        let focus = self.client.execute(script, Vec::new()).await.expect("the focus is read");
        match (focus[0].as_str(), focus[1].as_bool()) {
            (Some(name), Some(ring)) => (name.to_owned(), ring),
            _ => panic!("the focus read returned {focus}"),
        }
    }

    /// Presses Tab (or Shift+Tab when `back`) once per entry of `expected`, checking after each
    /// press that the focus landed on that control and that it shows.
    pub async fn tab_through(&self, expected: &[&str], back: bool) {
        let key = if back { "Shift+Tab" } else { "Tab" };
        for (step, control) in expected.iter().enumerate() {
            self.press(Key::Tab, back).await;
            let (focused, ring) = self.focused().await;
            let path = self.path().await;
            assert_eq!(
                &focused,
                control,
                "{key} #{} on {path} focused {focused}, expected {control} (order expected: {expected:?})",
                step + 1,
            );
            assert!(ring, "{key} #{} on {path}: {focused} has the focus but no visible focus ring", step + 1);
        }
    }

    /// Presses Enter on the focused control and waits for the page to show `expected`.
    pub async fn enter(&self, expected: &str) {
        self.leaving().await;
        self.press(Key::Enter, false).await;
        self.page(expected).await;
    }

    /// Presses Space on the focused control and waits for the page to show `expected`.
    pub async fn space(&self, expected: &str) {
        self.leaving().await;
        self.press(Key::Space, false).await;
        self.page(expected).await;
    }

    // --------------------------------------------------------------------------- screenshots

    /// Screenshots the whole page at each of [`WIDTHS`] as `{name}-{desktop|phone}.png`, into
    /// the target directory, and into `docs/screenshots/` when [`UPDATE_SCREENSHOTS_VAR`] is
    /// `1`. Leaves the window at 1280 px.
    pub async fn screenshot(&self, name: &str) {
        for (width, label) in WIDTHS {
            // A short window first, so a short page measures its own height, not the window's.
            self.resize(width, 400).await;
            let height = self.client.execute("return document.documentElement.scrollHeight", Vec::new()).await;
            let height = height.ok().and_then(|h| h.as_u64()).and_then(|h| u32::try_from(h).ok()).unwrap_or(900);
            self.resize(width, height.max(400)).await;
            let png = self.client.screenshot().await.expect("a screenshot");
            for dir in screenshot_dirs() {
                std::fs::create_dir_all(&dir).expect("the screenshot directory");
                let file = dir.join(format!("{name}-{label}.png"));
                std::fs::write(&file, &png).unwrap_or_else(|error| panic!("cannot write {}: {error}", file.display()));
            }
        }
        self.resize(1280, 900).await;
    }

    /// Makes the viewport (not the window, which may add borders) `width` × `height`.
    async fn resize(&self, width: u32, height: u32) {
        self.client.set_window_size(width, height).await.expect("the window is resized");
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight]", Vec::new())
            .await
            .expect("the viewport size");
        let inner = |i: usize| inner[i].as_u64().and_then(|v| u32::try_from(v).ok()).unwrap_or(0);
        let (inner_width, inner_height) = (inner(0), inner(1));
        if (inner_width, inner_height) != (width, height) {
            let outer_width = width + width.saturating_sub(inner_width);
            let outer_height = height + height.saturating_sub(inner_height);
            self.client.set_window_size(outer_width, outer_height).await.expect("the window is resized");
        }
    }

    /// Ends the session (Chromium quits).
    pub async fn close(self) {
        self.client.close().await.expect("the session ends");
    }
}

/// Where screenshots go: always under the target directory; also `docs/screenshots/` on request.
fn screenshot_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots")];
    if std::env::var(UPDATE_SCREENSHOTS_VAR).is_ok_and(|value| value == "1") {
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots"));
    }
    dirs
}
