//! Project descriptions to sanitised HTML, with a cost that is linear in the description and
//! bounded: Markdown (`text/markdown`, by pulldown-cmark; raw HTML goes through the same
//! allow-list as everything else), reStructuredText (`text/x-rst`, and the default for a missing or unknown type:
//! a safe subset, see the `rst` module) and plain text (`text/plain`, escaped in a `<pre>`). Every output,
//! fallbacks included, goes through an ammonia allow-list (module `sanitize`).
//!
//! strongroom renders a description once, when the release is published, and stores the HTML
//! with [`RENDERER_VERSION`]; pages only read it. This crate depends on nothing of strongroom's,
//! so the publish path and the fuzzers (`fuzz/fuzz_targets/render_*.rs`) share it.
//!
//! # Why the bounds are what they are
//!
//! Neither pulldown-cmark nor ammonia can be cancelled once called, so a time limit could only
//! be checked after the damage. Instead the input is bounded *before* each stage so that the
//! worst case is small by construction. The costs were measured (`examples/costs.rs`, the
//! families of `tests/common/families.rs`, after cmark's pathological tests plus amplifications
//! and the rST subset's own worst cases) rather than guessed:
//!
//! * **pulldown-cmark is linear** in every family measured, up to 100k repetitions (100k nested
//!   block quotes parse in under 0.1 s); its own defences (link-reference expansion limit, no
//!   padding of short table rows) hold.
//! * **The sanitiser is where the cost was.** html5ever checks "in scope" and the active
//!   formatting elements against the stack of open elements for every tag, so its cost is
//!   (tags × open elements): 100k nested block quotes or list items made 10k–100k deep HTML and
//!   took 0.3 s at 10k and 10 s at 50k (release build; minutes at 100k). Bounded here by
//!   [`MAX_BLOCK_NESTING`] block containers per line, counted in one pass before parsing
//!   (every `>` and list marker counts one, indentation one per two columns, an upper bound of
//!   CommonMark's nesting), and by [`MAX_ELEMENT_NESTING`] elements open at once (inline ones
//!   included: `*****a*****` nests too), counted on the parser's events before any HTML
//!   exists. Raw HTML (passed to the sanitiser since renderer 2) counts too: its start tags are
//!   found by name and an end tag closes only an element of its name that is open, so
//!   `<div></span>` × n cannot hide its depth (without that count the raw-HTML families of
//!   `tests/common/families.rs` ran the bounds test for more than ten minutes). The
//!   sanitiser's cost is then at most a constant times its input.
//! * **html5ever's serialiser is quadratic in one text node**: for every `&` (and every
//!   U+0080–U+00BF) it escapes, it searches the rest of the node for `<` or `>`. 100k `&#` took
//!   0.26 s, 200k took 0.93 s. Every run of text is cut into pieces of [`MAX_TEXT_RUN`] bytes
//!   by empty comments, which the sanitiser drops while keeping the pieces as separate nodes
//!   (same output, linear cost), and attribute values (which cannot be cut) are dropped above
//!   [`MAX_ATTRIBUTE`] bytes.
//! * **Amplification**: footnote references grow ~14× into HTML. The events' content is summed
//!   as it streams and the HTML is refused above [`MAX_HTML`], so the sanitiser's input is
//!   bounded in absolute terms, not only linearly.
//! * **The rST subset was quadratic** in unclosed inline openers (each one searched the rest of
//!   the paragraph: 400 KB of `` `a < `` took 6.3 s, `` ` `` 18 s at 200 KB) and in nested
//!   indentation (each level copied and re-rendered the rest). Closing delimiters are now found
//!   once per paragraph, and nesting is refused beyond [`MAX_INDENT_NESTING`] levels.
//! * Above [`MAX_INPUT`] bytes nothing is parsed: the text is shown escaped. Every fallback
//!   shows at most [`MAX_HTML`] bytes of escaped text, so what a page view sends is bounded too.
//!
//! Measured CPU of one render (release build, `cargo run --profile quick -p strongroom-render
//! --example costs -- FAMILY 10000 50000 100000`), before the bounds and after:
//!
//! | family (n = 100k) | input | before (10k / 50k / 100k) | after (100k) |
//! |---|---|---|---|
//! | `>` × n (nested quotes) | 100 KB | 0.3 s / 11.4 s / > 60 s | 0.05 s, fallback |
//! | `- ` × n (nested lists) | 200 KB | 1.2 s / > 60 s / > 60 s | < 0.01 s, fallback |
//! | `- > ` × n | 400 KB | 5.7 s / > 60 s / > 60 s | 0.08 s, fallback |
//! | `&#` × n (serialiser) | 200 KB | 0 / 0.08 s / 0.27 s | 0.07 s |
//! | `[^a]` × n (footnotes) | 400 KB | 0.03 / 0.23 / 0.49 s | 0.04 s, fallback |
//! | rST `` ` `` × n | 200 KB | 0.19 s / 4.8 s / 18.6 s | < 0.01 s |
//! | rST `` `a < `` × n | 400 KB | 0.09 s / 2.4 s / 9.5 s | 0.07 s |
//! | rST line i indented i | 400 KB | 0.02 / 0.29 / 0.78 s | 0.04 s, fallback |
//!
//! A description that passes a bound is shown as escaped text in a `<pre>`, after a note that
//! says which bound ([`Exceeded`]); that output is sanitised too. With every bound in place
//! no family costs more than about 0.2 s of CPU at 100k repetitions in a release build (the
//! worst being 600 KB of raw HTML tags, which is cut at [`MAX_INPUT`] and shown as text);
//! `tests/bounds.rs` holds every family to a CPU ceiling, and `tests/readmes.rs` checks that
//! real descriptions render exactly as they did before the bounds.

