//! Markdown (CommonMark with tables, strikethrough, task lists and footnotes, by
//! pulldown-cmark). Raw HTML is passed on to the sanitiser, whose allow-list decides what of it
//! stays (`<p align>`, `<img>`, `<details>`, tables, …). Block nesting is counted before parsing
//! ([`block_nesting`]); element nesting (raw HTML's tags included, [`RawTags`]), attribute
//! lengths and the size of the HTML are bounded while the events stream out ([`collect`]).

use pulldown_cmark::{CodeBlockKind, CowStr, Event, Options, Parser, Tag};

use crate::limits::{Exceeded, MAX_ATTRIBUTE, MAX_BLOCK_NESTING, MAX_ELEMENT_NESTING, MAX_HTML};

/// Render `src` (at most [`crate::limits::MAX_INPUT`] bytes) to unsanitised HTML.
pub(crate) fn render(src: &str) -> Result<String, Exceeded> {
    if let Some(line) = block_nesting(src) {
        return Err(Exceeded::BlockNesting { line });
    }
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    opts.insert(Options::ENABLE_FOOTNOTES);
    let events = collect(Parser::new_ext(src, opts))?;
    let mut out = String::with_capacity(src.len() + src.len() / 2);
    pulldown_cmark::html::push_html(&mut out, events.into_iter());
    if out.len() > MAX_HTML {
        return Err(Exceeded::Output);
    }
    Ok(out)
}

/// The first line (1-based) that opens or continues more than [`MAX_BLOCK_NESTING`] block
/// containers, or None. An upper bound of CommonMark's nesting, checked in one pass: every
/// `>` and every list marker at the start of a line counts one, and the line's indentation
/// counts one per two columns (a nested list item starts at least two columns right of its
/// parent's marker, and a block quote is continued only by its own `>`); a line that is a
/// thematic break (`- - -`, `* * *`) opens nothing.
pub(crate) fn block_nesting(src: &str) -> Option<usize> {
    for (n, line) in src.split('\n').enumerate() {
        let bytes = line.as_bytes();
        let mut i = 0;
        let mut column = 0;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            column = if bytes[i] == b'\t' {
                (column / 4 + 1) * 4
            } else {
                column + 1
            };
            i += 1;
        }
        let (uniform_from, fill) = uniform_tail(bytes);
        let mut markers = 0;
        loop {
            let rest = &bytes[i..];
            // a thematic break opens nothing; the count runs only where the rest is uniform,
            // which holds for at most three more markers, so the line is read a bounded
            // number of times
            if i >= uniform_from
                && matches!(fill, Some(b'-' | b'*' | b'_'))
                && rest.iter().filter(|&&b| Some(b) == fill).count() >= 3
            {
                break;
            }
            let width = match rest {
                [b'>', ..] => 1,
                [b'-' | b'+' | b'*', b' ' | b'\t', ..] => 2,
                [b'-' | b'+' | b'*'] => 1,
                _ => ordered_marker(rest),
            };
            if width == 0 {
                break;
            }
            markers += 1;
            i += width;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
                i += 1;
            }
        }
        if markers > 0 && markers + column / 2 > MAX_BLOCK_NESTING {
            return Some(n + 1);
        }
    }
    None
}

/// The width of an ordered list marker (`1.`, `12)`, at most nine digits) with its space.
fn ordered_marker(rest: &[u8]) -> usize {
    let digits = rest
        .iter()
        .take(10)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || digits > 9 {
        return 0;
    }
    match rest.get(digits) {
        Some(b'.' | b')') => match rest.get(digits + 1) {
            None => digits + 1,
            Some(b' ' | b'\t') => digits + 2,
            Some(_) => 0,
        },
        _ => 0,
    }
}

/// Where the line's uniform tail starts: the smallest `u` such that `line[u..]` holds only
/// spaces, tabs, a final `\r` and one other byte (returned), found in one backward pass.
/// A thematic break (`- - -`, `***`, `_ _ _`) is a uniform tail of `-`, `*` or `_` with at
/// least three of them.
fn uniform_tail(line: &[u8]) -> (usize, Option<u8>) {
    let mut fill = None;
    let mut u = line.len();
    while u > 0 {
        let b = line[u - 1];
        if !matches!(b, b' ' | b'\t' | b'\r') {
            match fill {
                None => fill = Some(b),
                Some(f) if f == b => {}
                Some(_) => break,
            }
        }
        u -= 1;
    }
    (u, fill)
}

/// The elements raw HTML leaves open, as the sanitiser's parser would see them at most: every
/// start tag of an element that is not void opens one (a `/>` does not close a `<div/>` in
/// HTML), and an end tag closes the innermost open element of its name and those inside it,
/// or nothing when none is open (so `</span>` cannot hide a `<div>`). Tags are found by name
/// alone (`<` and a letter), so a `<` in an attribute value may count one too many, never too
/// few. At most [`MAX_ELEMENT_NESTING`] are held, so an end tag costs a bounded search.
#[derive(Default)]
struct RawTags {
    open: Vec<String>,
}

/// Elements that never have content (no end tag, nothing nests in them).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

impl RawTags {
    /// Count the tags of one piece of raw HTML; Err when too many elements would be open.
    fn feed(&mut self, html: &str, outer: usize) -> Result<(), Exceeded> {
        let bytes = html.as_bytes();
        let mut i = 0;
        while let Some(p) = html[i..].find('<') {
            i += p + 1;
            let closing = bytes.get(i) == Some(&b'/');
            let start = if closing { i + 1 } else { i };
            let len = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if len == 0 || !bytes[start].is_ascii_alphabetic() {
                continue;
            }
            let name = html[start..start + len].to_ascii_lowercase();
            i = start + len;
            if closing {
                if let Some(at) = self.open.iter().rposition(|n| *n == name) {
                    self.open.truncate(at);
                }
            } else if !VOID.contains(&name.as_str()) {
                self.open.push(name);
                if outer + self.open.len() > MAX_ELEMENT_NESTING {
                    return Err(Exceeded::ElementNesting);
                }
            }
        }
        Ok(())
    }
}

