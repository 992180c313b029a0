//! `portal-server` served for the xtask commands that drive it over HTTP (`bench`,
//! `schemathesis`): built with cargo, started on a fresh data directory and a free loopback
//! port, stopped when dropped; and the link tokens its `.eml` files hold (the only place a raw
//! token exists).

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{Result, cargo, display, output_of};

/// Builds `portal-server` (`--release` when asked, with `features`) and returns the executable
/// cargo reports.
pub(crate) fn build(release: bool, features: &[&str]) -> Result<PathBuf> {
    let mut command = cargo(["build", "-q", "-p", "portal-server", "--message-format=json"]);
    if release {
        command.arg("--release");
    }
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    eprintln!("xtask: {}", display(&command));
    output_of(&mut command)?
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact" && message["target"]["name"] == "portal-server")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "`cargo build -p portal-server` reported no executable".to_owned())
}

/// A loopback port nobody listens on now.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|error| format!("no free port: {error}"))?;
    listener.local_addr().map(|addr| addr.port()).map_err(|error| format!("no free port: {error}"))
}

/// Where a served portal keeps its state.
pub(crate) struct Deployment<'a> {
    pub(crate) binary: &'a Path,
    pub(crate) data_dir: &'a Path,
    /// `None`: the embedded default (SQLite under the data directory).
    pub(crate) database_url: Option<&'a str>,
}

impl Deployment<'_> {
    /// `portal-server <args>` on this deployment, to completion; its stdout.
    pub(crate) fn command(&self, args: &[&str]) -> Result<String> {
        output_of(&mut self.portal_server(args))
    }

    fn portal_server(&self, args: &[&str]) -> Command {
        let mut command = Command::new(self.binary);
        command.args(args).arg("--data-dir").arg(self.data_dir).args(["--log", "warn"]);
        if let Some(url) = self.database_url {
            command.arg("--database-url").arg(url);
        }
        command
    }

    /// Starts `portal-server serve` with `settings` on loopback `port` (see [`free_port`]), its
    /// output going to `log`, and waits until `/healthz` answers.
    pub(crate) fn serve(&self, port: u16, settings: &[&str], log: &Path) -> Result<Served> {
        let bind = format!("127.0.0.1:{port}");
        let log_file = File::create(log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
        let stderr = log_file.try_clone().map_err(|error| format!("cannot share {}: {error}", log.display()))?;
        let child = self
            .portal_server(&["serve", "--bind", &bind])
            .args(settings)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("could not start {}: {error}", self.binary.display()))?;
        let served = Served { child, base_url: format!("http://{bind}"), mail_dir: self.data_dir.join("mail") };
        served.wait_until_healthy(Duration::from_secs(60), log)?;
        eprintln!("xtask: portal-server serving {} (log: {})", served.base_url, log.display());
        Ok(served)
    }
}

/// A running server; stopped when dropped, whatever happened in between.
pub(crate) struct Served {
    child: Child,
    base_url: String,
    mail_dir: PathBuf,
}

impl Served {
    fn wait_until_healthy(&self, limit: Duration, log: &Path) -> Result {
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if client.get(format!("{}/healthz", self.base_url)).send().is_ok_and(|answer| answer.status().is_success())
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("the server did not become healthy within {limit:?}; see {}", log.display()))
    }

    /// `http://127.0.0.1:PORT`.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Where the server writes its `.eml` files.
    pub(crate) fn mail_dir(&self) -> &Path {
        &self.mail_dir
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Best effort: the process may already have exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `.eml` files in `dir` (none when it does not exist yet).
pub(crate) fn eml_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|extension| extension == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every link token after `marker` (e.g. `/portal/invitation?token=`) in a message: 64 base64url
/// characters. The plain-text part holds links whole; the quoted-printable HTML part may wrap
/// or escape them, and such fragments are left out by the length.
pub(crate) fn link_tokens(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .map(|(at, _)| {
            text[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect::<String>()
        })
        .filter(|token| token.len() == 64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_read_from_the_plain_text_part() {
        let token = "AHQtG-YfTF2LtlD3bQjpEPmt6pQutjMAXrKRUtEcePeTFvfknesfA5cQNLeeLXn2";
        let eml = format!(
            "To: a@example.org\r\n\r\nOpen http://127.0.0.1:9/portal/invitation?token={token}\r\n\
             <a href=3D\"http://127.0.0.1:9/portal/invitation?token=3DAHQtG-YfTF2L=\r\ntlD3\">"
        );
        assert_eq!(link_tokens(&eml, "/portal/invitation?token="), vec![token.to_owned()]);
        assert!(link_tokens(&eml, "/portal/password-reset?token=").is_empty());
    }
}
