//! The bodies of portal's cargo-fuzz targets, one module per target (`fuzz_targets/<name>.rs`
//! only hands the input to `<name>::run`).
//!
//! Each module is also compiled into portal-core's stable test
//! `crates/portal-core/tests/fuzz_regressions.rs` with `#[path]`, which replays every committed
//! seed and crash input under `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`. So the
//! modules are self-contained: no `crate::` paths, and only dependencies portal-core's tests
//! also have. See `docs/fuzzing.md`.

pub mod lifecycle;
pub mod link_token;
pub mod phc;
pub mod validation;
