//! Python-style `repr()` of strings and lists, so error messages read exactly like PyPI's.
//!
//! Warehouse builds many messages with f-strings such as `f"{value!r} is invalid"`;
//! [`py_repr`] reproduces `repr(str)` (quote choice and escapes) closely enough for
//! every value that can reach a message.

use std::fmt::Write as _;

/// `repr(s)` as CPython prints it: single quotes unless the text contains `'` and no `"`.
pub(crate) fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let n = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02x}")
                } else if n <= 0xffff {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(list_of_str)`: `['a', 'b']`.
pub(crate) fn py_repr_list<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| py_repr(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

/// An approximation of `str.isprintable()` for one character: control characters,
/// separators other than the ASCII space, and common format characters are not printable.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(
        c,
        '\u{a0}'
            | '\u{ad}'
            | '\u{600}'..='\u{605}'
            | '\u{61c}'
            | '\u{6dd}'
            | '\u{70f}'
            | '\u{1680}'
            | '\u{180e}'
            | '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{3000}'
            | '\u{e000}'..='\u{f8ff}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{f0000}'..
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_cpython() {
        let cases = [
            ("abc", "'abc'"),
            ("it's", "\"it's\""),
            ("both ' and \"", "'both \\' and \"'"),
            ("tab\there", "'tab\\there'"),
            ("nul\0", "'nul\\x00'"),
            ("del\u{7f}", "'del\\x7f'"),
            ("back\\slash", "'back\\\\slash'"),
            ("ünïcode", "'ünïcode'"),
            ("nbsp\u{a0}", "'nbsp\\xa0'"),
            ("bom\u{feff}", "'bom\\ufeff'"),
            ("", "''"),
        ];
        for (input, want) in cases {
            assert_eq!(py_repr(input), want, "input {input:?}");
        }
    }

    #[test]
    fn list_repr() {
        assert_eq!(py_repr_list(&["a", "b"]), "['a', 'b']");
        assert_eq!(py_repr_list::<&str>(&[]), "[]");
    }
}
