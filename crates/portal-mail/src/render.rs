//! Rendering an outbox row into a [`RenderedEmail`]: templates, links, expiry wording.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use portal_core::wording::{duration_in_words, moment_in_full};
use portal_core::{
    Client, DisplayName, EmailAddress, Language, LinkKey, MailKind, OutgoingMail, Practice, RenderedEmail,
    TimeZoneName, TokenId, TokenPurpose,
};
use secrecy::ExposeSecret;

use crate::ConfigError;
use crate::templates::{self, ChangeNotice, LinkMail, Message};

/// Why a message could not be rendered. Never worth retrying: the dispatcher marks the row
/// failed with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A template failed to write. askama checks every template against its struct at compile
    /// time, so this is left for a formatting failure.
    #[error("mail template error: {0}")]
    Template(String),
    /// The practice given is not the mail's practice.
    #[error("the mail belongs to another practice")]
    PracticeMismatch,
    /// The client given is not the mail's client.
    #[error("the mail is for another client")]
    ClientMismatch,
}

/// The configured sender: the no-reply address, and optionally a neutral display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFrom {
    address: EmailAddress,
    name: Option<DisplayName>,
}

impl MailFrom {
    /// A sender with an address and an optional display name.
    ///
    /// The name is used as the sender name of *discreet* mail (instead of the template's
    /// "Account notifications"), so it must itself be neutral: no practice name, no clinical
    /// words. Mail of a practice that turned discreet mail off is sent in the practice's name.
    #[must_use]
    pub fn new(address: EmailAddress, name: Option<DisplayName>) -> Self {
        Self { address, name }
    }

    /// Parses `no-reply@example.org` or `Portal <no-reply@example.org>` (the `--mail-from`
    /// setting).
    ///
    /// ```
    /// use portal_mail::MailFrom;
    /// let from = MailFrom::parse("Client portal <no-reply@example.org>")?;
    /// assert_eq!(from.address().as_str(), "no-reply@example.org");
    /// assert_eq!(from.name().map(|n| n.as_str()), Some("Client portal"));
    /// assert!(MailFrom::parse("no-reply@example.org")?.name().is_none());
    /// # Ok::<(), portal_mail::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] when the address or the name is not valid, or the name holds `<` or `>`
    /// (more than one address).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        let (name, address) = match text.strip_suffix('>').and_then(|rest| rest.rsplit_once('<')) {
            Some((name, address)) => (Some(name.trim().trim_matches('"').trim()), address),
            None => (None, text),
        };
        let address =
            EmailAddress::parse(address).map_err(|e| ConfigError::new("mail-from", format!("the address: {e}")))?;
        // Another `<` or `>` in the name means the text was not one `Name <address>`: a second
        // address, or a typo that would send mail under a name that reads as an address.
        if name.is_some_and(|name| name.contains(['<', '>'])) {
            return Err(ConfigError::new(
                "mail-from",
                "write one sender as `Name <address>`; the name may not hold < or >",
            ));
        }
        let name = match name.filter(|name| !name.is_empty()) {
            Some(name) => Some(
                DisplayName::parse("mail-from", name)
                    .map_err(|e| ConfigError::new("mail-from", format!("the name: {e}")))?,
            ),
            None => None,
        };
        Ok(Self { address, name })
    }

    /// The address.
    #[must_use]
    pub fn address(&self) -> &EmailAddress {
        &self.address
    }

    /// The neutral display name, if configured.
    #[must_use]
    pub fn name(&self) -> Option<&DisplayName> {
        self.name.as_ref()
    }

    /// The domain of the address (the right-hand side of Message-IDs).
    fn domain(&self) -> &str {
        self.address.as_str().rsplit_once('@').map_or("localhost", |(_, domain)| domain)
    }
}

