//! The header block of an email-format document (core metadata `METADATA` / `PKG-INFO`, a
//! wheel's `.dist-info/WHEEL`), split exactly where Python's `email.parser` splits it.
//!
//! pip, installer and packaging read these files with `email.parser` (policy `compat32`), so
//! whatever strongroom reads from them must be what those clients read, or the index would
//! check and show one document while clients install another (a header hidden after a line
//! the index skips, a dependency behind a bare carriage return). Python's rules, followed here:
//! - lines end at `\r\n`, `\r` or `\n` (and nothing else: not `\x0b`, `\x0c`, `\x1c`–`\x1e`,
//!   `\x85`, `U+2028`);
//! - the block is the run of lines from the start that are a header (`name:` with a name of
//!   printable ASCII other than `:`, possibly empty), a continuation (starting with a space or a
//!   tab) or an mbox envelope line (`From `); the first other line ends it: a blank line is
//!   dropped, anything else is the body's first line;
//! - a continuation before any header is ignored.
//!
//! Two constructs Python reads in odd, version-dependent ways (silently dropping the line, or
//! moving it into the body) are refused instead of imitated: a `From ` envelope line and a
//! header line with no name (`: value`).

/// One header: its name as written and its lines (the first line's value after the colon with
/// leading blanks removed, then each continuation line as written, without line ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as written (compare case-insensitively).
    pub name: &'a str,
    /// The first line's value, then the continuation lines.
    pub lines: Vec<&'a str>,
}

/// A document split into its header block and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderBlock<'a> {
    /// The headers in order (a name may repeat).
    pub headers: Vec<Header<'a>>,
    /// Everything after the block (after the blank line that ended it, if one did).
    pub body: &'a str,
}

/// A header block this module will not read (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderBlockError {
    /// A `From ` line in the header block (Python drops it, or moves it into the body).
    #[error(
        "the header line {line:?} starts with 'From ', which email parsers do not read as a header"
    )]
    Envelope {
        /// The line.
        line: String,
    },
    /// A header line with an empty name (Python drops it).
    #[error("the header line {line:?} has no field name")]
    NoName {
        /// The line.
        line: String,
    },
    /// More headers than the caller allows.
    #[error("more than {limit} header fields")]
    TooMany {
        /// The limit.
        limit: usize,
    },
}

/// The lines of `text` with their byte offsets: `(start, content, end including the line end)`,
/// split at `\r\n`, `\r` or `\n` as Python's universal newlines do.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str, usize)> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let rest = bytes.get(start..).unwrap_or_default();
        let (content_len, end) = match rest.iter().position(|&b| b == b'\r' || b == b'\n') {
            None => (rest.len(), bytes.len()),
            Some(i) if rest.get(i) == Some(&b'\r') && rest.get(i + 1) == Some(&b'\n') => {
                (i, start + i + 2)
            }
            Some(i) => (i, start + i + 1),
        };
        pos = end;
        // Line ends are ASCII, so these are character boundaries.
        let content = text.get(start..start + content_len).unwrap_or_default();
        Some((start, content, end))
    })
}

/// True for the characters Python's header pattern allows in a field name
/// (`[\x21-\x39\x3b-\x7e]`: printable ASCII except the colon).
fn is_name_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b':'
}

