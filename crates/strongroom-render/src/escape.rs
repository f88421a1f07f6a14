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

/// Escape text for element content: only `&`, `<`, `>` and U+00A0 (as the sanitiser's
/// serialiser writes them, so the sanitised output has the size counted here; quotes are inert
/// there, and every entity costs the sanitiser more than the character it stands for).
pub fn escape_text(out: &mut String, text: &str) {
    escape_text_within(out, text, usize::MAX);
}

/// [`escape_text`], stopping (between characters) before `out` grows past `budget` bytes; true
/// when the text was cut.
fn escape_text_within(out: &mut String, text: &str, budget: usize) -> bool {
    let start = out.len();
    let bytes = text.as_bytes();
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (rep, width) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            0xC2 if bytes.get(i + 1) == Some(&0xA0) => ("&nbsp;", 2),
            _ => {
                i += 1;
                continue;
            }
        };
        if (out.len() - start) + (i - last) + rep.len() > budget {
            return cut_at(out, text, last, i, start, budget);
        }
        out.push_str(&text[last..i]);
        out.push_str(rep);
        i += width;
        last = i;
    }
    if (out.len() - start) + (text.len() - last) > budget {
        return cut_at(out, text, last, text.len(), start, budget);
    }
    out.push_str(&text[last..]);
    false
}

/// Copy as much of `text[from..to]` (plain characters) as fits in what is left of `budget`.
fn cut_at(
    out: &mut String,
    text: &str,
    from: usize,
    to: usize,
    start: usize,
    budget: usize,
) -> bool {
    let room = budget.saturating_sub(out.len() - start);
    out.push_str(truncate(&text[from..to], room));
    true
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

/// `text` escaped in a `<pre>`, at most [`crate::limits::MAX_HTML`] bytes of it (escaped):
/// true when the text was cut.
pub fn preformatted(out: &mut String, whole: &str) -> bool {
    // the escaped text is never shorter than the text
    let text = truncate(whole, crate::limits::MAX_HTML);
    out.reserve(text.len() + 40);
    out.push_str("<pre class=\"description-plain\">");
    let cut = escape_text_within(out, text, crate::limits::MAX_HTML);
    out.push_str("</pre>");
    cut || text.len() < whole.len()
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
        escape_text(&mut s, "a<b>&\"'é\u{a0}");
        assert_eq!(s, "a&lt;b&gt;&amp;\"'é&nbsp;");
        // a budget cuts between characters and entities, never inside one
        for budget in 0..40 {
            let mut s = String::new();
            let cut = escape_text_within(&mut s, "ab&<é\u{a0}c>d", budget);
            assert!(s.len() <= budget, "{budget}: {s}");
            assert_eq!(cut, budget < 25, "{budget}: {s}");
            assert!(
                !s.ends_with(['&', ';'])
                    || s.ends_with("&amp;")
                    || s.ends_with("&lt;")
                    || s.ends_with("&nbsp;")
                    || s.ends_with("&gt;"),
                "{s}"
            );
        }
        assert_eq!(truncate("éé", 3), "é");
        assert_eq!(truncate("éé", 4), "éé");
        assert_eq!(truncate("", 0), "");
    }
}
