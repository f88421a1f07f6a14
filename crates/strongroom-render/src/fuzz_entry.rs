//! The bodies of the renderers' `fuzz/` targets (`render_markdown`, `render_rst`), called by the
//! cargo-fuzz targets and by the corpus replay test (`tests/corpus.rs`), so the two never drift
//! apart. Each renders attacker text as the publish path does and asserts what must hold for
//! every input: the renderer did not fail (a caught panic shows as
//! [`Exceeded::RendererFailed`]; under libFuzzer a panic aborts anyway), the output is within
//! the size bound, and it is sanitised (no active element, no event handler or style, links and
//! images only to http(s), mailto or relative URLs).

use crate::{Exceeded, MAX_HTML, render};

/// Elements that must never come out of the sanitiser.
const ACTIVE: &[&str] = &[
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
    "button", "select", "textarea", "svg", "math", "link", "meta", "base", "template", "noscript",
    "portal",
];

/// No output is larger than this: a rendering is refused above twice [`MAX_HTML`], a fallback
/// shows at most [`MAX_HTML`] bytes of text and its note.
pub const MAX_OUTPUT: usize = 2 * MAX_HTML;

/// A Markdown description.
pub fn markdown(data: &[u8]) {
    check(data, Some("text/markdown"));
}

/// A reStructuredText description.
pub fn rst(data: &[u8]) {
    check(data, Some("text/x-rst"));
}

fn check(data: &[u8], content_type: Option<&str>) {
    // descriptions are UTF-8: metadata that is not never gets this far
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let out = render(text, content_type);
    assert_ne!(
        out.fallback,
        Some(Exceeded::RendererFailed),
        "a renderer failed"
    );
    assert!(
        out.html.len() <= MAX_OUTPUT,
        "{} bytes of HTML",
        out.html.len()
    );
    assert_sanitised(&out.html);
}

/// Walk the serialised HTML's tags (html5ever escapes `<`, `>` and `"` inside attribute values
/// and text, so a tag runs from `<` to the next `>`) and check each element and attribute.
pub fn assert_sanitised(html: &str) {
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt + 1..];
        let end = after.find('>').expect("every tag is closed");
        let tag = &after[..end];
        rest = &after[end + 1..];
        if tag.starts_with('/') {
            continue;
        }
        let name_len = tag.find([' ', '/']).unwrap_or(tag.len());
        let name = tag[..name_len].to_ascii_lowercase();
        assert!(!ACTIVE.contains(&name.as_str()), "<{tag}>");
        // a task list's checkbox (renderer 2): always disabled, never anything but a checkbox
        if name == "input" {
            assert!(tag.contains(" disabled=\"\""), "<{tag}>");
            assert!(
                !tag.contains(" type=") || tag.contains(" type=\"checkbox\""),
                "<{tag}>"
            );
        }
        let mut attrs = &tag[name_len..];
        while let Some(eq) = attrs.find("=\"") {
            let key = attrs[..eq].trim().to_ascii_lowercase();
            let close = attrs[eq + 2..]
                .find('"')
                .expect("attribute values are quoted");
            let value = &attrs[eq + 2..eq + 2 + close];
            assert!(
                !key.starts_with("on") && key != "style" && key != "srcdoc",
                "<{tag}>"
            );
            if matches!(
                key.as_str(),
                "href" | "src" | "action" | "formaction" | "xlink:href"
            ) {
                assert!(safe_url(value), "<{tag}>");
            }
            attrs = &attrs[eq + 2 + close + 1..];
        }
    }
}

/// http(s), mailto, or no scheme at all (relative, fragment). A scheme is what a browser takes
/// for one: after dropping tabs and newlines and leading controls and spaces, a letter followed
/// by letters, digits, `+`, `-` or `.` up to a `:` (`javas%5Dcript:x` and `htt;ps:x` are
/// relative paths).
fn safe_url(value: &str) -> bool {
    let v: String = value
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some(colon) = v.find(':') else {
        return true;
    };
    let scheme = &v[..colon];
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    !is_scheme
        || matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "mailto"
        )
}

#[cfg(test)]
mod tests {
    use super::{assert_sanitised, safe_url};

    #[test]
    fn the_checker_sees_what_it_must() {
        assert!(
            safe_url("https://x")
                && safe_url("#fn1")
                && safe_url("a/b:c")
                && safe_url("mailto:a@b")
        );
        assert!(!safe_url("javascript:alert(1)") && !safe_url(" data:text/html,x"));
        assert!(!safe_url("java\tscript:x") && !safe_url("\u{1}JavaScript:x"));
        // not schemes: relative paths (what the fuzzers first flagged)
        assert!(safe_url("javas%5D%5Dcript:x") && safe_url("htt;ps://x/&quot;y"));
        assert_sanitised("<p>a &lt;script&gt; <a href=\"https://x\" rel=\"nofollow\">l</a></p>");
        assert_sanitised("<li><input type=\"checkbox\" checked=\"\" disabled=\"\"> done</li>");
        for bad in [
            "<script>x</script>",
            "<p onclick=\"x\">a</p>",
            "<a href=\"javascript:x\">a</a>",
            "<img src=\"data:image/png,x\">",
            "<input type=\"text\">",
            "<input type=\"text\" disabled=\"\">",
        ] {
            assert!(
                std::panic::catch_unwind(|| assert_sanitised(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
