//! Server-driven content negotiation for the simple API, as PyPI does it: offers
//! `text/html`, `v1+html`, `v1+json` (in that order) to WebOb's `acceptable_offers`,
//! takes the best, and falls back to `text/html` when nothing matches (never 406).

use super::{CONTENT_TYPE_TEXT_HTML, CONTENT_TYPE_V1_HTML, CONTENT_TYPE_V1_JSON};

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

const OFFERS: [SimpleFormat; 3] = [
    SimpleFormat::TextHtml,
    SimpleFormat::V1Html,
    SimpleFormat::V1Json,
];

impl SimpleFormat {
    /// The `Content-Type` to send (without parameters).
    pub fn content_type(self) -> &'static str {
        match self {
            Self::TextHtml => CONTENT_TYPE_TEXT_HTML,
            Self::V1Html => CONTENT_TYPE_V1_HTML,
            Self::V1Json => CONTENT_TYPE_V1_JSON,
        }
    }

    /// True for the two HTML formats.
    pub fn is_html(self) -> bool {
        !matches!(self, Self::V1Json)
    }

    /// Pick the format for an `Accept` header (`None` = header absent).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Self::TextHtml;
        };
        let Some(ranges) = parse_accept(accept) else {
            return Self::TextHtml;
        };
        let mut best: Option<(Self, u32)> = None;
        for offer in OFFERS {
            let Some(q) = quality(&ranges, offer.content_type()) else {
                continue;
            };
            if q > 0 && best.is_none_or(|(_, best_q)| q > best_q) {
                best = Some((offer, q));
            }
        }
        best.map_or(Self::TextHtml, |(offer, _)| offer)
    }
}

/// A media range: type, subtype (lower case), quality in thousandths.
struct Range {
    kind: String,
    subtype: String,
    q: u32,
}

/// Parse an Accept header; `None` when it is malformed (treated as absent, like WebOb).
fn parse_accept(header: &str) -> Option<Vec<Range>> {
    let mut ranges = Vec::new();
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut parts = item.split(';').map(str::trim);
        let (kind, subtype) = parts.next()?.split_once('/')?;
        let mut q = 1000;
        let mut extra_params = false;
        for param in parts.filter(|p| !p.is_empty()) {
            let (key, value) = param.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("q") {
                q = parse_q(value.trim())?;
            } else {
                extra_params = true;
            }
        }
        // Offers carry no parameters, so ranges with parameters never match them.
        if !extra_params {
            ranges.push(Range {
                kind: kind.trim().to_ascii_lowercase(),
                subtype: subtype.trim().to_ascii_lowercase(),
                q,
            });
        }
    }
    Some(ranges)
}

/// `q` values are 0–1 with at most three decimals.
fn parse_q(value: &str) -> Option<u32> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u32 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The quality of `offer` under the most specific matching range, if any matches.
fn quality(ranges: &[Range], offer: &str) -> Option<u32> {
    let (kind, subtype) = offer.split_once('/')?;
    let mut best: Option<(u8, u32)> = None;
    for range in ranges {
        let specificity = if range.kind == kind && range.subtype == subtype {
            3
        } else if range.kind == kind && range.subtype == "*" {
            2
        } else if range.kind == "*" && range.subtype == "*" {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, range.q));
        }
    }
    best.map(|(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::SimpleFormat::{self, TextHtml, V1Html, V1Json};

    #[test]
    fn negotiation_table() {
        let cases: [(Option<&str>, SimpleFormat); 14] = [
            (None, TextHtml),
            (Some(""), TextHtml),
            (Some("*/*"), TextHtml),
            (Some("text/html"), TextHtml),
            (Some("application/vnd.pypi.simple.v1+json"), V1Json),
            (Some("application/vnd.pypi.simple.v1+html"), V1Html),
            (
                Some(
                    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
                ),
                V1Json,
            ),
            (
                Some("application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"),
                V1Html,
            ),
            (Some("application/vnd.pypi.simple.latest+json"), TextHtml),
            (Some("application/json"), TextHtml),
            (Some("application/*"), V1Html),
            (
                Some("*/*;q=0.1, application/vnd.pypi.simple.v1+json"),
                V1Json,
            ),
            (Some("text/html;q=0, */*"), V1Html),
            (Some("garbage;;q=x"), TextHtml),
        ];
        for (accept, want) in cases {
            assert_eq!(SimpleFormat::negotiate(accept), want, "{accept:?}");
        }
        assert_eq!(V1Json.content_type(), "application/vnd.pypi.simple.v1+json");
        assert!(V1Html.is_html() && TextHtml.is_html() && !V1Json.is_html());
    }
}
