//! Replays the committed fuzz corpora of the renderers (`fuzz/corpus/render_markdown/`,
//! `fuzz/corpus/render_rst/`: real descriptions, hostile markup, inputs around every bound and
//! whatever the fuzzers found) through the targets' own bodies, under plain `cargo test`: no
//! panic, output within bounds and sanitised, and each under a CPU ceiling.

mod common;

use std::path::Path;
use std::time::Duration;

use common::thread_cpu;
use strongroom_render::fuzz_entry;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("an entry").path();
        let data = std::fs::read(&path).expect("readable");
        let before = thread_cpu();
        body(&data);
        let spent = thread_cpu() - before;
        assert!(
            spent < Duration::from_secs(1),
            "{} took {spent:?}",
            path.display()
        );
        files += 1;
    }
    assert!(files >= 20, "only {files} files in {}", dir.display());
}

#[test]
fn markdown_corpus() {
    replay("render_markdown", fuzz_entry::markdown);
}

#[test]
fn rst_corpus() {
    replay("render_rst", fuzz_entry::rst);
}
