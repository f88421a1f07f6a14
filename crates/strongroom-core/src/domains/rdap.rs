//! RDAP (RFC 9083) domain lookups: `{base}domain/{name}` over HTTP(S), redirects followed (rdap.org
//! redirects to the registry), and the parts of the answer the domain check reads: the
//! registration, re-registration, expiration and last-changed events, and the status values.

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

/// An HTTP client for RDAP: 10 s per request, redirects followed (at most 5).
pub fn client() -> Result<reqwest::Client, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("strongroom/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))
}

/// Look `domain` up at `base` (`https://rdap.org/`). A 404 retries with the parent domain (an
/// address at `mail.example.co.uk` is registered as `example.co.uk`), down to two labels.
pub async fn lookup(client: &reqwest::Client, base: &str, domain: &str) -> RdapOutcome {
    let base = if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    };
    let mut name = domain.trim_end_matches('.').to_ascii_lowercase();
    loop {
        let url = format!("{base}domain/{name}");
        let resp = client
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/rdap+json, application/json",
            )
            .send()
            .await;
        match resp {
            Err(e) => return RdapOutcome::Error(format!("{url}: {e}")),
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => match name.split_once('.') {
                Some((_, parent)) if parent.contains('.') => name = parent.to_owned(),
                _ => return RdapOutcome::NotFound,
            },
            Ok(r) if !r.status().is_success() => {
                return RdapOutcome::Error(format!("{url}: HTTP {}", r.status()));
            }
            Ok(r) => {
                return match r.bytes().await {
                    Err(e) => RdapOutcome::Error(format!("{url}: {e}")),
                    Ok(body) => match parse_domain(&body) {
                        Ok(mut info) => {
                            if info.domain.is_empty() {
                                info.domain = name;
                            }
                            RdapOutcome::Found(info)
                        }
                        Err(e) => RdapOutcome::Error(format!("{url}: {e}")),
                    },
                };
            }
        }
    }
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
    fn refuses_what_is_not_a_domain_object() {
        assert!(parse_domain(b"<html>").is_err());
        assert!(parse_domain(b"[1]").is_err());
        assert!(parse_domain(br#"{"objectClassName": "entity"}"#).is_err());
        let empty = parse_domain(b"{}").expect("an empty object is a domain with no data");
        assert_eq!(empty, RdapInfo::default());
    }
}
