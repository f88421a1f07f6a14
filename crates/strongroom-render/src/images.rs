//! External images in stored descriptions, rewritten when a page is built: through the image
//! proxy (a signed same-origin URL in place of `src`), or, with the proxy off, as a link to the
//! image (or its alt text alone inside a link), so that a page view never makes the reader's
//! browser fetch from a host the description chose.
//!
//! The stored HTML keeps the image's own URL, so turning the proxy on or off (or changing its
//! key) takes effect at the next page view, without rendering anything again. The rewrite reads
//! the sanitiser's serialised output, whose shape is fixed: text never holds a raw `<`,
//! attribute values are always in double quotes and never hold a raw `"`. It is one linear pass.

use crate::escape::escape_attribute;

/// Whether an image source is an absolute `http://` or `https://` URL (the only ones kept).
pub(crate) fn is_absolute_http(src: &str) -> bool {
    let lower = src.trim_start().get(..8).unwrap_or("").to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// How one image is shown.
pub enum ImageLink {
    /// An `<img>` whose `src` is this (already a URL of this site's image proxy).
    Proxied(String),
    /// A link to the image's own URL (no fetch by the browser until the reader follows it).
    Link,
}

/// Rewrite every `<img>` of `html` (sanitised HTML as stored): `decide` gets the image's URL
/// (entities decoded) and says how it is shown. Everything else is copied unchanged.
pub fn rewrite(html: &str, mut decide: impl FnMut(&str) -> ImageLink) -> String {
    let mut out = String::with_capacity(html.len() + html.len() / 8);
    let mut rest = html;
    // links open around the current position: an image inside one becomes its text alone
    let mut open_links = 0usize;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        let tag_and_after = &rest[lt..];
        let end = tag_end(tag_and_after);
        let tag = &tag_and_after[..end];
        rest = &tag_and_after[end..];
        let name = tag_name(tag);
        if name.eq_ignore_ascii_case("a") {
            open_links += 1;
        } else if name.eq_ignore_ascii_case("/a") {
            open_links = open_links.saturating_sub(1);
        }
        if !name.eq_ignore_ascii_case("img") {
            out.push_str(tag);
            continue;
        }
        let attributes = attributes(tag);
        let src = attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("src"))
            .map(|(_, v)| *v);
        let alt = attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("alt"))
            .map(|(_, v)| *v)
            .filter(|a| !a.trim().is_empty());
        let Some(src) = src.filter(|s| is_absolute_http(&unescape(s))) else {
            // no usable source: the alt text, if any
            if let Some(alt) = alt {
                push_alt(&mut out, alt);
            }
            continue;
        };
        match decide(&unescape(src)) {
            ImageLink::Proxied(url) => {
                out.push_str("<img src=\"");
                out.push_str(&escape_attribute(&url));
                out.push('"');
                for (n, v) in &attributes {
                    if !n.eq_ignore_ascii_case("src") {
                        out.push_str(&format!(" {n}=\"{v}\""));
                    }
                }
                out.push('>');
            }
            ImageLink::Link if open_links > 0 => {
                out.push_str("<span class=\"description-image\">");
                push_alt(&mut out, alt.unwrap_or("image"));
                out.push_str("</span>");
            }
            ImageLink::Link => {
                out.push_str("<a class=\"description-image\" href=\"");
                out.push_str(src);
                out.push_str("\" rel=\"nofollow noopener noreferrer\">");
                out.push_str("image: ");
                push_alt(&mut out, alt.unwrap_or(src));
                out.push_str("</a>");
            }
        }
    }
    out.push_str(rest);
    out
}

/// The length of the tag at the start of `s` (up to and with its `>`; the rest of `s` when it
/// has none), skipping `>` inside double-quoted attribute values.
fn tag_end(s: &str) -> usize {
    let mut quoted = false;
    for (i, b) in s.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return i + 1,
            _ => {}
        }
    }
    s.len()
}

/// `img` for `<img src="…">`, `/a` for `</a>`.
fn tag_name(tag: &str) -> &str {
    let inner = &tag[1..];
    let end = inner
        .find(|c: char| c.is_ascii_whitespace() || c == '>')
        .unwrap_or(inner.len());
    &inner[..end]
}

/// The `name="value"` pairs of a serialised tag (values still escaped).
fn attributes(tag: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = &tag[1 + tag_name(tag).len()..];
    loop {
        rest = rest.trim_start();
        let Some(eq) = rest.find("=\"") else {
            break;
        };
        let name = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else {
            break;
        };
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            out.push((name, &after[..close]));
        }
        rest = &after[close + 1..];
    }
    out
}

/// An attribute value as text: it is already escaped for `&` and `"`, and may hold `<`/`>`.
fn push_alt(out: &mut String, alt: &str) {
    out.push_str(&alt.replace('<', "&lt;").replace('>', "&gt;"));
}

/// The serialiser's attribute escapes undone (`&amp;`, `&quot;`, `&nbsp;`, and `&lt;`/`&gt;`
/// for good measure).
fn unescape(value: &str) -> String {
    if !value.contains('&') {
        return value.to_owned();
    }
    value
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxied(url: &str) -> ImageLink {
        ImageLink::Proxied(format!("/p/{}", url.len()))
    }

    #[test]
    fn images_become_proxied_or_links() {
        let html = "<p>a &lt;img src=\"x\"&gt; <img src=\"https://e.org/a.png?x=1&amp;y=2\" alt=\"A &amp; &lt;b\" width=\"20\"></p>\
                    <p title=\"<img src=&quot;https://e.org/t&quot;>\">t</p>\
                    <a href=\"https://ci\"><img src=\"https://e.org/badge.svg\" alt=\"build\"></a>";
        let mut seen = Vec::new();
        let out = rewrite(html, |u| {
            seen.push(u.to_owned());
            proxied(u)
        });
        assert_eq!(
            seen,
            ["https://e.org/a.png?x=1&y=2", "https://e.org/badge.svg"]
        );
        assert!(
            out.contains("<img src=\"/p/27\" alt=\"A &amp; &lt;b\" width=\"20\">"),
            "{out}"
        );
        // text and attribute values that look like images are left alone
        assert!(out.contains("a &lt;img src=\"x\"&gt; "), "{out}");
        assert!(out.contains("title=\"<img src=&quot;https://e.org/t&quot;>\""));

        let out = rewrite(html, |_| ImageLink::Link);
        // only the text in the title attribute is left
        assert_eq!(out.matches("<img").count(), 1, "{out}");
        assert!(
            out.contains("<a class=\"description-image\" href=\"https://e.org/a.png?x=1&amp;y=2\" rel=\"nofollow noopener noreferrer\">image: A &amp; &lt;b</a>"),
            "{out}"
        );
        // inside a link: the alt text alone, no link in a link
        assert!(
            out.contains(
                "<a href=\"https://ci\"><span class=\"description-image\">build</span></a>"
            ),
            "{out}"
        );
    }

    #[test]
    fn sources_that_are_not_absolute_http_are_dropped() {
        let out = rewrite(
            "<img src=\"/local.png\" alt=\"L\"><img src=\"javascript:x\"><img alt=\"none\">",
            proxied,
        );
        assert_eq!(out, "Lnone");
        assert!(is_absolute_http("HTTPS://x") && !is_absolute_http("//x/y.png"));
    }
}
