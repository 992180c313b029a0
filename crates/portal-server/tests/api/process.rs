//! The real `portal-server` binary as a child process: started with environment variables only,
//! its stdout read line by line, its stderr (the log) collected, stopped with SIGTERM (or, for
//! the fault tests, SIGKILL).
#![allow(dead_code)] // Each test binary uses some of the helpers.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use reqwest::StatusCode;

/// A running `portal-server`, killed when dropped (only when a test failed half-way: the normal
/// path stops it and waits for its exit).
pub struct Process {
    pub child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `portal-server` (serving) on `data_dir` and `bind`, with a debug log.
pub fn start(data_dir: &Path, bind: &str) -> Process {
    start_with(data_dir, bind, &[("PORTAL_LOG", "debug")])
}

/// Starts `portal-server` (serving) on `data_dir` and `bind`, with these further `PORTAL_*`
/// variables and nothing else from the test's environment.
pub fn start_with(data_dir: &Path, bind: &str, env: &[(&str, &str)]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal-server"))
        .env_clear()
        .env("PORTAL_DATA_DIR", data_dir)
        .env("PORTAL_BIND", bind)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the portal-server binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, stdout_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Process { child, stdout: stdout_rx, stderr: Some(stderr) }
}

impl Process {
    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal).expect("the signal is sent");
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to 30 s for the process to exit; returns its status and everything it logged.
    pub fn wait_for_exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("a status") {
                break status;
            }
            assert!(Instant::now() < deadline, "portal-server did not exit within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.stderr.take().map(|reader| reader.join().expect("the stderr reader")).unwrap_or_default();
        (status, log)
    }
}

/// Waits until the server answers `/healthz`.
pub async fn wait_until_ready(http: &reqwest::Client, base: &str, process: &mut Process) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            return;
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("portal-server exited early ({status})");
        }
        assert!(Instant::now() < deadline, "portal-server did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM, then the exit status (within 30 s) and everything it logged.
pub fn terminate(process: Process) -> (ExitStatus, String) {
    process.signal(Signal::SIGTERM);
    process.wait_for_exit()
}

/// Everything printed on stdout so far (waiting up to `wait` for the first-run block to end).
pub fn stdout_lines(process: &Process, wait: Duration) -> Vec<String> {
    let mut lines = Vec::new();
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match process.stdout.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains("the README walks through the rest");
                lines.push(line);
                if done {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    lines
}

/// The staff key a first run prints (with everything it printed, for the caller's checks).
pub fn first_run_staff_key(process: &Process) -> (String, Vec<String>) {
    let printed = stdout_lines(process, Duration::from_secs(10));
    let key = printed
        .iter()
        .find_map(|line| line.trim().strip_prefix("staff key").map(|rest| rest.trim().to_owned()))
        .unwrap_or_else(|| panic!("no staff key in {printed:#?}"));
    (key, printed)
}
