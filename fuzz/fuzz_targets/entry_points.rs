//! Fuzz target: .dist-info/entry_points.txt validation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::entry_points(data));