/// Turns outbox rows into emails. Links are built from the configured public URL only (never
/// from a request), with the link secret re-derived from the token id by the [`LinkKey`].
///
/// ```
/// use jiff::{SignedDuration, Timestamp};
/// use portal_core::*;
/// use portal_mail::{MailFrom, Renderer};
/// use secrecy::ExposeSecret;
///
/// let renderer = Renderer::new("https://portal.example.org", MailFrom::parse("no-reply@example.org")?)?;
/// let created_at = Timestamp::from_second(1_800_000_000)?;
/// let practice = Practice {
///     id: PracticeId::from_uuid(uuid::Uuid::from_u128(1)),
///     slug: PracticeSlug::parse("sunrise")?,
///     name: DisplayName::parse("name", "Sunrise Therapy")?,
///     time_zone: TimeZoneName::parse("America/Chicago")?,
///     discreet_mail: true,
///     settings: portal_core::PracticeSettings::default(),
///     created_at,
/// };
/// let token_id = TokenId::from_uuid(uuid::Uuid::from_u128(2));
/// let mail = OutgoingMail {
///     id: MailId::from_uuid(uuid::Uuid::from_u128(3)),
///     practice_id: practice.id,
///     client_id: ClientId::parse("1001")?,
///     to: EmailAddress::parse("ada@example.org")?,
///     kind: MailKind::Invitation { token_id, expires_at: created_at + SignedDuration::from_hours(48) },
///     created_at,
/// };
/// // The host's record of the client, read from its directory when the mail goes out.
/// let client = Client {
///     id: ClientId::parse("1001")?,
///     practice_id: practice.id,
///     name: DisplayName::parse("name", "Ada")?,
///     email: Some(EmailAddress::parse("ada@example.org")?),
///     language: Language::En,
///     email_consent: true,
///     date_of_birth: None,
///     created_at,
/// };
/// let key = LinkKey::from_bytes([7; 32]);
/// let email = renderer.render(&mail, &practice, &client, &key)?;
/// assert_eq!(email.subject, "Your account invitation");
/// assert_eq!(email.from_name, "Account notifications");
/// let link = key.link_token(TokenPurpose::Invite, token_id);
/// let url = format!("https://portal.example.org/portal/invitation?token={}", link.expose().expose_secret());
/// assert!(email.text.contains(&url));
/// assert!(email.text.contains("valid for 48 hours, until Sunday 17 January 2027, 02:00 (America/Chicago)"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Renderer {
    public_url: String,
    from: MailFrom,
}

impl Renderer {
    /// A renderer for a public base URL such as `https://portal.example.org` (a path prefix is
    /// kept: `https://example.org/clinic`).
    ///
    /// # Errors
    /// [`ConfigError`] when the URL is not an absolute `http`/`https` URL without credentials,
    /// query or fragment.
    pub fn new(public_url: &str, from: MailFrom) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::new("public-url", why.to_owned());
        let url = url::Url::parse(public_url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(bad("the scheme must be https (or http for local use)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("a host is required"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not hold credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("it must not have a query or fragment"));
        }
        let public_url = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self { public_url, from })
    }

    /// The public base URL, without a trailing slash.
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The configured sender.
    #[must_use]
    pub fn from(&self) -> &MailFrom {
        &self.from
    }

    /// The Message-ID of an outbox row (without angle brackets): stable across attempts, so a
    /// resend after a crash is recognisable as the same message.
    #[must_use]
    pub fn message_id(&self, mail: &OutgoingMail) -> String {
        format!("{}@{}", mail.id, self.from.domain())
    }

    /// The test message `portal-server mail check --send-to` sends: from the configured sender,
    /// with a Message-ID of its own (`mail-check-…`), saying that the mail settings work.
    ///
    /// # Errors
    /// [`RenderError::Template`] when a template fails to write.
    pub fn test_message(&self, to: &EmailAddress, at: Timestamp) -> Result<RenderedEmail, RenderError> {
        let (text, html) = templates::mail_check_bodies()?;
        Ok(RenderedEmail {
            message_id: format!("mail-check-{}-{}@{}", at.as_second(), at.subsec_nanosecond(), self.from.domain()),
            from_name: match &self.from.name {
                Some(name) => name.as_str().to_owned(),
                None => templates::sender(Language::En, "", true),
            },
            from_address: self.from.address.as_str().to_owned(),
            to: to.as_str().to_owned(),
            subject: "Mail check: the portal can send mail".to_owned(),
            text,
            html,
        })
    }

