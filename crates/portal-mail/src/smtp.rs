//! SMTP delivery through mail-send: one connection per message (portal sends little mail, and a
//! fresh connection cannot inherit a broken state).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mail_send::smtp::message::Parameters;
use mail_send::{Credentials, SmtpClient};
use portal_core::{MailTransport, RenderedEmail, TransportError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use secrecy::{ExposeSecret, SecretString};
use smtp_proto::{EXT_START_TLS, EhloResponse};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::ConfigError;
use crate::message;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which the server MUST offer (`smtp://`, the
    /// default; usually port 587). Without it nothing is sent.
    StartTls,
    /// STARTTLS when the server offers it, plain otherwise (`smtp://…?tls=opportunistic`).
    /// An attacker on the path can strip the offer; credentials are never sent in the clear.
    Opportunistic,
    /// No TLS at all (`smtp://…?tls=none`): only for a relay on the same host or network.
    None,
}

/// Where and how to deliver. Parse it from a URL with [`SmtpConfig::from_url`].
#[derive(Clone)]
pub struct SmtpConfig {
    /// Host name or IP address (also the name the TLS certificate must carry).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Connection protection.
    pub tls: TlsMode,
    /// `AUTH` user name and password, when the server needs them.
    pub credentials: Option<(String, SecretString)>,
    /// Longest wait for the TCP connection.
    pub connect_timeout: Duration,
    /// Longest wait for any one reply.
    pub command_timeout: Duration,
    /// Longest time for a whole delivery, connection to `QUIT`.
    pub total_timeout: Duration,
    /// The name announced in `EHLO` (default: this machine's host name).
    pub helo_name: String,
    /// Extra trusted root certificates (PEM), on top of the system's: for a relay with a
    /// private CA.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("total_timeout", &self.total_timeout)
            .field("helo_name", &self.helo_name)
            .field("extra_roots", &self.extra_roots.len())
            .finish()
    }
}

impl SmtpConfig {
    /// Default time to connect.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default time to wait for one reply.
    pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default time for a whole delivery.
    pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(60);

    /// Parses `smtps://[user:password@]host[:port]` (implicit TLS, default port 465) or
    /// `smtp://[user:password@]host[:port][?tls=starttls|opportunistic|none]` (STARTTLS
    /// required by default, default port 587). User name and password are percent-decoded.
    /// Other query settings: `timeout=SECONDS` (per reply), `helo=NAME`,
    /// `ca_file=/path/to/ca.pem` (extra trusted roots).
    ///
    /// Credentials are refused with `tls=none` unless the host is a loopback address: a
    /// password never crosses a network in the clear.
    ///
    /// ```
    /// use portal_mail::{SmtpConfig, TlsMode};
    /// let config = SmtpConfig::from_url("smtps://mailer:s%40cret@smtp.example.org")?;
    /// assert_eq!((config.port, config.tls), (465, TlsMode::Implicit));
    /// let local = SmtpConfig::from_url("smtp://127.0.0.1:2525?tls=none")?;
    /// assert_eq!((local.port, local.tls), (2525, TlsMode::None));
    /// assert!(SmtpConfig::from_url("smtp://u:p@smtp.example.org:25?tls=none").is_err());
    /// # Ok::<(), portal_mail::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] for anything malformed (the message never repeats the password).
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError::new("smtp-url", why);
        let url = url::Url::parse(text.trim()).map_err(|e| bad(format!("not a URL ({e})")))?;
        let (mut tls, default_port) = match url.scheme() {
            "smtps" => (TlsMode::Implicit, 465),
            "smtp" => (TlsMode::StartTls, 587),
            other => return Err(bad(format!("unknown scheme `{other}`: use smtp or smtps"))),
        };
        let host = url
            .host_str()
            .map(|host| host.trim_start_matches('[').trim_end_matches(']').to_owned())
            .filter(|host| !host.is_empty())
            .ok_or_else(|| bad("a host is required".into()))?;
        let decode = |part: &str| percent_encoding::percent_decode_str(part).decode_utf8().map(|s| s.into_owned());
        let user = decode(url.username()).map_err(|_| bad("the user name is not UTF-8".into()))?;
        let password =
            decode(url.password().unwrap_or_default()).map_err(|_| bad("the password is not UTF-8".into()))?;
        let credentials = (!user.is_empty()).then(|| (user, SecretString::from(password)));

