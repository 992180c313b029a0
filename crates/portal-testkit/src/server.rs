//! The real `portal-server` binary as a child process: started on a free loopback port with a
//! temporary data directory, waited for on `/healthz`, its stdout (the first-run block) and
//! stderr (the log) collected, stopped with SIGTERM.
//!
//! Only portal-server's own tests have `env!("CARGO_BIN_EXE_portal-server")`, so the binary's
//! path is an argument: other crates' tests and `xtask` build it and pass theirs.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::free_port;
use crate::mail::EmlDir;
use crate::smtp::SmtpSink;

/// The last line of the block a first run prints (see portal-server's `bootstrap.rs`).
const FIRST_RUN_END: &str = "the README walks through the rest";
/// How long a first run may take to print its block once the server answers.
const FIRST_RUN_LIMIT: Duration = Duration::from_secs(10);
/// How long a stop may take (the server drains requests and the dispatcher first).
const EXIT_LIMIT: Duration = Duration::from_secs(30);
/// How long a dropped server gets to exit on SIGTERM before it is killed.
const DROP_LIMIT: Duration = Duration::from_secs(10);
/// The end of the log an error carries.
const LOG_TAIL: usize = 4000;

/// Why a server could not be started, read or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The binary did not start.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The path given to [`ServerBuilder::new`].
        binary: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The log file could not be created.
    #[error("cannot write the server log {path}: {source}")]
    LogFile {
        /// The path given to [`ServerBuilder::log_to`].
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server exited before answering `/healthz`.
    #[error("portal-server exited before it answered ({status}); its log ends:\n{log}")]
    ExitedEarly {
        /// Its exit status.
        status: ExitStatus,
        /// The end of what it logged.
        log: String,
    },
    /// `/healthz` did not answer 200 in time.
    #[error("portal-server did not answer /healthz within {limit:?}; its log ends:\n{log}")]
    NotReady {
        /// How long it was given.
        limit: Duration,
        /// The end of what it logged.
        log: String,
    },
    /// The server printed no first-run block (its database was not fresh).
    #[error("portal-server printed no first-run staff key; it printed {printed:#?}")]
    NoFirstRun {
        /// Everything it printed on stdout.
        printed: Vec<String>,
    },
    /// A signal could not be sent.
    #[error("cannot signal portal-server: {0}")]
    Signal(#[from] nix::Error),
    /// Waiting for the process failed.
    #[error("cannot wait for portal-server: {0}")]
    Wait(#[source] std::io::Error),
    /// The server did not exit in time.
    #[error("portal-server did not exit within {limit:?}")]
    StillRunning {
        /// How long it was given.
        limit: Duration,
    },
}

/// How to start `portal-server`. By default: `serve` on a free loopback port, a fresh temporary
/// data directory (SQLite, mail as `.eml` files under `mail/`), no variable of the test's own
/// environment, the log kept in memory.
#[derive(Debug, Clone)]
#[must_use]
pub struct ServerBuilder {
    binary: PathBuf,
    data_dir: Option<PathBuf>,
    port: Option<u16>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    log_file: Option<PathBuf>,
    ready_limit: Duration,
    on_localhost: bool,
}

impl ServerBuilder {
    /// A server run from `binary` (in portal-server's tests,
    /// `env!("CARGO_BIN_EXE_portal-server")`).
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            data_dir: None,
            port: None,
            args: Vec::new(),
            env: Vec::new(),
            log_file: None,
            ready_limit: Duration::from_secs(60),
            on_localhost: false,
        }
    }

    /// Uses `dir` as the data directory (kept after the server stops: a restart on the same
    /// data passes the same folder) instead of a fresh temporary one.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Listens on this loopback port instead of a free one (a restart at the same address).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Adds a command-line argument (`serve` is the default command; settings given here
    /// override the environment).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds command-line arguments.
    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Self {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (`PORTAL_LOG`, `PORTAL_DATABASE_URL`, …).
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((name.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Sets environment variables.
    pub fn envs(mut self, vars: impl IntoIterator<Item = (impl AsRef<OsStr>, impl AsRef<OsStr>)>) -> Self {
        for (name, value) in vars {
            self = self.env(name, value);
        }
        self
    }

    /// Sends mail to `sink` (plain SMTP) instead of `.eml` files.
    pub fn smtp(self, sink: &SmtpSink) -> Self {
        self.env("PORTAL_SMTP_URL", sink.url())
    }

    /// Writes the log (stderr) to `path` instead of memory: for long runs.
    pub fn log_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Makes `http://localhost:PORT` the server's public URL (`PORTAL_PUBLIC_URL`, which
    /// otherwise defaults to the bind address, `http://127.0.0.1:PORT`), and so the address its
    /// links lead to and [`PortalServer::public_url`]. Passkeys need it: a browser offers
    /// WebAuthn on `localhost` over plain HTTP (a secure context), and a relying-party id is a
    /// host name, never an IP address. A `PORTAL_PUBLIC_URL` given with [`ServerBuilder::env`]
    /// still wins.
    pub fn localhost_public_url(mut self) -> Self {
        self.on_localhost = true;
        self
    }

    /// Gives the server `limit` to answer `/healthz` (60 s by default).
    pub fn ready_within(mut self, limit: Duration) -> Self {
        self.ready_limit = limit;
        self
    }

    /// Starts the server and waits until `/healthz` answers 200.
    ///
    /// # Errors
    /// When the binary does not start, exits, or does not answer in time (with the end of its
    /// log), or the log file cannot be created.
    pub fn start(self) -> Result<PortalServer, ServerError> {
        let (temp, data_dir) = match self.data_dir {
            Some(dir) => (None, dir),
            None => {
                let temp =
                    tempfile::tempdir().map_err(|source| ServerError::Spawn { binary: self.binary.clone(), source })?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let port = self.port.unwrap_or_else(free_port);
        let log_stdio = match &self.log_file {
            Some(path) => {
                Stdio::from(File::create(path).map_err(|source| ServerError::LogFile { path: path.clone(), source })?)
            }
            None => Stdio::piped(),
        };
        let public_url = self.on_localhost.then(|| format!("http://localhost:{port}"));
        let mut child = Command::new(&self.binary)
            .env_clear()
            .env("PORTAL_DATA_DIR", &data_dir)
            .env("PORTAL_BIND", format!("127.0.0.1:{port}"))
            .envs(public_url.iter().map(|url| ("PORTAL_PUBLIC_URL", url)))
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_stdio)
            .spawn()
            .map_err(|source| ServerError::Spawn { binary: self.binary.clone(), source })?;
        let stdout = child.stdout.take().map(Stdout::collect).unwrap_or_else(Stdout::closed);
        let log = match (self.log_file, child.stderr.take()) {
            (Some(path), _) => Log::File(path),
            (None, Some(mut stderr)) => {
                let buffer = Arc::new(Mutex::new(Vec::new()));
                let sink = Arc::clone(&buffer);
                let reader = std::thread::spawn(move || {
                    let mut chunk = [0u8; 8192];
                    while let Ok(read @ 1..) = stderr.read(&mut chunk) {
                        sink.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(&chunk[..read]);
                    }
                });
                Log::Memory { buffer, reader: Some(reader) }
            }
            (None, None) => Log::Memory { buffer: Arc::default(), reader: None },
        };
        let mut server = PortalServer {
            child,
            port,
            base_url: format!("http://127.0.0.1:{port}"),
            public_url: public_url.unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
            data_dir,
            _temp: temp,
            stdout,
            log,
        };
        server.wait_until_ready(self.ready_limit)?;
        Ok(server)
    }
}

/// What a first run printed: the first practice and its staff key (shown nowhere else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstRun {
    /// The staff key (`pst_…`).
    pub staff_key: String,
    /// The first practice's slug (`my-practice` by default).
    pub slug: String,
    /// Every line of the block.
    pub printed: Vec<String>,
}

impl FirstRun {
    fn parse(printed: Vec<String>) -> Option<Self> {
        let staff_key = printed.iter().find_map(|line| line.trim().strip_prefix("staff key"))?.trim().to_owned();
        let slug = printed
            .iter()
            .find_map(|line| line.trim().strip_prefix("practice")?.split_once("(slug: ")?.1.strip_suffix(')'))?
            .to_owned();
        Some(Self { staff_key, slug, printed })
    }
}

/// A running `portal-server`. Dropping it sends SIGTERM, waits up to 10 s for the exit, then
/// kills it; [`PortalServer::terminate`] stops it and returns its exit status and log.
#[derive(Debug)]
pub struct PortalServer {
    child: Child,
    port: u16,
    base_url: String,
    public_url: String,
    data_dir: PathBuf,
    // Removed after the process is gone (fields drop after `Drop::drop`).
    _temp: Option<tempfile::TempDir>,
    stdout: Stdout,
    log: Log,
}

impl PortalServer {
    /// `http://127.0.0.1:PORT`: where a test's own HTTP client reaches it.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The address a browser visits and the server's links lead to: `http://localhost:PORT`
    /// when started with [`ServerBuilder::localhost_public_url`], else [`PortalServer::base_url`].
    #[must_use]
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The loopback port it listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory (SQLite database, link key, `mail/`).
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The `.eml` files it writes when no SMTP relay is configured (`DATA_DIR/mail`).
    #[must_use]
    pub fn mail(&self) -> EmlDir {
        EmlDir::new(self.data_dir.join("mail"))
    }

    /// The process id.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first-run block: waits (up to 10 s) for it and reads the staff key and practice
    /// slug from it.
    ///
    /// # Errors
    /// [`ServerError::NoFirstRun`] when the server printed no such block (its database already
    /// had a practice).
    pub fn first_run(&self) -> Result<FirstRun, ServerError> {
        let printed = self.stdout_lines(FIRST_RUN_LIMIT);
        FirstRun::parse(printed.clone()).ok_or(ServerError::NoFirstRun { printed })
    }

    /// Everything printed on stdout so far, after waiting up to `wait` for the first-run block
    /// to end (or stdout to close): a second start prints nothing, and `wait` bounds the look.
    #[must_use]
    pub fn stdout_lines(&self, wait: Duration) -> Vec<String> {
        self.stdout.wait_for(FIRST_RUN_END, wait)
    }

    /// Everything it logged (stderr) so far.
    #[must_use]
    pub fn log(&self) -> String {
        match &self.log {
            Log::Memory { buffer, .. } => {
                String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
            }
            Log::File(path) => {
                std::fs::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
            }
        }
    }

    /// Sends `signal` (SIGKILL for a crash, SIGSTOP for a hang).
    ///
    /// # Errors
    /// When the signal cannot be sent.
    pub fn signal(&self, signal: Signal) -> Result<(), ServerError> {
        let pid = i32::try_from(self.child.id()).map_err(|_| ServerError::Signal(nix::Error::ESRCH))?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)?;
        Ok(())
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then its exit status (within 30 s) and everything it logged.
    ///
    /// # Errors
    /// When the signal cannot be sent or the server does not exit in time.
    pub fn terminate(self) -> Result<(ExitStatus, String), ServerError> {
        self.signal(Signal::SIGTERM)?;
        self.wait_for_exit(EXIT_LIMIT)
    }

    /// SIGKILL (a crash), then its exit status and everything it logged.
    ///
    /// # Errors
    /// When the signal cannot be sent or the process does not go.
    pub fn kill(self) -> Result<(ExitStatus, String), ServerError> {
        self.signal(Signal::SIGKILL)?;
        self.wait_for_exit(EXIT_LIMIT)
    }

    /// Waits up to `limit` for the process to exit (a signal sent before, or a command that
    /// ends); its exit status and everything it logged.
    ///
    /// # Errors
    /// When it is still running after `limit`.
    pub fn wait_for_exit(mut self, limit: Duration) -> Result<(ExitStatus, String), ServerError> {
        let status = self.exit_status_within(limit)?.ok_or(ServerError::StillRunning { limit })?;
        if let Log::Memory { reader: reader @ Some(_), .. } = &mut self.log
            && let Some(reader) = reader.take()
        {
            // The pipe closed with the process: the reader has everything once it ends.
            let _ = reader.join();
        }
        Ok((status, self.log()))
    }

    fn exit_status_within(&mut self, limit: Duration) -> Result<Option<ExitStatus>, ServerError> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().map_err(ServerError::Wait)? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_until_ready(&mut self, limit: Duration) -> Result<(), ServerError> {
        let deadline = Instant::now() + limit;
        loop {
            if answers_healthz(self.port) {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait().map_err(ServerError::Wait)? {
                // Let the log reader catch the last words.
                std::thread::sleep(Duration::from_millis(100));
                return Err(ServerError::ExitedEarly { status, log: tail(&self.log()) });
            }
            if Instant::now() >= deadline {
                return Err(ServerError::NotReady { limit, log: tail(&self.log()) });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PortalServer {
    fn drop(&mut self) {
        // Best effort, also while a failed test unwinds: a graceful stop first, then a kill.
        if matches!(self.child.try_wait(), Ok(None)) {
            let stopped =
                self.signal(Signal::SIGTERM).is_ok() && matches!(self.exit_status_within(DROP_LIMIT), Ok(Some(_)));
            if !stopped {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}

/// Whether `GET /healthz` on loopback `port` answers 200 (plain HTTP/1.1 over a socket: no
/// HTTP client, so the spawner works with or without an async runtime).
fn answers_healthz(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else { return false };
    if stream.set_read_timeout(Some(Duration::from_secs(5))).is_err() {
        return false;
    }
    let request = format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok() && matches!(&status_line[9..12], b"200")
}

/// The last [`LOG_TAIL`] bytes of `log` (cut at a character boundary).
fn tail(log: &str) -> String {
    let mut start = log.len().saturating_sub(LOG_TAIL);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    log[start..].to_owned()
}

/// Where the log goes.
#[derive(Debug)]
enum Log {
    Memory { buffer: Arc<Mutex<Vec<u8>>>, reader: Option<JoinHandle<()>> },
    File(PathBuf),
}

/// Stdout, read line by line on a thread of its own.
#[derive(Debug, Clone)]
struct Stdout(Arc<(Mutex<StdoutState>, Condvar)>);

#[derive(Debug, Default)]
struct StdoutState {
    lines: Vec<String>,
    closed: bool,
}

impl Stdout {
    fn collect(stdout: ChildStdout) -> Self {
        let shared = Self(Arc::default());
        let writer = shared.clone();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            let (state, changed) = &*writer.0;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                state.lock().unwrap_or_else(PoisonError::into_inner).lines.push(line);
                changed.notify_all();
            }
            state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
            changed.notify_all();
        });
        shared
    }

    fn closed() -> Self {
        Self(Arc::new((Mutex::new(StdoutState { lines: Vec::new(), closed: true }), Condvar::new())))
    }

    /// The lines so far, once a line contains `end`, stdout closed, or `wait` passed.
    fn wait_for(&self, end: &str, wait: Duration) -> Vec<String> {
        let (state, changed) = &*self.0;
        let deadline = Instant::now() + wait;
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if state.closed || left.is_zero() || state.lines.iter().any(|line| line.contains(end)) {
                return state.lines.clone();
            }
            state = changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_block_gives_the_staff_key_and_the_slug() {
        let printed = [
            "",
            "portal is running. A first practice was created:",
            "",
            "  practice     Sunrise Therapy (slug: sunrise-therapy)",
            "  staff key    pst_abc-_1",
            "  The staff key is shown only this once and is not stored anywhere; keep it safe.",
        ]
        .map(str::to_owned)
        .to_vec();
        let first = FirstRun::parse(printed).expect("a first run");
        assert_eq!((first.staff_key.as_str(), first.slug.as_str()), ("pst_abc-_1", "sunrise-therapy"));
        assert_eq!(FirstRun::parse(vec!["listening".to_owned()]), None);
    }

    #[test]
    fn a_log_tail_is_cut_at_a_character_boundary() {
        let log = format!("é{}", "x".repeat(LOG_TAIL - 1));
        assert_eq!(tail(&log), "x".repeat(LOG_TAIL - 1));
        assert_eq!(tail("short"), "short");
    }
}
