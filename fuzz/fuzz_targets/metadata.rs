//! Fuzz target: core metadata parsing and validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::metadata(data));
