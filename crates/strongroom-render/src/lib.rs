//! Project descriptions as PyPI renders them, chosen by `Description-Content-Type`: Markdown
//! (raw HTML is escaped, never passed through), reStructuredText (a safe subset, [`rst`];
//! PyPI's default when no type is given) and plain text (escaped `<pre>`), then an ammonia
//! allow-list over the result. Bounded in size.

mod rst;

use std::collections::HashSet;

use pulldown_cmark::{Event, Options, Parser};

/// Descriptions longer than this are shown as plain text, truncated (bounds render time).
const MAX_RENDERED: usize = 512 * 1024;

/// Render a description to sanitised HTML.
pub fn render(description: &str, content_type: Option<&str>) -> String {
    let kind = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if description.len() > MAX_RENDERED {
        let mut end = MAX_RENDERED;
        while !description.is_char_boundary(end) {
            end -= 1;
        }
        return preformatted(&description[..end]);
    }
    match kind.as_str() {
        "text/markdown" => sanitize(&markdown(description)),
        "text/plain" => preformatted(description),
        // text/x-rst, and PyPI's default for a missing or unknown type
        _ => match std::panic::catch_unwind(|| rst::render(description)) {
            Ok(html) => sanitize(&html),
            // a bug in the subset renderer must not lose the page: readme_renderer's fallback
            Err(_) => preformatted(description),
        },
    }
}

fn markdown(src: &str) -> String {
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_FOOTNOTES);
    // Raw HTML becomes text: it is shown escaped, never interpreted.
    let events = Parser::new_ext(src, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut out = String::with_capacity(src.len() + src.len() / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

fn preformatted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str("<pre class=\"description-plain\">");
    out.push_str(&escape(text));
    out.push_str("</pre>");
    out
}

/// HTML-escape text (also quotes, so it is safe in attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The allow-list: ammonia's default tags, links only to http(s)/mailto (no `javascript:` or
/// `data:`), external links marked `nofollow noopener noreferrer`.
fn sanitize(html: &str) -> String {
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    ammonia::Builder::default()
        .url_schemes(schemes)
        .link_rel(Some("nofollow noopener noreferrer"))
        .strip_comments(true)
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_is_rendered_and_raw_html_escaped() {
        let out = render(
            "# Title\n\n<script>alert(1)</script>\n\n*em* <img src=x onerror=alert(1)>",
            Some("text/markdown; charset=UTF-8; variant=GFM"),
        );
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(out.contains("<em>em</em>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn dangerous_urls_are_dropped() {
        let out = render(
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
        let out = render("Title\n=====\n\n<b>x</b> & y", Some("text/plain"));
        assert!(out.starts_with("<pre"), "{out}");
        assert!(out.contains("&lt;b&gt;x&lt;/b&gt; &amp; y"), "{out}");
        for ct in [Some("text/x-rst"), None] {
            let out = render(
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
        let out = render(&big, Some("text/markdown"));
        assert!(out.starts_with("<pre"));
        assert!(out.len() < 600 * 1024);
    }
}
