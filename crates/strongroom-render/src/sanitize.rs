//! The sanitiser every rendered description goes through (an ammonia allow-list), fed so that
//! its cost stays linear in its input: text runs are cut into short pieces first.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use crate::limits::MAX_TEXT_RUN;

/// The allow-list: ammonia's default tags (which hold every tag of the reference README
/// renderer's list but `input` and `picture`) plus those two, and the attributes that list
/// allows: `align` on paragraphs, divisions, headings, images and table cells, `src`, `width`,
/// `height` and `alt` on images, `colspan`/`rowspan`, `start` on ordered lists. An `<input>` is
/// always disabled and its only type is `checkbox` (a task list item); it has no name, and no
/// form survives, so nothing can be submitted. Links only to http(s)/mailto (no
/// `javascript:` or `data:`), image sources only absolute http(s) URLs (pages rewrite them, see
/// `images`), external links marked `nofollow noopener noreferrer`, comments stripped. No
/// `cite` (on block quotes, quotations, insertions and deletions): a URL ammonia's scheme
/// filter does not see, and no reader follows. A `width`/`height` of an image, or a `width`/
/// `size` of a rule, is kept only as a plain number of at most [`MAX_DIMENSION`] pixels (or a
/// percentage up to 100), so a description cannot make its page millions of pixels tall (the
/// style sheet also scales images to the column with their aspect ratio).
///
/// Two differences from the reference list, both on purpose: no `id` attribute (a
/// description could otherwise clobber the page's own ids and anchors), and classes only
/// strongroom's own (the admonition blocks and the fallback's two), so a description cannot
/// dress itself in the page's buttons or notices.
static BUILDER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    let mut div_classes: HashSet<&str> = ["admonition"].into_iter().collect();
    div_classes.extend(crate::rst::ADMONITIONS.iter().map(|(kind, _)| *kind));
    let classes: HashMap<&str, HashSet<&str>> = [
        ("pre", ["description-plain"].into_iter().collect()),
        (
            "p",
            ["description-note", "admonition-title"]
                .into_iter()
                .collect(),
        ),
        ("div", div_classes),
    ]
    .into_iter()
    .collect();
    let mut b = ammonia::Builder::default();
    b.add_tags(["input", "picture"])
        .add_tag_attributes("p", ["align"])
        .add_tag_attributes("div", ["align"])
        .add_tag_attributes("input", ["checked"])
        .add_tag_attribute_values("input", "type", ["checkbox"])
        // one forced value only: ammonia adds forced values in hash order
        .set_tag_attribute_value("input", "disabled", "")
        .url_schemes(schemes)
        .link_rel(Some("nofollow noopener noreferrer"))
        .strip_comments(true)
        .allowed_classes(classes)
        .attribute_filter(|element, attribute, value| {
            if element == "img" && attribute == "src" && !crate::images::is_absolute_http(value) {
                return None;
            }
            let dimension = match element {
                "img" => matches!(attribute, "width" | "height"),
                "hr" => matches!(attribute, "width" | "size"),
                _ => false,
            };
            if dimension && !dimension_allowed(value) {
                return None;
            }
            Some(value.into())
        });
    for tag in ["blockquote", "del", "ins", "q"] {
        b.rm_tag_attributes(tag, ["cite"]);
    }
    for h in ["h1", "h2", "h3", "h4", "h5", "h6"] {
        b.add_tag_attributes(h, ["align"]);
    }
    b
});

/// Largest image or rule dimension kept, in CSS pixels.
pub(crate) const MAX_DIMENSION: u32 = 4096;

