//! The server under test: the release binary, its database, its process and its memory.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portal_testkit::{PortalServer, with_database};

use crate::Result;

/// Where a run keeps its state.
#[derive(Debug, Clone)]
pub(crate) enum Database {
    /// A fresh SQLite file in the run directory (the embedded default).
    Sqlite,
    /// A fresh database created on this PostgreSQL server (the URL names any database the user
    /// may connect to; the bench creates and drops its own next to it).
    Postgres { server_url: String },
}

impl Database {
    /// The label used in the report.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres { .. } => "PostgreSQL",
        }
    }
}

/// A database made for one run; a PostgreSQL one is dropped when this is dropped.
pub(crate) struct RunDatabase {
    pub(crate) url: String,
    postgres: Option<(String, String)>,
}

impl RunDatabase {
    /// Creates the run's database: a new SQLite file under `run_dir`, or a new PostgreSQL
    /// database named after this process and `suffix` (one run may hold two at once).
    pub(crate) fn create(database: &Database, run_dir: &Path, suffix: &str) -> Result<Self> {
        match database {
            Database::Sqlite => {
                Ok(Self { url: format!("sqlite://{}?mode=rwc", run_dir.join("portal.db").display()), postgres: None })
            }
            Database::Postgres { server_url } => {
                let name = format!("portal_bench_{}{suffix}", std::process::id());
                psql(server_url, &format!("DROP DATABASE IF EXISTS {name}"))?;
                psql(server_url, &format!("CREATE DATABASE {name}"))?;
                if !server_url.contains("://") {
                    return Err(format!("not a PostgreSQL URL: {server_url}"));
                }
                let url = with_database(server_url, &name);
                Ok(Self { url, postgres: Some((server_url.clone(), name)) })
            }
        }
    }
}

impl Drop for RunDatabase {
    fn drop(&mut self) {
        if let Some((server_url, name)) = &self.postgres
            && let Err(error) = psql(server_url, &format!("DROP DATABASE IF EXISTS {name}"))
        {
            eprintln!("bench: could not drop the bench database {name}: {error}");
        }
    }
}

fn psql(server_url: &str, sql: &str) -> Result {
    crate::output_of(Command::new("psql").args([server_url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]))
        .map(drop)
        .map_err(|error| {
            format!("{error}\n(the PostgreSQL bench needs `psql` and a server URL it may create databases on)")
        })
}

/// Waits until the server's hashing pool is idle (from `/metrics`): requests a previous
/// scenario left behind (wrk closes its connections, the server finishes their hashes) must
/// not eat into the next scenario's pool.
pub(crate) fn wait_until_idle(server: &PortalServer) -> Result {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = client
            .get(format!("{}/metrics", server.base_url()))
            .send()
            .and_then(reqwest::blocking::Response::text)
            .map_err(|error| format!("/metrics: {error}"))?;
        let idle = ["portal_hash_pool_in_flight", "portal_hash_pool_queue_depth"]
            .iter()
            .all(|gauge| metrics.lines().any(|line| line.strip_prefix(gauge).is_some_and(|value| value.trim() == "0")));
        if idle {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the server's hashing pool stayed busy for 60 s after a scenario".to_owned());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's resident memory now, in bytes.
pub(crate) fn rss_bytes(server: &PortalServer) -> Result<u64> {
    resident_bytes(server.pid()).ok_or_else(|| "cannot read the server's VmRSS from /proc".to_owned())
}

/// Starts sampling the server's resident memory every 10 ms until the sampler is stopped.
pub(crate) fn sample_rss(server: &PortalServer) -> RssSampler {
    RssSampler::start(server.pid())
}

/// `VmRSS` of a process, from `/proc/PID/status`.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The highest resident memory seen while it ran.
pub(crate) struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !stop_flag.load(Ordering::Relaxed) {
                peak = peak.max(resident_bytes(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(10));
            }
            peak.max(resident_bytes(pid).unwrap_or(0))
        });
        Self { stop, thread }
    }

    /// Stops sampling; the peak in bytes.
    pub(crate) fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}
