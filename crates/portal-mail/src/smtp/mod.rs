//! SMTP delivery through mail-send: one connection per message (portal sends little mail, and a
//! fresh connection cannot inherit a broken state). The same session steps serve a delivery and
//! a probe of the relay ([`SmtpTransport::probe`]).

mod config;
mod probe;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use mail_send::smtp::message::Parameters;
use mail_send::{Credentials, SmtpClient};
use portal_core::{DeliveryCause, DeliveryProblem, MailTransport, RenderedEmail, TransportError};
use secrecy::ExposeSecret;
use smtp_proto::{EXT_START_TLS, EhloResponse};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub use config::{SmtpConfig, TlsMode};
pub use probe::{ProbeAuth, ProbeError, ProbeReport, ProbeTls, SmtpFailure, SmtpStep};

use crate::ConfigError;
use crate::message;

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

    /// Connects to the relay and goes as far as a delivery would without a message: the
    /// connection, TLS as the settings ask, the greeting, `EHLO` and `AUTH`; with `test`, that
    /// message is sent too. Bounded by the configured timeouts; nothing is retried.
    ///
    /// # Errors
    /// [`ProbeError`] naming the step that failed and why, with what worked before it.
    pub async fn probe(&self, test: Option<&RenderedEmail>) -> Result<ProbeReport, ProbeError> {
        let mut report = ProbeReport { relay: self.config.relay(), ..ProbeReport::default() };
        let recipient = test.map_or("", |email| email.to.as_str());
        let body = match test.map(|email| message::to_rfc5322(email, message::now_unix_seconds())).transpose() {
            Ok(body) => body,
            Err(error) => {
                let failure = SmtpFailure::Reply { code: 0, text: error.to_string() };
                return Err(ProbeError { report, step: SmtpStep::Data, failure });
            }
        };
        let steps = async {
            let mut session = self.open(&mut report).await?;
            if let (Some(email), Some(body)) = (test, &body) {
                session.transaction(&email.from_address, &email.to, body).await?;
                report.test_message = Some(email.to.clone());
            }
            // The probe is done; a failed QUIT changes nothing.
            let _ = session.client.quit().await;
            Ok::<(), Failure>(())
        };
        let outcome = tokio::time::timeout(self.config.total_timeout, steps).await;
        let failure = match outcome {
            Ok(Ok(())) => return Ok(report),
            Ok(Err(failure)) => failure,
            Err(_) => Failure::known(self.hung_at(&report), SmtpFailure::Timeout),
        };
        let (step, failure) = failure.describe(recipient);
        Err(ProbeError { report, step, failure })
    }

    /// The step a probe that ran out of time was at: the one after the last that worked.
    fn hung_at(&self, report: &ProbeReport) -> SmtpStep {
        let implicit = self.config.tls == TlsMode::Implicit;
        if report.connected.is_none() {
            SmtpStep::Connect
        } else if report.tls.is_none() && (implicit || report.greeting.is_some()) {
            SmtpStep::Tls
        } else if report.greeting.is_none() {
            SmtpStep::Greeting
        } else if report.auth.is_none() {
            SmtpStep::Auth
        } else {
            SmtpStep::Data
        }
    }

    async fn deliver(&self, from: &str, to: &str, body: &[u8]) -> Result<(), Failure> {
        let mut session = self.open(&mut ProbeReport::default()).await?;
        session.transaction(from, to, body).await?;
        // The message is accepted; a failed QUIT changes nothing.
        let _ = session.client.quit().await;
        Ok(())
    }

    /// Connects, protects the connection as the TLS mode says, reads the greeting, says `EHLO`
    /// and authenticates. `report` records each step that worked.
    async fn open(&self, report: &mut ProbeReport) -> Result<Session, Failure> {
        let config = &self.config;
        let stream =
            tokio::time::timeout(config.connect_timeout, TcpStream::connect((config.host.as_str(), config.port)))
                .await
                .map_err(|_| Failure::new(Stage::Connect, mail_send::Error::Timeout))?
                .map_err(|e| Failure::new(Stage::Connect, mail_send::Error::Io(e)))?;
        report.connected = stream.peer_addr().ok();
        let mut plain = SmtpClient { stream, timeout: config.command_timeout };
        let mut session = match config.tls {
            TlsMode::Implicit => {
                let client = plain.into_tls(&self.tls, &config.host).await.stage(Stage::Tls)?;
                report.tls = Some(ProbeTls::Implicit { session: tls_session(client.tls_connection()) });
                let mut client = erase(client);
                let capabilities = self.hello(&mut client, report).await?;
                Session { client, capabilities, encrypted: true }
            }
            TlsMode::None => {
                report.tls = Some(ProbeTls::Off);
                let capabilities = self.hello(&mut plain, report).await?;
                Session { client: erase(plain), capabilities, encrypted: false }
            }
            TlsMode::StartTls | TlsMode::Opportunistic => {
                let capabilities = self.hello(&mut plain, report).await?;
                if capabilities.has_capability(EXT_START_TLS) {
                    let client = plain.start_tls(&self.tls, &config.host).await.stage(Stage::Tls)?;
                    report.tls = Some(ProbeTls::StartTls { session: tls_session(client.tls_connection()) });
                    let mut client = erase(client);
                    let capabilities = client.ehlo(&config.helo_name).await.stage(Stage::Ehlo)?;
                    Session { client, capabilities, encrypted: true }
                } else if config.tls == TlsMode::StartTls {
                    return Err(Failure::known(Stage::Tls, SmtpFailure::StartTlsNotOffered));
                } else if config.credentials.is_some() {
                    return Err(Failure::known(Stage::Tls, SmtpFailure::CredentialsNeedTls));
                } else {
                    report.tls = Some(ProbeTls::NotOffered);
                    Session { client: erase(plain), capabilities, encrypted: false }
                }
            }
        };
        report.auth = Some(self.authenticate(&mut session).await?);
        Ok(session)
    }

    /// Reads the greeting and says `EHLO`.
    async fn hello<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        client: &mut SmtpClient<T>,
        report: &mut ProbeReport,
    ) -> Result<EhloResponse<String>, Failure> {
        let greeting = tokio::time::timeout(self.config.command_timeout, client.read())
            .await
            .map_err(|_| Failure::new(Stage::Greeting, mail_send::Error::Timeout))?
            .stage(Stage::Greeting)?;
        if !(200..300).contains(&greeting.code) {
            return Err(Failure::new(Stage::Greeting, mail_send::Error::UnexpectedReply(greeting)));
        }
        let first_line = greeting.message.lines().next().unwrap_or_default();
        report.greeting = Some(mask(&format!("{} {first_line}", greeting.code), ""));
        client.ehlo(&self.config.helo_name).await.stage(Stage::Ehlo)
    }

    /// `AUTH` with the configured credentials. A password goes only over TLS (the configuration
    /// refuses credentials with `tls=none`); this is checked here again, before anything is sent.
    async fn authenticate(&self, session: &mut Session) -> Result<ProbeAuth, Failure> {
        let offered = session.capabilities.auth_mechanisms != 0;
        let Some((user, password)) = &self.config.credentials else {
            return Ok(ProbeAuth::NotConfigured { offered });
        };
        if !session.encrypted {
            return Err(Failure::known(Stage::Tls, SmtpFailure::CredentialsNeedTls));
        }
        if !offered {
            return Err(Failure::known(Stage::Auth, SmtpFailure::AuthNotOffered));
        }
        let credentials = Credentials::new(user.clone(), password.expose_secret().to_owned());
        session.client.authenticate(&credentials, &session.capabilities).await.stage(Stage::Auth)?;
        Ok(ProbeAuth::Accepted { user: user.clone() })
    }
}

