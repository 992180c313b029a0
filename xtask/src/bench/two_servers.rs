//! Two server processes on one PostgreSQL database, both serving the mixed clinic load and both
//! dispatching mail (design §4: claims use `FOR UPDATE SKIP LOCKED`). Besides their combined
//! throughput the run checks what sharing must never break:
//!
//! - no mail sent twice: each invitation's link (its token) is in at most one `.eml` file among
//!   both servers' mail directories, and every file's link has its outbox row;
//! - no mail lost: every outbox row that became `sent` has its `.eml` file. (A file's row may
//!   also be `failed`: a resend cancels the previous invitation's row, and when a dispatcher was
//!   already sending it the mail goes out all the same, its link void. Those are counted.)
//! - no lost write: every invitation answered 202 left its audit row (`invite_sent` or
//!   `invite_resent`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portal_core::{LinkKey, TokenPurpose};
use portal_testkit::{EmlDir, PortalServer};

use super::fixture::Fixture;
use super::report::{Check, Goal, Measured};
use super::wrk::{self, Load};
use crate::Result;
use crate::served::{Deployment, invitation_in};

/// The mix each server gets (the single-server mixed scenario's).
const MIX: &str = "status:70,me:20,invite:10";

/// What the run measured and checked.
pub(crate) struct TwoServers {
    pub(crate) scenarios: Vec<Measured>,
    pub(crate) checks: Vec<Check>,
}

/// Starts a second server next to `first` (same database, its own data directory holding a copy
/// of the first's link key, so both derive the same links), loads both for `seconds`, waits for
/// the outbox to drain, then counts. `single_mixed` is one server's mixed-load throughput, for
/// comparison.
pub(crate) fn run(
    first: &PortalServer,
    first_dir: &Path,
    deployment: &Deployment<'_>,
    fixture: &Fixture,
    seconds: u32,
    single_mixed: f64,
) -> Result<TwoServers> {
    let database_url = deployment.database_url.ok_or("two servers need a shared PostgreSQL database")?;
    let second_dir =
        super::fresh_dir(&first_dir.with_file_name(format!(
            "{}-second",
            first_dir.file_name().and_then(|name| name.to_str()).unwrap_or("run")
        )))?;
    copy_link_key(first_dir, &second_dir)?;
    let second_deployment =
        Deployment { binary: deployment.binary, data_dir: &second_dir, database_url: Some(database_url) };
    let second = second_deployment.serve(
        portal_testkit::free_port(),
        &["--trust-forwarded-for"],
        &second_dir.join("server.log"),
    )?;

    wait_for_outbox(database_url)?;
    let before = Counts::read(database_url)?;
    let mail_dirs = [first.mail(), second.mail()];
    let old_files: HashSet<PathBuf> = mail_dirs.iter().flat_map(EmlDir::files).collect();

    eprintln!("bench: two servers on one database, the mixed load on each ({seconds} s)");
    let load = Load { mix: MIX, threads: 1, connections: 8, seconds, timeout_seconds: 5 };
    let first_run = wrk::start(load, first.base_url(), fixture, first_dir)?;
    let second_run = wrk::start(load, second.base_url(), fixture, first_dir)?;
    let (first_figures, second_figures) = (first_run.finish()?, second_run.finish()?);
    wait_for_outbox(database_url)?;
    let after = Counts::read(database_url)?;

    // Every new message, by the token id its link carries (the link is checked with the
    // servers' key, as a server checks it when the link is opened).
    let link_key = link_key(first_dir)?;
    let mut sends: HashMap<String, usize> = HashMap::new();
    let mut forged = 0_u64;
    let mut per_server = Vec::new();
    for dir in &mail_dirs {
        let new: Vec<PathBuf> = dir.files().into_iter().filter(|file| !old_files.contains(file)).collect();
        per_server.push(new.len());
        for file in new {
            let raw = std::fs::read(&file).map_err(|error| format!("{}: {error}", file.display()))?;
            let (_, token) = invitation_in(&raw).ok_or_else(|| format!("{}: no invitation link", file.display()))?;
            match link_key.verify(TokenPurpose::Invite, &token) {
                Ok(verified) => *sends.entry(verified.id().to_string()).or_default() += 1,
                Err(_) => forged += 1,
            }
        }
    }
    let sent_twice: usize = sends.values().map(|count| count - 1).sum();
    let emails: usize = per_server.iter().sum();
    // The outbox row behind each email's link, by state: `sent`, or `failed` when a resend
    // cancelled it while it was being sent (the mail goes out all the same; its link is void).
    let by_state = outbox_states(database_url, sends.keys())?;
    if forged > 0 {
        eprintln!("bench: two servers: {forged} emails carry a link the servers' key does not verify");
    }
    let emailed_sent = by_state.get("sent").copied().unwrap_or(0);
    let matched: u64 = by_state.values().sum();
    let accepted = first_figures.statuses.get(&202).copied().unwrap_or(0)
        + second_figures.statuses.get(&202).copied().unwrap_or(0);
    let audited = after.invites_audited.saturating_sub(before.invites_audited);
    let lost = accepted.saturating_sub(audited);
    let newly_sent = after.sent.saturating_sub(before.sent);
    let combined = first_figures.success_rate() + second_figures.success_rate();
    eprintln!(
        "bench: two servers: {accepted} invitations accepted, {audited} audited, {emails} emails ({} + {}), {newly_sent} \
         outbox rows sent, emails by outbox state {by_state:?}",
        per_server[0], per_server[1]
    );
    drop(second);

    let as_f64 = |count: u64| count as f64;
    let emails_u64 = emails as u64;
    let checks = vec![
        Check::new(
            "two servers: combined throughput vs one server's mixed load",
            combined,
            "/s",
            single_mixed,
            Goal::None,
        ),
        Check::new(
            "two servers: emails sent twice (same link in two .eml files)",
            sent_twice as f64,
            "",
            0.0,
            Goal::Zero,
        ),
        Check::new(
            "two servers: emails whose link is not valid or has no outbox row",
            as_f64(emails_u64.saturating_sub(sent_twice as u64).saturating_sub(matched)),
            "",
            0.0,
            Goal::Zero,
        ),
        Check::new(
            "two servers: outbox rows marked sent without their .eml file",
            as_f64(newly_sent.saturating_sub(emailed_sent)),
            "",
            0.0,
            Goal::Zero,
        ),
        Check::new("two servers: invitations answered 202 without their audit row", as_f64(lost), "", 0.0, Goal::Zero),
        Check::new(
            "two servers: emails of invitations a resend cancelled while they were sent",
            as_f64(by_state.get("failed").copied().unwrap_or(0)),
            "",
            emails as f64,
            Goal::None,
        ),
        Check::new(
            "two servers: emails written by the second server",
            per_server[1] as f64,
            "",
            emails as f64,
            Goal::None,
        ),
    ];
    let describe = |server: &str| format!("{} on server {server}", load.describe());
    Ok(TwoServers {
        scenarios: vec![
            Measured {
                name: "two servers: mixed load on the first",
                load: describe("1"),
                peak_rss: 0,
                figures: first_figures,
            },
            Measured {
                name: "two servers: mixed load on the second",
                load: describe("2"),
                peak_rss: 0,
                figures: second_figures,
            },
        ],
        checks,
    })
}