        let mut config = Self {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
            connect_timeout: Self::CONNECT_TIMEOUT,
            command_timeout: Self::COMMAND_TIMEOUT,
            total_timeout: Self::TOTAL_TIMEOUT,
            helo_name: gethostname::gethostname().into_string().unwrap_or_else(|_| "localhost".to_owned()),
            extra_roots: Vec::new(),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", mode) if tls != TlsMode::Implicit => {
                    tls = match mode {
                        "starttls" => TlsMode::StartTls,
                        "opportunistic" => TlsMode::Opportunistic,
                        "none" => TlsMode::None,
                        other => return Err(bad(format!("tls={other}: use starttls, opportunistic or none"))),
                    };
                }
                ("tls", _) => return Err(bad("smtps:// is always TLS; `tls=` applies to smtp:// only".into())),
                ("timeout", seconds) => {
                    let seconds: u64 = seconds
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .ok_or_else(|| bad("timeout must be 1 to 600 seconds".into()))?;
                    config.command_timeout = Duration::from_secs(seconds);
                    config.total_timeout = config.total_timeout.max(Duration::from_secs(seconds * 2));
                }
                ("helo", name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic()) => {
                    config.helo_name = name.to_owned();
                }
                ("ca_file", path) => config.extra_roots = read_roots(Path::new(path))?,
                (other, _) => return Err(bad(format!("unknown setting `{other}`"))),
            }
        }
        config.tls = tls;
        if config.tls == TlsMode::None && config.credentials.is_some() && !is_loopback(&config.host) {
            return Err(bad("credentials over a connection without TLS are only allowed to a loopback host".into()));
        }
        Ok(config)
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bad = |why: String| ConfigError::new("smtp-url", format!("ca_file {}: {why}", path.display()));
    let roots = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if roots.is_empty() {
        return Err(bad("no certificate found".into()));
    }
    Ok(roots)
}

