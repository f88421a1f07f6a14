//! Which Host a request may name. When `public_url` is set (with `http.allowed_hosts` besides),
//! only their host names are answered; a request for any other Host (DNS rebinding, a forged
//! header, a misrouted proxy) gets 421 on every route before anything else runs, except the
//! health check (`HEALTH_PATH`), which load balancers and probes reach by address and which
//! reveals nothing. Without `public_url` any Host is answered, and nothing kept by the server
//! depends on it (see `state::simple_link_base`). Whatever the list, a Host (or absolute-form
//! authority) that is not a well-formed authority of at most `MAX_AUTHORITY` bytes gets 400
//! before any handler runs (`refusal`, in the front door), so the base URL a response may
//! carry is small and plain.

use axum::http::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The host name a request names (`Host`, or the authority of an absolute-form target),
/// as the allow-list holds it: lowercase, port and trailing dot removed, IPv6 in brackets.
fn requested_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(a) => a.as_str(),
        None => req.headers().get(header::HOST)?.to_str().ok()?,
    };
    let raw = raw.trim();
    let raw = raw.rsplit_once('@').map_or(raw, |(_, h)| h);
    let host = if let Some(rest) = raw.strip_prefix('[') {
        let (inner, _) = rest.split_once(']')?;
        let v6: std::net::Ipv6Addr = inner.parse().ok()?;
        return Some(format!("[{v6}]"));
    } else {
        raw.split(':').next()?
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Longest `Host` accepted (a DNS name is at most 253 bytes; with a port, 255 is plenty).
pub(crate) const MAX_AUTHORITY: usize = 255;

/// Whether `s` is a well-formed authority without user info: a DNS-style host name (labels of
/// 1–63 letters, digits, `-` or `_`, an optional trailing dot), an IPv4 address or a bracketed
/// IPv6 address, then an optional `:port` (1–65535), at most `MAX_AUTHORITY` bytes in all.
pub(crate) fn is_valid_authority(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_AUTHORITY {
        return false;
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inner, after)) = rest.split_once(']') else {
            return false;
        };
        if inner.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            a => match a.strip_prefix(':') {
                Some(p) => (None, Some(p)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    let host_ok = host.is_none_or(|h| {
        let h = h.strip_suffix('.').unwrap_or(h);
        !h.is_empty()
            && h.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    });
    port_ok && host_ok
}

/// What a request names as its authority, checked: `Ok(())` when every `Host` header (at most
/// one) and an absolute-form target's authority are well formed. An empty `Host` (allowed by
/// HTTP/1.1 for a target without authority) and no `Host` at all (HTTP/1.0) pass: links then
/// use `localhost`.
fn authority_is_acceptable<B>(req: &Request<B>) -> bool {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return false;
    }
    let header_ok = first.is_none_or(|v| {
        v.to_str()
            .is_ok_and(|h| h.is_empty() || is_valid_authority(h))
    });
    let target_ok = req
        .uri()
        .authority()
        .is_none_or(|a| is_valid_authority(a.as_str()));
    header_ok && target_ok
}

/// Routes answered whatever the Host, because probes name the server by its address: liveness
/// (`routes::healthz`, says only that the process answers) and readiness
/// (`readiness::READY_PATH`, says only which check failed; cached).
pub(crate) const HEALTH_PATH: &str = "/healthz";

/// Whether `req` names an allowed host (`allowed` empty = any), or asks for a health check.
fn is_allowed<B>(req: &Request<B>, allowed: &[String]) -> Result<(), Option<String>> {
    let path = req.uri().path();
    if allowed.is_empty() || path == HEALTH_PATH || path == crate::readiness::READY_PATH {
        return Ok(());
    }
    match requested_host(req) {
        Some(h) if allowed.contains(&h) => Ok(()),
        other => Err(other),
    }
}

/// The allowed host names (the front door checks them only when there are any).
pub(crate) type AllowedHosts = std::sync::Arc<[String]>;

/// The refusal of a request whose Host is not a well-formed authority (400), or names a host
/// this index does not answer for (421 Misdirected Request; `allowed` is `None` when any host
/// is), before it reaches a handler.
pub(crate) fn refusal<B>(req: &Request<B>, allowed: Option<&AllowedHosts>) -> Option<Response> {
    if !authority_is_acceptable(req) {
        return Some(ApiError::bad_host().into_response());
    }
    match allowed.map(|a| is_allowed(req, a)) {
        Some(Err(named)) => Some(ApiError::misdirected(named.as_deref()).into_response()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, uri: &str) -> Request<axum::body::Body> {
        let mut b = Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn host_names_are_compared_without_port_case_or_trailing_dot() {
        let allowed = vec!["pypi.example.org".to_owned(), "[::1]".to_owned()];
        for ok in [
            "pypi.example.org",
            "PyPI.Example.org:8443",
            "pypi.example.org.",
            "[::1]:8080",
            "[0:0::1]",
        ] {
            assert_eq!(
                is_allowed(&req(Some(ok), "/simple/"), &allowed),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "pypi.example.org.evil.example",
            "127.0.0.1",
            "[::2]",
            "",
        ] {
            assert!(is_allowed(&req(Some(bad), "/"), &allowed).is_err(), "{bad}");
        }
        assert_eq!(is_allowed(&req(None, "/"), &allowed), Err(None));
        // an absolute-form target names its own host, whatever the header says
        assert!(
            is_allowed(
                &req(Some("pypi.example.org"), "http://evil.example/simple/"),
                &allowed
            )
            .is_err()
        );
        // no list: anything
        assert_eq!(is_allowed(&req(Some("evil.example"), "/"), &[]), Ok(()));
        assert_eq!(is_allowed(&req(None, "/"), &[]), Ok(()));
    }

    #[test]
    fn an_authority_is_a_short_host_name_or_address_with_an_optional_port() {
        let long_label = "a".repeat(63);
        let near_max = format!("{}.b", [long_label.as_str(); 3].join("."));
        let max = format!("{near_max}.{}:65535", "c".repeat(255 - near_max.len() - 7));
        assert_eq!(max.len(), MAX_AUTHORITY);
        for ok in [
            "localhost",
            "pypi.example.org",
            "pypi.example.org.",
            "PyPI.Example.org:8443",
            "my_service:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "[fd00::7]:1",
            near_max.as_str(),
            max.as_str(),
        ] {
            assert!(is_valid_authority(ok), "{ok}");
        }
        let too_long = format!("{}.{}", "a".repeat(60), "b.".repeat(100));
        for bad in [
            "",
            ":80",
            "a:",
            "a:0",
            "a:65536",
            "a:+80",
            "a:8080:1",
            "a..b",
            ".a",
            "user@host",
            "a b",
            "a/b",
            "a%2e",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[zz]",
            "[::1]:99999",
            "::1",
            &"a".repeat(64),
            &format!("{max}x"),
            &too_long,
        ] {
            assert!(!is_valid_authority(bad), "{bad}");
        }
        let mut two = req(Some("a.example"), "/");
        two.headers_mut()
            .append(header::HOST, "b.example".parse().expect("value"));
        assert!(!authority_is_acceptable(&two));
        assert!(authority_is_acceptable(&req(None, "/")));
        assert!(authority_is_acceptable(&req(Some(""), "/")));
        assert!(!authority_is_acceptable(&req(Some(&"h".repeat(300)), "/")));
        assert!(!authority_is_acceptable(&req(
            Some("ok.example"),
            "http://bad..host:99999/simple/"
        )));
    }

    #[test]
    fn only_the_health_checks_are_answered_for_any_host() {
        let allowed = vec!["pypi.example.org".to_owned()];
        for host in [
            Some("10.0.0.7:8080"),
            Some("[fd00::7]"),
            Some("evil.example"),
            None,
        ] {
            assert_eq!(
                is_allowed(&req(host, "/healthz"), &allowed),
                Ok(()),
                "{host:?}"
            );
            assert_eq!(
                is_allowed(&req(host, "/healthz?probe=1"), &allowed),
                Ok(()),
                "{host:?}"
            );
            assert_eq!(
                is_allowed(&req(host, "/readyz"), &allowed),
                Ok(()),
                "{host:?}"
            );
            for other in [
                "/readyz/",
                "/READYZ",
                "/healthz/",
                "/healthz/x",
                "/HEALTHZ",
                "/simple/",
                "/healthzz",
            ] {
                assert!(
                    is_allowed(&req(host, other), &allowed).is_err(),
                    "{host:?} {other}"
                );
            }
        }
    }
}
