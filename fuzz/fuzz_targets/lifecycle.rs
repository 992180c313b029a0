//! cargo-fuzz entry point of the `lifecycle` target; the checks live in `fuzz/src/lifecycle/`.
#![no_main]
#![allow(unsafe_code)] // `fuzz_target!` exports the `#[no_mangle]` entry point libFuzzer calls.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portal_fuzz::lifecycle::run(data));