/// Split `text` into its header block and body, as Python's `email.parser` does (see the module
/// docs); at most `max_headers` headers.
pub fn split(text: &str, max_headers: usize) -> Result<HeaderBlock<'_>, HeaderBlockError> {
    let mut headers: Vec<Header<'_>> = Vec::new();
    let mut body_start = text.len();
    for (start, line, end) in lines(text) {
        if line.starts_with("From ") {
            return Err(HeaderBlockError::Envelope {
                line: line.to_owned(),
            });
        }
        if line.starts_with([' ', '\t']) {
            // Python ignores a continuation before the first header.
            if let Some(h) = headers.last_mut() {
                h.lines.push(line);
            }
            continue;
        }
        let name_len = line.bytes().take_while(|&b| is_name_char(b)).count();
        if line.as_bytes().get(name_len) != Some(&b':') {
            // Not a header: a blank line is dropped, any other line starts the body.
            body_start = if line.is_empty() { end } else { start };
            break;
        }
        if name_len == 0 {
            return Err(HeaderBlockError::NoName {
                line: line.to_owned(),
            });
        }
        if headers.len() >= max_headers {
            return Err(HeaderBlockError::TooMany { limit: max_headers });
        }
        let (name, value) = line.split_at(name_len);
        let value = value.get(1..).unwrap_or_default();
        headers.push(Header {
            name,
            lines: vec![value.trim_start_matches([' ', '\t'])],
        });
    }
    Ok(HeaderBlock {
        headers,
        body: text.get(body_start..).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(name, lines)` of each header and the body.
    fn read(text: &str) -> (Vec<(&str, Vec<&str>)>, &str) {
        let b = split(text, 100).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        (
            b.headers.into_iter().map(|h| (h.name, h.lines)).collect(),
            b.body,
        )
    }

    // The expectations below are what Python 3.11's `email.parser.Parser().parsestr(text)`
    // gives: `msg.items()` and `msg.get_payload()`.

    #[test]
    fn the_block_ends_at_the_first_line_that_is_not_a_header() {
        // A space before the colon: not a header, so the block (and everything Python sees)
        // ends there; the next line is body.
        let (h, body) = read("Wheel-Version : 2.0\nWheel-Version: 1.0\nTag: py3-none-any\n");
        assert!(h.is_empty());
        assert_eq!(
            body,
            "Wheel-Version : 2.0\nWheel-Version: 1.0\nTag: py3-none-any\n"
        );
        let (h, body) = read("A: 1\nnot a header\nB: 2\n");
        assert_eq!(h, vec![("A", vec!["1"])]);
        assert_eq!(body, "not a header\nB: 2\n");
        let (h, body) = read("A: 1\n\nB: 2\n");
        assert_eq!(h, vec![("A", vec!["1"])]);
        assert_eq!(body, "B: 2\n");
        // A line that is only a line end (any of the three) is the blank separator.
        let (h, body) = read("A: 1\r\rB: 2\r");
        assert_eq!(h, vec![("A", vec!["1"])]);
        assert_eq!(body, "B: 2\r");
        // Non-ASCII or control characters in a name: not a header.
        let (h, body) = read("A: 1\nB\u{e9}: 2\nC: 3\n");
        assert_eq!((h.len(), body), (1, "B\u{e9}: 2\nC: 3\n"));
        let (h, _) = read("A: 1\nB\0: 2\nC: 3\n");
        assert_eq!(h.len(), 1);
        let (h, _) = read("\u{feff}A: 1\n");
        assert!(h.is_empty(), "a byte-order mark is not a name character");
    }

    #[test]
    fn lines_end_at_cr_lf_and_crlf_only() {
        let (h, body) = read("Summary: hello\rRequires-Dist: evil\r\nName: x\n\nbody\n");
        assert_eq!(
            h,
            vec![
                ("Summary", vec!["hello"]),
                ("Requires-Dist", vec!["evil"]),
                ("Name", vec!["x"]),
            ]
        );
        assert_eq!(body, "body\n");
        // Other characters str.splitlines would break at stay inside the value.
        let (h, _) = read("Summary: a\x0bb\x0cc\x1cd\u{85}e\u{2028}f\nName: x\n");
        assert_eq!(h[0].1, vec!["a\x0bb\x0cc\x1cd\u{85}e\u{2028}f"]);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn continuations_fold_into_the_header_before_them() {
        let (h, body) = read(" orphan\nA: 1\n  more\n\tand more\nB:\n\nx");
        assert_eq!(
            h,
            vec![("A", vec!["1", "  more", "\tand more"]), ("B", vec![""])]
        );
        assert_eq!(body, "x");
        // A whitespace-only line is a continuation, not the separator.
        let (h, body) = read("A: 1\n \nB: 2\n");
        assert_eq!(h, vec![("A", vec!["1", " "]), ("B", vec!["2"])]);
        assert_eq!(body, "");
        // Value: leading blanks go, the rest stays as written.
        let (h, _) = read("A:\t x y \n");
        assert_eq!(h, vec![("A", vec!["x y "])]);
    }

    #[test]
    fn envelope_lines_and_nameless_headers_are_refused() {
        for text in [
            "From nobody\nA: 1\n",
            "A: 1\nFrom x: y\nB: 2\n",
            "A: 1\nFrom \n\n",
        ] {
            assert!(
                matches!(split(text, 10), Err(HeaderBlockError::Envelope { .. })),
                "{text:?}"
            );
        }
        assert_eq!(
            split("A: 1\n: value\nB: 2\n", 10)
                .expect_err("no name")
                .to_string(),
            "the header line \": value\" has no field name"
        );
        // In the body they are only text.
        assert_eq!(read("A: 1\n\nFrom x\n: y\n").1, "From x\n: y\n");
        // `From:` is an ordinary header.
        assert_eq!(read("From: a@b\n").0, vec![("From", vec!["a@b"])]);
    }

    #[test]
    fn the_header_count_is_bounded() {
        assert_eq!(
            split(&"A: 1\n".repeat(11), 10),
            Err(HeaderBlockError::TooMany { limit: 10 })
        );
        assert_eq!(
            split(&"A: 1\n".repeat(10), 10).map(|b| b.headers.len()),
            Ok(10)
        );
    }
}