/// The link key file, copied with its owner-only mode.
fn copy_link_key(from: &Path, to: &Path) -> Result {
    let (source, target) = (from.join("link.key"), to.join("link.key"));
    std::fs::copy(&source, &target).map_err(|error| format!("{}: {error}", source.display()))?;
    Ok(())
}

/// Rows the checks compare before and after.
struct Counts {
    invites_audited: u64,
    sent: u64,
}

impl Counts {
    fn read(database_url: &str) -> Result<Self> {
        Ok(Self {
            invites_audited: count(
                database_url,
                "SELECT count(*) FROM audit_events WHERE action IN ('invite_sent', 'invite_resent')",
            )?,
            sent: count(database_url, "SELECT count(*) FROM mail_outbox WHERE status = 'sent'")?,
        })
    }
}

/// Waits (at most two minutes) until no mail is pending.
fn wait_for_outbox(database_url: &str) -> Result {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let pending = count(database_url, "SELECT count(*) FROM mail_outbox WHERE status = 'pending'")?;
        if pending == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{pending} mails still pending two minutes after the load"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The servers' link key, from the first server's data directory (32 bytes).
fn link_key(data_dir: &Path) -> Result<LinkKey> {
    let path = data_dir.join("link.key");
    let bytes = std::fs::read(&path).map_err(|error| format!("{}: {error}", path.display()))?;
    let bytes: [u8; LinkKey::LEN] = bytes.try_into().map_err(|_| format!("{}: not a 32-byte key", path.display()))?;
    Ok(LinkKey::from_bytes(bytes))
}

/// How many of the emailed tokens (by id) have their outbox row in each state.
fn outbox_states<'a>(database_url: &str, token_ids: impl Iterator<Item = &'a String>) -> Result<HashMap<String, u64>> {
    let list: Vec<String> = token_ids.map(|id| format!("'{id}'")).collect();
    if list.is_empty() {
        return Ok(HashMap::new());
    }
    let sql =
        format!("SELECT status, count(*) FROM mail_outbox WHERE token_id IN ({}) GROUP BY status", list.join(","));
    let output = psql(database_url, &sql)?;
    output
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (state, count) = line.split_once('|').ok_or_else(|| format!("psql printed {line:?}"))?;
            Ok((state.to_owned(), count.parse().map_err(|error| format!("psql printed {line:?}: {error}"))?))
        })
        .collect()
}

fn psql(database_url: &str, sql: &str) -> Result<String> {
    crate::output_of(std::process::Command::new("psql").args([database_url, "-v", "ON_ERROR_STOP=1", "-Atc", sql]))
}

fn count(database_url: &str, sql: &str) -> Result<u64> {
    let output = crate::output_of(std::process::Command::new("psql").args([
        database_url,
        "-v",
        "ON_ERROR_STOP=1",
        "-Atc",
        sql,
    ]))?;
    output.trim().parse().map_err(|error| format!("psql `{sql}` printed {output:?}: {error}"))
}
