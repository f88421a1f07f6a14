//! Sending one GET and following its redirects by hand (at most [`MAX_REDIRECTS`]), so the
//! credential rule holds on every hop: the upstream's basic-auth credentials go only to the
//! upstream's own origin (scheme, host, port), and never again once a redirect has left it.
//! A redirect to another scheme than HTTP(S), or from HTTPS down to plain HTTP, is refused, and
//! so is a plain-HTTP URL on the page of an HTTPS upstream. For files ([`FilePolicy`]) every hop
//! must also be on the upstream's origin, on a host in `upstream.file_hosts`, or else is fetched
//! with the guarded client, which connects to public addresses only.

use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{StatusCode, Url};

use crate::{FileHost, UpstreamError, UpstreamIndex};

/// Where file URLs may lead: the trusted hosts, and the client for every other host.
#[derive(Clone, Copy)]
pub(crate) struct FilePolicy<'a> {
    /// The client with the guarded resolver and no proxy.
    pub(crate) guarded: &'a reqwest::Client,
    /// `upstream.file_hosts`.
    pub(crate) hosts: &'a [FileHost],
}

/// How one hop of a file fetch is made.
#[derive(Debug, PartialEq, Eq)]
enum Hop {
    /// The upstream's origin or a configured files host: the ordinary client (proxies honoured).
    Trusted,
    /// Any other host: the guarded client (public addresses only).
    Guarded,
}

/// How `url` may be fetched as a file of the upstream at `index_url`, or why not.
fn file_hop(index_url: &Url, hosts: &[FileHost], url: &Url) -> Result<Hop, UpstreamError> {
    if same_origin(url, index_url) || hosts.iter().any(|h| h.matches(url)) {
        return Ok(Hop::Trusted);
    }
    if crate::guard::url_allowed(url, false) {
        Ok(Hop::Guarded)
    } else {
        Err(UpstreamError::Forbidden(format!(
            "{} (not the upstream's origin, not in upstream.file_hosts, not a public address)",
            url.host_str().unwrap_or("?")
        )))
    }
}

/// Redirects followed per request.
pub const MAX_REDIRECTS: usize = 5;

/// Whether two URLs share an origin (scheme, host, port with the scheme's default).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether a redirect from `from` to `to` may be followed.
fn redirect_allowed(from: &Url, to: &Url) -> Result<(), String> {
    match (from.scheme(), to.scheme()) {
        ("https", "https") | ("http", "https") | ("http", "http") => Ok(()),
        ("https", "http") => Err(format!("redirect from HTTPS to plain HTTP refused ({to})")),
        (_, other) => Err(format!("redirect to a {other}: URL refused")),
    }
}

/// GET `url` with `headers`, following redirects; credentials from `index` are attached while
/// the chain is still on the index's origin; with `files`, every hop is held to [`FilePolicy`].
/// Returns the final response (its `url()` is the page URL relative links resolve against).
pub(crate) async fn get(
    http: &reqwest::Client,
    files: Option<FilePolicy<'_>>,
    index: &UpstreamIndex,
    url: &str,
    headers: HeaderMap,
    timeout_secs: u64,
) -> Result<reqwest::Response, UpstreamError> {
    let index_url = Url::parse(&index.url)
        .map_err(|e| UpstreamError::Config(format!("upstream URL {}: {e}", index.url)))?;
    let mut current = Url::parse(url)
        .map_err(|e| UpstreamError::Unreachable(format!("not a URL ({e}): {url}")))?;
    if !matches!(current.scheme(), "http" | "https") {
        return Err(UpstreamError::Unreachable(format!(
            "not an HTTP(S) URL: {current}"
        )));
    }
    // An HTTPS upstream's page pointing at plain HTTP is a downgrade like a redirect would be.
    redirect_allowed(&index_url, &current).map_err(|_| {
        UpstreamError::Unreachable(format!(
            "{current}: plain HTTP from an HTTPS upstream refused"
        ))
    })?;
    // Credentials are sent only while every hop so far stayed on the index's origin.
    let mut on_origin = true;
    for hop in 0..=MAX_REDIRECTS {
        on_origin = on_origin && same_origin(&current, &index_url);
        let client = match files {
            None => http,
            Some(policy) => match file_hop(&index_url, policy.hosts, &current)? {
                Hop::Trusted => http,
                Hop::Guarded => policy.guarded,
            },
        };
        let mut req = client.get(current.clone()).headers(headers.clone());
        if on_origin && index.has_credentials() {
            req = req.basic_auth(
                index.username.as_deref().unwrap_or(""),
                index.password.as_deref(),
            );
        }
        let resp = req
            .send()
            .await
            .map_err(|e| UpstreamError::transport(e, timeout_secs))?;
        if !is_redirect(resp.status()) {
            return Ok(resp);
        }
        if hop == MAX_REDIRECTS {
            break;
        }
        let next = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|loc| current.join(loc).ok())
            .ok_or_else(|| {
                UpstreamError::Unreachable(format!(
                    "redirect without a usable Location ({})",
                    resp.status().as_u16()
                ))
            })?;
        redirect_allowed(&current, &next).map_err(UpstreamError::Unreachable)?;
        current = next;
    }
    Err(UpstreamError::Unreachable(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn is_redirect(s: StatusCode) -> bool {
    matches!(s.as_u16(), 301 | 302 | 303 | 307 | 308)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        assert!(same_origin(
            &u("https://a.test/simple/"),
            &u("https://a.test:443/x")
        ));
        assert!(!same_origin(&u("https://a.test/"), &u("http://a.test/")));
        assert!(!same_origin(&u("https://a.test/"), &u("https://b.a.test/")));
        assert!(!same_origin(
            &u("http://127.0.0.1:1/"),
            &u("http://127.0.0.1:2/")
        ));
    }

    #[test]
    fn file_hops_are_trusted_guarded_or_refused() {
        let index = u("http://127.0.0.1:9000/simple/");
        let hosts = [FileHost::parse("files.example.org").expect("host")];
        let hop = |s: &str| file_hop(&index, &hosts, &u(s));
        assert_eq!(
            hop("http://127.0.0.1:9000/f/a.whl").ok(),
            Some(Hop::Trusted)
        );
        assert_eq!(
            hop("https://files.example.org/a.whl").ok(),
            Some(Hop::Trusted)
        );
        assert_eq!(
            hop("https://cdn.example.net/a.whl").ok(),
            Some(Hop::Guarded)
        );
        for refused in [
            "http://127.0.0.1:9001/a.whl",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/a.whl",
            "http://[::1]:9000/a.whl",
            "http://[fd00::1]/a.whl",
        ] {
            assert!(
                matches!(hop(refused), Err(UpstreamError::Forbidden(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn downgrades_and_other_schemes_are_refused() {
        assert!(redirect_allowed(&u("https://a.test/"), &u("http://a.test/")).is_err());
        assert!(redirect_allowed(&u("https://a.test/"), &u("file:///etc/passwd")).is_err());
        assert!(redirect_allowed(&u("http://a.test/"), &u("https://b.test/")).is_ok());
    }
}
