//! Content negotiation for the simple API (PEP 691): `?format=` first, then `Accept` q-values;
//! like PyPI, an unacceptable request falls back to `text/html` rather than 406.

/// The formats the simple API can answer in, in PyPI's order of preference for ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SimpleFormat {
    TextHtml,
    V1Html,
    V1Json,
}

impl SimpleFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            SimpleFormat::TextHtml => "text/html; charset=utf-8",
            SimpleFormat::V1Html => "application/vnd.pypi.simple.v1+html",
            SimpleFormat::V1Json => "application/vnd.pypi.simple.v1+json",
        }
    }

    pub fn is_json(self) -> bool {
        self == SimpleFormat::V1Json
    }

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
}

const OFFERS: [SimpleFormat; 3] = [
    SimpleFormat::TextHtml,
    SimpleFormat::V1Html,
    SimpleFormat::V1Json,
];

fn offer_media(f: SimpleFormat) -> (&'static str, &'static str) {
    match f {
        SimpleFormat::TextHtml => ("text", "html"),
        SimpleFormat::V1Html => ("application", "vnd.pypi.simple.v1+html"),
        SimpleFormat::V1Json => ("application", "vnd.pypi.simple.v1+json"),
    }
}

/// Pick the format for a request.
pub(crate) fn choose(format_param: Option<&str>, accept: Option<&str>) -> SimpleFormat {
    if let Some(f) = format_param.and_then(|f| SimpleFormat::from_media(f.trim())) {
        return f;
    }
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return SimpleFormat::TextHtml;
    };
    // (quality, specificity) per offer: the most specific matching range decides the quality.
    let mut best: Option<(f32, usize, SimpleFormat)> = None;
    for (idx, offer) in OFFERS.iter().enumerate() {
        let (otype, osub) = offer_media(*offer);
        let mut q_for_offer: Option<(u8, f32)> = None;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=") {
                    q = v.trim().parse::<f32>().unwrap_or(0.0).clamp(0.0, 1.0);
                }
            }
            let (rtype, rsub) = media.split_once('/').unwrap_or((media.as_str(), ""));
            let rsub = rsub.replace("latest", "v1");
            let specificity = if rtype == otype && rsub == osub {
                3
            } else if rtype == otype && rsub == "*" {
                2
            } else if rtype == "*" && rsub == "*" {
                1
            } else {
                0
            };
            if specificity > 0 && q_for_offer.is_none_or(|(s, _)| specificity > s) {
                q_for_offer = Some((specificity, q));
            }
        }
        if let Some((_, q)) = q_for_offer
            && q > 0.0
            && best.is_none_or(|(bq, _, _)| q > bq)
        {
            best = Some((q, idx, *offer));
        }
    }
    best.map_or(SimpleFormat::TextHtml, |(_, _, f)| f)
}

#[cfg(test)]
mod tests {
    use super::SimpleFormat::*;
    use super::*;

    #[test]
    fn negotiation_table() {
        let cases: &[(Option<&str>, Option<&str>, SimpleFormat)] = &[
            (None, None, TextHtml),
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
                Some("application/vnd.pypi.simple.v1+json;q=0"),
                TextHtml,
            ),
            (None, Some("image/png"), TextHtml),
            (None, Some("garbage;;;q=x"), TextHtml),
            (None, Some("application/*"), V1Html),
            (
                Some("application/vnd.pypi.simple.v1+json"),
                Some("text/html"),
                V1Json,
            ),
            (
                Some("nonsense"),
                Some("application/vnd.pypi.simple.v1+json"),
                V1Json,
            ),
        ];
        for (fmt, accept, want) in cases {
            assert_eq!(
                choose(*fmt, *accept),
                *want,
                "format={fmt:?} accept={accept:?}"
            );
        }
    }
}
