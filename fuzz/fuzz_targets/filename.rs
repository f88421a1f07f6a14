//! Fuzz target: wheel and sdist filename parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::filename(data));
