//! Fuzz target: .dist-info/RECORD parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::record(data));
