//! Fuzz target: the strict tar walker on uncompressed tar bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::tar_walker(data));
