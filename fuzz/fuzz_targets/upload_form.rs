//! Fuzz target: the upload form checks and the filename against the form.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_core::fuzz_entry::upload_form(data));
