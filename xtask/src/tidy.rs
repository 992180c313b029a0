//! `cargo xtask tidy`: architecture checks.
//!
//! The same checks run as ordinary `#[test]`s (bottom of this file), so a plain
//! `cargo test --workspace` enforces them; `cargo xtask tidy` runs them alone with a report.
//!
//! The rules come from `design.md` §1: arrows point inward only. The core does no IO and knows
//! no adapter; adapters never import each other; every crate uses the workspace lints; the
//! architecture document names every crate. One house rule joins them: no hand-written source
//! file grows past [`MAX_FILE_LINES`] lines.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::{Result, cargo, output_of, workspace_root};

/// The crate holding the pure domain.
const CORE: &str = "portal-core";

/// Crates (and their `name-*` families, e.g. `tokio-util`, `sqlx-core`, `hyper-util`) that mean
/// IO, an async runtime, a database or a web framework, none of which the core may depend on.
const CORE_FORBIDDEN: &[&str] = &["tokio", "sea-orm", "sqlx", "poem", "poem-openapi", "mail-send", "hyper", "reqwest"];

/// The adapters; none of them may depend on another.
const ADAPTERS: &[&str] = &["portal-store", "portal-mail", "portal-http", "portal-passkeys"];

/// The dev-only test-support crate: a dev-dependency of the crates, a normal one of xtask only.
const TESTKIT: &str = "portal-testkit";

/// Where the architecture document lives, relative to the workspace root.
const ARCHITECTURE_DOC: &str = "docs/ARCHITECTURE.md";

/// The most lines a hand-written `.rs` file may have: past it, a file holds more than one
/// concern and is split by concern (a module directory, tests in a sibling file).
const MAX_FILE_LINES: usize = 600;

/// Source directories (relative to the workspace root) whose `.rs` files the length rule covers,
/// besides every crate's `crates/<name>/src` and `crates/<name>/examples`. Missing ones are
/// skipped.
const LENGTH_RULE_ROOTS: &[&str] = &["xtask/src", "fuzz/src", "examples"];

/// Files allowed past [`MAX_FILE_LINES`] for now, as paths relative to the workspace root.
/// Keep it empty: a long file is split by concern instead. It exists so that a split under way
/// on a branch can land in steps. An entry whose file is
/// back under the limit, or gone, fails the check, so the list cannot go stale.
const LONG_FILE_ALLOWANCE: &[&str] = &[];

/// The outcome of one check.
#[derive(Debug)]
pub(crate) enum Verdict {
    Pass,
    /// The check could not apply yet; the string says why.
    Skip(String),
    /// One line per violation.
    Fail(Vec<String>),
}

impl Verdict {
    fn from_violations(violations: Vec<String>) -> Self {
        if violations.is_empty() { Self::Pass } else { Self::Fail(violations) }
    }
}

/// A named architecture check.
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) run: fn(&Workspace) -> Result<Verdict>,
}

const CORE_IS_PURE: Check = Check { name: "portal-core has no IO, runtime, ORM or web dependency", run: core_is_pure };
const ADAPTERS_STAY_APART: Check = Check { name: "adapters never depend on each other", run: adapters_stay_apart };
const TESTKIT_STAYS_IN_TESTS: Check =
    Check { name: "portal-testkit is never a normal dependency of a shipped crate", run: testkit_stays_in_tests };
const WORKSPACE_LINTS: Check = Check {
    name: "every crates/*/ and examples/*/Cargo.toml has `[lints] workspace = true`",
    run: crates_use_workspace_lints,
};
const ARCHITECTURE_DOC_COMPLETE: Check =
    Check { name: "docs/ARCHITECTURE.md names every crate and example", run: architecture_doc_names_every_crate };
const FILES_STAY_SHORT: Check =
    Check { name: "no hand-written .rs file is over 600 lines", run: source_files_stay_short };

/// Every check, in the order `cargo xtask tidy` reports them.
pub(crate) const CHECKS: &[Check] = &[
    CORE_IS_PURE,
    ADAPTERS_STAY_APART,
    TESTKIT_STAYS_IN_TESTS,
    WORKSPACE_LINTS,
    ARCHITECTURE_DOC_COMPLETE,
    FILES_STAY_SHORT,
];

