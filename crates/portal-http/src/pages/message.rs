//! [`Message`]: the short page (a heading, a sentence, maybe a link) that answers refusals,
//! expired links and trouble on both the client and the staff side.

use askama::Template;
use poem::http::StatusCode;

use super::{Page, texts};

/// A short message page (`templates/message.html`). Its texts are plain text: the engine
/// escapes them like every other value.
#[derive(Template)]
#[template(path = "message.html", ext = "html")]
pub(crate) struct Message {
    title: String,
    text: String,
    link: Option<Link>,
    /// The practice's name for the header, when known.
    brand: Option<String>,
    /// The wide layout of the staff pages.
    wide: bool,
}

/// A link under a message.
pub(crate) struct Link {
    href: String,
    label: &'static str,
    /// A portal path (the template puts the mount point before it), or else the host's own URL
    /// (its sign-in page), written as given.
    within_portal: bool,
}

impl Message {
    /// A message with a title and one sentence.
    pub(crate) fn new(title: &str, text: impl Into<String>) -> Self {
        Self { title: title.to_owned(), text: text.into(), link: None, brand: None, wide: false }
    }

    /// A message in the catalogue's words.
    pub(crate) fn said(said: &texts::Said) -> Self {
        Self::new(said.title, said.text)
    }

    /// Adds a link under the text to a portal path (the template puts the mount point before it).
    pub(crate) fn link(mut self, href: String, label: &'static str) -> Self {
        self.link = Some(Link { href, label, within_portal: true });
        self
    }

    /// Adds a link under the text to the host's own URL (e.g. its sign-in page), written as
    /// given: it is not below the portal's mount point.
    pub(crate) fn host_link(mut self, href: String, label: &'static str) -> Self {
        self.link = Some(Link { href, label, within_portal: false });
        self
    }

    /// Shows the practice's name in the header.
    pub(crate) fn brand(mut self, practice_name: &str) -> Self {
        self.brand = Some(practice_name.to_owned());
        self
    }

    /// Uses the wide layout (staff pages).
    pub(crate) fn wide(mut self) -> Self {
        self.wide = true;
        self
    }

    /// The page, with its status.
    pub(crate) fn page(self, route: &'static str, status: StatusCode) -> Page {
        Page::render(route, status, &self)
    }
}