    fn link(&self, path: &str, purpose: TokenPurpose, token: TokenId, key: &LinkKey) -> String {
        let token = key.link_token(purpose, token);
        // The token is URL-safe base64 without padding: nothing to percent-encode.
        format!("{}/portal/{path}?token={}", self.public_url, token.expose().expose_secret())
    }

    /// Renders one outbox row for its practice and its client, as the host's
    /// [`ClientDirectory`](portal_core::ClientDirectory) knows the client now: the greeting
    /// uses the current name and the body the current language. The address is the one the
    /// row was queued for.
    ///
    /// # Errors
    /// [`RenderError::PracticeMismatch`] or [`RenderError::ClientMismatch`] when `practice` or
    /// `client` is not the mail's;
    /// [`RenderError::Template`] when a template fails to write.
    pub fn render(
        &self,
        mail: &OutgoingMail,
        practice: &Practice,
        client: &Client,
        link_key: &LinkKey,
    ) -> Result<RenderedEmail, RenderError> {
        if mail.practice_id != practice.id {
            return Err(RenderError::PracticeMismatch);
        }
        if client.practice_id != mail.practice_id || client.id != mail.client_id {
            return Err(RenderError::ClientMismatch);
        }
        let language = client.language;
        let zone = PracticeZone::resolve(&practice.time_zone);
        let practice_name = practice.name.as_str();
        let recipient = client.name.as_str();
        // The link and its wording live here so the message can borrow them.
        let link_facts = |path: &str, purpose: TokenPurpose, token_id: TokenId, expires_at: Timestamp| {
            let valid_for = duration_in_words(language, expires_at.duration_since(mail.created_at));
            (self.link(path, purpose, token_id, link_key), valid_for, zone.moment(language, expires_at))
        };
        let (link, valid_for, expires) = match &mail.kind {
            MailKind::Invitation { token_id, expires_at } => {
                link_facts("invitation", TokenPurpose::Invite, *token_id, *expires_at)
            }
            MailKind::PasswordReset { token_id, expires_at } => {
                link_facts("password-reset", TokenPurpose::Reset, *token_id, *expires_at)
            }
            // The invitation's own link: the same token, so the same URL.
            MailKind::InvitationReminder { token_id, expires_at } => {
                link_facts("invitation", TokenPurpose::Invite, *token_id, *expires_at)
            }
            MailKind::PasswordChanged
            | MailKind::SecondFactorAdded
            | MailKind::SecondFactorRemoved
            | MailKind::RecoveryCodeUsed => Default::default(),
        };
        let when = zone.moment(language, mail.created_at);
        let link_mail =
            || LinkMail { recipient, practice: practice_name, link: &link, valid_for: &valid_for, expires: &expires };
        let notice = || ChangeNotice { recipient, practice: practice_name, when: &when };
        let message = match &mail.kind {
            MailKind::Invitation { .. } => Message::Invitation(link_mail()),
            MailKind::PasswordReset { .. } => Message::PasswordReset(link_mail()),
            MailKind::InvitationReminder { .. } => Message::InvitationReminder(link_mail()),
            MailKind::PasswordChanged => Message::PasswordChanged(notice()),
            MailKind::SecondFactorAdded => Message::SecondFactorAdded(notice()),
            MailKind::SecondFactorRemoved => Message::SecondFactorRemoved(notice()),
            MailKind::RecoveryCodeUsed => Message::RecoveryCodeUsed(notice()),
        };

        let (text, html) = templates::bodies(language, &message)?;
        let discreet = practice.discreet_mail;
        let subject = templates::subject(language, &message, practice_name, discreet);
        let from_name = match (&self.from.name, discreet) {
            (Some(neutral), true) => neutral.as_str().to_owned(),
            _ => templates::sender(language, practice_name, discreet),
        };
        Ok(RenderedEmail {
            message_id: self.message_id(mail),
            from_name,
            from_address: self.from.address.as_str().to_owned(),
            to: mail.to.as_str().to_owned(),
            subject,
            text,
            html,
        })
    }
}

