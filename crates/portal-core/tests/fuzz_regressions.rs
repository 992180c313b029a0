//! Replays every committed fuzz input on the stable toolchain: the seeds under
//! `fuzz/seeds/<target>/` and the crash inputs under `fuzz/regressions/<target>/` (which
//! `cargo xtask fuzz` copies there when a target fails). The target bodies are the very files
//! the fuzzer runs, included with `#[path]`, so a crash the fuzzer once found fails this test
//! until the bug is fixed, in the ordinary `cargo test --workspace --all-features`.
//! See `docs/fuzzing.md`.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/lifecycle/mod.rs"]
mod lifecycle;
#[path = "../../../fuzz/src/link_token.rs"]
mod link_token;
#[path = "../../../fuzz/src/phc.rs"]
mod phc;
#[path = "../../../fuzz/src/validation.rs"]
mod validation;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// Every file under `fuzz/<kind>/<target>/`, sorted; none when the directory does not exist.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|entry| entry.expect("a readable directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

/// Runs `body` on every seed and regression input of `target`, naming the file that fails.
fn replay(target: &str, body: fn(&[u8])) -> usize {
    let files: Vec<PathBuf> = ["seeds", "regressions"].iter().flat_map(|kind| inputs(kind, target)).collect();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|error| panic!("cannot read {}: {error}", file.display()));
        eprintln!("replaying {}", file.display());
        body(&data);
    }
    files.len()
}

#[test]
fn every_link_token_seed_and_regression_passes() {
    assert!(replay("link_token", link_token::run) > 0, "no seeds for link_token");
}

#[test]
fn every_phc_seed_and_regression_passes() {
    assert!(replay("phc", phc::run) > 0, "no seeds for phc");
}

#[test]
fn every_validation_seed_and_regression_passes() {
    assert!(replay("validation", validation::run) > 0, "no seeds for validation");
}

#[test]
fn every_lifecycle_seed_and_regression_passes() {
    assert!(replay("lifecycle", lifecycle::run) > 0, "no seeds for lifecycle");
}

#[test]
fn empty_and_short_inputs_pass_every_target() {
    for data in [&b""[..], b"\0", b"\xff\xff\xff\xff", b"$scrypt$ln=31,r=8,p=1$c2FsdA$aGFzaA"] {
        link_token::run(data);
        phc::run(data);
        validation::run(data);
        lifecycle::run(data);
    }
}