/// Anything a session runs over: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The same client over a stream of any kind, so one session type serves every TLS mode.
fn erase<T: Stream + 'static>(client: SmtpClient<T>) -> SmtpClient<Box<dyn Stream>> {
    SmtpClient { stream: Box::new(client.stream), timeout: client.timeout }
}

/// `TLS 1.3, TLS13_AES_256_GCM_SHA384`.
fn tls_session(connection: &rustls::ClientConnection) -> String {
    let version = match connection.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
        _ => "TLS",
    };
    match connection.negotiated_cipher_suite().and_then(|suite| suite.suite().as_str()) {
        Some(suite) => format!("{version}, {suite}"),
        None => version.to_owned(),
    }
}

/// An open, greeted and authenticated session.
struct Session {
    client: SmtpClient<Box<dyn Stream>>,
    capabilities: EhloResponse<String>,
    encrypted: bool,
}

impl Session {
    async fn transaction(&mut self, from: &str, to: &str, body: &[u8]) -> Result<(), Failure> {
        let none = Parameters::default();
        self.client.mail_from(from, &none).await.stage(Stage::MailFrom)?;
        self.client.rcpt_to(to, &none).await.stage(Stage::RcptTo)?;
        self.client.data(body).await.stage(Stage::Data)?;
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
            Err(_) => Err(TransportError::Transient(DeliveryProblem::new(
                DeliveryCause::TimedOut,
                format!("SMTP delivery took longer than {} s", self.config.total_timeout.as_secs()),
            ))),
        }
    }
}

