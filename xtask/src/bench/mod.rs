//! `cargo xtask bench`: the release server under a real load generator (Debian's `wrk`), on a
//! fresh SQLite database and, when a PostgreSQL URL is given, on a fresh PostgreSQL database.
//!
//! Every figure is printed next to its limit measured in the same run: the hash ceiling (this
//! process hashes at the production scrypt setting), a plain poem JSON handler and one
//! primary-key read through the store, both served by the same binary (feature
//! `bench-baseline`), the server's memory before the flood. With `--scale N` the staff and
//! sign-in scenarios run again on a database of N bulk-inserted clients (`seed`, `scale`)
//! against the 500-client figures, and on PostgreSQL two server processes share that database
//! (`two_servers`). The results go to `docs/benchmarks.md` between its `bench:begin` and
//! `bench:end` markers. Goals that are missed are reported, not failed on: a benchmark informs,
//! the tests decide.

mod fixture;
mod hash;
mod report;
mod scale;
mod seed;
mod server;
mod small;
mod two_servers;
mod wrk;

use std::path::{Path, PathBuf};

use server::Database;

use crate::Result;

/// Memory one scrypt hash at the production setting takes (N = 2^17, r = 8: 128 · r · N bytes).
const MIB_PER_HASH: f64 = 128.0;
/// The flood's lookups must keep their p99 under this.
const LOOKUP_P99_GOAL_MS: f64 = 10.0;
/// A client list page must keep its p99 under this.
const LIST_P99_GOAL_MS: f64 = 20.0;
/// `--scale` without a number.
const DEFAULT_SCALE: usize = 1_000_000;
/// Practices the scale run's clients are spread over.
const DEFAULT_PRACTICES: usize = 1_000;

const USAGE: &str = "usage: cargo xtask bench [--seconds N] [--postgres URL] [--scale [N]] [--practices P] [--no-write]

  --seconds N      how long each scenario runs (default 10)
  --postgres URL   also run on PostgreSQL (a server the bench may create a database on, e.g.
                   postgres://postgres@127.0.0.1:5432/postgres); PORTAL_BENCH_POSTGRES_URL works too
  --scale [N]      also measure the staff and sign-in scenarios on a database of N clients
                   (default 1,000,000), bulk-inserted, against the same scenarios on 500 clients
  --practices P    how many practices the --scale clients are spread over (default 1,000)
  --no-write       print the results without updating docs/benchmarks.md";

#[derive(Debug)]
struct Options {
    seconds: u32,
    postgres: Option<String>,
    scale: Option<seed::Plan>,
    write: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            seconds: 10,
            postgres: std::env::var("PORTAL_BENCH_POSTGRES_URL").ok().filter(|url| !url.is_empty()),
            scale: None,
            write: true,
        };
        let mut practices = None;
        let positive = |flag: &str, value: &str| {
            value
                .replace(['_', ','], "")
                .parse::<usize>()
                .ok()
                .filter(|number| *number > 0)
                .ok_or_else(|| format!("{flag} {value}: not a positive number\n{USAGE}"))
        };
        let mut args = args.iter().peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    let value = args.next().ok_or(USAGE)?;
                    options.seconds =
                        u32::try_from(positive("--seconds", value)?).map_err(|error| error.to_string())?;
                }
                "--postgres" => options.postgres = Some(args.next().ok_or(USAGE)?.clone()),
                "--scale" => {
                    let clients = match args.next_if(|next| !next.starts_with("--")) {
                        Some(value) => positive("--scale", value)?,
                        None => DEFAULT_SCALE,
                    };
                    options.scale = Some(seed::Plan { clients, practices: DEFAULT_PRACTICES });
                }
                "--practices" => practices = Some(positive("--practices", args.next().ok_or(USAGE)?)?),
                "--no-write" => options.write = false,
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        match (&mut options.scale, practices) {
            (Some(plan), Some(practices)) => plan.practices = practices,
            (None, Some(_)) => return Err(format!("--practices needs --scale\n{USAGE}")),
            _ => {}
        }
        Ok(options)
    }
}

/// What every part of a run shares.
pub(crate) struct Bench<'a> {
    /// The release server with the yardsticks.
    pub(crate) binary: &'a Path,
    pub(crate) ceiling: &'a hash::HashCeiling,
    /// How long each scenario runs.
    pub(crate) seconds: u32,
    /// Where the runs keep their data directories.
    pub(crate) root: &'a Path,
}

/// Runs every scenario and reports.
pub(crate) fn run(args: &[String]) -> Result {
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print_stdout(&format!("{USAGE}\n"));
        return Ok(());
    }
    let options = Options::parse(args)?;
    let started = std::time::Instant::now();
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
    let bench = Bench { binary: &binary, ceiling: &ceiling, seconds: options.seconds, root: &root };
    let mut sections = Vec::new();
    for database in &databases {
        let postgres = matches!(database, Database::Postgres { .. });
        eprintln!("\nbench: {} run", database.label());
        // Two servers on one PostgreSQL database: on the large database when there is one.
        let (small_sections, compared) = small::run(&bench, database, postgres && options.scale.is_none())?;
        sections.extend(small_sections);
        if let Some(plan) = options.scale {
            eprintln!("\nbench: {} run at {} clients", database.label(), scale::grouped(plan.clients));
            sections.extend(scale::run(&bench, database, plan, &compared, postgres)?);
        }
    }

    let machine = report::machine(options.postgres.as_deref());
    let markdown = report::markdown(&machine, &ceiling, &sections, started.elapsed());
    print_stdout(&markdown);
    if options.write {
        let path = crate::workspace_root().join("docs").join("benchmarks.md");
        report::write_between_markers(&path, &markdown)?;
        eprintln!("bench: wrote {}", path.display());
    }
    eprintln!("bench: done in {:.1} min", started.elapsed().as_secs_f64() / 60.0);
    Ok(())
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

    fn parsed(args: &[&str]) -> Result<Options> {
        Options::parse(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn options_have_defaults_and_refuse_nonsense() {
        let options = parsed(&["--seconds", "3", "--no-write"]).unwrap();
        assert_eq!(options.seconds, 3);
        assert!(!options.write);
        assert!(options.scale.is_none());
        assert!(parsed(&["--seconds", "0"]).is_err());
        assert!(parsed(&["--bogus"]).is_err());
        assert!(parsed(&["--postgres"]).is_err());
        assert!(parsed(&["--practices", "10"]).is_err(), "--practices alone means nothing");
    }

    #[test]
    fn scale_takes_an_optional_size_and_practices() {
        let plan = parsed(&["--scale", "--no-write"]).unwrap().scale.unwrap();
        assert_eq!((plan.clients, plan.practices), (1_000_000, 1_000));
        let plan = parsed(&["--scale", "50_000", "--practices", "50"]).unwrap().scale.unwrap();
        assert_eq!((plan.clients, plan.practices), (50_000, 50));
        let plan = parsed(&["--practices", "20", "--scale", "2,000"]).unwrap().scale.unwrap();
        assert_eq!((plan.clients, plan.practices), (2_000, 20));
        assert!(parsed(&["--scale", "0"]).is_err());
    }
}
