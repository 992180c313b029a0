//! cargo-fuzz entry point of the `link_token` target; the checks live in `fuzz/src/link_token.rs`.
#![no_main]
#![allow(unsafe_code)] // `fuzz_target!` exports the `#[no_mangle]` entry point libFuzzer calls.

libfuzzer_sys::fuzz_target!(|data: &[u8]| portal_fuzz::link_token::run(data));
