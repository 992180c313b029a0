//! A real SMTP server on loopback: Debian's `python3-aiosmtpd`, started as a child process (open,
//! or requiring `AUTH` with one login), storing every message in a Maildir, killed on drop.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter that has aiosmtpd (the `python3` on PATH may be another one).
const PYTHON: &str = "/usr/bin/python3";
const INSTALL_HINT: &str = "these tests need a real SMTP server: install Debian's aiosmtpd with \
     `apt-get update && apt-get install -y python3-aiosmtpd` (it must be importable by /usr/bin/python3)";

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub maildir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (right now).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port()
}

/// aiosmtpd requiring `AUTH` with one login (over plain SMTP: the sink is on loopback, where
/// the server allows credentials without TLS), storing messages in a Maildir.
/// Arguments: login, password, port, Maildir.
const AUTH_SINK: &str = r#"
import sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
login, password, port, maildir = sys.argv[1:5]
def check(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == login.encode() \
        and auth_data.password == password.encode()
    return AuthResult(success=ok)
controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), authenticator=check,
                        auth_required=True, auth_require_tls=False)
controller.start()
while True:
    time.sleep(3600)
"#;

impl SmtpSink {
    /// Starts aiosmtpd accepting everything into a Maildir, on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts aiosmtpd on `port` (a relay that comes back where the server expects it).
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, |port, maildir| {
            let mut command = Command::new(PYTHON);
            command
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir);
            command
        })
    }

    /// Starts aiosmtpd accepting mail only after `AUTH` as `login` with `password`.
    pub fn start_with_auth(login: &str, password: &str) -> Self {
        Self::spawn(free_port(), |port, maildir| {
            let mut command = Command::new(PYTHON);
            command.args(["-c", AUTH_SINK, login, password, &port.to_string()]).arg(maildir);
            command
        })
    }

    fn spawn(port: u16, command: impl FnOnce(u16, &std::path::Path) -> Command) -> Self {
        let found = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(found, "{INSTALL_HINT}");
        let maildir = tempfile::tempdir().expect("a temporary folder");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir(maildir.path().join(sub)).expect("a Maildir folder");
        }
        let mut child = command(port, maildir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {PYTHON}: {e}; {INSTALL_HINT}"));
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
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
    }
}
