//! Every bound, held against the pathological families (`common/families.rs`): each renders
//! under a generous CPU ceiling, falls back to escaped text where a bound says so, and renders
//! as markup just inside the bounds. Before these bounds, 100k nested block quotes took 31 s,
//! 100k nested list items more than 90 s, 400 KB of rST link openers 6.3 s (release builds).

mod common;

use std::time::Duration;

use common::families::{FAMILIES, Family, Kind};
use common::thread_cpu;
use strongroom_render::{
    Exceeded, MAX_BLOCK_NESTING, MAX_HTML, MAX_INDENT_NESTING, MAX_INPUT, Rendered, render,
};

/// Far above what any family costs now (the worst is ~0.5 s in a debug build, ~0.2 s in a
/// release build), far below what the unbounded renderers cost at these sizes.
const CEILING: Duration = Duration::from_secs(3);

/// No output is larger than this (a rendering is refused above it, a fallback shows at most
/// half of it).
const MAX_OUTPUT: usize = 2 * MAX_HTML;

fn family(name: &str) -> &'static Family {
    FAMILIES
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

/// Render one family at size `n` and check the CPU ceiling and the output bound.
fn run(f: &Family, n: usize) -> Rendered {
    let input = (f.make)(n);
    let before = thread_cpu();
    let out = render(&input, Some(f.kind.content_type()));
    let spent = thread_cpu() - before;
    assert!(
        spent < CEILING,
        "{} at n={n} ({} bytes) took {spent:?} of CPU",
        f.name,
        input.len()
    );
    assert!(
        out.html.len() <= MAX_OUTPUT,
        "{} at n={n}: {} bytes of HTML",
        f.name,
        out.html.len()
    );
    assert_ne!(out.fallback, Some(Exceeded::RendererFailed), "{}", f.name);
    out
}

fn assert_fallback(out: &Rendered, name: &str) {
    assert!(
        out.html
            .starts_with("<p class=\"description-note\">This description is shown as plain text: "),
        "{name}: {}",
        &out.html[..out.html.len().min(300)]
    );
    assert!(
        out.html.contains("<pre class=\"description-plain\">"),
        "{name}"
    );
}

#[test]
fn every_family_renders_under_the_ceiling_at_100k() {
    for f in FAMILIES {
        run(f, 100_000);
    }
}

#[test]
fn every_family_renders_under_the_ceiling_at_10k() {
    for f in FAMILIES {
        run(f, 10_000);
    }
}

#[test]
fn deep_nesting_falls_back_to_escaped_text() {
    type Case = (&'static str, usize, fn(&Exceeded) -> bool);
    let cases: &[Case] = &[
        ("md_quote_nested", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { line: 1 })
        }),
        ("md_quote_nested_spaced", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_quote_staircase", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_list_nested", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_ordered_nested", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_list_quote_nested", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_list_indented", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_fallback_amps", 100_000, |e| {
            matches!(e, Exceeded::BlockNesting { .. })
        }),
        ("md_emph_stars", 10_000, |e| {
            matches!(e, Exceeded::ElementNesting)
        }),
        ("md_emph_nested_strong", 10_000, |e| {
            matches!(e, Exceeded::ElementNesting)
        }),
        ("md_strike_nested", 10_000, |e| {
            matches!(e, Exceeded::ElementNesting)
        }),
        ("md_footnote_refs", 100_000, |e| {
            matches!(e, Exceeded::Output)
        }),
        ("rst_indent_deep", 10_000, |e| {
            matches!(e, Exceeded::IndentNesting)
        }),
        ("rst_indent_staircase", 100_000, |e| {
            matches!(e, Exceeded::IndentNesting)
        }),
        ("rst_tab_staircase", 100_000, |e| {
            matches!(e, Exceeded::IndentNesting)
        }),
        ("md_table_cr", 100_000, |e| {
            matches!(e, Exceeded::Size { .. })
        }),
        ("rst_directives", 100_000, |e| {
            matches!(e, Exceeded::Size { .. })
        }),
    ];
    for (name, n, expected) in cases {
        let out = run(family(name), *n);
        let why = out
            .fallback
            .unwrap_or_else(|| panic!("{name} at n={n} was rendered"));
        assert!(expected(&why), "{name} at n={n}: {why:?}");
        assert_fallback(&out, name);
    }
}

#[test]
fn just_inside_the_bounds_is_rendered() {
    for name in [
        "md_quote_max_lines",
        "md_list_max_lines",
        "md_list_quote_max_lines",
        "md_emph_max_lines",
        "md_list_items",
        "md_table_rows",
        "md_references",
        "md_backtick_pairs",
        "md_code_entities",
        "md_amp_hash",
        "rst_indent_max",
        "rst_backticks",
        "rst_link_open",
        "rst_amps",
        "rst_sections",
    ] {
        let out = run(family(name), 10_000);
        assert_eq!(out.fallback, None, "{name}");
        assert!(!out.html.contains("description-plain"), "{name}");
    }
}

