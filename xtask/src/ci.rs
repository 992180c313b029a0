//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::{Result, cargo, display};

/// One step of the pipeline.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
}

const STEPS: &[Step] = &[
    Step { name: "format", args: &["fmt", "--all", "--", "--check"] },
    Step {
        name: "clippy",
        args: &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
    },
    // The README's test command; it also runs the tidy tests in `xtask`.
    Step { name: "test", args: &["test", "--workspace", "--all-features"] },
];

const DENY: Step = Step { name: "cargo-deny", args: &["deny", "check", "licenses", "bans", "sources"] };

pub(crate) fn run() -> Result {
    let started = Instant::now();
    let mut timings = Vec::new();
    for step in STEPS {
        timings.push((step.name, run_step(step)?));
    }
    if cargo_deny_installed() {
        timings.push((DENY.name, run_step(&DENY)?));
    } else {
        eprintln!(
            "\n==> {}: SKIPPED, cargo-deny is not installed (`cargo install cargo-deny --locked`; .ci/run does this)",
            DENY.name
        );
    }

    eprintln!("\n==> ci: all steps passed");
    for (name, took) in timings {
        eprintln!("    {name:<12} {}", seconds(took));
    }
    eprintln!("    {:<12} {}", "total", seconds(started.elapsed()));
    Ok(())
}

fn run_step(step: &Step) -> Result<Duration> {
    let mut command = cargo(step.args);
    let shown = display(&command);
    eprintln!("\n==> {}: {shown}", step.name);
    let started = Instant::now();
    let status = command.status().map_err(|error| format!("step `{}`: could not run `{shown}`: {error}", step.name))?;
    let took = started.elapsed();
    if status.success() {
        eprintln!("==> {}: ok ({})", step.name, seconds(took));
        Ok(took)
    } else {
        Err(format!(
            "step `{}` failed ({status}) after {}; later steps were not run.\n       command: {shown}",
            step.name,
            seconds(took)
        ))
    }
}

fn cargo_deny_installed() -> bool {
    let mut command = cargo(["deny", "--version"]);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command.status().is_ok_and(|status| status.success())
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
