//! Fuzz target: Markdown descriptions through strongroom-render (bounds, sanitiser, no panics).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| strongroom_render::fuzz_entry::markdown(data));