/// Whether a dimension attribute is a plain size: digits (optionally `px`) up to
/// [`MAX_DIMENSION`], or digits and `%` up to 100. Anything else is dropped, and the element
/// takes its natural size.
fn dimension_allowed(value: &str) -> bool {
    let value = value.trim_matches(|c: char| c.is_ascii_whitespace());
    let (digits, cap) = if let Some(d) = value.strip_suffix('%') {
        (d, 100)
    } else {
        (value.strip_suffix("px").unwrap_or(value), MAX_DIMENSION)
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u32>().is_ok_and(|n| n <= cap)
}

/// Sanitise `html` (which this crate produced: every tag well formed, attribute values quoted).
pub(crate) fn sanitize(html: &str) -> String {
    BUILDER.clean(&cut_text_runs(html)).to_string()
}

/// Insert an empty comment after every [`MAX_TEXT_RUN`] bytes of text between two tags (never
/// inside a tag, an entity or a character). html5ever's serialiser looks for the next `<`/`>`
/// in the rest of a text node for every `&` or U+0080–U+00BF it escapes, so one long text node
/// costs quadratic time; the sanitiser drops the comments and keeps the pieces as separate
/// nodes, so the output is the same and the cost linear.
pub(crate) fn cut_text_runs(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() + html.len() / MAX_TEXT_RUN * 7 + 16);
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    let mut in_entity = false;
    let mut run = 0usize;
    let mut copied = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        if in_tag {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'>') => in_tag = false,
                _ => {}
            }
            continue;
        }
        if b == b'<' {
            in_tag = true;
            in_entity = false;
            run = 0;
            continue;
        }
        if in_entity && !(b.is_ascii_alphanumeric() || b == b'#') {
            in_entity = false;
            if b == b';' {
                run += 1;
                continue;
            }
        }
        if run >= MAX_TEXT_RUN && !in_entity && html.is_char_boundary(i) {
            out.push_str(&html[copied..i]);
            out.push_str("<!---->");
            copied = i;
            run = 0;
        }
        if b == b'&' {
            in_entity = true;
        }
        run += 1;
    }
    out.push_str(&html[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_cut_between_characters_and_entities_only() {
        let text = "é&amp;x".repeat(200);
        let html = format!(
            "<p title=\"{}\">{text}</p><pre>{text}</pre>",
            "a>b".repeat(300)
        );
        let cut = cut_text_runs(&html);
        assert!(cut.matches("<!---->").count() >= 8, "{cut}");
        assert_eq!(cut.replace("<!---->", ""), html);
        for piece in cut.split("<!---->") {
            // no entity is cut in two
            assert_eq!(
                piece.matches('&').count(),
                piece.matches("&amp;").count(),
                "{piece}"
            );
        }
        // the attribute (with its `>`) is never cut
        assert!(cut.starts_with(&format!("<p title=\"{}\">", "a>b".repeat(300))));
        // the sanitiser's output is the same as without the cuts
        assert_eq!(
            BUILDER.clean(&cut).to_string(),
            BUILDER.clean(&html).to_string()
        );
    }

    #[test]
    fn cite_is_dropped_and_the_allow_list_keeps_no_unchecked_url() {
        let out = sanitize(
            "<blockquote cite=\"javascript:alert(1)\">b</blockquote><q cite=\"https://t.example/q\">q</q><del cite=\"javascript:x\" datetime=\"2020-01-01\">d</del><ins cite=\"data:text/html,x\">i</ins>",
        );
        assert!(
            !out.contains("cite=") && !out.contains("javascript"),
            "{out}"
        );
        assert!(
            out.contains("<del datetime=\"2020-01-01\">d</del>"),
            "{out}"
        );
        // every attribute that holds a URL is one ammonia's scheme filter checks (`href`,
        // `src`); any other (`cite`, `longdesc`, `action`, `poster`, ...) would pass unchecked
        let url_attributes = [
            "cite",
            "longdesc",
            "action",
            "formaction",
            "data",
            "poster",
            "background",
            "usemap",
            "ping",
            "srcset",
            "manifest",
            "codebase",
            "classid",
            "archive",
            "profile",
            "icon",
            "itemtype",
            "itemid",
            "xmlns",
        ];
        let mut allowed: Vec<&str> = BUILDER.clone_generic_attributes().into_iter().collect();
        for attributes in BUILDER.clone_tag_attributes().into_values() {
            allowed.extend(attributes);
        }
        for attribute in allowed {
            assert!(!url_attributes.contains(&attribute), "{attribute}");
        }
    }

    #[test]
    fn absurd_dimensions_are_dropped_plain_ones_kept() {
        let out = sanitize(
            "<img src=\"https://e.org/a.png\" width=\"99999999\" height=\"99999999\"><img src=\"https://e.org/b.png\" width=\"1\" height=\"4097\"><hr size=\"99999999\" width=\"1e9\">",
        );
        assert!(!out.contains("9999") && !out.contains("4097"), "{out}");
        assert!(!out.contains("size=") && !out.contains("1e9"), "{out}");
        assert!(
            out.contains("<img src=\"https://e.org/b.png\" width=\"1\">"),
            "{out}"
        );
        for kept in ["200", " 64 ", "120px", "50%", "100%", "4096", "0"] {
            assert!(dimension_allowed(kept), "{kept:?}");
        }
        for dropped in [
            "",
            "4097",
            "101%",
            "99999999999999999999",
            "-1",
            "1.5",
            "1e3",
            "12em",
            "calc(1px)",
            "%",
            "px",
            "+5",
        ] {
            assert!(!dimension_allowed(dropped), "{dropped:?}");
        }
    }

    #[test]
    fn classes_and_schemes() {
        let out = sanitize(
            "<p class=\"description-note\">n</p><pre class=\"description-plain x\">t</pre><p class=\"evil\">e</p><a href=\"javascript:x\">j</a>",
        );
        assert!(out.contains("<p class=\"description-note\">"), "{out}");
        assert!(out.contains("<pre class=\"description-plain\">"), "{out}");
        assert!(
            !out.contains("evil") && !out.contains("javascript"),
            "{out}"
        );
    }
}
