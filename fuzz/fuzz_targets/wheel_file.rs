//! Fuzz target: .dist-info/WHEEL parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::wheel_file(data));
