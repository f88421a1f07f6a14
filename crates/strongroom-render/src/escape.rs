//! HTML escaping, and the escaped-text form every fallback uses.

/// Escape text for an attribute value or element content (quotes too).
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
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

/// Escape text for element content: only `&`, `<` and `>` (quotes are inert there, and every
/// entity costs the sanitiser more than the character it stands for).
pub fn escape_text(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

/// The longest prefix of `text` that is at most `max` bytes and ends on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` (at most [`crate::limits::MAX_INPUT`] bytes of it) escaped in a `<pre>`.
pub fn preformatted(out: &mut String, text: &str) {
    let text = truncate(text, crate::limits::MAX_INPUT);
    out.reserve(text.len() + 40);
    out.push_str("<pre class=\"description-plain\">");
    escape_text(out, text);
    out.push_str("</pre>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cuts_on_char_boundaries() {
        assert_eq!(
            escape_attribute("<a href=\"x\">'&'"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
        let mut s = String::new();
        escape_text(&mut s, "a<b>&\"'é");
        assert_eq!(s, "a&lt;b&gt;&amp;\"'é");
        assert_eq!(truncate("éé", 3), "é");
        assert_eq!(truncate("éé", 4), "éé");
        assert_eq!(truncate("", 0), "");
    }
}
