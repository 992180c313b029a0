//! Reading delivered mail: `.eml` files in a folder or a sink's Maildir, parsed with
//! mail-parser (so quoted-printable and base64 parts come out decoded), and the invitation and
//! password-reset links in them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// How long [`Inbox`] waits for a message by default.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(15);

/// Somewhere delivered messages can be read from.
pub trait MailSource {
    /// Every message delivered so far, raw RFC 5322, oldest first (by the file's modification
    /// time, then its name).
    fn raw_messages(&self) -> Vec<Vec<u8>>;
}

impl<T: MailSource + ?Sized> MailSource for Box<T> {
    fn raw_messages(&self) -> Vec<Vec<u8>> {
        (**self).raw_messages()
    }
}

impl<T: MailSource + ?Sized> MailSource for &T {
    fn raw_messages(&self) -> Vec<Vec<u8>> {
        (**self).raw_messages()
    }
}

/// A folder of `.eml` files, such as the one `portal-server` writes mail into when no SMTP
/// relay is configured (`DATA_DIR/mail`). It may not exist yet.
#[derive(Debug, Clone)]
pub struct EmlDir(PathBuf);

impl EmlDir {
    /// The `.eml` files in `dir`.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    /// The folder.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The `.eml` files there now, oldest first.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        sorted_files(&self.0, is_eml)
    }
}

impl MailSource for EmlDir {
    fn raw_messages(&self) -> Vec<Vec<u8>> {
        read_files_oldest_first(&self.0, is_eml)
    }
}

fn is_eml(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "eml")
}

/// The files in `dir` that `keep` accepts, oldest first (none when `dir` does not exist).
fn sorted_files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| keep(path))
        .filter_map(|path| Some((std::fs::metadata(&path).ok()?.modified().ok()?, path)))
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}

/// The contents of the files in `dir` that `keep` accepts, oldest first. A file that vanished
/// meanwhile is left out.
pub(crate) fn read_files_oldest_first(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<Vec<u8>> {
    sorted_files(dir, keep).iter().filter_map(|path| std::fs::read(path).ok()).collect()
}

/// A delivered message, parsed and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// `Message-ID` without the angle brackets (empty when absent).
    pub message_id: String,
    /// The first `To` address (empty when absent).
    pub to: String,
    /// The decoded subject.
    pub subject: String,
    /// The first plain-text part, decoded.
    pub text: String,
    /// The first HTML part, decoded (mail-parser makes one from the text when there is none).
    pub html: String,
}

impl Email {
    /// Parses a raw RFC 5322 message; `None` when it is not one.
    #[must_use]
    pub fn parse(raw: &[u8]) -> Option<Self> {
        let message = mail_parser::MessageParser::default().parse(raw)?;
        Some(Self {
            message_id: message.message_id().unwrap_or_default().to_owned(),
            to: message
                .to()
                .and_then(|to| to.first())
                .and_then(|address| address.address())
                .unwrap_or_default()
                .to_owned(),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).map(|text| text.into_owned()).unwrap_or_default(),
            html: message.body_html(0).map(|html| html.into_owned()).unwrap_or_default(),
        })
    }

    /// The first link of `kind` in the plain-text part.
    #[must_use]
    pub fn link(&self, kind: LinkKind) -> Option<Link> {
        Link::find(&self.text, kind)
    }
}

/// The links the portal emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `…/portal/invitation?token=…`
    Invitation,
    /// `…/portal/password-reset?token=…`
    PasswordReset,
}

impl LinkKind {
    /// What precedes the token in the link.
    #[must_use]
    pub fn marker(self) -> &'static str {
        match self {
            Self::Invitation => "/portal/invitation?token=",
            Self::PasswordReset => "/portal/password-reset?token=",
        }
    }
}

/// An emailed link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The whole link as written in the mail (`https://host/portal/invitation?token=…`); only
    /// the path and query when the mail holds no absolute URL.
    pub url: String,
    /// The raw token (base64url).
    pub token: String,
}

impl Link {
    /// The first link of `kind` in `text`.
    #[must_use]
    pub fn find(text: &str, kind: LinkKind) -> Option<Self> {
        let marker = kind.marker();
        let at = text.find(marker)?;
        let token = token_after(&text[at..], marker)?;
        let end = at + marker.len() + token.len();
        let scheme = text[..at].rfind("https://").into_iter().chain(text[..at].rfind("http://")).max();
        let start = scheme.filter(|&start| !text[start..at].contains(char::is_whitespace)).unwrap_or(at);
        Some(Self { url: text[start..end].to_owned(), token })
    }
}

