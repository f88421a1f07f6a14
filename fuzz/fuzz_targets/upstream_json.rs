//! Fuzz target: an upstream index's project page (PEP 691 JSON), as the gateway reads it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_protocol::fuzz_entry::upstream_json(data));
