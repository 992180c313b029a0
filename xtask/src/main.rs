//! `cargo xtask <command>`: project automation for the portal workspace.
//!
//! Reached through the `xtask` alias in `.cargo/config.toml`. Every command runs from the
//! workspace root, whatever the current directory is. Progress goes to stderr; the usage text
//! of `help` goes to stdout.

mod bench;
mod ci;
mod faults;
mod fuzz;
mod openapi;
mod schemathesis;
mod served;
mod tidy;

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci      run every check CI runs, stopping at the first failure:
            cargo fmt --all -- --check
            cargo clippy --workspace --all-targets --all-features -- -D warnings
            cargo test --workspace --all-features   (includes the tidy tests)
            cargo deny check licenses bans sources  (skipped with a notice if cargo-deny is missing)
  tidy    run only the architecture checks (dependency rule, lints, docs/ARCHITECTURE.md)
  faults  run only the fault tests (kill -9 mid-burst, SMTP down, database down; docs/fault-tests.md),
          against the local PostgreSQL unless PORTAL_TEST_POSTGRES_URL is set
  openapi regenerate docs/openapi.json from `portal-server openapi` (a test fails when it is stale)
  bench   load the release server with wrk (SQLite; PostgreSQL with --postgres URL) and write
          docs/benchmarks.md; `cargo xtask bench --help` for its options (needs `apt-get install wrk`)
  schemathesis
          contract-fuzz the HTTP API: serve a fresh portal-server, seed it, run schemathesis
          (every check, all phases) against /openapi.json; fails on any finding
          (docs/contract-testing.md)
  fuzz    run the cargo-fuzz targets under fuzz/ for a bounded time each (needs nightly and cargo-fuzz):
            cargo xtask fuzz [--seconds N] [TARGET...]   (default: 60 s each, every target)
            targets: link_token, phc, validation, lifecycle
          a crash is copied to fuzz/regressions/<target>/, which `cargo test` replays (docs/fuzzing.md)
  help    print this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (Some(command.as_str()), rest),
        None => (None, &[][..]),
    };
    let takes_arguments = matches!(command, Some("bench" | "fuzz"));
    if !takes_arguments && !rest.is_empty() {
        eprintln!("xtask: unexpected arguments after `{}`: {}", command.unwrap_or_default(), rest.join(" "));
        eprint!("{USAGE}");
        return ExitCode::from(2);
    }

    let result = match command {
        None | Some("help" | "-h" | "--help") => {
            // Best effort: a closed stdout (e.g. `| head`) is not an error worth reporting.
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Some("ci") => ci::run(),
        Some("tidy") => tidy::run(),
        Some("openapi") => openapi::run(),
        Some("faults") => faults::run(),
        Some("bench") => bench::run(rest),
        Some("schemathesis") => schemathesis::run(),
        Some("fuzz") => fuzz::run(rest),
        Some(other) => {
            eprintln!("xtask: unknown command `{other}`\n");
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

/// What a failed command reports: a message meant for a human reading the CI log.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// A `cargo` command run from the workspace root, using the same cargo that runs us.
pub(crate) fn cargo<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let program = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.args(args.into_iter().map(Into::into)).current_dir(workspace_root());
    command
}

/// Runs `command` and returns its stdout; a non-zero exit becomes an error carrying stderr.
pub(crate) fn output_of(command: &mut Command) -> Result<String> {
    let shown = display(command);
    let output = command.output().map_err(|error| format!("could not run `{shown}`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{shown}` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    String::from_utf8(output.stdout).map_err(|error| format!("`{shown}` printed non-UTF-8: {error}"))
}

/// A command line as a person would type it (`cargo tree -p portal-core`).
pub(crate) fn display(command: &Command) -> String {
    let program =
        Path::new(command.get_program()).file_name().unwrap_or(command.get_program()).to_string_lossy().into_owned();
    std::iter::once(program)
        .chain(command.get_args().map(|arg| arg.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}
