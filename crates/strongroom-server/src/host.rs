//! Which Host a request may name. When `public_url` is set (with `http.allowed_hosts` besides),
//! only their host names are answered; a request for any other Host (DNS rebinding, a forged
//! header, a misrouted proxy) gets 421 on every route before anything else runs, except the
//! health check (`HEALTH_PATH`), which load balancers and probes reach by address and which
//! reveals nothing. Without `public_url` any Host is answered, and nothing kept by the server
//! depends on it (see `state::simple_link_base`).

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The host name a request names (`Host`, or the authority of an absolute-form target),
/// as the allow-list holds it: lowercase, port and trailing dot removed, IPv6 in brackets.
fn requested_host(req: &Request) -> Option<String> {
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

/// The one route answered whatever the Host: the health check (`routes::healthz`) says only
/// whether the database answers, and probes name the server by its address.
pub(crate) const HEALTH_PATH: &str = "/healthz";

/// Whether `req` names an allowed host (`allowed` empty = any), or asks for the health check.
fn is_allowed(req: &Request, allowed: &[String]) -> Result<(), Option<String>> {
    if allowed.is_empty() || req.uri().path() == HEALTH_PATH {
        return Ok(());
    }
    match requested_host(req) {
        Some(h) if allowed.contains(&h) => Ok(()),
        other => Err(other),
    }
}

/// The allowed host names (the middleware's state; the router adds the middleware only when
/// there are any).
pub(crate) type AllowedHosts = std::sync::Arc<[String]>;

/// Refuse requests for hosts this index does not answer for (421 Misdirected Request).
pub(crate) async fn check_host(
    State(allowed): State<AllowedHosts>,
    req: Request,
    next: Next,
) -> Response {
    match is_allowed(&req, &allowed) {
        Ok(()) => next.run(req).await,
        Err(named) => ApiError::misdirected(named.as_deref()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, uri: &str) -> Request {
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
    fn only_the_health_check_is_answered_for_any_host() {
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
            for other in [
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
