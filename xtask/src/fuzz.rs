//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets under `fuzz/`, each
//! for a bounded time, and turns every crash into a regression input.
//!
//! The fuzz project is its own workspace and needs nightly (`cargo +nightly fuzz`) plus
//! cargo-fuzz (`cargo install cargo-fuzz --locked`); both are checked first, with the command
//! that installs what is missing. Each target runs on a working corpus under `fuzz/corpus/`
//! (ignored by git) seeded from the committed `fuzz/seeds/<target>/`. A new crash, leak, timeout
//! or out-of-memory artifact is copied to `fuzz/regressions/<target>/`, which portal-core's
//! stable test `fuzz_regressions` replays, and the command fails. See `docs/fuzzing.md`.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Result, display, workspace_root};

/// Every target, in the order they run; the same names as `fuzz/fuzz_targets/*.rs`.
pub(crate) const TARGETS: &[&str] = &["link_token", "phc", "validation", "lifecycle"];

/// Seconds per target when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// libFuzzer options for every run. A single allocation above 64 MiB is a failure (the `phc`
/// target relies on it: a hostile stored hash must be refused before scrypt allocates), and so
/// is an input that takes more than 10 s.
const LIBFUZZER_OPTIONS: &[&str] = &["-malloc_limit_mb=64", "-timeout=10", "-print_final_stats=1"];

/// Artifact name prefixes that mean the target failed (libFuzzer's `slow-unit-` is only a note).
const FAILURE_PREFIXES: &[&str] = &["crash-", "leak-", "timeout-", "oom-"];

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    seconds: u64,
    targets: Vec<&'static str>,
}

/// The figures libFuzzer prints at the end of a run (`-print_final_stats=1`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    runs: Option<u64>,
    execs_per_second: Option<u64>,
    new_units: Option<u64>,
    peak_rss_mb: Option<u64>,
}

