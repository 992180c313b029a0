//! `portal-server` served for the xtask commands that drive it over HTTP (`bench`,
//! `schemathesis`): built with cargo, then started and read with portal-testkit's spawner (a
//! fresh data directory, a loopback port, stopped when dropped) and mail reader (the link
//! tokens its `.eml` files hold, the only place a raw token exists).

use std::path::{Path, PathBuf};
use std::process::Command;

use portal_testkit::{Email, LinkKind, PortalServer, ServerBuilder};
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
        let mut command = Command::new(self.binary);
        command.args(args).arg("--data-dir").arg(self.data_dir).args(["--log", "warn"]);
        if let Some(url) = self.database_url {
            command.arg("--database-url").arg(url);
        }
        output_of(&mut command)
    }

    /// Starts `portal-server serve` with `settings` on loopback `port` (see
    /// [`portal_testkit::free_port`]), its log going to `log`, and waits until `/healthz`
    /// answers. The server stops (SIGTERM) when the returned value is dropped.
    pub(crate) fn serve(&self, port: u16, settings: &[&str], log: &Path) -> Result<PortalServer> {
        let mut server = ServerBuilder::new(self.binary)
            .data_dir(self.data_dir)
            .port(port)
            .log_to(log)
            .arg("serve")
            .args(settings)
            .env("PORTAL_LOG", "warn");
        if let Some(url) = self.database_url {
            server = server.env("PORTAL_DATABASE_URL", url);
        }
        let served = server.start().map_err(|error| format!("{error}\n(full log: {})", log.display()))?;
        eprintln!("xtask: portal-server serving {} (log: {})", served.base_url(), log.display());
        Ok(served)
    }
}

/// The token of the invitation link in a raw `.eml` message, with its recipient (the message
/// parsed, so quoted-printable wrapping is undone).
pub(crate) fn invitation_in(raw: &[u8]) -> Option<(String, String)> {
    let email = Email::parse(raw)?;
    let link = email.link(LinkKind::Invitation)?;
    Some((email.to, link.token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_invitation_token_and_its_recipient_are_read_from_a_message() {
        let token = "AHQtG-YfTF2LtlD3bQjpEPmt6pQutjMAXrKRUtEcePeTFvfknesfA5cQNLeeLXn2";
        let eml = format!(
            "From: Portal <no-reply@x>\r\nTo: \"Bench 1\" <lookup-1@bench.example.org>\r\n\r\n\
             Open http://127.0.0.1:9/portal/invitation?token={token}\r\n"
        );
        let found = invitation_in(eml.as_bytes());
        assert_eq!(found, Some(("lookup-1@bench.example.org".to_owned(), token.to_owned())));
        assert_eq!(invitation_in(b"To: a@x.org\r\n\r\nno link\r\n"), None);
    }
}