#[test]
fn block_nesting_bound_is_exact() {
    let at = |depth: usize| render(&(">".repeat(depth) + " a"), Some("text/markdown"));
    let inside = at(MAX_BLOCK_NESTING);
    assert_eq!(inside.fallback, None);
    assert_eq!(
        inside.html.matches("<blockquote>").count(),
        MAX_BLOCK_NESTING
    );
    assert_eq!(
        at(MAX_BLOCK_NESTING + 1).fallback,
        Some(Exceeded::BlockNesting { line: 1 })
    );
}

#[test]
fn element_nesting_bound_holds_for_inline_markup() {
    // `**` pairs nest <strong>: 60 levels render, 300 do not
    let stars = |k: usize| "*".repeat(k) + "a" + &"*".repeat(k);
    let ok = render(&stars(120), Some("text/markdown"));
    assert_eq!(ok.fallback, None);
    assert!(ok.html.matches("<strong>").count() >= 50, "{}", ok.html);
    assert_eq!(
        render(&stars(600), Some("text/markdown")).fallback,
        Some(Exceeded::ElementNesting)
    );
}

#[test]
fn indent_nesting_bound_is_exact() {
    let stair = |levels: usize| -> String {
        (0..levels)
            .map(|i| format!("{}a\n\n", " ".repeat(i)))
            .collect()
    };
    let inside = render(&stair(MAX_INDENT_NESTING + 1), Some("text/x-rst"));
    assert_eq!(inside.fallback, None);
    assert_eq!(
        inside.html.matches("<blockquote>").count(),
        MAX_INDENT_NESTING
    );
    assert_eq!(
        render(&stair(MAX_INDENT_NESTING + 2), Some("text/x-rst")).fallback,
        Some(Exceeded::IndentNesting)
    );
}

#[test]
fn size_bound_is_exact_and_the_fallback_is_cut() {
    let text = |len: usize| "a".repeat(len);
    for kind in [Kind::Markdown, Kind::Rst, Kind::Plain] {
        let ct = Some(kind.content_type());
        assert_eq!(render(&text(MAX_INPUT), ct).fallback, None, "{kind:?}");
        let over = render(&text(MAX_INPUT + 1), ct);
        assert_eq!(over.fallback, Some(Exceeded::Size { len: MAX_INPUT + 1 }));
        assert_fallback(&over, "size");
        assert!(over.html.contains(&text(MAX_INPUT + 1)));
        assert!(!over.html.contains("Only its beginning is shown"));
        // what a fallback shows is cut at MAX_HTML bytes
        let long = render(&text(3 * MAX_HTML), ct);
        assert!(long.html.contains(&text(MAX_HTML)));
        assert!(!long.html.contains(&text(MAX_HTML + 1)));
        assert!(
            long.html.contains("Only its beginning is shown."),
            "{kind:?}"
        );
        assert!(long.html.len() < MAX_HTML + 1024);
    }
    // escaping counts: 512 KiB of `&` is 2.5 MiB escaped
    let amps = render(&"&".repeat(MAX_INPUT), Some("text/plain"));
    assert_eq!(amps.fallback, Some(Exceeded::Output));
    assert!(amps.html.len() < MAX_HTML + 1024, "{}", amps.html.len());
    assert!(amps.html.contains("Only its beginning is shown."));
    assert!(amps.html.contains(&"&amp;".repeat(1000)));
    // a page's stand-in for a release not rendered yet is bounded the same way
    assert!(strongroom_render::unrendered(&"&".repeat(MAX_INPUT)).len() < MAX_HTML + 64);
}

#[test]
fn output_bound_holds_for_amplification() {
    // footnote references grow ~14x into HTML
    let refs = |n: usize| "[^a]: b\n\n".to_owned() + &"[^a]".repeat(n);
    let small = render(&refs(1000), Some("text/markdown"));
    assert_eq!(small.fallback, None);
    let big = render(&refs(MAX_HTML / 20), Some("text/markdown"));
    assert_eq!(big.fallback, Some(Exceeded::Output));
    assert!(big.html.len() < 2 * MAX_HTML);
}

#[test]
fn fallbacks_are_escaped_and_sanitised() {
    let hostile = "> ".repeat(MAX_BLOCK_NESTING + 1)
        + "<script>alert(1)</script><img src=x onerror=alert(1)> & \u{a0}";
    let out = render(&hostile, Some("text/markdown"));
    assert!(matches!(out.fallback, Some(Exceeded::BlockNesting { .. })));
    assert!(
        !out.html.contains("<script") && !out.html.contains("<img"),
        "{}",
        out.html
    );
    assert!(
        out.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        out.html
    );
}
