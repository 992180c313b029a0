//! The real `portal-server` binary on a free port over a temporary data directory (SQLite, mail as
//! `.eml` files), configured as a clinic would, and the links it emails.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    pub base: String,
    pub staff_key: String,
    mail_dir: PathBuf,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary with `first_practice` as the first practice's name and waits for
    /// `/healthz`; reads the first-run staff key from its output.
    pub async fn start(first_practice: &str) -> Self {
        let data = tempfile::tempdir().expect("a data directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = Command::new(env!("CARGO_BIN_EXE_portal-server"))
            .env_clear()
            .env("PORTAL_DATA_DIR", data.path())
            .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
            .env("PORTAL_PUBLIC_URL", &base)
            .env("PORTAL_FIRST_PRACTICE", first_practice)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("portal-server starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let staff_key = loop {
            let line = lines.recv_timeout(Duration::from_secs(60)).expect("the first-run staff key");
            if let Some(key) = line.trim().strip_prefix("staff key") {
                break key.trim().to_owned();
            }
        };
        let http = reqwest::Client::builder().no_proxy().build().expect("an HTTP client");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "portal-server did not answer within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, base, staff_key, mail_dir: data.path().join("mail"), _data: data }
    }

    /// The newest emailed link to `to` that starts with `prefix` (waits up to 15 s for it).
    pub async fn emailed_link(&self, to: &str, prefix: &str, seen: &[String]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            for entry in std::fs::read_dir(&self.mail_dir).into_iter().flatten().filter_map(Result::ok) {
                let raw = std::fs::read(entry.path()).unwrap_or_default();
                let Some(message) = mail_parser::MessageParser::default().parse(&raw) else { continue };
                let addressed = message.to().and_then(|a| a.first()).and_then(|a| a.address()) == Some(to);
                let text = message.body_text(0).unwrap_or_default();
                if let Some(start) = text.find(prefix).filter(|_| addressed) {
                    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
                    if !seen.contains(&link) {
                        return link;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no new link {prefix}… emailed to {to} within 15 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