pub mod escape;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod images;
pub mod limits;
mod markdown;
mod rst;
mod sanitize;

pub use limits::{
    Exceeded, MAX_ATTRIBUTE, MAX_BLOCK_NESTING, MAX_ELEMENT_NESTING, MAX_HTML, MAX_INDENT_NESTING,
    MAX_INPUT, MAX_TEXT_RUN,
};
use sanitize::sanitize;

/// The version of this renderer. Stored with each release's HTML; raise it whenever the output
/// for some input changes, and the re-render job brings every stored description up to date.
///
/// 2: raw HTML in Markdown through the allow-list (it was shown escaped), reStructuredText
/// admonitions and images.
/// 3: no `cite` attribute, image and rule dimensions only plain sizes up to 4096 px.
pub const RENDERER_VERSION: i64 = 3;

/// The markup of a description, from its `Description-Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    /// reStructuredText: also the default for a missing or unknown type.
    Rst,
    Plain,
}

impl Format {
    /// `text/markdown; charset=UTF-8; variant=GFM` → Markdown, `text/plain` → Plain, anything
    /// else (`text/x-rst`, nothing, unknown) → reStructuredText.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let kind = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match kind.as_str() {
            "text/markdown" => Format::Markdown,
            "text/plain" => Format::Plain,
            _ => Format::Rst,
        }
    }
}

/// A rendered description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Sanitised HTML (empty for an empty description).
    pub html: String,
    /// Why the description is shown as escaped text instead of rendered markup, if it is.
    pub fallback: Option<Exceeded>,
}

