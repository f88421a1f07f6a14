//! Text from clients and upstreams made safe for an operator's terminal and for tab-separated
//! output (RT12 F7): control characters (C0, DEL, C1 such as the 8-bit CSI U+009B), bidi
//! overrides, embeddings, isolates and marks, invisible separators, and tabs are shown as
//! `\u{…}` / `\t` escapes, and a backslash as `\\`, so what an admin reads is what was sent
//! and no field can move the cursor, recolour the terminal, reorder a line or forge a column.
//! JSON output needs none of this (serde escapes what JSON must, the reader decides the rest).

use std::borrow::Cow;

/// True for a character that must not reach a terminal as it is.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// `s` with every hidden character escaped (`\t`, `\n`, `\r`, else `\u{…}`) and `\` doubled;
/// borrowed when nothing needed escaping. For one field of a line.
pub(crate) fn shown(s: &str) -> Cow<'_, str> {
    escaped(s, true)
}

/// A whole line whose values are already quoted where needed (the timeline's): hidden
/// characters escaped as in [`shown`], backslashes left as they are.
pub(crate) fn shown_line(s: &str) -> Cow<'_, str> {
    escaped(s, false)
}

fn escaped(s: &str, backslash: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| (backslash && c == '\\') || hidden(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' if backslash => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::{shown, shown_line};

    #[test]
    fn controls_bidi_and_tabs_are_escaped_and_the_rest_kept() {
        for (raw, want) in [
            ("pip/25.0 CPython/3.12", "pip/25.0 CPython/3.12"),
            ("ünïcode ✓ 日本", "ünïcode ✓ 日本"),
            ("a\tb", "a\\tb"),
            ("line\nbreak\r", "line\\nbreak\\r"),
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("\u{9b}31mC1CSI", "\\u{9b}31mC1CSI"),
            ("\u{85}next line", "\\u{85}next line"),
            ("a \u{202e} reversed", "a \\u{202e} reversed"),
            (
                "\u{2066}iso\u{2069}\u{200f}",
                "\\u{2066}iso\\u{2069}\\u{200f}",
            ),
            ("\u{7f}del", "\\u{7f}del"),
            ("back\\slash \\u{202e}", "back\\\\slash \\\\u{202e}"),
            ("sep\u{2028}\u{feff}", "sep\\u{2028}\\u{feff}"),
        ] {
            assert_eq!(shown(raw), want, "{raw:?}");
        }
        assert_eq!(
            shown_line("reason=\"a \\\"b\\\"\"  (127.0.0.1, x\u{202e}y\tz)"),
            "reason=\"a \\\"b\\\"\"  (127.0.0.1, x\\u{202e}y\\tz)"
        );
    }
}