/// Delivers over SMTP with mail-send. Failures are classified for the dispatcher:
///
/// - **transient** (retried with backoff): the connection refused, reset or timed out, TLS or
///   STARTTLS problems, `AUTH` refused, any 4xx reply, and a 5xx before the mail transaction
///   (greeting, `EHLO`): those are the relay's or the configuration's state, and the mail must
///   not be lost while someone fixes them;
/// - **permanent** (marked failed): a 5xx to `MAIL FROM`, `RCPT TO` or `DATA`, e.g.
///   `550 5.1.1 no such user`.
///
/// Error texts carry the SMTP stage and the server's reply with the recipient address masked;
/// never the body.
pub struct SmtpTransport {
    config: SmtpConfig,
    tls: TlsConnector,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SmtpTransport {
    /// A transport for `config`. The TLS client uses rustls with the *ring* provider
    /// explicitly and the platform's certificate verifier (plus `extra_roots`), so it never
    /// depends on a process-wide default provider.
    ///
    /// # Errors
    /// [`ConfigError`] when the TLS configuration cannot be built.
    pub fn new(config: SmtpConfig) -> Result<Self, ConfigError> {
        let bad = |e: rustls::Error| ConfigError::new("smtp-url", format!("TLS setup failed: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(config.extra_roots.clone(), provider.clone())
                .map_err(bad)?;
        let client_config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(bad)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(Self { config, tls: TlsConnector::from(Arc::new(client_config)) })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    async fn deliver(&self, from: &str, to: &str, body: &[u8]) -> Result<(), Failure> {
        let config = &self.config;
        let stream =
            tokio::time::timeout(config.connect_timeout, TcpStream::connect((config.host.as_str(), config.port)))
                .await
                .map_err(|_| Failure::new(Stage::Connect, mail_send::Error::Timeout))?
                .map_err(|e| Failure::new(Stage::Connect, mail_send::Error::Io(e)))?;
        let mut client = SmtpClient { stream, timeout: config.command_timeout };
        match config.tls {
            TlsMode::Implicit => {
                let mut client = client.into_tls(&self.tls, &config.host).await.stage(Stage::Tls)?;
                let capabilities = self.hello(&mut client).await?;
                self.transaction(client, &capabilities, from, to, body).await
            }
            TlsMode::None => {
                let capabilities = self.hello(&mut client).await?;
                self.transaction(client, &capabilities, from, to, body).await
            }
            TlsMode::StartTls | TlsMode::Opportunistic => {
                let capabilities = self.hello(&mut client).await?;
                if capabilities.has_capability(EXT_START_TLS) {
                    let mut client = client.start_tls(&self.tls, &config.host).await.stage(Stage::Tls)?;
                    let capabilities = client.ehlo(&config.helo_name).await.stage(Stage::Ehlo)?;
                    self.transaction(client, &capabilities, from, to, body).await
                } else if config.tls == TlsMode::StartTls {
                    Err(Failure::new(Stage::Tls, mail_send::Error::MissingStartTls))
                } else if config.credentials.is_some() {
                    Err(Failure::refused("the server offered no STARTTLS; credentials are not sent in the clear"))
                } else {
                    self.transaction(client, &capabilities, from, to, body).await
                }
            }
        }
    }

    /// Reads the greeting and says `EHLO`.
    async fn hello<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut SmtpClient<T>,
    ) -> Result<EhloResponse<String>, Failure> {
        let greeting = tokio::time::timeout(self.config.command_timeout, client.read())
            .await
            .map_err(|_| Failure::new(Stage::Greeting, mail_send::Error::Timeout))?
            .stage(Stage::Greeting)?;
        if !(200..300).contains(&greeting.code) {
            return Err(Failure::new(Stage::Greeting, mail_send::Error::UnexpectedReply(greeting)));
        }
        client.ehlo(&self.config.helo_name).await.stage(Stage::Ehlo)
    }

    async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut client: SmtpClient<T>,
        capabilities: &EhloResponse<String>,
        from: &str,
        to: &str,
        body: &[u8],
    ) -> Result<(), Failure> {
        if let Some((user, password)) = &self.config.credentials {
            let credentials = Credentials::new(user.clone(), password.expose_secret().to_owned());
            client.authenticate(&credentials, capabilities).await.stage(Stage::Auth)?;
        }
        let none = Parameters::default();
        client.mail_from(from, &none).await.stage(Stage::MailFrom)?;
        client.rcpt_to(to, &none).await.stage(Stage::RcptTo)?;
        client.data(body).await.stage(Stage::Data)?;
        // The message is accepted; a failed QUIT changes nothing.
        let _ = client.quit().await;
        Ok(())
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, email: &RenderedEmail) -> Result<(), TransportError> {
        let body = message::to_rfc5322(email, message::now_unix_seconds())?;
        match tokio::time::timeout(self.config.total_timeout, self.deliver(&email.from_address, &email.to, &body)).await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(failure.classify(&email.to)),
            Err(_) => Err(TransportError::Transient(format!(
                "SMTP delivery took longer than {} s",
                self.config.total_timeout.as_secs()
            ))),
        }
    }
}

/// Where in the SMTP dialogue something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Tls,
    Greeting,
    Ehlo,
    Auth,
    MailFrom,
    RcptTo,
    Data,
}

impl Stage {
    const fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Tls => "TLS",
            Self::Greeting => "greeting",
            Self::Ehlo => "EHLO",
            Self::Auth => "AUTH",
            Self::MailFrom => "MAIL FROM",
            Self::RcptTo => "RCPT TO",
            Self::Data => "DATA",
        }
    }

    /// A 5xx here is about this message (not the session), so it is final.
    const fn in_transaction(self) -> bool {
        matches!(self, Self::MailFrom | Self::RcptTo | Self::Data)
    }
}

#[derive(Debug)]
enum Cause {
    Smtp(mail_send::Error),
    Refused(&'static str),
}

#[derive(Debug)]
struct Failure {
    stage: Stage,
    cause: Cause,
}

impl Failure {
    fn new(stage: Stage, error: mail_send::Error) -> Self {
        Self { stage, cause: Cause::Smtp(error) }
    }

    fn refused(why: &'static str) -> Self {
        Self { stage: Stage::Tls, cause: Cause::Refused(why) }
    }