/// Render a description to sanitised HTML. Never panics (a bug in a renderer shows the text
/// escaped); the cost is bounded as the crate docs explain.
pub fn render(description: &str, content_type: Option<&str>) -> Rendered {
    if description.trim().is_empty() {
        return Rendered {
            html: String::new(),
            fallback: None,
        };
    }
    let format = Format::from_content_type(content_type);
    let result = if description.len() > MAX_INPUT {
        Err(Exceeded::Size {
            len: description.len(),
        })
    } else {
        match format {
            Format::Plain => {
                let mut html = String::new();
                if escape::preformatted(&mut html, description) {
                    Err(Exceeded::Output)
                } else {
                    Ok(html)
                }
            }
            Format::Markdown => std::panic::catch_unwind(|| markdown::render(description))
                .unwrap_or(Err(Exceeded::RendererFailed)),
            Format::Rst => std::panic::catch_unwind(|| rst::render(description))
                .unwrap_or(Err(Exceeded::RendererFailed)),
        }
    };
    // the sanitiser writes U+00A0 as `&nbsp;`: its output may outgrow what was counted
    let result = result.map(|html| sanitize(&html)).and_then(|html| {
        if html.len() > 2 * MAX_HTML {
            Err(Exceeded::Output)
        } else {
            Ok(html)
        }
    });
    match result {
        Ok(html) => Rendered {
            html,
            fallback: None,
        },
        Err(why) => Rendered {
            html: fallback(description, why),
            fallback: Some(why),
        },
    }
}

/// The escaped text, after a note that says why, sanitised: at most [`MAX_HTML`] bytes of text
/// (and the note).
fn fallback(description: &str, why: Exceeded) -> String {
    let mut pre = String::new();
    let cut = escape::preformatted(&mut pre, description);
    let mut html = String::with_capacity(pre.len() + 200);
    html.push_str("<p class=\"description-note\">");
    let only = if cut {
        " Only its beginning is shown."
    } else {
        ""
    };
    escape::escape_text(
        &mut html,
        &format!("This description is shown as plain text: {why}.{only}"),
    );
    html.push_str("</p>");
    html.push_str(&pre);
    sanitize(&html)
}

/// The cheap stand-in for a description not rendered yet (a release stored before rendering
/// at publish time existed, until the re-render job reaches it): the text escaped in a `<pre>`,
/// at most [`MAX_HTML`] bytes of it. Linear and sanitiser-free: it is escaped text in one
/// element.
pub fn unrendered(description: &str) -> String {
    if description.trim().is_empty() {
        return String::new();
    }
    let mut html = String::new();
    escape::preformatted(&mut html, description);
    html
}

#[cfg(test)]
mod tests {
    use super::{Exceeded, render};

    fn html(d: &str, ct: Option<&str>) -> String {
        render(d, ct).html
    }

    #[test]
    fn markdown_is_rendered_and_raw_html_sanitised() {
        let out = html(
            "# Title\n\n<script>alert(1)</script>\n\n*em* <img src=x onerror=alert(1)>",
            Some("text/markdown; charset=UTF-8; variant=GFM"),
        );
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(out.contains("<em>em</em>"), "{out}");
        assert!(!out.contains("script") && !out.contains("alert"), "{out}");
        // a relative image source is dropped (and so is the handler)
        assert!(out.contains("<img>"), "{out}");
    }

