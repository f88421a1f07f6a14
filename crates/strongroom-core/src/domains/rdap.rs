//! RDAP (RFC 9083) domain lookups: `{base}domain/{name}` over HTTP(S), redirects followed to HTTPS
//! only (rdap.org redirects to the registry), bodies capped at 1 MiB, every request timed out, and
//! the parts of the answer the domain check reads: the registration, re-registration, expiration
//! and last-changed events, and the status values.

use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What the registry says about a domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdapInfo {
    /// The domain the registry answered for (the address's domain or a parent of it).
    pub domain: String,
    /// The latest `registration` or `reregistration` event (µs).
    pub registered_at: Option<i64>,
    /// The `expiration` event (µs).
    pub expires_at: Option<i64>,
    /// The `last changed` event (µs).
    pub last_changed_at: Option<i64>,
    /// The `status` values, lower-cased (`active`, `redemption period`, `pending delete`, ...).
    pub statuses: Vec<String>,
}

/// The outcome of one RDAP lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdapOutcome {
    Found(RdapInfo),
    /// No registry object for the domain or any parent (unknown TLD, or not registered): no
    /// verdict on its own.
    NotFound,
    /// No RDAP base URL is configured.
    Disabled,
    /// Network error, timeout, a 5xx, an unreadable document: retry later.
    Error(String),
}

