//! cargo-fuzz entry point of the `validation` target; the checks live in `fuzz/src/validation.rs`.
#![no_main]
#![allow(unsafe_code)] // `fuzz_target!` exports the `#[no_mangle]` entry point libFuzzer calls.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portal_fuzz::validation::run(data));
