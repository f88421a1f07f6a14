//! Fuzz target: the simple API's Accept negotiation (protocol).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::accept(data));
