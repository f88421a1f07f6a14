//! Fuzz target: a whole wheel inspection (ZIP, .dist-info, RECORD hashes, WHEEL, entry points).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::wheel(data));
