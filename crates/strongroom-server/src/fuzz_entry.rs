//! The bodies of the `fuzz/` targets for this crate, called by the cargo-fuzz targets and by
//! the corpus replay test (`cargo test`), so the two can never drift apart.
//!
//! Only the parsers this crate writes itself are here: request headers (`Range`,
//! `If-None-Match`, `Accept-Encoding`, cookies) and the XML-RPC request body. The multipart
//! body is parsed by axum (multer) and its fields by `strongroom-protocol`; content negotiation
//! (`Accept`, `?format=`) is `strongroom_protocol::simple::SimpleFormat::negotiate`, fuzzed by
//! that crate's `accept` target.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::downloads::parse_range;
use crate::headers::{choose_coding, etag_matches};
use crate::web::session::cookie;
use crate::xmlrpc::parse_call;

/// One header value, read by every header parser of the server.
pub fn headers(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let mut map = HeaderMap::new();
    for name in [
        header::RANGE,
        header::IF_NONE_MATCH,
        header::ACCEPT_ENCODING,
        header::COOKIE,
    ] {
        map.insert(name, value.clone());
    }
    for len in [0, 1, 1000, u64::MAX] {
        if let Some(Ok(range)) = parse_range(&map, len) {
            assert!(
                range.start < range.end && range.end <= len,
                "{range:?} within {len}"
            );
        }
    }
    let _ = etag_matches(&map, "\"abc\"");
    let _ = choose_coding(&map, true, true);
    if let Some(v) = cookie(&map, "__Host-strongroom-session") {
        assert!(!v.is_empty() && v.len() <= 512);
    }
}

/// An XML-RPC `<methodCall>` body as the mirror endpoint reads it.
pub fn xmlrpc(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(call) = parse_call(text) {
        assert!(!call.method.is_empty());
        assert!(call.params.len() <= text.len());
    }
}

/// This crate's fuzz targets: `fuzz/fuzz_targets/<name>.rs` calls `fuzz_entry::<name>`.
pub const TARGETS: &[strongroom_protocol::fuzz_entry::Target] =
    &[("headers", headers), ("xmlrpc", xmlrpc)];

#[cfg(test)]
mod tests {
    #[test]
    fn committed_corpora_replay_without_a_panic() {
        let replayed =
            strongroom_protocol::fuzz_entry::replay_corpus("strongroom_server", super::TARGETS);
        assert!(replayed > 0);
    }
}
