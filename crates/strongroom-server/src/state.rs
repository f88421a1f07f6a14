//! What every handler can reach: the core services and the rendered-page cache.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderMap;
use strongroom_core::{CoreError, RequestMeta, Services};

use crate::cache::PageCache;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub(crate) cache: Arc<PageCache>,
    /// Where uploads are streamed before they are checked.
    pub(crate) temp_dir: PathBuf,
    /// Key of the web UI's signed values (anonymous CSRF tokens): stored in the database, so
    /// every server behind a load balancer, and this one after a restart, accepts the others'.
    pub(crate) web_key: Arc<[u8; 32]>,
    /// Believe `X-Forwarded-Proto` (set only behind a proxy that sets it).
    pub(crate) trust_forwarded_proto: bool,
    /// Stands for the request's base URL in cached pages with absolute links when no
    /// `public_url` is set (random per process, so no uploaded text can contain it).
    pub(crate) base_marker: Arc<str>,
    /// Uploads in progress per account (`http.max_uploads_per_user`).
    pub(crate) upload_slots: Arc<crate::upload_slots::UploadSlots>,
    /// The last readiness answer (`/readyz`), reused for a second.
    pub(crate) readiness: Arc<crate::readiness::ReadinessCache>,
}

impl AppState {
    /// Build the state; `temp_dir` is created if missing, and the web signing key is read from
    /// the database (created there by the first server to start).
    pub async fn new(services: Services, temp_dir: PathBuf) -> Result<AppState, CoreError> {
        strongroom_store::private_fs::create_dir_all(&temp_dir)
            .map_err(|e| CoreError::Internal(format!("creating {}: {e}", temp_dir.display())))?;
        let web_key = services.web_signing_key().await?;
        let marker: [u8; 16] = rand::random();
        Ok(AppState {
            cache: Arc::new(PageCache::new(services.settings.http.cache_max_bytes)),
            services,
            temp_dir,
            web_key: Arc::new(web_key),
            trust_forwarded_proto: false,
            base_marker: Arc::from(format!("strongroombase{}", hex::encode(marker))),
            upload_slots: Arc::default(),
            readiness: Arc::default(),
        })
    }

    /// Trust the proxy's `X-Forwarded-Proto: https` (HSTS and secure-origin decisions).
    #[must_use]
    pub fn trust_forwarded_proto(mut self, yes: bool) -> AppState {
        self.trust_forwarded_proto = yes;
        self
    }

    /// Whether this request reached us over HTTPS (public URL, or a trusted proxy's word).
    pub(crate) fn is_https(&self, headers: &HeaderMap) -> bool {
        let public = self
            .services
            .settings
            .public_url
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
        public
            || (self.trust_forwarded_proto
                && headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")))
    }

    /// The configured public URL without a trailing slash, if any.
    pub(crate) fn public_base(&self) -> Option<String> {
        self.services
            .settings
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
    }

    /// The base of file links in simple pages (`/simple/<p>/`): the public URL, else relative
    /// to the page (PEP 503 allows relative URLs; pip, uv and mirrors resolve them), so a page
    /// never depends on the request's Host and one cached copy serves every client.
    pub(crate) fn simple_link_base(&self) -> String {
        self.public_base().unwrap_or_else(|| "../..".to_owned())
    }

    /// The absolute base URL for links built per request and never cached (web pages, the
    /// base slots of JSON API documents): the configured public URL, else this request's host,
    /// which `host::check_authority` has already bounded to `host::MAX_AUTHORITY` bytes of a
    /// plain authority (checked again here, so this can never carry more).
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.services.settings.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| crate::host::is_valid_authority(h))
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// The requester's address and agent, for the event log.
pub(crate) fn request_meta(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    trusted_proxies: &[std::net::IpAddr],
) -> RequestMeta {
    RequestMeta {
        ip: client_ip(headers, peer.map(|p| p.ip()), trusted_proxies).map(|ip| ip.to_string()),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted reverse proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
/// are whatever the client claimed and are never believed).
fn client_ip(
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return Some(peer) };
        for part in v.split(',') {
            match part.trim().parse() {
                Ok(ip) => hops.push(ip),
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for x in v {
            h.append("x-forwarded-for", x.parse().expect("header"));
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().expect("ip");
        let other: std::net::IpAddr = "192.0.2.9".parse().expect("ip");
        let trusted = [proxy];
        let ip = |h: &HeaderMap, peer| client_ip(h, Some(peer), &trusted).map(|i| i.to_string());
        // a direct client's header is ignored
        assert_eq!(ip(&xff(&["203.0.113.7"]), other), Some("192.0.2.9".into()));
        // through the proxy: the right-most untrusted hop, whatever the client prepended
        assert_eq!(
            ip(&xff(&["1.2.3.4, 203.0.113.7"]), proxy),
            Some("203.0.113.7".into())
        );
        assert_eq!(
            ip(&xff(&["1.2.3.4", "203.0.113.7, 10.0.0.2"]), proxy),
            Some("203.0.113.7".into())
        );
        // no header, or garbage: the proxy itself
        assert_eq!(ip(&HeaderMap::new(), proxy), Some("10.0.0.2".into()));
        assert_eq!(ip(&xff(&["not-an-ip"]), proxy), Some("10.0.0.2".into()));
        // nothing trusted: always the peer
        assert_eq!(
            client_ip(&xff(&["203.0.113.7"]), Some(proxy), &[]).map(|i| i.to_string()),
            Some("10.0.0.2".into())
        );
    }
}
