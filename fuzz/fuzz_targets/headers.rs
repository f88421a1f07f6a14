//! Fuzz target: the server's request-header parsers (Accept, Range, If-None-Match, Accept-Encoding, Cookie).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_server::fuzz_entry::headers(data));
