//! The SMTP sink: Debian's `python3-aiosmtpd` on loopback as a child process, one per test,
//! killed on drop. It stores what it accepts in a Maildir the test reads.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;
use crate::mail::{MailSource, read_files_oldest_first};

/// The interpreter that has aiosmtpd (the `python3` on PATH may be another one).
const PYTHON: &str = "/usr/bin/python3";
/// The sink itself, run with `python3 -c` so no file of this crate's source tree is needed.
const SINK_SCRIPT: &str = include_str!("../python/smtp_sink.py");
const INSTALL_HINT: &str = "these tests need a real SMTP server: install Debian's aiosmtpd with \
     `apt-get update && apt-get install -y python3-aiosmtpd` (it must be importable by /usr/bin/python3)";
/// How long the sink may take to listen, and how long [`SmtpSink::wait_for`] waits.
const START_LIMIT: Duration = Duration::from_secs(15);
const ARRIVAL_LIMIT: Duration = Duration::from_secs(10);

/// What the sink does with mail.
#[derive(Debug, Clone, Copy, Default)]
pub enum SinkBehaviour<'a> {
    /// Accepts every message into the Maildir.
    #[default]
    Accept,
    /// Answers `550 5.1.1 no such user` to every `RCPT TO`.
    RejectRecipients,
    /// Accepts mail only after `AUTH` with this login and password (over plain SMTP too: the
    /// sink listens on loopback only).
    RequireAuth {
        /// The login the client must send.
        login: &'a str,
        /// The password the client must send.
        password: &'a str,
    },
}

/// The TLS the sink offers.
#[derive(Debug, Clone, Copy, Default)]
pub enum SinkTls<'a> {
    /// Plain SMTP only.
    #[default]
    None,
    /// STARTTLS (not required) with this certificate.
    StartTls(&'a TestCertificate),
    /// Implicit TLS from the first byte (SMTPS) with this certificate.
    Implicit(&'a TestCertificate),
}

/// How to start a sink; `SinkOptions::default()` accepts everything on a free port.
#[derive(Debug, Clone, Copy, Default)]
pub struct SinkOptions<'a> {
    /// The loopback port; `None` picks a free one. A fixed port lets a test bring a relay up
    /// where a server already expects it.
    pub port: Option<u16>,
    /// What to do with mail.
    pub behaviour: SinkBehaviour<'a>,
    /// The TLS offered.
    pub tls: SinkTls<'a>,
}

/// A running aiosmtpd; killed when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // Best effort: the process may be gone already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Starts a sink accepting everything, on a free port.
    ///
    /// # Panics
    /// When aiosmtpd is not installed (with the command that installs it) or does not listen
    /// within 15 s.
    #[must_use]
    pub fn start() -> Self {
        Self::start_with(SinkOptions::default())
    }

    /// Starts a sink as `options` say.
    ///
    /// # Panics
    /// As [`SmtpSink::start`].
    #[must_use]
    pub fn start_with(options: SinkOptions<'_>) -> Self {
        require_aiosmtpd();
        let port = options.port.unwrap_or_else(free_port);
        let maildir = tempfile::tempdir().expect("a temporary folder for the Maildir");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir(maildir.path().join(sub)).expect("a Maildir folder");
        }
        let mut command = Command::new(PYTHON);
        command.args(["-c", SINK_SCRIPT, "--port", &port.to_string(), "--maildir"]).arg(maildir.path());
        match options.behaviour {
            SinkBehaviour::Accept => {}
            SinkBehaviour::RejectRecipients => {
                command.arg("--reject-recipients");
            }
            SinkBehaviour::RequireAuth { login, password } => {
                command.args(["--auth", login, password]);
            }
        }
        match options.tls {
            SinkTls::None => {}
            SinkTls::StartTls(certificate) => {
                command.arg("--starttls").arg(certificate.cert()).arg(certificate.key());
            }
            SinkTls::Implicit(certificate) => {
                command.arg("--smtps").arg(certificate.cert()).arg(certificate.key());
            }
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {PYTHON}: {error}; {INSTALL_HINT}"));
        let deadline = Instant::now() + START_LIMIT;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd exited at start ({status}); {INSTALL_HINT}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port} within {START_LIMIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, maildir }
    }

    /// The loopback port the sink listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `smtp://127.0.0.1:PORT?tls=none`: a `PORTAL_SMTP_URL` that reaches a plain sink.
    #[must_use]
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// The Maildir the sink writes into.
    #[must_use]
    pub fn maildir(&self) -> &Path {
        self.maildir.path()
    }

    /// The raw messages accepted so far (Maildir `new/`), oldest first.
    #[must_use]
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.raw_messages()
    }

    /// Waits (up to 10 s) until `n` messages arrived and returns what arrived: the sink writes
    /// a message after answering the client, so a sender's success comes slightly earlier.
    #[must_use]
    pub fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + ARRIVAL_LIMIT;
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl MailSource for SmtpSink {
    fn raw_messages(&self) -> Vec<Vec<u8>> {
        read_files_oldest_first(&self.maildir.path().join("new"), |_| true)
    }
}

fn require_aiosmtpd() {
    let found = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "{INSTALL_HINT}");
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, made with the `openssl` command;
/// its folder is deleted on drop.
#[derive(Debug)]
pub struct TestCertificate {
    dir: tempfile::TempDir,
}

impl TestCertificate {
    /// Makes a fresh key and certificate (valid two days).
    ///
    /// # Panics
    /// When the `openssl` command is missing or fails (with the command that installs it).
    #[must_use]
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the certificate");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            status.is_ok_and(|status| status.success()),
            "the TLS tests need the `openssl` command: `apt-get install -y openssl`"
        );
        Self { dir }
    }

    /// The certificate, PEM.
    #[must_use]
    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The private key, PEM.
    #[must_use]
    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}
