//! Runs Debian's `wrk` with the bench's Lua script and reads back its figures.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::fixture::Fixture;
use crate::Result;

/// The script, kept next to the xtask sources so it can be read and run by hand.
const SCRIPT: &str = include_str!("../../bench/load.lua");

/// One wrk invocation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    /// `BENCH_MIX`: which requests, in which proportions.
    pub(crate) mix: &'static str,
    pub(crate) threads: u32,
    pub(crate) connections: u32,
    pub(crate) seconds: u32,
    /// wrk counts a request still unanswered after this as a timeout.
    pub(crate) timeout_seconds: u32,
}

impl Load {
    /// `wrk -t2 -c32` style, for the report.
    pub(crate) fn describe(&self) -> String {
        format!("wrk -t{} -c{}", self.threads, self.connections)
    }
}

/// What wrk measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    pub(crate) seconds: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) timeouts: u64,
    pub(crate) socket_errors: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
}

impl Figures {
    /// 2xx answers.
    pub(crate) fn successes(&self) -> u64 {
        self.statuses.iter().filter(|(status, _)| (200..300).contains(*status)).map(|(_, count)| count).sum()
    }

    /// 2xx answers per second.
    pub(crate) fn success_rate(&self) -> f64 {
        if self.seconds > 0.0 { self.successes() as f64 / self.seconds } else { 0.0 }
    }

    /// `201×812, 503×40`.
    pub(crate) fn status_summary(&self) -> String {
        let mut parts: Vec<String> = self.statuses.iter().map(|(status, count)| format!("{status}×{count}")).collect();
        if self.timeouts > 0 {
            parts.push(format!("timeouts×{}", self.timeouts));
        }
        if self.socket_errors > 0 {
            parts.push(format!("socket errors×{}", self.socket_errors));
        }
        parts.join(", ")
    }
}

/// A wrk process started in the background.
pub(crate) struct Running {
    child: Child,
    load: Load,
}

/// Starts wrk against `base_url`.
pub(crate) fn start(load: Load, base_url: &str, fixture: &Fixture, run_dir: &Path) -> Result<Running> {
    let script = run_dir.join("load.lua");
    if !script.exists() {
        std::fs::write(&script, SCRIPT).map_err(|error| format!("{}: {error}", script.display()))?;
    }
    let mut command = Command::new("wrk");
    command
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.seconds))
        .arg(format!("--timeout={}s", load.timeout_seconds))
        .arg("-s")
        .arg(&script)
        .arg(base_url)
        .env("BENCH_MIX", load.mix)
        .env("BENCH_THREADS", load.threads.to_string())
        .envs(fixture.environment())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().map_err(|error| format!("could not run wrk: {error}"))?;
    Ok(Running { child, load })
}

impl Running {
    /// Waits for wrk to finish and parses its report line.
    pub(crate) fn finish(self) -> Result<Figures> {
        let output = self.child.wait_with_output().map_err(|error| format!("wrk: {error}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "wrk ({}, mix {}) failed ({}): {}{}",
                self.load.describe(),
                self.load.mix,
                output.status,
                stdout.trim_end(),
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        parse(&stdout).ok_or_else(|| format!("wrk printed no BENCH_JSON line:\n{stdout}"))
    }
}

/// Runs wrk to completion.
pub(crate) fn run(load: Load, base_url: &str, fixture: &Fixture, run_dir: &Path) -> Result<Figures> {
    start(load, base_url, fixture, run_dir)?.finish()
}

fn parse(stdout: &str) -> Option<Figures> {
    let line = stdout.lines().find_map(|line| line.strip_prefix("BENCH_JSON "))?;
    let report: Value = serde_json::from_str(line).ok()?;
    let micros = |key: &str| report[key].as_f64().map(|us| us / 1000.0);
    let errors = &report["errors"];
    let count = |value: &Value| value.as_u64().unwrap_or(0);
    let statuses = report["statuses"]
        .as_object()?
        .iter()
        .filter_map(|(status, n)| Some((status.parse().ok()?, n.as_u64()?)))
        .collect();
    Some(Figures {
        seconds: report["duration_us"].as_f64()? / 1e6,
        p50_ms: micros("p50_us")?,
        p99_ms: micros("p99_us")?,
        max_ms: micros("max_us")?,
        timeouts: count(&errors["timeout"]),
        socket_errors: count(&errors["connect"]) + count(&errors["read"]) + count(&errors["write"]),
        statuses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_line_becomes_figures() {
        let stdout = "Running 1s test @ http://x\nBENCH_JSON {\"requests\":10,\"duration_us\":2000000,\"p50_us\":1500,\
                      \"p90_us\":2000,\"p99_us\":4000,\"max_us\":9000,\"errors\":{\"connect\":0,\"read\":1,\"write\":0,\
                      \"timeout\":2},\"statuses\":{\"201\":8,\"503\":2}}\n";
        let figures = parse(stdout).unwrap();
        assert!((figures.p50_ms - 1.5).abs() < 1e-9);
        assert!((figures.success_rate() - 4.0).abs() < 1e-9);
        assert_eq!(figures.status_summary(), "201×8, 503×2, timeouts×2, socket errors×1");
    }
}
