//! Fuzz target: project-name validation and normalisation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::name(data));
