//! Fuzz target: the simple API's content negotiation (`Accept`, `?format=`), the one the server runs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::accept(data));