/// Where in the SMTP dialogue something failed.
type Stage = SmtpStep;

/// A 5xx here is about this message (not the session), so it is final.
const fn in_transaction(stage: Stage) -> bool {
    matches!(stage, Stage::MailFrom | Stage::RcptTo | Stage::Data)
}

#[derive(Debug)]
enum Cause {
    Smtp(mail_send::Error),
    Known(SmtpFailure),
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

    fn known(stage: Stage, failure: SmtpFailure) -> Self {
        Self { stage, cause: Cause::Known(failure) }
    }

    /// The step and the failure in words safe to store and log: the server's reply with the
    /// recipient address masked and control characters dropped.
    fn describe(self, recipient: &str) -> (Stage, SmtpFailure) {
        let failure = match self.cause {
            Cause::Known(failure) => failure,
            Cause::Smtp(mail_send::Error::AuthenticationFailed(reply)) => {
                SmtpFailure::AuthRefused(reply_text(&reply, recipient))
            }
            Cause::Smtp(mail_send::Error::UnsupportedAuthMechanism) => SmtpFailure::AuthNotOffered,
            Cause::Smtp(mail_send::Error::MissingStartTls) => SmtpFailure::StartTlsNotOffered,
            Cause::Smtp(mail_send::Error::UnexpectedReply(reply)) => {
                SmtpFailure::Reply { code: reply.code, text: reply_text(&reply, recipient) }
            }
            Cause::Smtp(mail_send::Error::Timeout) => SmtpFailure::Timeout,
            Cause::Smtp(mail_send::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                SmtpFailure::Connection("connection refused: nothing is listening at that host and port".into())
            }
            Cause::Smtp(mail_send::Error::Io(e)) => SmtpFailure::Connection(mask(&e.to_string(), recipient)),
            // mail-send's own texts hold no message content; the address is masked anyway.
            Cause::Smtp(other) => SmtpFailure::Connection(mask(&other.to_string(), recipient)),
        };
        (self.stage, failure)
    }