    /// Transient or permanent, with a text safe to store and log: the stage, and the server's
    /// reply with the recipient address masked and control characters dropped.
    fn classify(self, recipient: &str) -> TransportError {
        let stage = self.stage.name();
        let error = match self.cause {
            Cause::Refused(why) => return TransportError::Transient(format!("SMTP {stage}: {why}")),
            Cause::Smtp(error) => error,
        };
        match error {
            mail_send::Error::UnexpectedReply(reply) | mail_send::Error::AuthenticationFailed(reply) => {
                let [a, b, c] = reply.esc;
                let enhanced = if a == 0 { String::new() } else { format!(" {a}.{b}.{c}") };
                let text = format!("SMTP {stage}: {}{enhanced} {}", reply.code, mask(&reply.message, recipient));
                if (500..600).contains(&reply.code) && self.stage.in_transaction() {
                    TransportError::Permanent(text)
                } else {
                    TransportError::Transient(text)
                }
            }
            mail_send::Error::Io(e) => {
                TransportError::Transient(format!("SMTP {stage}: {}", mask(&e.to_string(), recipient)))
            }
            mail_send::Error::Timeout => TransportError::Transient(format!("SMTP {stage}: timed out")),
            // mail-send's own texts hold no message content; the address is masked anyway.
            other => TransportError::Transient(format!("SMTP {stage}: {}", mask(&other.to_string(), recipient))),
        }
    }
}

/// Drops control characters, replaces the recipient's address, and caps the length.
fn mask(text: &str, recipient: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let masked = if recipient.is_empty() { clean } else { clean.replace(recipient, "<recipient>") };
    let trimmed = masked.trim();
    match trimmed.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

trait StageExt<T> {
    fn stage(self, stage: Stage) -> Result<T, Failure>;
}

impl<T> StageExt<T> for mail_send::Result<T> {
    fn stage(self, stage: Stage) -> Result<T, Failure> {
        self.map_err(|error| Failure::new(stage, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, esc: [u8; 3], message: &str) -> mail_send::Error {
        mail_send::Error::UnexpectedReply(smtp_proto::Response { code, esc, message: message.to_owned() })
    }

    #[test]
    fn replies_are_classified_by_code_and_stage_and_mask_the_recipient() {
        let rcpt = Failure::new(Stage::RcptTo, reply(550, [5, 1, 1], "<ada@example.org>: no such user"));
        match rcpt.classify("ada@example.org") {
            TransportError::Permanent(text) => {
                assert_eq!(text, "SMTP RCPT TO: 550 5.1.1 <<recipient>>: no such user");
            }
            other => panic!("{other:?}"),
        }
        let busy = Failure::new(Stage::RcptTo, reply(451, [4, 3, 0], "try later"));
        assert!(matches!(busy.classify("a@b.c"), TransportError::Transient(_)));
        let greeting = Failure::new(Stage::Greeting, reply(554, [0, 0, 0], "no service"));
        assert!(matches!(greeting.classify("a@b.c"), TransportError::Transient(_)));
        let refused = Failure::new(Stage::Connect, mail_send::Error::Io(std::io::ErrorKind::ConnectionRefused.into()));
        assert!(matches!(refused.classify("a@b.c"), TransportError::Transient(t) if t.starts_with("SMTP connect:")));
    }

    #[test]
    fn urls_select_tls_mode_port_and_credentials() {
        let c = SmtpConfig::from_url("smtp://user%40x:p%3Ass@mail.example.org?tls=opportunistic&timeout=5").unwrap();
        assert_eq!((c.tls, c.port, c.command_timeout), (TlsMode::Opportunistic, 587, Duration::from_secs(5)));
        let (user, password) = c.credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose_secret()), ("user@x", "p:ss"));
        assert!(!format!("{c:?}").contains("p:ss"));
        assert_eq!(SmtpConfig::from_url("smtp://[::1]:25?tls=none").unwrap().host, "::1");
        assert!(SmtpConfig::from_url("smtp://u:p@localhost:25?tls=none").is_ok());
        for bad in
            ["http://x.org", "smtps://x.org?tls=none", "smtp://x.org?tls=maybe", "smtp://x.org?bogus=1", "smtp://"]
        {
            assert!(SmtpConfig::from_url(bad).is_err(), "{bad}");
        }
        let err = SmtpConfig::from_url("smtp://u:hunter2@x.org?tls=none").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn masking_caps_length_and_drops_control_characters() {
        assert_eq!(mask("a\r\nb", ""), "a  b");
        assert_eq!(mask(&"x".repeat(400), "").chars().count(), 301);
    }
}
