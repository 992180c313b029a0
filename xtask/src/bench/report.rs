//! The bench's report: Markdown for the terminal and for `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::hash::HashCeiling;
use super::wrk::Figures;
use crate::Result;

const BEGIN: &str = "<!-- bench:begin -->";
const END: &str = "<!-- bench:end -->";

/// One scenario's figures.
pub(crate) struct Measured {
    pub(crate) name: &'static str,
    pub(crate) load: String,
    /// The server's highest resident memory during the scenario.
    pub(crate) peak_rss: u64,
    pub(crate) figures: Figures,
}

/// What a ratio should be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Goal {
    AtLeast(f64),
    AtMost(f64),
    /// The measured count must be zero (no ratio: the limit is zero).
    Zero,
    /// Reported for information.
    None,
}

/// A figure next to its limit.
pub(crate) struct Check {
    what: &'static str,
    measured: f64,
    unit: &'static str,
    limit: f64,
    goal: Goal,
}

impl Check {
    pub(crate) fn new(what: &'static str, measured: f64, unit: &'static str, limit: f64, goal: Goal) -> Self {
        Self { what, measured, unit, limit, goal }
    }

    fn ratio(&self) -> Option<f64> {
        (self.limit > 0.0).then(|| self.measured / self.limit)
    }

    fn verdict(&self) -> &'static str {
        let met = match (self.goal, self.ratio()) {
            (Goal::AtLeast(goal), Some(ratio)) => ratio >= goal,
            (Goal::AtMost(goal), Some(ratio)) => ratio <= goal,
            (Goal::Zero, _) => self.measured == 0.0,
            (Goal::None, _) => return "",
            (_, None) => false,
        };
        if met { "met" } else { "**missed**" }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(goal) => format!("≥ {goal}"),
            Goal::AtMost(goal) => format!("≤ {goal}"),
            Goal::Zero => "0".to_owned(),
            Goal::None => "–".to_owned(),
        }
    }
}

/// One part of the results (a database, the same database at scale, two servers).
pub(crate) struct Section {
    title: String,
    /// What was measured on, when the title does not say it all.
    note: Option<String>,
    scenarios: Vec<Measured>,
    checks: Vec<Check>,
}

impl Section {
    pub(crate) fn new(title: String, note: Option<String>, scenarios: Vec<Measured>, checks: Vec<Check>) -> Self {
        Self { title, note, scenarios, checks }
    }
}

fn number(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// Two decimals, or three significant digits for the small ratios two decimals would show as 0.
fn ratio_text(ratio: f64) -> String {
    if ratio >= 0.1 || ratio == 0.0 { format!("{ratio:.2}") } else { format!("{ratio:.1e}") }
}

/// The whole report; `elapsed` is how long the run took.
pub(crate) fn markdown(machine: &str, ceiling: &HashCeiling, sections: &[Section], elapsed: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{machine}- the whole run took {:.1} min\n", elapsed.as_secs_f64() / 60.0);
    let _ = writeln!(
        out,
        "Hash ceiling, measured in-process by the bench with the portal's `ScryptHasher` at the production \
         setting ({}): one hash takes **{:.0} ms** alone; {} cores ÷ that = **{:.2} hashes/s** (the nominal \
         ceiling); {} threads hashing at once reached **{:.2} hashes/s** (the measured ceiling).\n",
        ceiling.params,
        ceiling.one_hash_seconds * 1000.0,
        ceiling.cores,
        ceiling.nominal_per_second(),
        ceiling.cores,
        ceiling.parallel_per_second
    );
    for section in sections {
        let _ = writeln!(out, "### {}\n", section.title);
        if let Some(note) = &section.note {
            let _ = writeln!(out, "{note}\n");
        }
        let _ = writeln!(out, "| scenario | load | answers | 2xx/s | p50 ms | p99 ms | max ms | peak RSS MiB |");
        let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
        for m in &section.scenarios {
            let f = &m.figures;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                m.name,
                m.load,
                f.status_summary(),
                number(f.success_rate()),
                number(f.p50_ms),
                number(f.p99_ms),
                number(f.max_ms),
                // Not sampled (two servers): no figure rather than a zero.
                if m.peak_rss == 0 {
                    "–".to_owned()
                } else {
                    format!("{:.0}", m.peak_rss as f64 / (1024.0 * 1024.0))
                }
            );
        }
        let _ = writeln!(out, "\n| figure | measured | limit (same run) | ratio | goal | |");
        let _ = writeln!(out, "|---|---:|---:|---:|---|---|");
        for check in &section.checks {
            let _ = writeln!(
                out,
                "| {} | {} {} | {} {} | {} | {} | {} |",
                check.what,
                number(check.measured),
                check.unit,
                number(check.limit),
                check.unit,
                check.ratio().map_or_else(|| "–".to_owned(), ratio_text),
                check.goal_text(),
                check.verdict()
            );
        }
        let _ = writeln!(out);
    }
    out
}

