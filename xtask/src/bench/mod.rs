//! `cargo xtask bench`: the release server under a real load generator (Debian's `wrk`), on a
//! fresh SQLite database and, when a PostgreSQL URL is given, on a fresh PostgreSQL database.
//!
//! Every figure is printed next to its limit measured in the same run: the hash ceiling (this
//! process hashes at the production scrypt setting), a plain poem JSON handler served by the same
//! binary (feature `bench-baseline`), the server's memory before the flood. The results go to
//! `docs/benchmarks.md` between its `bench:begin` and `bench:end` markers. Goals that are missed
//! are reported, not failed on: a benchmark informs, the tests decide.

mod fixture;
mod hash;
mod report;
mod server;
mod wrk;

use std::path::{Path, PathBuf};

use hash::HashCeiling;
use report::{Check, Goal, Measured, Section};
use server::{Database, RunDatabase, rss_bytes, sample_rss, wait_until_idle};

use crate::served::Deployment;
use wrk::{Figures, Load};

use crate::Result;

/// Memory one scrypt hash at the production setting takes (N = 2^17, r = 8: 128 · r · N bytes).
const MIB_PER_HASH: f64 = 128.0;
/// The flood's lookups must keep their p99 under this.
const LOOKUP_P99_GOAL_MS: f64 = 10.0;

