//! Fuzz target: core metadata from upload form fields.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::form_metadata(data));