/// A practice's zone, resolved with the tz database, or UTC when the name is unknown.
struct PracticeZone {
    zone: TimeZone,
    label: String,
}

impl PracticeZone {
    fn resolve(name: &TimeZoneName) -> Self {
        match TimeZone::get(name.as_str()) {
            Ok(zone) => Self { zone, label: name.as_str().to_owned() },
            Err(error) => {
                tracing::warn!(time_zone = name.as_str(), %error, "unknown time zone; stating times in UTC");
                Self { zone: TimeZone::UTC, label: "UTC".to_owned() }
            }
        }
    }

    /// The moment in full in the practice's zone (see [`moment_in_full`]).
    fn moment(&self, language: Language, at: Timestamp) -> String {
        moment_in_full(language, at.to_zoned_datetime(self.zone.clone()).datetime(), &self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_zone_falls_back_to_utc_and_says_so() {
        let at = Timestamp::from_second(1_800_000_000).unwrap();
        let zone = PracticeZone::resolve(&TimeZoneName::parse("Mars/Olympus_Mons").unwrap());
        assert_eq!(zone.moment(Language::En, at), "Friday 15 January 2027, 08:00 (UTC)");
        let chicago = PracticeZone::resolve(&TimeZoneName::parse("America/Chicago").unwrap());
        assert_eq!(chicago.moment(Language::Es, at), "viernes 15 de enero de 2027, 02:00 (America/Chicago)");
    }

    #[test]
    fn the_public_url_must_be_a_plain_absolute_url() {
        let from = || MailFrom::parse("no-reply@example.org").unwrap();
        assert_eq!(
            Renderer::new("https://portal.example.org/", from()).unwrap().public_url(),
            "https://portal.example.org"
        );
        assert_eq!(
            Renderer::new("https://example.org/clinic/", from()).unwrap().public_url(),
            "https://example.org/clinic"
        );
        for bad in ["portal.example.org", "ftp://example.org", "https://u:p@example.org", "https://example.org/?a=1"] {
            assert!(Renderer::new(bad, from()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_mail_from_setting_parses_with_and_without_a_name() {
        let from = MailFrom::parse("\"Portal\" <no-reply@example.org>").unwrap();
        assert_eq!(from.name().map(DisplayName::as_str), Some("Portal"));
        assert_eq!(from.domain(), "example.org");
        assert!(MailFrom::parse("Portal <not an address>").is_err());
        assert!(MailFrom::parse("no-reply@example.org\r\nBcc: x@y.z").is_err());
    }

    #[test]
    fn the_mail_from_setting_refuses_injection_and_a_second_address() {
        for bad in [
            "Portal <no-reply@example.org>\r\nBcc: evil@example.org",
            "Portal\r\nBcc: evil@example.org <no-reply@example.org>",
            "Portal\u{202E} <no-reply@example.org>",
            "Por\u{2028}tal <no-reply@example.org>",
            "no-reply@example.org, evil@example.org",
            "Portal <evil@example.org>, <no-reply@example.org>",
            "evil@example.org> <no-reply@example.org>",
            "Portal <no-reply@example.org>>",
        ] {
            let refused = MailFrom::parse(bad).err();
            assert!(refused.as_ref().is_some_and(|e| e.setting == "mail-from"), "{bad:?} was accepted");
            assert!(refused.is_some_and(|e| !e.why.contains("evil")), "the refusal does not echo the value");
        }
        // Quotes, commas and accents in a name are fine: the builder quotes or encodes them.
        let from = MailFrom::parse("\"Clínica Sol, S.A.\" <no-reply@example.org>").unwrap();
        assert_eq!(from.name().map(DisplayName::as_str), Some("Clínica Sol, S.A."));
    }
}
