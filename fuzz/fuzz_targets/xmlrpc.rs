//! Fuzz target: the XML-RPC request parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_server::fuzz_entry::xmlrpc(data));
