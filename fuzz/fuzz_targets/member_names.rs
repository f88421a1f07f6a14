//! Fuzz target: member-name decoding, path rules and the case/normalisation collision check.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_dist::fuzz_entry::member_names(data));