const USAGE: &str = "usage: cargo xtask bench [--seconds N] [--postgres URL] [--no-write]

  --seconds N      how long each scenario runs (default 10)
  --postgres URL   also run on PostgreSQL (a server the bench may create a database on, e.g.
                   postgres://postgres@127.0.0.1:5432/postgres); PORTAL_BENCH_POSTGRES_URL works too
  --no-write       print the results without updating docs/benchmarks.md";

struct Options {
    seconds: u32,
    postgres: Option<String>,
    write: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 10,
            postgres: std::env::var("PORTAL_BENCH_POSTGRES_URL").ok().filter(|url| !url.is_empty()),
            write: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    let value = args.next().ok_or(USAGE)?;
                    options.seconds = value
                        .parse()
                        .ok()
                        .filter(|seconds| *seconds > 0)
                        .ok_or_else(|| format!("--seconds {value}: not a positive number\n{USAGE}"))?;
                }
                "--postgres" => options.postgres = Some(args.next().ok_or(USAGE)?.clone()),
                "--no-write" => options.write = false,
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

/// Runs every scenario and reports.
pub(crate) fn run(args: &[String]) -> Result {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print_stdout(&format!("{USAGE}\n"));
        return Ok(());
    }
    let options = Options::parse(args)?;
    // `wrk --version` prints its version and exits 1; only a missing binary is an error.
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .map_err(|_| "wrk is not installed: apt-get install -y wrk".to_owned())?;
    let binary = crate::served::build(true, &["bench-baseline"])?;

    eprintln!("bench: measuring the hash ceiling in-process (scrypt at the production setting)");
    let ceiling = hash::measure(8)?;
    eprintln!(
        "bench: one hash {:.0} ms, {} cores: nominal ceiling {:.2}/s, measured parallel {:.2}/s",
        ceiling.one_hash_seconds * 1000.0,
        ceiling.cores,
        ceiling.nominal_per_second(),
        ceiling.parallel_per_second
    );

    let root = crate::workspace_root().join("target").join("bench");
    let mut databases = vec![Database::Sqlite];
    if let Some(server_url) = &options.postgres {
        databases.push(Database::Postgres { server_url: server_url.clone() });
    }
    let mut sections = Vec::new();
    for database in &databases {
        eprintln!("\nbench: {} run", database.label());
        sections.push(run_on(database, &binary, &ceiling, options.seconds, &root)?);
    }

    let markdown = report::markdown(&report::machine(options.postgres.as_deref()), &ceiling, &sections);
    print_stdout(&markdown);
    if options.write {
        let path = crate::workspace_root().join("docs").join("benchmarks.md");
        report::write_between_markers(&path, &markdown)?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// All scenarios on one database.
fn run_on(database: &Database, binary: &Path, ceiling: &HashCeiling, seconds: u32, root: &Path) -> Result<Section> {
    let run_dir = fresh_dir(&root.join(database.label().to_lowercase()))?;
    let db = RunDatabase::create(database, &run_dir)?;
    let deployment = Deployment { binary, data_dir: &run_dir, database_url: Some(&db.url) };
    deployment.command(&["migrate"])?;
    let practice: serde_json::Value =
        serde_json::from_str(&deployment.command(&["practice", "create", "--name", "Bench Clinic"])?)
            .map_err(|error| format!("practice create printed no JSON: {error}"))?;
    let (Some(slug), Some(staff_key)) = (practice["slug"].as_str(), practice["staff_key"].as_str()) else {
        return Err(format!("practice create: no slug or staff key in {practice}"));
    };
    let server =
        deployment.serve(portal_testkit::free_port(), &["--trust-forwarded-for"], &run_dir.join("server.log"))?;
    // Enough unused links that the registration scenario runs its full time (twice what the
    // hash ceiling allows, plus room for the first seconds).
    let registrations = (ceiling.parallel_per_second * f64::from(seconds) * 2.0).ceil() as usize + 20;
    let fixture = fixture::prepare(&server, &run_dir, staff_key, slug, registrations)?;
    let base_url = server.base_url().to_owned();
    // The server's default: one hashing permit per core (and a queue of twice that).
    let permits = ceiling.cores;
    let load = |mix, threads, connections| Load { mix, threads, connections, seconds, timeout_seconds: 5 };
    let scenario = |name: &'static str, load: Load| -> Result<Measured> {
        eprintln!("bench: {name} ({}, {seconds} s)", load.describe());
        wait_until_idle(&server)?;
        let sampler = sample_rss(&server);
        let figures = wrk::run(load, &base_url, &fixture, &run_dir)?;
        Ok(Measured { name, load: load.describe(), peak_rss: sampler.peak(), figures })
    };

    let plain = scenario("plain poem JSON handler (yardstick)", load("plain:1", 2, 32))?;
    let status = scenario("staff: portal status lookup", load("status:1", 2, 32))?;
    let me = scenario("client: session check (GET /me)", load("me:1", 2, 32))?;
    let invite = scenario("staff: send invitation (tx + outbox + audit)", load("invite:1", 2, 16))?;
    // As many sign-ins at once as the pool has permits and queue places: the pool stays busy
    // and nothing is refused.
    let sign_in = scenario("client: sign in (scrypt ln=17)", load("signin:1", 1, (permits * 2) as u32))?;
    let register =
        scenario("client: register from the link (scrypt ln=17)", load("register:1", 1, (permits * 2) as u32))?;

    // What 200 connections cost without any hashing: the same connection count on the plain
    // handler, so the flood's memory can be read as connections + hashes.
    wait_until_idle(&server)?;
    let connections_sampler = sample_rss(&server);
    wrk::run(
        Load { mix: "plain:1", threads: 1, connections: 200, seconds: 3, timeout_seconds: 5 },
        &base_url,
        &fixture,
        &run_dir,
    )?;
    let connections_rss = connections_sampler.peak();

    eprintln!("bench: flood of 200 concurrent sign-ins with status lookups beside it ({seconds} s)");
    wait_until_idle(&server)?;
    let base_rss = rss_bytes(&server)?;
    let side_by_side = |first: (&'static str, Load), second: (&'static str, Load)| -> Result<(Measured, Measured)> {
        let sampler = sample_rss(&server);
        let first_run = wrk::start(first.1, &base_url, &fixture, &run_dir)?;
        let second_run = wrk::start(second.1, &base_url, &fixture, &run_dir)?;
        let (first_figures, second_figures) = (first_run.finish()?, second_run.finish()?);
        let peak_rss = sampler.peak();
        Ok((
            Measured { name: first.0, load: first.1.describe(), peak_rss, figures: first_figures },
            Measured { name: second.0, load: second.1.describe(), peak_rss, figures: second_figures },
        ))
    };
    let (flood, flood_lookups) = side_by_side(
        (
            "flood: 200 concurrent sign-ins",
            Load { mix: "signin:1", threads: 1, connections: 200, seconds, timeout_seconds: 10 },
        ),
        (
            "flood: status lookups beside it",
            Load { mix: "status:1", threads: 1, connections: 4, seconds, timeout_seconds: 10 },
        ),
    )?;

    // Staff and clients at work, with sign-ins trickling in beside them (one at a time: a
    // closed-loop generator would otherwise overload the hash pool with any fixed share).
    eprintln!("bench: mixed clinic load with a sign-in trickle beside it ({seconds} s)");
    wait_until_idle(&server)?;
    let (mixed, trickle) = side_by_side(
        ("mixed clinic load: 70% status, 20% /me, 10% invite", load("status:70,me:20,invite:10", 2, 16)),
        (
            "mixed: sign-ins beside it, one at a time",
            Load { mix: "signin:1", threads: 1, connections: 1, seconds, timeout_seconds: 5 },
        ),
    )?;
    drop(server);

    let checks = checks(
        ceiling,
        permits,
        (base_rss, connections_rss),
        [&plain, &status, &me, &invite, &sign_in, &register, &flood, &flood_lookups, &mixed, &trickle],
    );
    Ok(Section {
        database: database.label(),
        scenarios: vec![plain, status, me, invite, sign_in, register, flood, flood_lookups, mixed, trickle],
        checks,
    })
}

/// Every figure against its limit.
/// `base_rss`: the idle server's memory before the flood, and its peak carrying 200 connections
/// of plain requests.
fn checks(ceiling: &HashCeiling, permits: usize, base_rss: (u64, u64), measured: [&Measured; 10]) -> Vec<Check> {
    let flood_peak_rss = measured[6].peak_rss;
    let [plain, status, me, invite, sign_in, register, flood, flood_lookups, mixed, trickle] =
        measured.map(|m| &m.figures);
    let nominal = ceiling.nominal_per_second();
    let rate = Figures::success_rate;
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let hash_memory = permits as f64 * MIB_PER_HASH;
    let (idle_rss, connections_rss) = base_rss;
    // What the mix would reach if each kind of request cost what it cost alone.
    let predicted_mix = 1.0 / (0.70 / rate(status) + 0.20 / rate(me) + 0.10 / rate(invite));
    let unanswered = (flood.timeouts + flood.socket_errors) as f64;
    vec![
        Check::new(
            "sign-in throughput vs hash ceiling (cores ÷ one hash)",
            rate(sign_in),
            "/s",
            nominal,
            Goal::AtLeast(0.9),
        ),
        Check::new(
            "sign-in throughput vs measured parallel hashing",
            rate(sign_in),
            "/s",
            ceiling.parallel_per_second,
            Goal::AtLeast(0.9),
        ),
        Check::new("registration throughput vs hash ceiling", rate(register), "/s", nominal, Goal::None),
        Check::new(
            "flood: peak RSS vs idle base + permits × 128 MiB",
            mib(flood_peak_rss),
            "MiB",
            mib(idle_rss) + hash_memory,
            Goal::AtMost(1.0),
        ),
        Check::new(
            "flood: peak RSS vs base with 200 connections + permits × 128 MiB",
            mib(flood_peak_rss),
            "MiB",
            mib(connections_rss) + hash_memory,
            Goal::AtMost(1.0),
        ),
        Check::new(
            "flood: status lookup p99 vs 10 ms",
            flood_lookups.p99_ms,
            "ms",
            LOOKUP_P99_GOAL_MS,
            Goal::AtMost(1.0),
        ),
        Check::new("flood: sign-ins never answered (timeouts, socket errors)", unanswered, "", 0.0, Goal::Zero),
        Check::new("status lookup vs plain poem JSON handler", rate(status), "/s", rate(plain), Goal::AtLeast(0.5)),
        Check::new("session check (/me) vs plain poem JSON handler", rate(me), "/s", rate(plain), Goal::None),
        Check::new("send invitation vs plain poem JSON handler", rate(invite), "/s", rate(plain), Goal::None),
        Check::new("mixed load vs its parts measured alone", rate(mixed), "/s", predicted_mix, Goal::None),
        Check::new(
            "mixed: sign-in trickle vs one hash at a time",
            rate(trickle),
            "/s",
            1.0 / ceiling.one_hash_seconds,
            Goal::None,
        ),
    ]
}

/// The report goes to stdout (progress goes to stderr); a closed stdout is not worth failing on.
fn print_stdout(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

/// An empty directory at `path` (whatever a previous run left there is removed).
fn fresh_dir(path: &Path) -> Result<PathBuf> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|error| format!("{}: {error}", path.display()))?;
    }
    std::fs::create_dir_all(path).map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_have_defaults_and_refuse_nonsense() {
        let parsed = Options::parse(&["--seconds".into(), "3".into(), "--no-write".into()]).unwrap();
        assert_eq!(parsed.seconds, 3);
        assert!(!parsed.write);
        assert!(Options::parse(&["--seconds".into(), "0".into()]).is_err());
        assert!(Options::parse(&["--bogus".into()]).is_err());
        assert!(Options::parse(&["--postgres".into()]).is_err());
    }
}
