//! The SMTP setting: `smtp[s]://[user:password@]host[:port][?settings]`, and the TLS rule.

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use secrecy::SecretString;

use crate::ConfigError;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (`smtps://`, usually port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS, which the server MUST offer; without it
    /// nothing is sent (`smtp://…?tls=required`, and the default of `smtp://` to any host but
    /// a loopback one without credentials; usually port 587).
    StartTls,
    /// STARTTLS when the server offers it, plain otherwise (`smtp://…?tls=opportunistic`, and the
    /// default of `smtp://` to a loopback host without credentials). An attacker on the path can
    /// strip the offer, so credentials are never sent when the offer is missing.
    Opportunistic,
    /// No TLS at all (`smtp://…?tls=none`): only for a relay on the same host or network.
    /// Credentials are allowed only to a loopback host, where they never cross a network.
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
    /// `smtp://[user:password@]host[:port][?tls=required|opportunistic|none]` (default port
    /// 587). User name and password are percent-decoded. Other query settings:
    /// `timeout=SECONDS` (per reply), `helo=NAME`, `ca_file=/path/to/ca.pem` (extra trusted
    /// roots).
    ///
    /// Without `tls=`, `smtp://` requires STARTTLS, except to a loopback host (`localhost`,
    /// `127.0.0.0/8`, `::1`) without credentials: there it uses STARTTLS when the relay offers
    /// it and plain SMTP otherwise, as a local relay or development mail catcher usually offers
    /// none. `tls=starttls` is accepted as another name for `tls=required`.
    ///
    /// A password is never sent without TLS, not even to a loopback host: credentials are
    /// refused with `tls=none`, and with `tls=opportunistic` they are not sent when the relay
    /// offers no STARTTLS.
    ///
    /// ```
    /// use portal_mail::{SmtpConfig, TlsMode};
    /// let config = SmtpConfig::from_url("smtps://mailer:s%40cret@smtp.example.org")?;
    /// assert_eq!((config.port, config.tls), (465, TlsMode::Implicit));
    /// let remote = SmtpConfig::from_url("smtp://smtp.example.org")?;
    /// assert_eq!((remote.port, remote.tls), (587, TlsMode::StartTls));
    /// let local = SmtpConfig::from_url("smtp://127.0.0.1:2525")?;
    /// assert_eq!((local.port, local.tls), (2525, TlsMode::Opportunistic));
    /// let local_with_login = SmtpConfig::from_url("smtp://u:p@localhost:2525")?;
    /// assert_eq!(local_with_login.tls, TlsMode::StartTls);
    /// assert!(SmtpConfig::from_url("smtp://u:p@smtp.example.org:25?tls=none").is_err());
    /// assert!(SmtpConfig::from_url("smtp://u:p@localhost:25?tls=none").is_err());
    /// # Ok::<(), portal_mail::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConfigError`] for anything malformed (the message never repeats the password).
    pub fn from_url(text: &str) -> Result<Self, ConfigError> {
        let bad = |why: String| ConfigError::new("smtp-url", why);
        let url = url::Url::parse(text.trim()).map_err(|e| bad(format!("not a URL ({e})")))?;
        let (implicit, default_port) = match url.scheme() {
            "smtps" => (true, 465),
            "smtp" => (false, 587),
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
            tls: default_tls(implicit, &host, credentials.is_some()),
            host,
            port: url.port().unwrap_or(default_port),
            credentials,
            connect_timeout: Self::CONNECT_TIMEOUT,
            command_timeout: Self::COMMAND_TIMEOUT,
            total_timeout: Self::TOTAL_TIMEOUT,
            helo_name: gethostname::gethostname().into_string().unwrap_or_else(|_| "localhost".to_owned()),
            extra_roots: Vec::new(),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", _) if implicit => {
                    return Err(bad("smtps:// is always TLS; `tls=` applies to smtp:// only".into()));
                }
                ("tls", mode) => {
                    config.tls = match mode {
                        "required" | "starttls" => TlsMode::StartTls,
                        "opportunistic" => TlsMode::Opportunistic,
                        "none" => TlsMode::None,
                        other => return Err(bad(format!("tls={other}: use required, opportunistic or none"))),
                    };
                }
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
        if config.tls == TlsMode::None && config.credentials.is_some() {
            return Err(bad("credentials are never sent without TLS: drop tls=none, or the user and password".into()));
        }
        Ok(config)
    }

    /// Whether the host is this machine: `localhost`, `127.0.0.0/8` or `::1`.
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.host)
    }

    /// The relay as `host:port` (IPv6 addresses in brackets), for messages.
    #[must_use]
    pub fn relay(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The TLS mode when the URL has no `tls=`: implicit for `smtps://`; for `smtp://`, STARTTLS
/// when offered to a loopback host without credentials (local relays and development mail
/// catchers rarely offer it, and nothing secret goes over the wire), required everywhere else.
fn default_tls(implicit: bool, host: &str, has_credentials: bool) -> TlsMode {
    if implicit {
        TlsMode::Implicit
    } else if is_loopback(host) && !has_credentials {
        TlsMode::Opportunistic
    } else {
        TlsMode::StartTls
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

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn urls_select_tls_mode_port_and_credentials() {
        let c = SmtpConfig::from_url("smtp://user%40x:p%3Ass@mail.example.org?tls=opportunistic&timeout=5").unwrap();
        assert_eq!((c.tls, c.port, c.command_timeout), (TlsMode::Opportunistic, 587, Duration::from_secs(5)));
        let (user, password) = c.credentials.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose_secret()), ("user@x", "p:ss"));
        assert!(!format!("{c:?}").contains("p:ss"));
        assert_eq!(SmtpConfig::from_url("smtp://[::1]:25?tls=none").unwrap().host, "::1");
        assert!(SmtpConfig::from_url("smtp://u:p@localhost:25?tls=none").is_err(), "no password in the clear");
        for bad in
            ["http://x.org", "smtps://x.org?tls=none", "smtp://x.org?tls=maybe", "smtp://x.org?bogus=1", "smtp://"]
        {
            assert!(SmtpConfig::from_url(bad).is_err(), "{bad}");
        }
        let err = SmtpConfig::from_url("smtp://u:hunter2@x.org?tls=none").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn smtp_to_a_loopback_host_without_credentials_takes_starttls_only_when_offered() {
        let tls = |url: &str| SmtpConfig::from_url(url).unwrap().tls;
        for local in ["smtp://127.0.0.1:2525", "smtp://127.1.2.3", "smtp://[::1]:25", "smtp://LocalHost:1025"] {
            assert_eq!(tls(local), TlsMode::Opportunistic, "{local}");
        }
        // Credentials, another host, or an explicit setting keep TLS required.
        assert_eq!(tls("smtp://u:p@127.0.0.1:2525"), TlsMode::StartTls);
        assert_eq!(tls("smtp://mail.example.org"), TlsMode::StartTls);
        assert_eq!(tls("smtp://10.0.0.1:25"), TlsMode::StartTls);
        assert_eq!(tls("smtp://localhost.example.org"), TlsMode::StartTls);
        assert_eq!(tls("smtp://127.0.0.1:2525?tls=required"), TlsMode::StartTls);
        assert_eq!(tls("smtp://127.0.0.1:2525?tls=starttls"), TlsMode::StartTls);
        // An explicit choice for a remote host is honoured.
        assert_eq!(tls("smtp://mail.example.org?tls=none"), TlsMode::None);
        assert_eq!(tls("smtp://mail.example.org?tls=opportunistic"), TlsMode::Opportunistic);
        assert_eq!(tls("smtps://127.0.0.1"), TlsMode::Implicit);
    }

    #[test]
    fn the_relay_is_named_with_brackets_around_ipv6() {
        assert_eq!(SmtpConfig::from_url("smtp://[::1]:2525").unwrap().relay(), "[::1]:2525");
        assert_eq!(SmtpConfig::from_url("smtps://mail.example.org").unwrap().relay(), "mail.example.org:465");
    }
}
