//! Fuzz target: PEP 440 versions and Requires-Python.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::version(data));
