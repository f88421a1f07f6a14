//! Pathological description families (after cmark's `pathological_tests.py`, plus the
//! amplifications and the reStructuredText subset's own worst cases), each built from a count
//! `n` of repetitions. Shared by the bound tests and `examples/costs.rs`.

#![allow(dead_code)]

/// Which renderer a family attacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Markdown,
    Rst,
    Plain,
}

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Markdown => "text/markdown",
            Kind::Rst => "text/x-rst",
            Kind::Plain => "text/plain",
        }
    }
}

/// One family: a name, the renderer it attacks and its generator.
pub struct Family {
    pub name: &'static str,
    pub kind: Kind,
    pub make: fn(usize) -> String,
}

fn rep(s: &str, n: usize) -> String {
    s.repeat(n)
}

/// Lines `prefix(i) + body` for i in 0..n, where the prefix grows by `step` per line but
/// wraps at `wrap` levels (so the input stays linear in n while the depth is `wrap`).
fn staircase(n: usize, step: &str, wrap: usize, body: &str) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&step.repeat(i % wrap));
        s.push_str(body);
        s.push('\n');
    }
    s
}

pub const FAMILIES: &[Family] = &[
    // ---- Markdown: containers
    Family {
        name: "md_quote_nested",
        kind: Kind::Markdown,
        make: |n| rep(">", n) + "a",
    },
    Family {
        name: "md_quote_nested_spaced",
        kind: Kind::Markdown,
        make: |n| rep("> ", n) + "a",
    },
    Family {
        name: "md_quote_staircase",
        kind: Kind::Markdown,
        make: |n| staircase(n / 64, ">", 256, "a"),
    },
    Family {
        name: "md_list_nested",
        kind: Kind::Markdown,
        make: |n| rep("- ", n) + "a",
    },
    Family {
        name: "md_ordered_nested",
        kind: Kind::Markdown,
        make: |n| rep("1. ", n) + "a",
    },
    Family {
        name: "md_list_quote_nested",
        kind: Kind::Markdown,
        make: |n| rep("- > ", n) + "a",
    },
    Family {
        name: "md_list_indented",
        kind: Kind::Markdown,
        make: |n| staircase(n / 128, "  ", 512, "* a"),
    },
    Family {
        name: "md_list_items",
        kind: Kind::Markdown,
        make: |n| rep("- a\n", n),
    },
    // just inside the bounds: every line as deep as allowed
    Family {
        name: "md_quote_max_lines",
        kind: Kind::Markdown,
        make: |n| rep(&(rep("> ", 31) + "a\n"), n / 64),
    },
    Family {
        name: "md_list_max_lines",
        kind: Kind::Markdown,
        make: |n| rep(&(rep("- ", 31) + "a\n"), n / 64),
    },
    Family {
        name: "md_list_quote_max_lines",
        kind: Kind::Markdown,
        make: |n| rep(&(rep("- > ", 15) + "*a*\n"), n / 64),
    },
    Family {
        name: "md_emph_max_lines",
        kind: Kind::Markdown,
        make: |n| rep(&(rep("*", 60) + "a" + &rep("*", 60) + "\n\n"), n / 128),
    },
    // past a bound, with a fallback full of entities
    Family {
        name: "md_fallback_amps",
        kind: Kind::Markdown,
        make: |n| rep("> ", 40) + &rep("&", n),
    },
    Family {
        name: "plain_amps",
        kind: Kind::Plain,
        make: |n| rep("&", n),
    },
    Family {
        name: "plain_nbsp",
        kind: Kind::Plain,
        make: |n| rep("\u{a0}", n),
    },
    Family {
        name: "md_task_nested",
        kind: Kind::Markdown,
        make: |n| rep("- [ ] ", n) + "a",
    },
    // ---- Markdown: inline delimiters
    Family {
        name: "md_emph_nested_strong",
        kind: Kind::Markdown,
        make: |n| rep("*a **a ", n) + "b" + &rep(" a** a*", n),
    },
    Family {
        name: "md_emph_stars",
        kind: Kind::Markdown,
        make: |n| rep("*", n) + "a" + &rep("*", n),
    },
    Family {
        name: "md_emph_closers",
        kind: Kind::Markdown,
        make: |n| rep("a_ ", n),
    },
    Family {
        name: "md_emph_openers",
        kind: Kind::Markdown,
        make: |n| rep("_a ", n),
    },
    Family {
        name: "md_emph_mismatched",
        kind: Kind::Markdown,
        make: |n| rep("*a_ ", n),
    },
    Family {
        name: "md_emph_mult3",
        kind: Kind::Markdown,
        make: |n| "a**b".to_owned() + &rep("c* ", n),
    },
    Family {
        name: "md_emph_alternating",
        kind: Kind::Markdown,
        make: |n| rep("*_", n) + "a" + &rep("_*", n),
    },
    Family {
        name: "md_strike_nested",
        kind: Kind::Markdown,
        make: |n| rep("~~a ", n) + "b" + &rep(" a~~", n),
    },
    Family {
        name: "md_link_closers",
        kind: Kind::Markdown,
        make: |n| rep("a]", n),
    },
    Family {
        name: "md_link_openers",
        kind: Kind::Markdown,
        make: |n| rep("[a", n),
    },
    Family {
        name: "md_link_emph",
        kind: Kind::Markdown,
        make: |n| rep("[ a_", n),
    },
    Family {
        name: "md_link_paren",
        kind: Kind::Markdown,
        make: |n| rep("[ (](", n),
    },
    Family {
        name: "md_image_brackets",
        kind: Kind::Markdown,
        make: |n| rep("![[]()", n),
    },
    Family {
        name: "md_brackets_nested",
        kind: Kind::Markdown,
        make: |n| rep("[", n) + "a" + &rep("]", n),
    },
    Family {
        name: "md_links_nested",
        kind: Kind::Markdown,
        make: |n| rep("[", n) + "a" + &rep("](b)", n),
    },
    Family {
        name: "md_images_nested",
        kind: Kind::Markdown,
        make: |n| rep("![", n) + "a" + &rep("](b)", n),
    },
    Family {
        name: "md_unclosed_link_angle",
        kind: Kind::Markdown,
        make: |n| rep("[a](<b", n),
    },
    Family {
        name: "md_unclosed_link",
        kind: Kind::Markdown,
        make: |n| rep("[a](b", n),
    },
    Family {
        name: "md_unclosed_title",
        kind: Kind::Markdown,
        make: |n| rep("[a](b \"", n),
    },
    Family {
        name: "md_backticks",
        kind: Kind::Markdown,
        make: |n| {
            // runs of 1, 2, 3, ... backticks: no two runs match
            let mut s = String::new();
            let mut i = 1;
            while s.len() < 4 * n {
                s.push('e');
                s.push_str(&"`".repeat(i));
                i += 1;
            }
            s
        },
    },
    Family {
        name: "md_backtick_pairs",
        kind: Kind::Markdown,
        make: |n| rep("`a``", n),
    },
    Family {
        name: "md_autolink_open",
        kind: Kind::Markdown,
        make: |n| rep("<http://", n),
    },
    Family {
        name: "md_inline_html_open",
        kind: Kind::Markdown,
        make: |n| rep("<a ", n),
    },
    Family {
        name: "md_html_comment_open",
        kind: Kind::Markdown,
        make: |n| "</".to_owned() + &rep("<!--", n),
    },
    Family {
        name: "md_html_pi_open",
        kind: Kind::Markdown,
        make: |n| rep("a <?", n),
    },
    Family {
        name: "md_html_cdata_open",
        kind: Kind::Markdown,
        make: |n| rep("a <![CDATA[", n),
    },
    Family {
        name: "md_html_decl_open",
        kind: Kind::Markdown,
        make: |n| rep("a <!A ", n),
    },
    Family {
        name: "md_html_blocks",
        kind: Kind::Markdown,
        make: |n| rep("<div>\n", n),
    },
    Family {
        name: "md_html_nested_tags",
        kind: Kind::Markdown,
        make: |n| rep("<b><i>", n) + "a",
    },
    // raw HTML reaches the sanitiser's parser now (renderer 2): its nesting is counted too
    Family {
        name: "md_html_tables_nested",
        kind: Kind::Markdown,
        make: |n| rep("<table><tr><td>", n / 3) + "a",
    },
    Family {
        name: "md_html_unmatched_closers",
        kind: Kind::Markdown,
        make: |n| rep("<div></span>", n / 2) + "a",
    },
    Family {
        name: "md_html_formatting_distinct",
        kind: Kind::Markdown,
        make: |n| {
            (0..n / 8)
                .map(|i| format!("<b title={i}>"))
                .collect::<String>()
                + &rep("<p>a", n / 8)
        },
    },
    Family {
        name: "md_html_links_nested",
        kind: Kind::Markdown,
        make: |n| rep("<a href=x><b>", n / 2) + "a",
    },
    Family {
        name: "md_html_inline_in_lines",
        kind: Kind::Markdown,
        make: |n| rep("a <span><em>b\n", n / 4),
    },
    Family {
        name: "md_entities",
        kind: Kind::Markdown,
        make: |n| rep("&#", n) + "&" + &rep("a", n),
    },
    Family {
        name: "md_amp_name",
        kind: Kind::Markdown,
        make: |n| "&".to_owned() + &rep("a", n),
    },
    Family {
        name: "md_amp_hash",
        kind: Kind::Markdown,
        make: |n| rep("&#", n),
    },
    Family {
        name: "md_lt_text",
        kind: Kind::Markdown,
        make: |n| rep("a < ", n),
    },
    Family {
        name: "md_code_entities",
        kind: Kind::Markdown,
        make: |n| "```\n".to_owned() + &rep("<a href=\"x\">&amp;</a>\n", n / 8) + "```\n",
    },
    Family {
        name: "md_nul",
        kind: Kind::Markdown,
        make: |n| rep("abc\u{0}de\u{0}", n),
    },
    Family {
        name: "md_escapes",
        kind: Kind::Markdown,
        make: |n| rep("\\*\\[", n),
    },
    Family {
        name: "md_hard_breaks",
        kind: Kind::Markdown,
        make: |n| rep("a  \n", n),
    },
    Family {
        name: "md_table_wide",
        kind: Kind::Markdown,
        make: |n| format!("{}\n{}\n{}\n", rep("|a", n), rep("|-", n), rep("|b", n)),
    },
    Family {
        name: "md_table_pad",
        kind: Kind::Markdown,
        make: |n| {
            // a wide header, then many one-cell rows: padded to the header's width?
            let cols = (n / 10).max(1);
            format!(
                "{}|\n{}|\n{}",
                rep("|a", cols),
                rep("|-", cols),
                rep("|\n", n)
            )
        },
    },
    Family {
        name: "md_table_cr",
        kind: Kind::Markdown,
        make: |n| rep("aaa\rbbb\n-\u{b}\n", n),
    },
    Family {
        name: "md_table_rows",
        kind: Kind::Markdown,
        make: |n| "|a|b|\n|-|-|\n".to_owned() + &rep("|c|d|\n", n),
    },
    Family {
        name: "md_references",
        kind: Kind::Markdown,
        make: |n| {
            let mut s = String::new();
            for i in 0..n {
                s.push_str(&format!("[{i}]: u\n"));
            }
            s + &rep("[0] ", n)
        },
    },
    Family {
        name: "md_reference_amplify",
        kind: Kind::Markdown,
        make: |n| {
            format!(
                "[a]: https://example.org/{}\n\n{}",
                rep("x", 2000),
                rep("[a]", n)
            )
        },
    },
    Family {
        name: "md_footnote_refs",
        kind: Kind::Markdown,
        make: |n| "[^a]: b\n\n".to_owned() + &rep("[^a]", n),
    },
    Family {
        name: "md_footnote_defs",
        kind: Kind::Markdown,
        make: |n| {
            let mut s = String::new();
            for i in 0..n {
                s.push_str(&format!("[^{i}]: x [^{}]\n", i + 1));
            }
            s
        },
    },
    Family {
        name: "md_footnote_nested",
        kind: Kind::Markdown,
        make: |n| rep("[^a]: ", n) + "b",
    },
    Family {
        name: "md_headings",
        kind: Kind::Markdown,
        make: |n| rep("# a\n", n),
    },
    Family {
        name: "md_setext",
        kind: Kind::Markdown,
        make: |n| rep("a\n=\n", n),
    },
    Family {
        name: "md_fences_open",
        kind: Kind::Markdown,
        make: |n| rep("```\n", n),
    },
    Family {
        name: "md_fences_growing",
        kind: Kind::Markdown,
        make: |n| {
            let mut s = String::new();
            let mut i = 3;
            while s.len() < 4 * n {
                s.push_str(&"`".repeat(i));
                s.push_str("\na\n");
                i += 1;
            }
            s
        },
    },
    Family {
        name: "md_long_line",
        kind: Kind::Markdown,
        make: |n| rep("abcd", n),
    },
    // ---- reStructuredText (the subset renderer)
    Family {
        name: "rst_backticks",
        kind: Kind::Rst,
        make: |n| rep("` ", n),
    },
    Family {
        name: "rst_double_backticks",
        kind: Kind::Rst,
        make: |n| rep("``a ", n),
    },
    Family {
        name: "rst_stars",
        kind: Kind::Rst,
        make: |n| rep("*", n),
    },
    Family {
        name: "rst_strong_open",
        kind: Kind::Rst,
        make: |n| rep("**a ", n),
    },
    Family {
        name: "rst_link_open",
        kind: Kind::Rst,
        make: |n| rep("`a <", n),
    },
    Family {
        name: "rst_indent_staircase",
        kind: Kind::Rst,
        make: |n| staircase(n / 64, " ", 256, "a"),
    },
    Family {
        name: "rst_indent_deep",
        kind: Kind::Rst,
        make: |n| {
            // as deep as the size allows: line i indented by i
            let mut s = String::new();
            let mut i = 1;
            while s.len() < 4 * n {
                s.push_str(&" ".repeat(i));
                s.push_str("a\n");
                i += 1;
            }
            s
        },
    },
    Family {
        name: "rst_indent_max",
        kind: Kind::Rst,
        make: |n| staircase(n / 16, " ", 32, "a"),
    },
    Family {
        name: "rst_amps",
        kind: Kind::Rst,
        make: |n| rep("&#", n),
    },
    Family {
        name: "rst_tab_staircase",
        kind: Kind::Rst,
        make: |n| staircase(n / 16, "\t", 64, "a"),
    },
    Family {
        name: "rst_quote_lines",
        kind: Kind::Rst,
        make: |n| rep("a\n\n a\n\n", n),
    },
    Family {
        name: "rst_list_items",
        kind: Kind::Rst,
        make: |n| rep("- a\n\n", n),
    },
    Family {
        name: "rst_list_continuations",
        kind: Kind::Rst,
        make: |n| "- a\n".to_owned() + &rep("  b\n", n),
    },
    Family {
        name: "rst_directives",
        kind: Kind::Rst,
        make: |n| rep(".. code-block:: python\n\n    a\n", n),
    },
    Family {
        name: "rst_directive_options",
        kind: Kind::Rst,
        make: |n| ".. code-block:: python\n".to_owned() + &rep("   :x:\n", n),
    },
    Family {
        name: "rst_sections",
        kind: Kind::Rst,
        make: |n| {
            let chars = [
                "=", "-", "~", "^", "\"", "'", "`", "#", "*", "+", ":", ".", "_",
            ];
            let mut s = String::new();
            for i in 0..n {
                let c = chars[i % chars.len()];
                s.push_str(&format!("a{i}\n{}\n\n", c.repeat(8)));
            }
            s
        },
    },
    Family {
        name: "rst_long_title",
        kind: Kind::Rst,
        make: |n| format!("{}\n{}\n", rep("a", n), rep("=", n)),
    },
    Family {
        name: "rst_paragraph_lines",
        kind: Kind::Rst,
        make: |n| rep("a\n", n),
    },
    Family {
        name: "rst_literal_markers",
        kind: Kind::Rst,
        make: |n| rep("a::\n\n", n),
    },
];
