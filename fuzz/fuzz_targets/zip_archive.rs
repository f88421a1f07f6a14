//! Fuzz target: ZIP framing validation, the second-reader cross-check, bomb checks and member inflation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::zip_archive(data));
