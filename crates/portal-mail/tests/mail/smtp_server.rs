//! A real SMTP server on loopback for the tests: Debian's `python3-aiosmtpd`, run as a child
//! process and killed on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter that has aiosmtpd (the `python3` on PATH may be another one).
const PYTHON: &str = "/usr/bin/python3";
const INSTALL_HINT: &str = "these tests need a real SMTP server: install Debian's aiosmtpd with \
     `apt-get update && apt-get install -y python3-aiosmtpd` (it must be importable by /usr/bin/python3)";

/// How the server treats mail.
pub enum Behaviour {
    /// Accepts everything into a Maildir.
    Accept,
    /// Answers `550 5.1.1 no such user` to every `RCPT TO` (tests/smtp_reject.py).
    RejectRecipients,
}

/// TLS the server offers.
pub enum ServerTls<'a> {
    None,
    /// STARTTLS with this certificate and key.
    StartTls(&'a Path, &'a Path),
    /// Implicit TLS (SMTPS) with this certificate and key.
    Implicit(&'a Path, &'a Path),
}

pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port()
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

impl SmtpServer {
    pub fn start(behaviour: Behaviour) -> Self {
        Self::start_on(free_port(), behaviour, ServerTls::None)
    }

    pub fn start_on(port: u16, behaviour: Behaviour, tls: ServerTls<'_>) -> Self {
        require_aiosmtpd();
        let maildir = tempfile::tempdir().expect("a temporary folder");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir(maildir.path().join(sub)).expect("a Maildir folder");
        }
        let mut command = Command::new(PYTHON);
        command
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .env("PYTHONPATH", Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match tls {
            ServerTls::None => {}
            ServerTls::StartTls(cert, key) => {
                command.arg("--tlscert").arg(cert).arg("--tlskey").arg(key).arg("--no-requiretls");
            }
            ServerTls::Implicit(cert, key) => {
                command.arg("--smtpscert").arg(cert).arg("--smtpskey").arg(key);
            }
        }
        match behaviour {
            Behaviour::Accept => command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(maildir.path()),
            Behaviour::RejectRecipients => command.args(["-c", "smtp_reject.RejectRecipients"]),
        };
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {PYTHON}: {e}; {INSTALL_HINT}"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd exited at start ({status}); {INSTALL_HINT}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port} within 15 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, maildir }
    }

    /// The raw messages received so far (Maildir `new/`), in no particular order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        let new = self.maildir.path().join("new");
        let Ok(entries) = std::fs::read_dir(&new) else { return Vec::new() };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.expect("a Maildir entry").path()).collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).expect("a readable message")).collect()
    }

    /// Waits until `n` messages arrived (the server writes after answering the client).
    pub fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received();
            if received.len() >= n || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A self-signed certificate for 127.0.0.1 and `localhost`, made with the `openssl` command.
pub struct TestCertificate {
    pub dir: tempfile::TempDir,
}

impl TestCertificate {
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
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
            status.is_ok_and(|s| s.success()),
            "the TLS tests need the `openssl` command: `apt-get install -y openssl`"
        );
        Self { dir }
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("key.pem")
    }
}
