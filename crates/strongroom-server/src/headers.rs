//! Response headers every answer carries (security) and helpers for conditional requests.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;

/// The CSP of the web UI's HTML pages: own scripts, styles and images only, no framing.
pub(crate) const HTML_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The CSP of everything else (API documents, files): nothing may load.
pub(crate) const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Add the security headers to every response: the HTML CSP for UI pages (marked with
/// `web::UiPage`), the strict one for the rest; HSTS when the request came over HTTPS.
pub(crate) fn secure(https: bool, resp: &mut Response) {
    let ui = resp.extensions().get::<crate::web::UiPage>().is_some();
    let h = resp.headers_mut();
    if ui {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(HTML_CSP),
        );
        h.insert(
            "permissions-policy",
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        );
        h.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
    }
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(API_CSP));
}

/// Whether `If-None-Match` names `etag` (or `*`).
pub(crate) fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let Some(v) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    v.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag || t.strip_prefix("W/") == Some(etag))
}

/// A content coding a kept page may be sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Identity,
    Gzip,
    /// Zstandard (RFC 8878), which uv asks for: kept only for big pages.
    Zstd,
}

impl Coding {
    pub(crate) fn header(self) -> Option<HeaderValue> {
        self.name().map(HeaderValue::from_static)
    }

    /// The coding's token (`Content-Encoding`, and the `ETag` suffix); `None` for identity.
    fn name(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Zstd => Some("zstd"),
        }
    }
}

/// The `ETag` of a page's answer in `coding`. A strong tag names one sequence of bytes (RFC
/// 9110, 8.8.3), so a compressed answer's tag is the page's with the coding inside the
/// quotes (`"7-html-1.0-gzip"`): a cache or a client never takes one coding's bytes for
/// another's. `None` if `etag` is not a quoted tag (a page's always is).
pub(crate) fn coded_etag(etag: &HeaderValue, coding: Coding) -> Option<HeaderValue> {
    let Some(name) = coding.name() else {
        return Some(etag.clone());
    };
    let inner = etag.as_bytes().strip_suffix(b"\"")?;
    let mut v = Vec::with_capacity(inner.len() + name.len() + 2);
    v.extend_from_slice(inner);
    v.push(b'-');
    v.extend_from_slice(name.as_bytes());
    v.push(b'"');
    HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).ok()
}

/// The most `Accept-Encoding` entries read (a client lists a handful).
const MAX_CODINGS: usize = 16;

/// The coding to answer in, of those the page has (`zstd`, `gzip`): the one the client gives
/// the highest weight (`q`), zstd first on a tie (smaller, and faster to decode); `*` stands
/// for any coding the client does not name; `x-gzip` is gzip. Identity when the client
/// accepts neither (or sends no `Accept-Encoding`), or weighs `identity` above the coding
/// chosen. Every `Accept-Encoding` line counts, [`MAX_CODINGS`] entries in all.
pub(crate) fn choose_coding(headers: &HeaderMap, zstd: bool, gzip: bool) -> Coding {
    // The weight of each coding: named, and `*`.
    let (mut q_zstd, mut q_gzip, mut q_any, mut q_identity) = (None, None, None, None);
    let parts = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .take(MAX_CODINGS);
    for part in parts {
        let mut it = part.split(';');
        let name = it.next().unwrap_or("").trim();
        let q = it
            .find_map(|p| {
                let p = p.trim();
                p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
            })
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        let slot = if name.eq_ignore_ascii_case("zstd") {
            &mut q_zstd
        } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            &mut q_gzip
        } else if name == "*" {
            &mut q_any
        } else if name.eq_ignore_ascii_case("identity") {
            &mut q_identity
        } else {
            continue;
        };
        *slot = Some(q);
    }
    let weight = |named: Option<f32>, offered: bool| {
        named
            .or(q_any)
            .filter(|q| offered && *q > 0.0)
            .unwrap_or(0.0)
    };
    let (z, g) = (weight(q_zstd, zstd), weight(q_gzip, gzip));
    if q_identity.is_some_and(|q: f32| q > z.max(g)) {
        Coding::Identity
    } else if z > 0.0 && z >= g {
        Coding::Zstd
    } else if g > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_and_encoding() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(etag_matches(&h, "\"a\""));
        assert!(etag_matches(&h, "\"b\""));
        assert!(!etag_matches(&h, "\"c\""));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0"),
        );
        assert_eq!(choose_coding(&h, false, true), Coding::Identity);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate"),
        );
        assert_eq!(choose_coding(&h, false, true), Coding::Gzip);
    }

    #[test]
    fn each_coding_has_its_own_strong_tag() {
        let page = HeaderValue::from_static("\"7-html-1.0\"");
        let tag = |c| coded_etag(&page, c).map(|v| v.as_bytes().to_vec());
        assert_eq!(tag(Coding::Identity), Some(b"\"7-html-1.0\"".to_vec()));
        assert_eq!(tag(Coding::Gzip), Some(b"\"7-html-1.0-gzip\"".to_vec()));
        assert_eq!(tag(Coding::Zstd), Some(b"\"7-html-1.0-zstd\"".to_vec()));
        assert!(coded_etag(&HeaderValue::from_static("unquoted"), Coding::Gzip).is_none());
    }

    fn coding(accept: &str, zstd: bool, gzip: bool) -> Coding {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(accept) {
            h.insert(header::ACCEPT_ENCODING, v);
        }
        choose_coding(&h, zstd, gzip)
    }

    #[test]
    fn the_coding_follows_the_client_s_weights_and_what_the_page_has() {
        use Coding::*;
        let cases: &[(&str, bool, bool, Coding)] = &[
            // uv and pip as they ask
            ("gzip, deflate, zstd", true, true, Zstd),
            ("gzip, deflate, zstd", false, true, Gzip),
            ("gzip, deflate", true, true, Gzip),
            ("gzip, deflate", false, false, Identity),
            ("", true, true, Identity),
            ("identity", true, true, Identity),
            // weights
            ("zstd;q=0.5, gzip", true, true, Gzip),
            ("zstd, gzip;q=0.9", true, true, Zstd),
            ("zstd;q=0, gzip", true, true, Gzip),
            ("zstd;q=0", true, true, Identity),
            ("gzip;q=0, *", true, true, Zstd),
            ("*;q=0.1, gzip", true, true, Gzip),
            ("*", false, true, Gzip),
            ("*;q=0", true, true, Identity),
            ("ZSTD", true, false, Zstd),
            ("x-gzip", false, true, Gzip),
            // a weight that is not a number counts as refused
            ("zstd;q=x, gzip", true, true, Gzip),
            // identity weighed above the codings
            ("identity, zstd;q=0.5, gzip;q=0.5", true, true, Identity),
            ("identity;q=0.5, zstd", true, true, Zstd),
        ];
        // several lines count together
        let mut h = HeaderMap::new();
        h.append(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0.5"),
        );
        h.append(header::ACCEPT_ENCODING, HeaderValue::from_static("zstd"));
        assert_eq!(choose_coding(&h, true, true), Zstd);
        for (accept, zstd, gzip, want) in cases {
            assert_eq!(
                coding(accept, *zstd, *gzip),
                *want,
                "{accept:?} zstd={zstd} gzip={gzip}"
            );
        }
    }
}