    /// Transient or permanent, with its cause and a text safe to store and log (see
    /// [`Failure::describe`]).
    fn classify(self, recipient: &str) -> TransportError {
        // The I/O error's kind is lost in its text once described.
        let io_timed_out =
            matches!(&self.cause, Cause::Smtp(mail_send::Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut);
        let (stage, failure) = self.describe(recipient);
        let cause = if io_timed_out { DeliveryCause::TimedOut } else { delivery_cause(stage, &failure) };
        let problem = DeliveryProblem::new(cause, format!("SMTP {stage}: {failure}"));
        match failure {
            SmtpFailure::Reply { code, .. } if (500..600).contains(&code) && in_transaction(stage) => {
                TransportError::Permanent(problem)
            }
            _ => TransportError::Transient(problem),
        }
    }
}

/// The cause of a failure at a step, as staff are told it: a timeout anywhere is a timeout; a
/// failure while connecting, securing or signing in is about that step; a 5xx in the mail
/// transaction is about the address, sender or message it answered; any other 4xx asks to try
/// later; a refusal at the greeting or `EHLO` turns the session away.
fn delivery_cause(stage: Stage, failure: &SmtpFailure) -> DeliveryCause {
    let code = match failure {
        SmtpFailure::Reply { code, .. } => *code,
        _ => 0,
    };
    let refused = (500..600).contains(&code);
    match stage {
        _ if *failure == SmtpFailure::Timeout => DeliveryCause::TimedOut,
        Stage::Connect => DeliveryCause::Unreachable,
        Stage::Tls => DeliveryCause::NoSecureConnection,
        Stage::Auth => DeliveryCause::SignInRefused,
        Stage::RcptTo if refused => DeliveryCause::AddressRefused,
        Stage::MailFrom if refused => DeliveryCause::SenderRefused,
        Stage::Data if refused => DeliveryCause::MessageRefused,
        _ if (400..500).contains(&code) => DeliveryCause::Deferred,
        Stage::Greeting | Stage::Ehlo => DeliveryCause::TurnedAway,
        Stage::MailFrom | Stage::RcptTo | Stage::Data => DeliveryCause::Other,
    }
}

/// `550 5.1.1 <recipient>: no such user`.
fn reply_text(reply: &smtp_proto::Response<String>, recipient: &str) -> String {
    let [a, b, c] = reply.esc;
    let enhanced = if a == 0 { String::new() } else { format!(" {a}.{b}.{c}") };
    format!("{}{enhanced} {}", reply.code, mask(&reply.message, recipient))
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
            TransportError::Permanent(problem) => {
                assert_eq!(problem.detail, "SMTP RCPT TO: 550 5.1.1 <<recipient>>: no such user");
                assert_eq!(problem.cause, DeliveryCause::AddressRefused);
            }
            other => panic!("{other:?}"),
        }
        let busy = Failure::new(Stage::RcptTo, reply(451, [4, 3, 0], "try later"));
        assert!(matches!(busy.classify("a@b.c"), TransportError::Transient(p) if p.cause == DeliveryCause::Deferred));
        let greeting = Failure::new(Stage::Greeting, reply(554, [0, 0, 0], "no service"));
        assert!(
            matches!(greeting.classify("a@b.c"), TransportError::Transient(p) if p.cause == DeliveryCause::TurnedAway)
        );
        let refused = Failure::new(Stage::Connect, mail_send::Error::Io(std::io::ErrorKind::ConnectionRefused.into()));
        assert!(matches!(
            refused.classify("a@b.c"),
            TransportError::Transient(p) if p.detail.starts_with("SMTP connect:") && p.cause == DeliveryCause::Unreachable
        ));
    }

    #[test]
    fn each_step_and_reply_has_the_cause_staff_are_told() {
        use DeliveryCause as C;
        let io = |kind: std::io::ErrorKind| mail_send::Error::Io(kind.into());
        let cases = [
            (Failure::new(Stage::Connect, io(std::io::ErrorKind::ConnectionRefused)), C::Unreachable),
            (Failure::new(Stage::Connect, mail_send::Error::Timeout), C::TimedOut),
            (Failure::new(Stage::Greeting, io(std::io::ErrorKind::TimedOut)), C::TimedOut),
            (Failure::known(Stage::Tls, SmtpFailure::StartTlsNotOffered), C::NoSecureConnection),
            (Failure::known(Stage::Tls, SmtpFailure::CredentialsNeedTls), C::NoSecureConnection),
            (Failure::new(Stage::Tls, io(std::io::ErrorKind::InvalidData)), C::NoSecureConnection),
            (Failure::new(Stage::Greeting, reply(554, [0, 0, 0], "no service")), C::TurnedAway),
            (Failure::new(Stage::Greeting, reply(421, [4, 3, 2], "busy")), C::Deferred),
            (Failure::new(Stage::Ehlo, reply(502, [5, 5, 1], "no EHLO")), C::TurnedAway),
            (Failure::known(Stage::Auth, SmtpFailure::AuthNotOffered), C::SignInRefused),
            (Failure::known(Stage::Auth, SmtpFailure::AuthRefused("535 5.7.8 no".into())), C::SignInRefused),
            (Failure::new(Stage::Auth, reply(454, [4, 7, 0], "later")), C::SignInRefused),
            (Failure::new(Stage::MailFrom, reply(553, [5, 1, 8], "sender rejected")), C::SenderRefused),
            (Failure::new(Stage::MailFrom, reply(451, [4, 3, 0], "later")), C::Deferred),
            (Failure::new(Stage::RcptTo, reply(550, [5, 1, 1], "no such user")), C::AddressRefused),
            (Failure::new(Stage::Data, reply(554, [5, 7, 1], "spam")), C::MessageRefused),
            (Failure::known(Stage::Data, SmtpFailure::Timeout), C::TimedOut),
            (Failure::new(Stage::Data, io(std::io::ErrorKind::ConnectionReset)), C::Other),
        ];
        for (failure, cause) in cases {
            let described = format!("{failure:?}");
            assert_eq!(failure.classify("a@b.c").problem().cause, cause, "{described}");
        }
    }

    #[test]
    fn masking_caps_length_and_drops_control_characters() {
        assert_eq!(mask("a\r\nb", ""), "a  b");
        assert_eq!(mask(&"x".repeat(400), "").chars().count(), 301);
    }
}
