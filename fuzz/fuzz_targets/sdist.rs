//! Fuzz target: a whole sdist inspection (.tar.gz through gzip and the tar walker, or legacy .zip).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::sdist(data));