/// The outcome of one target's run.
struct Report {
    target: &'static str,
    took: Duration,
    stats: Stats,
    /// Where the new failure inputs were copied to (empty when none).
    regressions: Vec<PathBuf>,
    /// `None` when libFuzzer exited successfully.
    failure: Option<String>,
    log: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result {
    let options = parse_args(args)?;
    check_tools()?;
    let root = workspace_root();
    let fuzz = root.join("fuzz");

    eprintln!("fuzz: building every target (cargo +nightly fuzz build)");
    let mut build = cargo_fuzz(&root, ["build"]);
    let status = build.status().map_err(|error| format!("could not run `{}`: {error}", display(&build)))?;
    if !status.success() {
        return Err(format!("`{}` failed ({status})", display(&build)));
    }

    let mut reports = Vec::new();
    for target in &options.targets {
        reports.push(run_target(&root, &fuzz, target, options.seconds)?);
    }

    eprintln!("\nfuzz: summary ({} s per target)", options.seconds);
    eprintln!("  {:<12} {:>12} {:>9} {:>8} {:>7} {:>8}  result", "target", "runs", "exec/s", "time", "new", "rss MB");
    let show = |value: Option<u64>| value.map_or_else(|| "?".to_owned(), |v| v.to_string());
    for report in &reports {
        let result = match (&report.failure, report.regressions.is_empty()) {
            (None, true) => "ok".to_owned(),
            (failure, _) => {
                let copied: Vec<String> = report.regressions.iter().map(|p| relative(&root, p)).collect();
                format!("FAILED: {}; {}", failure.as_deref().unwrap_or("new artifacts"), copied.join(", "))
            }
        };
        eprintln!(
            "  {:<12} {:>12} {:>9} {:>7.1}s {:>7} {:>8}  {result}",
            report.target,
            show(report.stats.runs),
            show(report.stats.execs_per_second),
            report.took.as_secs_f64(),
            show(report.stats.new_units),
            show(report.stats.peak_rss_mb),
        );
    }

    let failed: Vec<&Report> = reports.iter().filter(|r| r.failure.is_some() || !r.regressions.is_empty()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    let mut message = format!("{} target(s) failed:", failed.len());
    for report in failed {
        message.push_str(&format!("\n  {} (log: {})", report.target, relative(&root, &report.log)));
        for path in &report.regressions {
            message.push_str(&format!("\n    new regression input: {}", relative(&root, path)));
        }
    }
    message.push_str(
        "\n  Reproduce on stable with `cargo test -p portal-core --all-features --test fuzz_regressions`, fix the \
         bug, and commit the input with the fix.",
    );
    Err(message)
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = match arg.strip_prefix("--seconds") {
            Some("") => Some(args.next().ok_or("`--seconds` needs a number")?.as_str()),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(value) = value {
            seconds = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("`--seconds` takes a whole number of seconds above zero, not `{value}`"))?;
        } else if arg.starts_with('-') {
            return Err(format!("unknown option `{arg}`; usage: cargo xtask fuzz [--seconds N] [TARGET...]"));
        } else {
            let target = TARGETS
                .iter()
                .find(|known| *known == arg)
                .ok_or_else(|| format!("unknown fuzz target `{arg}`; the targets are {}", TARGETS.join(", ")))?;
            if !targets.contains(target) {
                targets.push(*target);
            }
        }
    }
    if targets.is_empty() {
        targets = TARGETS.to_vec();
    }
    Ok(Options { seconds, targets })
}

/// `cargo +nightly fuzz <args>` from the workspace root. The rustup proxy on `PATH` is used, not
/// the cargo that runs us (`$CARGO` is a stable binary, which does not understand `+nightly`).
fn cargo_fuzz<I, S>(root: &Path, args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new("cargo");
    command.arg("+nightly").arg("fuzz").args(args).current_dir(root);
    // Set by the rustup proxy that started us; it must not pin the fuzz build to stable.
    command.env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
    command
}

/// Nightly and cargo-fuzz are there, or an error saying how to install them.
fn check_tools() -> Result {
    let quiet = |command: &mut Command| {
        command.stdout(Stdio::null()).stderr(Stdio::null()).env_remove("RUSTUP_TOOLCHAIN").env_remove("CARGO");
        command.status().is_ok_and(|status| status.success())
    };
    if !quiet(Command::new("cargo").args(["+nightly", "--version"])) {
        return Err("the nightly toolchain is missing (cargo-fuzz needs it): `rustup toolchain install nightly`".into());
    }
    if !quiet(Command::new("cargo").args(["+nightly", "fuzz", "--version"])) {
        return Err("cargo-fuzz is not installed: `cargo install cargo-fuzz --locked`".into());
    }
    Ok(())
}

fn run_target(root: &Path, fuzz: &Path, target: &'static str, seconds: u64) -> Result<Report> {
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    let logs = fuzz.join("logs");
    for dir in [&corpus, &seeds, &artifacts, &logs] {
        std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let before = failure_artifacts(&artifacts)?;
    let log = logs.join(format!("{target}.log"));
    let log_file = File::create(&log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
    let log_copy = log_file.try_clone().map_err(|error| format!("cannot reopen {}: {error}", log.display()))?;

    let mut command = cargo_fuzz(root, ["run", target]);
    // The working corpus first: libFuzzer adds new inputs to the first directory only.
    command.arg(&corpus).arg(&seeds).arg("--").arg(format!("-max_total_time={seconds}")).args(LIBFUZZER_OPTIONS);
    command.stdout(log_copy).stderr(log_file);
    eprintln!("\nfuzz: {target}: running for {seconds} s (log: {})", relative(root, &log));
    let started = Instant::now();
    let status = command.status().map_err(|error| format!("could not run `{}`: {error}", display(&command)))?;
    let took = started.elapsed();

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let stats = parse_stats(&text);
    let regressions = copy_new_artifacts(fuzz, target, &before, &failure_artifacts(&artifacts)?)?;
    let failure = (!status.success()).then(|| format!("libFuzzer exited with {status}"));
    if failure.is_some() || !regressions.is_empty() {
        eprintln!("fuzz: {target}: FAILED; the end of its log:");
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("    {line}");
        }
    } else {
        eprintln!("fuzz: {target}: ok, {} runs", stats.runs.map_or_else(|| "?".to_owned(), |n| n.to_string()));
    }
    Ok(Report { target, took, stats, regressions, failure, log })
}

/// Names of the failure artifacts (`crash-…`, `leak-…`, `timeout-…`, `oom-…`) in `dir`.
fn failure_artifacts(dir: &Path) -> Result<BTreeSet<String>> {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let name = entry.map_err(|error| format!("cannot read {}: {error}", dir.display()))?.file_name();
        let name = name.to_string_lossy();
        if FAILURE_PREFIXES.iter().any(|prefix| name.starts_with(prefix)) {
            names.insert(name.into_owned());
        }
    }
    Ok(names)
}

/// Copies every artifact in `after` but not in `before` to `fuzz/regressions/<target>/`.
fn copy_new_artifacts(
    fuzz: &Path,
    target: &str,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> Result<Vec<PathBuf>> {
    let destination = fuzz.join("regressions").join(target);
    let mut copied = Vec::new();
    for name in after.difference(before) {
        std::fs::create_dir_all(&destination)
            .map_err(|error| format!("cannot create {}: {error}", destination.display()))?;
        let from = fuzz.join("artifacts").join(target).join(name);
        let to = destination.join(name);
        std::fs::copy(&from, &to)
            .map_err(|error| format!("cannot copy {} to {}: {error}", from.display(), to.display()))?;
        copied.push(to);
    }
    Ok(copied)
}

/// Reads libFuzzer's final `stat::name: value` lines.
fn parse_stats(log: &str) -> Stats {
    let mut stats = Stats::default();
    for line in log.lines() {
        let Some((name, value)) = line.trim().strip_prefix("stat::").and_then(|rest| rest.split_once(':')) else {
            continue;
        };
        let value = value.trim().parse().ok();
        match name {
            "number_of_executed_units" => stats.runs = value,
            "average_exec_per_sec" => stats.execs_per_second = value,
            "new_units_added" => stats.new_units = value,
            "peak_rss_mb" => stats.peak_rss_mb = value,
            _ => {}
        }
    }
    stats
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn no_arguments_run_every_target_for_the_default_time() {
        assert_eq!(parse_args(&[]), Ok(Options { seconds: DEFAULT_SECONDS, targets: TARGETS.to_vec() }));
    }

    #[test]
    fn seconds_and_targets_are_read_in_either_spelling() {
        let expected = Options { seconds: 5, targets: vec!["phc", "lifecycle"] };
        assert_eq!(parse_args(&args("--seconds 5 phc lifecycle")), Ok(expected));
        let expected = Options { seconds: 7, targets: vec!["phc"] };
        assert_eq!(parse_args(&args("phc --seconds=7 phc")), Ok(expected));
    }

    #[test]
    fn bad_arguments_are_refused_with_a_reason() {
        for (line, says) in [
            ("--seconds", "needs a number"),
            ("--seconds 0", "above zero"),
            ("--seconds=ten", "whole number"),
            ("--jobs 2", "unknown option"),
            ("token", "the targets are link_token, phc, validation, lifecycle"),
        ] {
            let error = parse_args(&args(line)).expect_err(line);
            assert!(error.contains(says), "{line}: {error}");
        }
    }

    #[test]
    fn final_stats_are_read_from_the_log() {
        let log = "#2048\tpulse  cov: 10\nDone 1234567 runs in 61 second(s)\nstat::number_of_executed_units: 1234567\n\
                   stat::average_exec_per_sec:     20239\nstat::new_units_added:          311\n\
                   stat::slowest_unit_time_sec:    0\nstat::peak_rss_mb:              512\n";
        let expected = Stats {
            runs: Some(1_234_567),
            execs_per_second: Some(20_239),
            new_units: Some(311),
            peak_rss_mb: Some(512),
        };
        assert_eq!(parse_stats(log), expected);
        assert_eq!(parse_stats("thread panicked"), Stats::default());
    }

    #[test]
    fn only_new_failure_artifacts_are_copied_to_the_regressions() {
        let dir = std::env::temp_dir().join(format!("xtask-fuzz-test-{}", std::process::id()));
        let artifacts = dir.join("artifacts").join("phc");
        std::fs::create_dir_all(&artifacts).unwrap();
        for name in ["crash-old", "crash-new", "slow-unit-abc", "timeout-new"] {
            std::fs::write(artifacts.join(name), name).unwrap();
        }
        let before: BTreeSet<String> = ["crash-old".to_owned()].into();
        let after = failure_artifacts(&artifacts).unwrap();
        assert_eq!(after, ["crash-new", "crash-old", "timeout-new"].map(str::to_owned).into());
        let copied = copy_new_artifacts(&dir, "phc", &before, &after).unwrap();
        assert_eq!(copied, [dir.join("regressions/phc/crash-new"), dir.join("regressions/phc/timeout-new")]);
        assert_eq!(std::fs::read_to_string(&copied[0]).unwrap(), "crash-new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The list above, `fuzz/fuzz_targets/*.rs`, the `[[bin]]`s of `fuzz/Cargo.toml` and the
    /// committed seed directories name the same targets.
    #[test]
    fn the_target_list_matches_the_fuzz_project() {
        let fuzz = workspace_root().join("fuzz");
        let mut files: Vec<String> = std::fs::read_dir(fuzz.join("fuzz_targets"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
            .collect();
        files.sort();
        let mut listed: Vec<String> = TARGETS.iter().map(|t| (*t).to_owned()).collect();
        listed.sort();
        assert_eq!(files, listed, "fuzz/fuzz_targets/ and xtask's TARGETS differ");
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(manifest.contains(&format!("name = \"{target}\"")), "fuzz/Cargo.toml has no [[bin]] {target}");
            assert!(fuzz.join("seeds").join(target).is_dir(), "fuzz/seeds/{target}/ is missing");
        }
    }
}
