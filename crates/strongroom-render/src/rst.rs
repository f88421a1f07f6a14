//! A small, safe subset of reStructuredText for project descriptions (no complete rST renderer
//! exists in Rust): section titles, paragraphs, bullet and enumerated lists, literal blocks
//! (`::` and `code-block`), block quotes, and inline literals, emphasis, strong emphasis and
//! `` `text <url>`_ `` links, admonitions (`note`, `warning`, …, shown as titled blocks) and
//! images (`image`, `figure`). Other directives and comments are dropped. Every piece of text is
//! escaped here, and the result still goes through the ammonia allow-list. Linear in its input
//! (see [`render`]); indentation deeper than [`MAX_INDENT_NESTING`] levels is refused.

use crate::escape::{escape_attribute, escape_text};
use crate::limits::{Exceeded, MAX_ATTRIBUTE, MAX_HTML, MAX_INDENT_NESTING};

const UNDERLINE: &[u8] = b"=-~^\"'`#*+:._";

fn is_underline(line: &str, min_len: usize) -> bool {
    let t = line.trim_end();
    let Some(&first) = t.as_bytes().first() else {
        return false;
    };
    UNDERLINE.contains(&first) && t.len() >= min_len.max(2) && t.bytes().all(|b| b == first)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn list_marker(line: &str) -> Option<(bool, usize)> {
    let t = line.trim_start_matches(' ');
    if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ") {
        return Some((false, indent(line) + 2));
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t[digits..];
    if (digits > 0 || rest.starts_with('#')) && (rest.starts_with(". ") || rest.starts_with("# ")) {
        return Some((true, indent(line) + digits + 2));
    }
    if digits == 0 && rest.starts_with("#. ") {
        return Some((true, indent(line) + 3));
    }
    None
}

/// Render `src` as HTML (escaped text in a few safe tags). Linear in the input: every line is
/// looked at a bounded number of times per nesting level, and nesting is at most
/// [`MAX_INDENT_NESTING`] levels.
pub(crate) fn render(src: &str) -> Result<String, Exceeded> {
    let text = src.replace("\r\n", "\n").replace('\t', "    ");
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(src.len() + src.len() / 4);
    blocks(&lines, 0, &mut out)?;
    if out.len() > MAX_HTML {
        return Err(Exceeded::Output);
    }
    Ok(out)
}

/// The blocks of `lines`, `depth` block quotes deep.
fn blocks(lines: &[&str], depth: usize, out: &mut String) -> Result<(), Exceeded> {
    let mut styles: Vec<(u8, bool)> = Vec::new();
    let mut i = 0;
    let mut literal_next = false;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        // an indented block: literal after `::`, else a quote
        if indent(line) > 0 {
            let base = indent(line);
            let start = i;
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > 0) {
                i += 1;
            }
            let mut block: Vec<&str> = lines[start..i]
                .iter()
                .map(|l| {
                    if indent(l) >= base {
                        &l[base..]
                    } else {
                        l.trim_start_matches(' ')
                    }
                })
                .collect();
            while block.last().is_some_and(|l| l.is_empty()) {
                block.pop();
            }
            if literal_next {
                out.push_str("<pre><code>");
                for (n, l) in block.iter().enumerate() {
                    if n > 0 {
                        out.push('\n');
                    }
                    escape_text(out, l);
                }
                out.push_str("</code></pre>\n");
            } else {
                if depth + 1 > MAX_INDENT_NESTING {
                    return Err(Exceeded::IndentNesting);
                }
                out.push_str("<blockquote>");
                blocks(&block, depth + 1, out)?;
                out.push_str("</blockquote>\n");
            }
            literal_next = false;
            continue;
        }
        literal_next = false;
        // directives and comments: `.. code-block::` keeps its body as a literal block,
        // admonitions and images are shown, the rest is dropped
        if let Some(rest) = line.strip_prefix(".. ") {
            let code = rest.starts_with("code-block::")
                || rest.starts_with("code::")
                || rest.starts_with("sourcecode::");
            i += 1;
            // the directive's options (`:linenos:`) are not content
            while code && i < lines.len() && lines[i].trim_start().starts_with(':') {
                i += 1;
            }
            if code {
                literal_next = true;
                continue;
            }
            let body_start = i;
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > 0) {
                i += 1;
            }
            let mut body = &lines[body_start..i];
            while let [rest @ .., last] = body
                && last.trim().is_empty()
            {
                body = rest;
            }
            if let Some((name, argument)) = rest.split_once("::") {
                directive(name.trim(), argument.trim(), body, depth, out)?;
            }
            continue;
        }
        // section title, with or without an overline
        let over = is_underline(line, 2)
            && i + 2 < lines.len()
            && !lines[i + 1].trim().is_empty()
            && is_underline(lines[i + 2], lines[i + 1].trim().len());
        let under = !over && i + 1 < lines.len() && is_underline(lines[i + 1], line.trim().len());
        if over || under {
            let (title, ch) = if over {
                (lines[i + 1].trim(), line.as_bytes()[0])
            } else {
                (line.trim(), lines[i + 1].as_bytes()[0])
            };
            let style = (ch, over);
            let level = match styles.iter().position(|s| *s == style) {
                Some(p) => p + 1,
                None => {
                    styles.push(style);
                    styles.len()
                }
            }
            .min(6);
            out.push_str(&format!("<h{level}>"));
            inline(title, out);
            out.push_str(&format!("</h{level}>\n"));
            i += if over { 3 } else { 2 };
            continue;
        }
        // lists
        if let Some((ordered, _)) = list_marker(line) {
            let tag = if ordered { "ol" } else { "ul" };
            out.push_str(&format!("<{tag}>\n"));
            while i < lines.len() {
                let Some((o, width)) = list_marker(lines[i]) else {
                    break;
                };
                if o != ordered || indent(lines[i]) != 0 {
                    break;
                }
                let mut item = vec![lines[i][width.min(lines[i].len())..].trim()];
                i += 1;
                while i < lines.len() && !lines[i].trim().is_empty() && indent(lines[i]) > 0 {
                    item.push(lines[i].trim());
                    i += 1;
                }
                out.push_str("<li>");
                inline(&item.join(" "), out);
                out.push_str("</li>\n");
                while i < lines.len() && lines[i].trim().is_empty() {
                    if i + 1 < lines.len() && list_marker(lines[i + 1]).is_some() {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            out.push_str(&format!("</{tag}>\n"));
            continue;
        }
        // a paragraph
        let start = i;
        while i < lines.len() && !lines[i].trim().is_empty() && indent(lines[i]) == 0 {
            if i > start
                && (i + 1 < lines.len() && is_underline(lines[i + 1], lines[i].trim().len()))
            {
                break;
            }
            i += 1;
        }
        let mut para = lines[start..i].join(" ");
        if para.ends_with("::") {
            literal_next = true;
            para.truncate(para.len() - 1);
            if para.trim() == ":" {
                continue;
            }
            if para.ends_with(" :") {
                para.truncate(para.len() - 2);
            }
        }
        out.push_str("<p>");
        inline(para.trim(), out);
        out.push_str("</p>\n");
    }
    Ok(())
}

/// The admonitions shown (as `<div class="admonition KIND">` with a title), with their titles.
pub(crate) const ADMONITIONS: &[(&str, &str)] = &[
    ("attention", "Attention"),
    ("caution", "Caution"),
    ("danger", "Danger"),
    ("error", "Error"),
    ("hint", "Hint"),
    ("important", "Important"),
    ("note", "Note"),
    ("tip", "Tip"),
    ("warning", "Warning"),
];

/// One directive other than a code block: admonitions (their text on the directive's line and
/// their indented body rendered as blocks inside a titled `<div>`), `image` and `figure` (an
/// `<img>` with the `alt`, `width`, `height` and `align` options, linked when `target` is
/// given; a figure's caption is dropped). Anything else shows nothing.
fn directive(
    name: &str,
    argument: &str,
    body: &[&str],
    depth: usize,
    out: &mut String,
) -> Result<(), Exceeded> {
    let name = name.to_ascii_lowercase();
    // the options block (`:class: x`) leads the body
    let options_end = body
        .iter()
        .position(|l| !l.trim_start().starts_with(':'))
        .unwrap_or(body.len());
    let option = |key: &str| {
        body[..options_end].iter().find_map(|l| {
            l.trim()
                .strip_prefix(':')?
                .strip_prefix(key)?
                .strip_prefix(':')
                .map(str::trim)
        })
    };
    if name == "image" || name == "figure" {
        if argument.is_empty() || argument.len() > MAX_ATTRIBUTE {
            return Ok(());
        }
        let target = option("target").filter(|t| !t.is_empty() && t.len() <= MAX_ATTRIBUTE);
        if let Some(t) = target {
            out.push_str(&format!("<a href=\"{}\">", escape_attribute(t)));
        }
        out.push_str(&format!("<img src=\"{}\"", escape_attribute(argument)));
        if let Some(alt) = option("alt").filter(|a| a.len() <= MAX_ATTRIBUTE) {
            out.push_str(&format!(" alt=\"{}\"", escape_attribute(alt)));
        }
        for key in ["width", "height"] {
            // HTML's attributes are pixels: `120px` and `120` are kept, other units dropped
            if let Some(v) = option(key).map(|v| v.trim_end_matches("px"))
                && !v.is_empty()
                && v.len() <= 6
                && v.bytes().all(|b| b.is_ascii_digit())
            {
                out.push_str(&format!(" {key}=\"{v}\""));
            }
        }
        if let Some(a) = option("align").filter(|a| ["left", "center", "right"].contains(a)) {
            out.push_str(&format!(" align=\"{a}\""));
        }
        out.push('>');
        if target.is_some() {
            out.push_str("</a>");
        }
        out.push('\n');
        return Ok(());
    }
    let title = match ADMONITIONS.iter().find(|(kind, _)| *kind == name) {
        Some((_, title)) => *title,
        None if name == "admonition" && !argument.is_empty() => argument,
        None => return Ok(()),
    };
    if depth + 1 > MAX_INDENT_NESTING {
        return Err(Exceeded::IndentNesting);
    }
    let content = &body[options_end..];
    let base = content
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    let mut inner: Vec<&str> = Vec::with_capacity(content.len() + 2);
    // a specific admonition's argument starts its first paragraph (continued by the body's
    // first lines when no blank line comes between)
    if name != "admonition" && !argument.is_empty() {
        inner.push(argument);
        if content.first().is_none_or(|l| l.trim().is_empty()) {
            inner.push("");
        }
    }
    inner.extend(content.iter().map(|l| {
        if l.len() >= base {
            &l[base..]
        } else {
            l.trim_start()
        }
    }));
    out.push_str("<div class=\"admonition");
    if name != "admonition" {
        out.push(' ');
        out.push_str(&name);
    }
    out.push_str("\"><p class=\"admonition-title\">");
    escape_text(out, title);
    out.push_str("</p>\n");
    blocks(&inner, depth + 1, out)?;
    out.push_str("</div>\n");
    Ok(())
}

/// The first occurrence of a closing delimiter at or after a position, remembered: the
/// positions asked for only grow, so each delimiter's text is searched once in all (an
/// opener without a closer no longer rescans the rest of the paragraph).
struct Closer {
    pat: &'static str,
    next: Option<usize>,
    none_left: bool,
}

impl Closer {
    const fn new(pat: &'static str) -> Self {
        Closer {
            pat,
            next: None,
            none_left: false,
        }
    }

    fn find(&mut self, s: &str, at: usize) -> Option<usize> {
        if self.none_left {
            return None;
        }
        if let Some(p) = self.next
            && p >= at
        {
            return Some(p);
        }
        match s[at..].find(self.pat) {
            Some(p) => {
                self.next = Some(at + p);
                self.next
            }
            None => {
                self.none_left = true;
                None
            }
        }
    }
}

/// Inline markup of one paragraph; everything else escaped.
fn inline(s: &str, out: &mut String) {
    let mut literal = Closer::new("``");
    let mut link = Closer::new("`_");
    let mut strong = Closer::new("**");
    let mut em = Closer::new("*");
    let mut pos = 0;
    while pos < s.len() {
        let rest = &s[pos..];
        if rest.starts_with("``")
            && let Some(end) = literal.find(s, pos + 2)
        {
            out.push_str("<code>");
            escape_text(out, &s[pos + 2..end]);
            out.push_str("</code>");
            pos = end + 2;
            continue;
        }
        if rest.starts_with('`')
            && let Some(end) = link.find(s, pos + 1)
        {
            let inner = &s[pos + 1..end];
            pos = end + 2;
            pos += s[pos..].len() - s[pos..].trim_start_matches('_').len();
            match (inner.rfind('<'), inner.ends_with('>')) {
                (Some(lt), true) if inner.len() - lt - 2 <= MAX_ATTRIBUTE => {
                    let url = inner[lt + 1..inner.len() - 1].trim();
                    let text = inner[..lt].trim();
                    let text = if text.is_empty() { url } else { text };
                    out.push_str("<a href=\"");
                    out.push_str(&escape_attribute(url));
                    out.push_str("\">");
                    escape_text(out, text);
                    out.push_str("</a>");
                }
                // no URL, or one too long to keep: the text alone
                (Some(lt), true) if !inner[..lt].trim().is_empty() => {
                    escape_text(out, inner[..lt].trim())
                }
                _ => escape_text(out, inner),
            }
            continue;
        }
        if rest.starts_with("**")
            && let Some(end) = strong.find(s, pos + 2)
            && end > pos + 2
        {
            out.push_str("<strong>");
            escape_text(out, &s[pos + 2..end]);
            out.push_str("</strong>");
            pos = end + 2;
            continue;
        }
        if rest.starts_with('*')
            && !rest[1..].starts_with(' ')
            && let Some(end) = em.find(s, pos + 1)
            && end > pos + 1
        {
            out.push_str("<em>");
            escape_text(out, &s[pos + 1..end]);
            out.push_str("</em>");
            pos = end + 1;
            continue;
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..]
            .find(['`', '*'])
            .map_or(rest.len(), |p| p + first);
        escape_text(out, &rest[..next]);
        pos += next;
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn the_common_readme_shapes() {
        let out = render(
            "=======\nProject\n=======\n\nIntro with ``code``, *em*, **strong** and `a link <https://example.org/>`_.\n\nUsage\n-----\n\nInstall it::\n\n    pip install project\n\n- one\n- two\n  continued\n\n1. first\n2. second\n\n.. code-block:: python\n\n    import project\n\n.. image:: https://example.org/badge.svg\n   :alt: badge\n\n.. a comment\n\nEnd.",
        )
        .expect("renders");
        assert!(out.contains("<h1>Project</h1>"), "{out}");
        assert!(out.contains("<h2>Usage</h2>"), "{out}");
        assert!(out.contains("<code>code</code>"), "{out}");
        assert!(
            out.contains("<em>em</em>") && out.contains("<strong>strong</strong>"),
            "{out}"
        );
        assert!(
            out.contains("<a href=\"https://example.org/\">a link</a>"),
            "{out}"
        );
        assert!(out.contains("<p>Install it:</p>"), "{out}");
        assert!(
            out.contains("<pre><code>pip install project</code></pre>"),
            "{out}"
        );
        assert!(out.contains("<li>two continued</li>"), "{out}");
        assert!(
            out.contains("<ol>") && out.contains("<li>second</li>"),
            "{out}"
        );
        assert!(
            out.contains("<pre><code>import project</code></pre>"),
            "{out}"
        );
        // the image is shown now; the comment is not
        assert!(
            out.contains("<img src=\"https://example.org/badge.svg\" alt=\"badge\">"),
            "{out}"
        );
        assert!(!out.contains("comment"), "{out}");
        assert!(out.contains("<p>End.</p>"), "{out}");
    }

    #[test]
    fn odd_input_never_panics() {
        let pieces = [
            "é", "`", "``", "*", "**", "::", "\n", "  ", "\t", "- ", "1. ", "#. ", ".. ", "====",
            "<", ">", "`a <b>`_", "\u{3000}", "日本", "_", ":x:", "\r\n",
        ];
        let mut seed = 7_u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..12 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                s.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let _ = render(&s);
        }
    }

    #[test]
    fn everything_is_escaped() {
        let out = render(
            "<script>alert(1)</script>\n\n`x <javascript:alert(1)>`_ and ``<b>``\n\nT<i>\n=====",
        )
        .expect("renders");
        assert!(
            !out.contains("<script") && !out.contains("<b>") && !out.contains("<i>"),
            "{out}"
        );
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }
}