pub(crate) fn run() -> Result {
    let workspace = Workspace::load()?;
    let mut failed = Vec::new();
    for check in CHECKS {
        match (check.run)(&workspace)? {
            Verdict::Pass => eprintln!("tidy: ok       {}", check.name),
            Verdict::Skip(why) => eprintln!("tidy: skipped  {}: {why}", check.name),
            Verdict::Fail(violations) => {
                eprintln!("tidy: FAILED   {}", check.name);
                for violation in &violations {
                    eprintln!("        - {violation}");
                }
                failed.push(check.name);
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("{} tidy check(s) failed: {}", failed.len(), failed.join("; ")))
    }
}

/// What the checks need to know about the workspace.
pub(crate) struct Workspace {
    root: PathBuf,
    /// Names of the workspace's packages, from `cargo metadata --no-deps`.
    members: BTreeSet<String>,
}

impl Workspace {
    pub(crate) fn load() -> Result<Self> {
        let json = output_of(&mut cargo(["metadata", "--format-version", "1", "--no-deps"]))?;
        let metadata: serde_json::Value =
            serde_json::from_str(&json).map_err(|error| format!("`cargo metadata` printed invalid JSON: {error}"))?;
        let members = metadata["packages"]
            .as_array()
            .ok_or("`cargo metadata` printed no `packages` array")?
            .iter()
            .filter_map(|package| package["name"].as_str().map(str::to_owned))
            .collect();
        Ok(Self { root: workspace_root(), members })
    }

    fn has_member(&self, name: &str) -> bool {
        self.members.contains(name)
    }

    /// Every package `package` reaches through normal (not dev, not build) edges, with all its
    /// features on and for every target platform; `package` itself is left out.
    fn normal_dependencies(&self, package: &str) -> Result<BTreeSet<String>> {
        let tree = output_of(&mut cargo([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--all-features",
            "--target",
            "all",
        ]))?;
        Ok(parse_tree_names(&tree).into_iter().filter(|name| name != package).collect())
    }

    /// Directories under `crates/` that hold a `Cargo.toml`, sorted by name.
    fn crate_dirs(&self) -> Result<Vec<(String, PathBuf)>> {
        self.package_dirs("crates")
    }

    /// Directories directly under `parent` (relative to the root) that hold a `Cargo.toml`,
    /// sorted by name; none when `parent` does not exist.
    fn package_dirs(&self, parent: &str) -> Result<Vec<(String, PathBuf)>> {
        let parent = self.root.join(parent);
        if !parent.is_dir() {
            return Ok(Vec::new());
        }
        let entries =
            std::fs::read_dir(&parent).map_err(|error| format!("cannot read {}: {error}", parent.display()))?;
        let mut dirs = Vec::new();
        for entry in entries {
            let path = entry.map_err(|error| format!("cannot read {}: {error}", parent.display()))?.path();
            if path.join("Cargo.toml").is_file() {
                let name = path.file_name().map(|name| name.to_string_lossy().into_owned());
                dirs.extend(name.map(|name| (name, path)));
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    /// Every package directory the lint and documentation rules cover, as (how the
    /// architecture document must name it, the directory relative to the root, its path):
    /// `crates/*` by crate name (`portal-core`), `examples/*` by path (`examples/ehr`).
    fn member_dirs(&self) -> Result<Vec<(String, String, PathBuf)>> {
        let mut dirs: Vec<(String, String, PathBuf)> =
            self.crate_dirs()?.into_iter().map(|(name, path)| (name.clone(), format!("crates/{name}"), path)).collect();
        for (name, path) in self.package_dirs("examples")? {
            let relative = format!("examples/{name}");
            dirs.push((relative.clone(), relative, path));
        }
        Ok(dirs)
    }
}

/// **Architecture Invariant:** the core does no IO: no runtime, ORM, database driver, web
/// framework or mail client, and no `portal-*` crate, even transitively.
fn core_is_pure(workspace: &Workspace) -> Result<Verdict> {
    if !workspace.has_member(CORE) {
        return Ok(Verdict::Fail(vec![format!("`{CORE}` is not a workspace member")]));
    }
    let violations = workspace
        .normal_dependencies(CORE)?
        .into_iter()
        .filter_map(|dependency| {
            let why = if dependency.starts_with("portal-") {
                "the core depends on no other portal crate".to_owned()
            } else {
                let family = CORE_FORBIDDEN.iter().find(|forbidden| in_family(&dependency, forbidden))?;
                format!("`{family}` and its family are forbidden in the core")
            };
            Some(format!(
                "{CORE} depends on `{dependency}` ({why}); see `cargo tree -p {CORE} -e normal -i {dependency}`"
            ))
        })
        .collect();
    Ok(Verdict::from_violations(violations))
}

/// **Architecture Invariant:** adapters talk to each other only through the core's ports, so
/// none of `portal-store`, `portal-mail`, `portal-http`, `portal-passkeys` depends on another
/// (even transitively).
fn adapters_stay_apart(workspace: &Workspace) -> Result<Verdict> {
    let present: Vec<&str> = ADAPTERS.iter().copied().filter(|adapter| workspace.has_member(adapter)).collect();
    let mut violations = Vec::new();
    for adapter in &present {
        let dependencies = workspace.normal_dependencies(adapter)?;
        for other in ADAPTERS.iter().filter(|other| *other != adapter && dependencies.contains(**other)) {
            violations.push(format!(
                "{adapter} depends on {other}; adapters meet only through portal-core's ports \
                 (see `cargo tree -p {adapter} -e normal -i {other}`)"
            ));
        }
    }
    Ok(Verdict::from_violations(violations))
}

/// **Architecture Invariant:** the test kit (which starts processes and panics with
/// instructions) ships in no binary: no `portal-*` crate depends on it outside
/// `[dev-dependencies]`, even transitively.
fn testkit_stays_in_tests(workspace: &Workspace) -> Result<Verdict> {
    let mut violations = Vec::new();
    for shipped in workspace.members.iter().filter(|name| name.starts_with("portal-") && *name != TESTKIT) {
        if workspace.normal_dependencies(shipped)?.contains(TESTKIT) {
            violations.push(format!(
                "{shipped} depends on {TESTKIT} outside [dev-dependencies] \
                 (see `cargo tree -p {shipped} -e normal -i {TESTKIT}`)"
            ));
        }
    }
    Ok(Verdict::from_violations(violations))
}

/// Every crate and example takes its lint levels from `[workspace.lints]`.
fn crates_use_workspace_lints(workspace: &Workspace) -> Result<Verdict> {
    let mut violations = Vec::new();
    for (_, relative, dir) in workspace.member_dirs()? {
        let manifest_path = dir.join("Cargo.toml");
        let manifest = read(&manifest_path)?;
        if !has_workspace_lints(&manifest) {
            violations.push(format!("{relative}/Cargo.toml lacks `[lints]` with `workspace = true`"));
        }
    }
    Ok(Verdict::from_violations(violations))
}

/// The architecture document's code map has an entry for every crate and every example.
fn architecture_doc_names_every_crate(workspace: &Workspace) -> Result<Verdict> {
    let path = workspace.root.join(ARCHITECTURE_DOC);
    if !path.exists() {
        return Ok(Verdict::Skip(format!("{ARCHITECTURE_DOC} does not exist yet; the check applies once it does")));
    }
    let document = read(&path)?;
    let violations = workspace
        .member_dirs()?
        .into_iter()
        .filter(|(name, _, _)| !mentions(&document, name))
        .map(|(name, relative, _)| format!("{ARCHITECTURE_DOC} does not mention {relative} (`{name}`)"))
        .collect();
    Ok(Verdict::from_violations(violations))
}

/// No hand-written source file is longer than [`MAX_FILE_LINES`], except the ones in
/// [`LONG_FILE_ALLOWANCE`] (which must still need their allowance).
fn source_files_stay_short(workspace: &Workspace) -> Result<Verdict> {
    let mut roots: Vec<PathBuf> = Vec::new();
    for (_, dir) in workspace.crate_dirs()? {
        roots.extend([dir.join("src"), dir.join("examples")]);
    }
    roots.extend(LENGTH_RULE_ROOTS.iter().map(|root| workspace.root.join(root)));
    let mut files = Vec::new();
    for root in roots.iter().filter(|root| root.is_dir()) {
        rust_files(root, &mut files)?;
    }
    let mut lengths = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&workspace.root).unwrap_or(&file);
        let relative = relative.components().map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>();
        lengths.push((relative.join("/"), read(&file)?.lines().count()));
    }
    Ok(Verdict::from_violations(overlong_files(&lengths, MAX_FILE_LINES, LONG_FILE_ALLOWANCE)))
}

/// The violations of the length rule among `(path, lines)` pairs: files over `limit` that are not
/// allowed, and allowances no longer needed (the file is within the limit or gone). Sorted.
fn overlong_files(lengths: &[(String, usize)], limit: usize, allowance: &[&str]) -> Vec<String> {
    let mut violations: Vec<String> = lengths
        .iter()
        .filter_map(|(path, lines)| match (*lines > limit, allowance.contains(&path.as_str())) {
            (true, false) => Some(format!("{path} has {lines} lines (at most {limit}); split it by concern")),
            (false, true) => Some(format!(
                "{path} has {lines} lines, within the limit of {limit}: remove it from LONG_FILE_ALLOWANCE"
            )),
            _ => None,
        })
        .collect();
    violations.extend(
        allowance
            .iter()
            .filter(|allowed| !lengths.iter().any(|(path, _)| path == *allowed))
            .map(|allowed| format!("{allowed} does not exist: remove it from LONG_FILE_ALLOWANCE")),
    );
    violations.sort();
    violations
}

/// Every `.rs` file under `dir`, recursively, appended to `files`.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("cannot read {}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|error| format!("cannot read {}: {error}", dir.display()))?.path();
        if path.is_dir() {
            rust_files(&path, files)?;
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

/// `name` is `family` itself or one of its `family-*` crates.
fn in_family(name: &str, family: &str) -> bool {
    name.strip_prefix(family).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// Package names in the output of `cargo tree --prefix none` (`name vX.Y.Z [(...)]` per line).
fn parse_tree_names(tree: &str) -> BTreeSet<String> {
    tree.lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

/// Whether a manifest says `[lints] workspace = true` (or `lints.workspace = true`, or
/// `lints = { workspace = true }`). A small line reader, enough for Cargo manifests as written
/// by hand; it ignores comments.
fn has_workspace_lints(manifest: &str) -> bool {
    let squeeze = |text: &str| text.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut table = String::new();
    for line in manifest.lines() {
        let line = squeeze(line.split('#').next().unwrap_or_default());
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_end_matches(']').to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = if table.is_empty() { key.to_owned() } else { format!("{table}.{key}") };
        let holds = match key.as_str() {
            "lints.workspace" => value == "true",
            "lints" => value == "{workspace=true}",
            _ => false,
        };
        if holds {
            return true;
        }
    }
    false
}

/// Whether `text` mentions `name` as a whole word: `portal-core` does not count as a mention of
/// `portal-cor`, nor `portal-core-macros` of `portal-core`.
fn mentions(text: &str, name: &str) -> bool {
    let is_name_char = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    text.match_indices(name).any(|(start, _)| {
        let before = text[..start].chars().next_back();
        let after = text[start + name.len()..].chars().next();
        !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one check on this workspace and fails the test with every violation listed.
    fn enforce(check: &Check) {
        let workspace = Workspace::load().unwrap_or_else(|error| panic!("cannot inspect the workspace: {error}"));
        match (check.run)(&workspace) {
            Ok(Verdict::Pass) => {}
            Ok(Verdict::Skip(why)) => eprintln!("tidy check skipped: {}: {why}", check.name),
            Ok(Verdict::Fail(violations)) => {
                panic!("tidy check failed: {}\n  - {}", check.name, violations.join("\n  - "))
            }
            Err(error) => panic!("tidy check could not run: {}: {error}", check.name),
        }
    }

    #[test]
    fn portal_core_has_no_io_runtime_orm_or_web_dependency() {
        enforce(&CORE_IS_PURE);
    }

    #[test]
    fn adapters_never_depend_on_each_other() {
        enforce(&ADAPTERS_STAY_APART);
    }

    #[test]
    fn the_test_kit_is_never_a_normal_dependency_of_a_shipped_crate() {
        enforce(&TESTKIT_STAYS_IN_TESTS);
    }

    #[test]
    fn every_crate_uses_the_workspace_lints() {
        enforce(&WORKSPACE_LINTS);
    }

    #[test]
    fn the_architecture_document_names_every_crate() {
        enforce(&ARCHITECTURE_DOC_COMPLETE);
    }

    #[test]
    fn no_hand_written_source_file_is_over_600_lines() {
        enforce(&FILES_STAY_SHORT);
    }

    #[test]
    fn long_files_are_reported_unless_allowed_and_allowances_must_be_needed() {
        let lengths = [
            ("crates/a/src/long.rs".to_owned(), 601),
            ("crates/a/src/limit.rs".to_owned(), 600),
            ("crates/a/src/allowed.rs".to_owned(), 900),
            ("crates/a/src/fixed.rs".to_owned(), 120),
        ];
        let allowance = ["crates/a/src/allowed.rs", "crates/a/src/fixed.rs", "crates/a/src/gone.rs"];
        assert_eq!(
            overlong_files(&lengths, 600, &allowance),
            [
                "crates/a/src/fixed.rs has 120 lines, within the limit of 600: remove it from LONG_FILE_ALLOWANCE",
                "crates/a/src/gone.rs does not exist: remove it from LONG_FILE_ALLOWANCE",
                "crates/a/src/long.rs has 601 lines (at most 600); split it by concern",
            ]
        );
    }

    #[test]
    fn families_match_whole_name_segments() {
        assert!(in_family("tokio", "tokio"));
        assert!(in_family("tokio-util", "tokio"));
        assert!(in_family("sqlx-core", "sqlx"));
        assert!(!in_family("tokionic", "tokio"));
        assert!(!in_family("hyperlocal", "hyper"));
    }

    #[test]
    fn tree_output_yields_package_names() {
        let tree = "portal-core v0.1.0 (/w/crates/portal-core)\njiff v1.0.0\nmockall_derive v0.15.0 (proc-macro)\njiff v1.0.0 (*)\n\n";
        let names: Vec<_> = parse_tree_names(tree).into_iter().collect();
        assert_eq!(names, ["jiff", "mockall_derive", "portal-core"]);
    }

    #[test]
    fn workspace_lints_are_found_in_every_spelling() {
        assert!(has_workspace_lints("[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"));
        assert!(has_workspace_lints("[ lints ]  # inherit\n workspace=true # yes\n"));
        assert!(has_workspace_lints("lints.workspace = true\n[dependencies]\n"));
        assert!(has_workspace_lints("lints = { workspace = true }\n"));
    }

    #[test]
    fn missing_or_disabled_workspace_lints_are_reported() {
        assert!(!has_workspace_lints("[package]\nname = \"a\"\n"));
        assert!(!has_workspace_lints("[lints]\nworkspace = false\n"));
        assert!(!has_workspace_lints("[lints]\n[dependencies]\nworkspace = true\n"));
        assert!(!has_workspace_lints("# [lints]\n# workspace = true\n"));
        assert!(!has_workspace_lints("[workspace.lints.rust]\nworkspace = true\n"));
    }

    #[test]
    fn a_crate_is_mentioned_only_by_its_whole_name() {
        assert!(mentions("- `portal-core`: the domain", "portal-core"));
        assert!(mentions("crates/portal-store/src", "portal-store"));
        assert!(mentions("portal-http.", "portal-http"));
        assert!(!mentions("portal-core-macros only", "portal-core"));
        assert!(!mentions("the portal core", "portal-core"));
    }
}