    #[test]
    fn raw_html_keeps_what_the_allow_list_allows() {
        let out = html(
            concat!(
                "<p align=\"center\"><img src=\"https://e.org/logo.png\" width=\"200\" height=\"50\" alt=\"Logo\" style=\"x\" onload=\"x()\"></p>\n\n",
                "<h2 align=\"center\" id=\"main\" class=\"btn\">Head</h2>\n\n",
                "<details><summary>More</summary>\n\nHidden *text*\n\n</details>\n\n",
                "<table><tr><th align=\"left\">a</th><td colspan=\"2\">b</td></tr></table>\n\n",
                "<div align=\"right\" class=\"flash\"><iframe src=\"https://e.org/\"></iframe><form action=\"/x\"><input type=\"text\" name=\"n\"></form>d</div>\n\n",
                "- [x] done\n- [ ] todo\n\n",
                "<a href=\"javascript:alert(1)\">j</a> <style>p{}</style>",
            ),
            Some("text/markdown"),
        );
        for kept in [
            "<p align=\"center\"><img src=\"https://e.org/logo.png\" width=\"200\" height=\"50\" alt=\"Logo\"></p>",
            "<h2 align=\"center\">Head</h2>",
            "<details><summary>More</summary>",
            "<em>text</em>",
            "<th align=\"left\">a</th><td colspan=\"2\">b</td>",
            "<div align=\"right\"",
            "<li><input type=\"checkbox\" checked=\"\" disabled=\"\">\ndone</li>",
            "<li><input type=\"checkbox\" disabled=\"\">\ntodo</li>",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
        for gone in [
            "style",
            "onload",
            "id=",
            "btn",
            "flash",
            "iframe",
            "form",
            "javascript",
            "name=",
        ] {
            assert!(!out.contains(gone), "{gone} in {out}");
        }
        // every input is disabled, a raw text field included (and loses its type)
        assert_eq!(
            out.matches("<input").count(),
            out.matches("disabled=\"\"").count(),
            "{out}"
        );
        assert!(!out.contains("type=\"text\""), "{out}");
    }

    #[test]
    fn rst_admonitions_and_images_are_shown() {
        let out = html(
            ".. note:: Read this\n   first.\n\n   Second *para*.\n\n.. warning::\n\n   Careful.\n\n.. admonition:: Custom <title>\n\n   Body.\n\n.. image:: https://e.org/b.svg\n   :alt: build <status>\n   :width: 120px\n   :height: 5em\n   :target: https://ci.example.org/\n\n.. image:: javascript:alert(1)\n\n.. unknown:: x\n\n   hidden\n\nEnd.",
            Some("text/x-rst"),
        );
        for kept in [
            "<div class=\"admonition note\"><p class=\"admonition-title\">Note</p>\n<p>Read this first.</p>\n<p>Second <em>para</em>.</p>\n</div>",
            "<div class=\"admonition warning\"><p class=\"admonition-title\">Warning</p>\n<p>Careful.</p>\n</div>",
            "<div class=\"admonition\"><p class=\"admonition-title\">Custom &lt;title&gt;</p>\n<p>Body.</p>\n</div>",
            "<a href=\"https://ci.example.org/\" rel=\"nofollow noopener noreferrer\"><img src=\"https://e.org/b.svg\" alt=\"build &lt;status&gt;\" width=\"120\"></a>",
            "<p>End.</p>",
        ] {
            assert!(out.contains(kept), "{kept} in {out}");
        }
        assert!(
            !out.contains("javascript") && !out.contains("hidden") && !out.contains("5em"),
            "{out}"
        );
    }

    #[test]
    fn dangerous_urls_are_dropped() {
        let out = html(
            "[a](javascript:alert(1)) [b](data:text/html,x) [c](https://example.org/) ![i](data:image/png;base64,AAAA)",
            Some("text/markdown"),
        );
        assert!(!out.contains("javascript:"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(out.contains("href=\"https://example.org/\""), "{out}");
        assert!(out.contains("noopener"), "{out}");
    }

    #[test]
    fn plain_is_escaped_pre_and_rst_a_safe_subset() {
        let out = html("Title\n=====\n\n<b>x</b> & y", Some("text/plain"));
        assert!(out.starts_with("<pre"), "{out}");
        assert!(out.contains("&lt;b&gt;x&lt;/b&gt; &amp; y"), "{out}");
        for ct in [Some("text/x-rst"), None] {
            let out = html(
                "Title\n=====\n\n<b>x</b> & y `l <javascript:alert(1)>`_",
                ct,
            );
            assert!(out.contains("<h1>Title</h1>"), "{out}");
            assert!(out.contains("&lt;b&gt;x&lt;/b&gt; &amp; y"), "{out}");
            assert!(!out.contains("javascript:"), "{out}");
        }
    }

    #[test]
    fn huge_descriptions_are_bounded() {
        let big = "é".repeat(400_000);
        let out = html(&big, Some("text/markdown"));
        assert!(
            out.contains("<pre class=\"description-plain\">"),
            "{}",
            &out[..200]
        );
        assert!(
            out.contains("more than the 512 KiB rendered as markup"),
            "{}",
            &out[..300]
        );
        assert!(out.len() < super::MAX_HTML + 1024);
        assert_eq!(
            render(&big, Some("text/markdown")).fallback,
            Some(Exceeded::Size { len: big.len() })
        );
    }
}