/// The token right after the first `prefix` in `text`: the base64url characters that follow
/// (`None` when `prefix` is absent or nothing token-like follows it).
#[must_use]
pub fn token_after(text: &str, prefix: &str) -> Option<String> {
    let start = text.find(prefix)? + prefix.len();
    let token: String =
        text[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
    (!token.is_empty()).then_some(token)
}

/// The newest delivered link of `kind` (to `to`, when given) in `source`.
#[must_use]
pub fn newest_link(source: &impl MailSource, kind: LinkKind, to: Option<&str>) -> Option<Link> {
    source
        .raw_messages()
        .iter()
        .rev()
        .filter_map(|raw| Email::parse(raw))
        .filter(|email| to.is_none_or(|to| email.to == to))
        .find_map(|email| email.link(kind))
}

/// A mail source read message by message: each `next_*` call waits for a message the inbox
/// has not handed out yet, so a test that sends two invitations gets both, in turn.
#[derive(Debug)]
pub struct Inbox<S> {
    source: S,
    seen: Mutex<HashSet<String>>,
}

impl<S: MailSource> Inbox<S> {
    /// An inbox over `source` that has handed out nothing yet.
    #[must_use]
    pub fn new(source: S) -> Self {
        Self { source, seen: Mutex::new(HashSet::new()) }
    }

    /// The source read.
    #[must_use]
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Waits (up to `limit`) for a message not handed out yet that `wanted` accepts, oldest
    /// first, and marks it handed out. `what` names it in the panic message.
    ///
    /// # Panics
    /// When no such message arrives in time.
    pub async fn next_matching(&self, what: &str, limit: Duration, wanted: impl Fn(&Email) -> bool) -> Email {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(email) = self.take_next(&wanted) {
                return email;
            }
            assert!(Instant::now() < deadline, "no new email {what} within {limit:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn take_next(&self, wanted: &impl Fn(&Email) -> bool) -> Option<Email> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let email = self
            .source
            .raw_messages()
            .iter()
            .filter_map(|raw| Email::parse(raw))
            .find(|email| !seen.contains(&email.message_id) && wanted(email))?;
        seen.insert(email.message_id.clone());
        Some(email)
    }

    /// The next message to `to` (waiting up to 15 s).
    ///
    /// # Panics
    /// When none arrives in time.
    pub async fn next_to(&self, to: &str) -> Email {
        self.next_matching(&format!("to {to}"), ARRIVAL_LIMIT, |email| email.to == to).await
    }

    /// The link of `kind` in the next message to `to` that holds one (waiting up to 15 s).
    ///
    /// # Panics
    /// When none arrives in time.
    pub async fn next_link(&self, to: &str, kind: LinkKind) -> Link {
        let what = format!("to {to} with a {} link", kind.marker());
        let email =
            self.next_matching(&what, ARRIVAL_LIMIT, |email| email.to == to && email.link(kind).is_some()).await;
        email.link(kind).expect("the message was picked for its link")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "AHQtG-YfTF2LtlD3bQjpEPmt6pQutjMAXrKRUtEcePeTFvfknesfA5cQNLeeLXn2";

    /// A multipart message like the portal's: the link whole in the plain-text part, wrapped
    /// and escaped by quoted-printable in both parts.
    fn invitation(to: &str, id: &str, token: &str) -> String {
        let wrapped = format!("{}=\r\n{}", &token[..20], &token[20..]);
        format!(
            "From: Portal <no-reply@example.org>\r\nTo: {to}\r\nSubject: Your account invitation\r\n\
             Message-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             Open https://portal.example.org/portal/invitation?token=3D{wrapped}\r\nto register.\r\n\
             --b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
             <a href=3D\"https://portal.example.org/portal/invitation?token=3D{wrapped}\">Register</a>\r\n\
             --b--\r\n"
        )
    }

    #[test]
    fn a_quoted_printable_link_is_read_decoded_from_the_text_part() {
        let email = Email::parse(invitation("ada@example.org", "1@example.org", TOKEN).as_bytes()).expect("a message");
        assert_eq!(email.to, "ada@example.org");
        assert_eq!(email.message_id, "1@example.org");
        assert_eq!(email.subject, "Your account invitation");
        let link = email.link(LinkKind::Invitation).expect("an invitation link");
        assert_eq!(link.token, TOKEN);
        assert_eq!(link.url, format!("https://portal.example.org/portal/invitation?token={TOKEN}"));
        assert!(email.html.contains(&format!("token={TOKEN}\"")), "{}", email.html);
        assert_eq!(email.link(LinkKind::PasswordReset), None);
    }

    #[test]
    fn a_link_without_a_scheme_keeps_its_path_and_a_token_needs_a_character() {
        let link = Link::find("see /portal/password-reset?token=abc_-9. Thanks", LinkKind::PasswordReset);
        assert_eq!(link, Some(Link { url: "/portal/password-reset?token=abc_-9".into(), token: "abc_-9".into() }));
        assert_eq!(token_after("value=\"\"", "value=\""), None);
        assert_eq!(token_after("name=\"csrf\" value=\"x1\"", "value=\""), Some("x1".into()));
    }

    #[test]
    fn the_newest_link_and_then_each_message_in_turn_are_read_from_eml_files() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let source = EmlDir::new(dir.path().join("mail"));
        assert_eq!(newest_link(&source, LinkKind::Invitation, None), None);
        std::fs::create_dir(source.path()).expect("the mail folder");
        let older = TOKEN.replace('A', "B");
        std::fs::write(source.path().join("2@example.org.eml"), invitation("ada@example.org", "2@example.org", &older))
            .expect("a file");
        // Later by modification time, earlier by name: the time decides.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(source.path().join("1@example.org.eml"), invitation("ada@example.org", "1@example.org", TOKEN))
            .expect("a file");
        std::fs::write(source.path().join("notes.txt"), "not mail").expect("a file");

        let newest = newest_link(&source, LinkKind::Invitation, Some("ada@example.org")).expect("a link");
        assert_eq!(newest.token, TOKEN);
        assert_eq!(newest_link(&source, LinkKind::Invitation, Some("grace@example.org")), None);
        assert_eq!(source.files().len(), 2);

        let inbox = Inbox::new(source);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a runtime");
        runtime.block_on(async {
            assert_eq!(inbox.next_link("ada@example.org", LinkKind::Invitation).await.token, older);
            assert_eq!(inbox.next_to("ada@example.org").await.message_id, "1@example.org");
        });
    }
}