/// What the figures were measured on.
pub(crate) fn machine(postgres: Option<&str>) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| {
            line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, name)| name.trim())
        })
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| {
            meminfo
                .lines()
                .find_map(|line| line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        })
        .map_or_else(|| "?".to_owned(), |kib| format!("{:.0}", kib / 1024.0 / 1024.0));
    let first_line = |program: &str, args: &[&str]| -> String {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|output| {
                let text = if output.stdout.is_empty() { output.stderr } else { output.stdout };
                String::from_utf8_lossy(&text).lines().next().unwrap_or("").trim().to_owned()
            })
            .filter(|line| !line.is_empty())
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let commit =
        first_line("git", &["-C", &crate::workspace_root().display().to_string(), "describe", "--always", "--dirty"]);
    let mut text = format!(
        "Run of {} on commit `{commit}`.\n\n\
         - machine: {cpu}, {cores} logical cores, {memory_gib} GiB memory, {}\n\
         - toolchain: {}; release profile\n\
         - load generator: {} on the same machine (it shares the cores with the server)\n",
        first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        first_line("uname", &["-sr"]),
        first_line("rustc", &["--version"]),
        first_line("wrk", &["--version"]),
    );
    if let Some(url) = postgres {
        let _ =
            writeln!(text, "- PostgreSQL: {} on loopback", first_line("psql", &[url, "-Atc", "show server_version"]));
    }
    text
}

/// Replaces what stands between the markers in `path` with `generated`.
pub(crate) fn write_between_markers(path: &Path, generated: &str) -> Result {
    let current = std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let updated = replace_between_markers(&current, generated)
        .ok_or_else(|| format!("{} has no `{BEGIN}` … `{END}` section", path.display()))?;
    std::fs::write(path, updated).map_err(|error| format!("{}: {error}", path.display()))
}

fn replace_between_markers(current: &str, generated: &str) -> Option<String> {
    let start = current.find(BEGIN)? + BEGIN.len();
    let end = current[start..].find(END)? + start;
    Some(format!("{}\n{}\n{}", &current[..start], generated.trim_end(), &current[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_generated_section_changes() {
        let doc = "# Benchmarks\nintro\n<!-- bench:begin -->\nold\n<!-- bench:end -->\nafter\n";
        assert_eq!(
            replace_between_markers(doc, "new\n").unwrap(),
            "# Benchmarks\nintro\n<!-- bench:begin -->\nnew\n<!-- bench:end -->\nafter\n"
        );
        assert!(replace_between_markers("no markers", "x").is_none());
    }

    #[test]
    fn small_ratios_keep_their_digits() {
        assert_eq!(ratio_text(0.95), "0.95");
        assert_eq!(ratio_text(0.0039), "3.9e-3");
        assert_eq!(ratio_text(0.0), "0.00");
    }

    #[test]
    fn verdicts_follow_the_goal() {
        assert_eq!(Check::new("a", 9.0, "/s", 10.0, Goal::AtLeast(0.9)).verdict(), "met");
        assert_eq!(Check::new("a", 8.0, "/s", 10.0, Goal::AtLeast(0.9)).verdict(), "**missed**");
        assert_eq!(Check::new("a", 12.0, "ms", 10.0, Goal::AtMost(1.0)).verdict(), "**missed**");
        assert_eq!(Check::new("a", 0.0, "", 0.0, Goal::Zero).verdict(), "met");
        assert_eq!(Check::new("a", 1.0, "", 0.0, Goal::None).verdict(), "");
    }
}