/// Drain the parser into events, refusing more than [`MAX_ELEMENT_NESTING`] open elements
/// (Markdown's and raw HTML's together) or more than [`MAX_HTML`] bytes of content, and
/// dropping over-long attribute values (URLs, titles, code languages, image alt text).
fn collect<'a>(parser: Parser<'a>) -> Result<Vec<Event<'a>>, Exceeded> {
    let mut events = Vec::new();
    let mut raw = RawTags::default();
    let mut depth = 0usize;
    let mut size = 0usize;
    // inside an image: the alt text written so far, and the image's nesting depth
    let mut alt: Option<(usize, usize)> = None;
    for event in parser {
        let event = match event {
            Event::Start(tag) => {
                depth += 1;
                if depth + raw.open.len() > MAX_ELEMENT_NESTING {
                    return Err(Exceeded::ElementNesting);
                }
                let tag = bounded_tag(tag);
                if let Tag::Link {
                    dest_url, title, ..
                }
                | Tag::Image {
                    dest_url, title, ..
                } = &tag
                {
                    size += dest_url.len() + title.len();
                }
                if matches!(tag, Tag::Image { .. }) && alt.is_none() {
                    alt = Some((0, depth));
                }
                Event::Start(tag)
            }
            Event::End(end) => {
                if alt.is_some_and(|(_, d)| d == depth) {
                    alt = None;
                }
                depth = depth.saturating_sub(1);
                Event::End(end)
            }
            Event::Html(h) => {
                raw.feed(&h, depth)?;
                Event::Html(h)
            }
            Event::InlineHtml(h) => {
                raw.feed(&h, depth)?;
                Event::InlineHtml(h)
            }
            other => other,
        };
        let (text_len, tag_len) = match &event {
            Event::Text(t)
            | Event::Code(t)
            | Event::FootnoteReference(t)
            | Event::Html(t)
            | Event::InlineHtml(t) => (t.len(), 0),
            Event::Start(_) => (0, 16),
            _ => (0, 8),
        };
        if let Some((written, _)) = alt.as_mut() {
            // the alt attribute is one value: keep at most MAX_ATTRIBUTE bytes of it
            if text_len > 0 {
                if *written + text_len > MAX_ATTRIBUTE {
                    continue;
                }
                *written += text_len;
            }
        }
        // a lower bound of the HTML's size (escaping only adds): the exact check follows
        size += text_len + tag_len;
        if size > MAX_HTML {
            return Err(Exceeded::Output);
        }
        events.push(event);
    }
    Ok(events)
}

/// The tag with attribute values longer than [`MAX_ATTRIBUTE`] emptied.
fn bounded_tag(tag: Tag<'_>) -> Tag<'_> {
    fn cap(s: CowStr<'_>) -> CowStr<'_> {
        if s.len() > MAX_ATTRIBUTE {
            CowStr::Borrowed("")
        } else {
            s
        }
    }
    match tag {
        Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        } => Tag::Link {
            link_type,
            dest_url: cap(dest_url),
            title: cap(title),
            id: cap(id),
        },
        Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        } => Tag::Image {
            link_type,
            dest_url: cap(dest_url),
            title: cap(title),
            id: cap(id),
        },
        Tag::CodeBlock(CodeBlockKind::Fenced(info)) => {
            Tag::CodeBlock(CodeBlockKind::Fenced(cap(info)))
        }
        Tag::FootnoteDefinition(label) => Tag::FootnoteDefinition(cap(label)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_from_markers_and_indentation() {
        assert_eq!(block_nesting("> > > a\n- - a\n1. 2) a"), None);
        let deep = "> ".repeat(MAX_BLOCK_NESTING + 1) + "a";
        assert_eq!(block_nesting(&format!("ok\n\n{deep}")), Some(3));
        assert_eq!(block_nesting(&">".repeat(MAX_BLOCK_NESTING + 1)), Some(1));
        assert_eq!(block_nesting(&"1. ".repeat(MAX_BLOCK_NESTING + 1)), Some(1));
        // a staircase of list items, two columns per level
        let stair: String = (0..=MAX_BLOCK_NESTING)
            .map(|i| format!("{}- a\n", "  ".repeat(i)))
            .collect();
        assert!(block_nesting(&stair).is_some());
        // thematic breaks and plain indented text open nothing
        assert_eq!(block_nesting(&"- ".repeat(60)), None);
        assert_eq!(block_nesting(&"* ".repeat(60)), None);
        assert_eq!(block_nesting(&format!("{}text", " ".repeat(200))), None);
        // digits that are not a marker
        assert_eq!(block_nesting(&"1234567890. ".repeat(60)), None);
    }

    #[test]
    fn long_attributes_are_dropped_and_alt_text_cut() {
        let url = format!("https://example.org/{}", "x".repeat(MAX_ATTRIBUTE));
        let html = render(&format!(
            "[text]({url}) ![{}](https://example.org/i.png)",
            "a".repeat(3 * MAX_ATTRIBUTE)
        ))
        .expect("renders");
        assert!(html.contains("<a href=\"\">text</a>"), "{html}");
        assert!(!html.contains(&url));
        let alt = html
            .split("alt=\"")
            .nth(1)
            .expect("an image")
            .split('"')
            .next()
            .unwrap_or("");
        assert!(alt.len() <= MAX_ATTRIBUTE, "{}", alt.len());
    }
}