fn rfc3339_micros(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

/// Read an RFC 9083 domain object.
pub fn parse_domain(body: &[u8]) -> Result<RdapInfo, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if !v.is_object() {
        return Err("not an RDAP object".into());
    }
    if v.get("objectClassName")
        .and_then(|c| c.as_str())
        .is_some_and(|c| c != "domain")
    {
        return Err("not a domain object".into());
    }
    let mut info = RdapInfo {
        domain: v
            .get("ldhName")
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase(),
        ..RdapInfo::default()
    };
    for e in v
        .get("events")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
    {
        let action = e
            .get("eventAction")
            .and_then(|a| a.as_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(at) = e
            .get("eventDate")
            .and_then(|d| d.as_str())
            .and_then(rfc3339_micros)
        else {
            continue;
        };
        match action.as_str() {
            "registration" | "reregistration" => {
                info.registered_at = Some(info.registered_at.map_or(at, |r| r.max(at)));
            }
            "expiration" => info.expires_at = Some(at),
            "last changed" => info.last_changed_at = Some(at),
            _ => {}
        }
    }
    info.statuses = v
        .get("status")
        .and_then(|s| s.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    Ok(info)
}

/// The largest RDAP document read (registries answer a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;
/// Redirects followed per request (rdap.org → the registry, maybe once more).
const MAX_REDIRECTS: usize = 5;

/// Whether a redirect to `to` may be followed: to HTTPS, or back to the configured base's own
/// scheme, host and port (a plain-HTTP base on a test or internal server). Never elsewhere over
/// plain HTTP, never to another scheme.
pub fn redirect_allowed(base: &str, to: &reqwest::Url) -> bool {
    if to.scheme() == "https" {
        return true;
    }
    reqwest::Url::parse(base).is_ok_and(|b| {
        b.scheme() == to.scheme()
            && b.host_str() == to.host_str()
            && b.port_or_known_default() == to.port_or_known_default()
    })
}

/// An HTTP client for RDAP at `base`: 5 s to connect, 10 s per request in all (redirects and
/// the body included), at most 5 redirects, each one [`redirect_allowed`].
pub fn client(base: &str) -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let base = base.to_owned();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if redirect_allowed(&base, attempt.url()) {
            attempt.follow()
        } else {
            let to = attempt.url().to_string();
            attempt.error(format!("redirect to {to} refused (not HTTPS)"))
        }
    });
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .redirect(policy)
        .user_agent(concat!("strongroom/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

/// The names to ask the registry about, most specific first: the registrable domain is at most
/// the last three labels (`example.co.uk`) and at least the last two; never a bare TLD.
pub fn candidates(domain: &str) -> Vec<String> {
    let name = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(2);
    if labels.len() >= 3 {
        out.push(labels[labels.len() - 3..].join("."));
    }
    out.push(labels[labels.len() - 2..].join("."));
    out
}

/// Read a response body, refusing one larger than `max` bytes (announced or actual).
async fn read_capped(mut r: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    if r.content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(format!("response larger than {max} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("response larger than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Look `domain` up at `base` (`https://rdap.org/`). A 404 retries with the parent domain (an
/// address at `mail.example.co.uk` is registered as `example.co.uk`), down to two labels: see
/// [`candidates`]. A document for another domain than the one asked is an error, not an answer.
pub async fn lookup(client: &reqwest::Client, base: &str, domain: &str) -> RdapOutcome {
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    for name in candidates(domain) {
        let url = format!("{base}domain/{name}");
        let resp = client
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/rdap+json, application/json",
            )
            .send()
            .await;
        let r = match resp {
            Err(e) => return RdapOutcome::Error(format!("{url}: {e}")),
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => continue,
            Ok(r) if !r.status().is_success() => {
                return RdapOutcome::Error(format!("{url}: HTTP {}", r.status()));
            }
            Ok(r) => r,
        };
        let body = match read_capped(r, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return RdapOutcome::Error(format!("{url}: {e}")),
        };
        return match parse_domain(&body) {
            Ok(info) => answer_for(info, &name).map_or_else(
                |e| RdapOutcome::Error(format!("{url}: {e}")),
                RdapOutcome::Found,
            ),
            Err(e) => RdapOutcome::Error(format!("{url}: {e}")),
        };
    }
    RdapOutcome::NotFound
}

/// The document as the answer for `asked`: its `ldhName` (when given) must name that domain.
pub fn answer_for(mut info: RdapInfo, asked: &str) -> Result<RdapInfo, String> {
    if info.domain.is_empty() {
        info.domain = asked.to_owned();
    } else if info.domain != asked {
        return Err(format!(
            "the registry answered for {} instead of {asked}",
            info.domain
        ));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a registry's answer (RFC 9083 §5.3 shape).
    const DOC: &str = r#"{
      "objectClassName": "domain", "handle": "123_DOMAIN_COM-VRSN", "ldhName": "EXAMPLE.COM",
      "status": ["client delete prohibited", "Redemption Period"],
      "events": [
        {"eventAction": "registration", "eventDate": "1995-08-14T04:00:00Z"},
        {"eventAction": "expiration", "eventDate": "2026-08-13T04:00:00.5+02:00"},
        {"eventAction": "last changed", "eventDate": "2025-08-14T07:01:44Z"},
        {"eventAction": "reregistration", "eventDate": "2024-01-02T03:04:05Z"},
        {"eventAction": "last update of RDAP database", "eventDate": "not a date"}
      ],
      "rdapConformance": ["rdap_level_0"]
    }"#;

    #[test]
    fn reads_events_and_status() {
        let i = parse_domain(DOC.as_bytes()).expect("parses");
        assert_eq!(i.domain, "example.com");
        // The later of registration and re-registration.
        assert_eq!(i.registered_at, Some(1_704_164_645_000_000));
        assert_eq!(i.expires_at, Some(1_786_586_400_500_000));
        assert_eq!(i.last_changed_at, Some(1_755_154_904_000_000));
        assert_eq!(
            i.statuses,
            vec!["client delete prohibited", "redemption period"]
        );
    }

    #[test]
    fn climbs_to_the_registrable_domain_never_to_a_tld() {
        assert_eq!(
            candidates("a.b.mail.Example.co.uk."),
            vec!["example.co.uk", "co.uk"]
        );
        assert_eq!(
            candidates("mail.example.org"),
            vec!["mail.example.org", "example.org"]
        );
        assert_eq!(candidates("example.org"), vec!["example.org"]);
        assert!(candidates("org").is_empty());
        assert!(candidates("a..org").is_empty());
        assert!(candidates("").is_empty());
    }

    #[test]
    fn redirects_go_to_https_or_back_to_the_base() {
        let u = |s: &str| reqwest::Url::parse(s).expect("url");
        let base = "https://rdap.org/";
        assert!(redirect_allowed(
            base,
            &u("https://rdap.verisign.com/com/v1/domain/x.com")
        ));
        assert!(!redirect_allowed(
            base,
            &u("http://rdap.verisign.com/domain/x.com")
        ));
        assert!(!redirect_allowed(base, &u("ftp://rdap.org/domain/x.com")));
        let local = "http://127.0.0.1:8080/";
        assert!(redirect_allowed(
            local,
            &u("http://127.0.0.1:8080/other/domain/x.test")
        ));
        assert!(!redirect_allowed(
            local,
            &u("http://127.0.0.1:8081/domain/x.test")
        ));
        assert!(!redirect_allowed(
            local,
            &u("http://169.254.169.254/latest/meta-data")
        ));
    }

    #[test]
    fn a_document_for_another_domain_is_no_answer() {
        let doc = |name: &str| RdapInfo {
            domain: name.into(),
            ..RdapInfo::default()
        };
        assert_eq!(
            answer_for(doc("example.org"), "example.org").map(|i| i.domain),
            Ok("example.org".into())
        );
        assert_eq!(
            answer_for(doc(""), "example.org").map(|i| i.domain),
            Ok("example.org".into())
        );
        assert!(answer_for(doc("attacker.example"), "example.org").is_err());
    }

    /// A one-connection-at-a-time HTTP server on loopback: `route(path)` gives the raw response.
    async fn serve(
        route: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/", listener.local_addr().expect("addr"));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
                log.lock().expect("lock").push(path.clone());
                let _ = sock.write_all(&route(&path)).await;
                let _ = sock.shutdown().await;
            }
        });
        (base, seen)
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn lookups_climb_on_404_stop_at_two_labels_and_refuse_bad_answers() {
        let (base, seen) = serve(|path| match path {
            "/domain/example.org" => http(
                "200 OK",
                "Content-Type: application/rdap+json\r\n",
                br#"{"objectClassName":"domain","ldhName":"example.org","status":["active"]}"#,
            ),
            "/domain/moved.org" => {
                http("302 Found", "Location: /registry/domain/moved.org\r\n", b"")
            }
            "/registry/domain/moved.org" => http(
                "200 OK",
                "",
                br#"{"objectClassName":"domain","ldhName":"MOVED.ORG."}"#,
            ),
            "/domain/leak.org" => http(
                "302 Found",
                "Location: http://192.0.2.1:9/domain/leak.org\r\n",
                b"",
            ),
            "/domain/big.org" => {
                let mut body = br#"{"objectClassName":"domain","ldhName":"big.org","x":""#.to_vec();
                body.extend(std::iter::repeat_n(b'x', MAX_BODY));
                body.extend_from_slice(br#""}"#);
                http("200 OK", "", &body)
            }
            "/domain/other.org" => http(
                "200 OK",
                "",
                br#"{"objectClassName":"domain","ldhName":"evil.org"}"#,
            ),
            _ => http("404 Not Found", "", br#"{"errorCode":404}"#),
        })
        .await;
        let c = client(&base).expect("client");
        match lookup(&c, &base, "a.b.mail.example.org").await {
            RdapOutcome::Found(i) => assert_eq!(i.domain, "example.org"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            *seen.lock().expect("lock"),
            vec!["/domain/mail.example.org", "/domain/example.org"],
            "at most the last three labels, then two"
        );
        seen.lock().expect("lock").clear();
        assert_eq!(
            lookup(&c, &base, "x.unknown.test").await,
            RdapOutcome::NotFound
        );
        assert_eq!(
            *seen.lock().expect("lock"),
            vec!["/domain/x.unknown.test", "/domain/unknown.test"],
            "never the bare TLD"
        );
        // A redirect back to the base's own origin is followed; elsewhere over plain HTTP it is
        // not; an oversized body and a document about another domain are no answer.
        match lookup(&c, &base, "moved.org").await {
            RdapOutcome::Found(i) => assert_eq!(i.domain, "moved.org"),
            other => panic!("{other:?}"),
        }
        for (d, why) in [
            ("leak.org", "redirect"),
            ("big.org", "larger than"),
            ("other.org", "instead of"),
        ] {
            match lookup(&c, &base, d).await {
                RdapOutcome::Error(e) => assert!(e.contains(why), "{d}: {e}"),
                other => panic!("{d}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_domain_object() {
        assert!(parse_domain(b"<html>").is_err());
        assert!(parse_domain(b"[1]").is_err());
        assert!(parse_domain(br#"{"objectClassName": "entity"}"#).is_err());
        let empty = parse_domain(b"{}").expect("an empty object is a domain with no data");
        assert_eq!(empty, RdapInfo::default());
    }
}
