//! Real descriptions (those of the sample files the e2e suite uploads: Markdown, GFM,
//! reStructuredText, no type and `UNKNOWN`) render exactly as recorded: each
//! `<name>.<kind>.html` was first written by the unbounded renderer (so the bounds changed
//! nothing), then rewritten by renderer 2 (raw HTML through the allow-list, rST images and
//! admonitions) and the difference read. `STRONGROOM_BLESS_READMES=1 cargo test -p
//! strongroom-render --test readmes` rewrites them after an intended change; read the diff.

mod common;

use std::path::Path;
use std::time::Duration;

use common::thread_cpu;
use strongroom_render::render;

/// The content type each file suffix stands for.
fn content_type(file: &str) -> Option<Option<&'static str>> {
    let table: [(&str, Option<&str>); 6] = [
        (".gfm.md", Some("text/markdown; charset=UTF-8; variant=GFM")),
        (".md", Some("text/markdown")),
        (".utf8.rst", Some("text/x-rst; charset=UTF-8")),
        (".rst", Some("text/x-rst")),
        (".none", None),
        (".unknown", Some("UNKNOWN")),
    ];
    table
        .into_iter()
        .find(|(suffix, _)| file.ends_with(suffix))
        .map(|(_, ct)| ct)
}

#[test]
fn real_readmes_render_as_before() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/readmes");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/readmes") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.ends_with(".html") {
            continue;
        }
        let ct = content_type(&name).unwrap_or_else(|| panic!("{name}: unknown suffix"));
        let description = std::fs::read_to_string(&path).expect("UTF-8");
        let before = thread_cpu();
        let out = render(&description, ct);
        if std::env::var_os("STRONGROOM_BLESS_READMES").is_some() {
            std::fs::write(dir.join(format!("{name}.html")), &out.html).expect("write");
        }
        let expected = std::fs::read_to_string(dir.join(format!("{name}.html")))
            .unwrap_or_else(|e| panic!("{name}.html: {e}"));
        assert!(thread_cpu() - before < Duration::from_secs(1), "{name}");
        assert_eq!(out.fallback, None, "{name}");
        if out.html != expected {
            let at = out
                .html
                .bytes()
                .zip(expected.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(out.html.len().min(expected.len()));
            panic!(
                "{name} differs at byte {at}:\n now: {:?}\n was: {:?}",
                out.html
                    .get(at.saturating_sub(80)..(at + 80).min(out.html.len())),
                expected.get(at.saturating_sub(80)..(at + 80).min(expected.len()))
            );
        }
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} descriptions");
}
