//! Content negotiation for the simple API (PEP 691), the one the server runs: `?format=` first,
//! then `Accept` q-values (the most specific matching range decides an offer's quality; ties go
//! to the first offer: `text/html`, `v1+html`, `v1+json`); like PyPI, an unacceptable request
//! falls back to `text/html` rather than 406. `latest` names v1.

use super::{CONTENT_TYPE_V1_HTML, CONTENT_TYPE_V1_JSON};

/// One of the three simple-API representations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimpleFormat {
    /// `text/html` (legacy alias of v1 HTML).
    TextHtml,
    /// `application/vnd.pypi.simple.v1+html`
    V1Html,
    /// `application/vnd.pypi.simple.v1+json`
    V1Json,
}

/// The offers, in order of preference for ties.
const OFFERS: [SimpleFormat; 3] = [
    SimpleFormat::TextHtml,
    SimpleFormat::V1Html,
    SimpleFormat::V1Json,
];

impl SimpleFormat {
    /// The `Content-Type` header of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            SimpleFormat::TextHtml => "text/html; charset=utf-8",
            SimpleFormat::V1Html => CONTENT_TYPE_V1_HTML,
            SimpleFormat::V1Json => CONTENT_TYPE_V1_JSON,
        }
    }

    /// True for the JSON format (false for both HTML ones).
    pub fn is_json(self) -> bool {
        self == SimpleFormat::V1Json
    }

    /// The format a `?format=` value names exactly, if any.
    fn from_media(m: &str) -> Option<SimpleFormat> {
        match m {
            "text/html" => Some(SimpleFormat::TextHtml),
            "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => {
                Some(SimpleFormat::V1Html)
            }
            "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => {
                Some(SimpleFormat::V1Json)
            }
            _ => None,
        }
    }

    /// The media type and subtype an `Accept` range is compared with.
    fn media(self) -> (&'static str, &'static str) {
        match self {
            SimpleFormat::TextHtml => ("text", "html"),
            SimpleFormat::V1Html => ("application", "vnd.pypi.simple.v1+html"),
            SimpleFormat::V1Json => ("application", "vnd.pypi.simple.v1+json"),
        }
    }

    /// Pick the format for a request: `format` is the `?format=` query value as decoded (a `+`
    /// written unescaped arrives as a space), `accept` the `Accept` header (`None` = absent).
    pub fn negotiate(format: Option<&str>, accept: Option<&str>) -> SimpleFormat {
        if let Some(f) = format.and_then(|f| SimpleFormat::from_media(&f.trim().replace(' ', "+")))
        {
            return f;
        }
        let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
            return SimpleFormat::TextHtml;
        };
        let mut best: Option<(f32, SimpleFormat)> = None;
        for offer in OFFERS {
            if let Some(q) = quality(accept, offer)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, offer));
            }
        }
        best.map_or(SimpleFormat::TextHtml, |(_, f)| f)
    }
}

/// Whether `accept` names `type/subtype` itself (not through a wildcard) with a quality above
/// zero. Pages outside the simple API answer HTML only to clients that ask for it by name
/// (browsers), and plain text to everything else (pip, `curl`'s `*/*`): the 404 page.
pub fn names_media(accept: Option<&str>, media: &str) -> bool {
    let Some((otype, osub)) = media.split_once('/') else {
        return false;
    };
    accept.is_some_and(|a| {
        a.split(',').any(|range| {
            let mut parts = range.split(';');
            let named = parts.next().unwrap_or("").trim();
            named.eq_ignore_ascii_case(&format!("{otype}/{osub}")) && q_of(parts) > 0.0
        })
    })
}

/// The `q` parameter among a range's parameters (1 when absent; unparseable is 0; clamped).
fn q_of<'a>(params: impl Iterator<Item = &'a str>) -> f32 {
    let mut q = 1.0f32;
    for p in params {
        if let Some(v) = p.trim().strip_prefix("q=") {
            q = v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
        }
    }
    q
}

/// The quality `accept` gives `offer`: that of its most specific matching range, if any matches
/// (an unparseable `q` counts as 0; values are clamped to 0–1).
fn quality(accept: &str, offer: SimpleFormat) -> Option<f32> {
    let (otype, osub) = offer.media();
    let mut found: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = q_of(parts);
        let (rtype, rsub) = media.split_once('/').unwrap_or((media.as_str(), ""));
        let rsub = rsub.replace("latest", "v1");
        let specificity = if rtype == otype && rsub == osub {
            3
        } else if rtype == otype && rsub == "*" {
            2
        } else if rtype == "*" && rsub == "*" {
            1
        } else {
            continue;
        };
        if found.is_none_or(|(s, _)| specificity > s) {
            found = Some((specificity, q));
        }
    }
    found.map(|(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::SimpleFormat::{self, TextHtml, V1Html, V1Json};
    use super::names_media;

    #[test]
    fn a_page_is_html_only_for_clients_that_name_it() {
        let html = |a: Option<&str>| names_media(a, "text/html");
        assert!(html(Some(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(html(Some("TEXT/HTML; q=0.5")));
        assert!(!html(Some("*/*")));
        assert!(!html(None));
        assert!(!html(Some("text/html;q=0")));
        assert!(!html(Some("text/htmlx, application/text/html")));
        assert!(!html(Some(
            "application/vnd.pypi.simple.v1+json, text/plain"
        )));
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Option<&str>, SimpleFormat)] = &[
            (None, None, TextHtml),
            (None, Some(""), TextHtml),
            (None, Some("*/*"), TextHtml),
            (None, Some("text/html"), TextHtml),
            (None, Some("application/vnd.pypi.simple.v1+json"), V1Json),
            (None, Some("application/vnd.pypi.simple.v1+html"), V1Html),
            (
                None,
                Some("application/vnd.pypi.simple.latest+json"),
                V1Json,
            ),
            // pip's header
            (
                None,
                Some(
                    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
                ),
                V1Json,
            ),
            (
                None,
                Some("text/html;q=0.01, application/vnd.pypi.simple.v1+json;q=0.5"),
                V1Json,
            ),
            (
                None,
                Some("application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"),
                V1Html,
            ),
            (
                None,
                Some("application/vnd.pypi.simple.v1+json;q=0"),
                TextHtml,
            ),
            (
                None,
                Some("*/*;q=0.1, application/vnd.pypi.simple.v1+json"),
                V1Json,
            ),
            (None, Some("text/html;q=0, */*"), V1Html),
            (None, Some("application/json"), TextHtml),
            (None, Some("image/png"), TextHtml),
            (None, Some("garbage;;;q=x"), TextHtml),
            (None, Some("application/*"), V1Html),
            (
                Some("application/vnd.pypi.simple.v1+json"),
                Some("text/html"),
                V1Json,
            ),
            // `?format=application/vnd.pypi.simple.v1+json` with the `+` unescaped
            (Some("application/vnd.pypi.simple.v1 json"), None, V1Json),
            (
                Some("nonsense"),
                Some("application/vnd.pypi.simple.v1+json"),
                V1Json,
            ),
        ];
        for (fmt, accept, want) in cases {
            assert_eq!(
                SimpleFormat::negotiate(*fmt, *accept),
                *want,
                "format={fmt:?} accept={accept:?}"
            );
        }
        assert_eq!(V1Json.content_type(), "application/vnd.pypi.simple.v1+json");
        assert_eq!(TextHtml.content_type(), "text/html; charset=utf-8");
        assert!(V1Json.is_json() && !V1Html.is_json() && !TextHtml.is_json());
    }
}
