//! What every handler can reach: the core services and the rendered-page cache.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use strongroom_core::trusted_proxies::{IpRange, TrustedProxies, any_contains};
use strongroom_core::{CoreError, RequestMeta, Services};

use crate::cache::PageCache;

/// Shared state of the HTTP server: one `Arc`, so the clone every extractor and middleware
/// makes per request is one reference count, not one per field (and no `PathBuf` copy).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct Shared {
    pub services: Services,
    pub(crate) cache: Arc<PageCache>,
    /// What the cache knows without asking the database (`freshness`).
    pub(crate) fresh: Arc<crate::freshness::Freshness>,
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
    /// Draining for shutdown: new uploads refused, those in flight awaited (`drain`).
    pub drain: crate::drain::Drain,
    /// Request counters, latencies and bytes (`metrics`).
    pub(crate) http_metrics: Arc<crate::metrics::HttpMetrics>,
    /// The data folder, whose free space the metrics report.
    pub(crate) data_dir: crate::metrics::DataDir,
    /// The last readiness answer (`/readyz`), reused for a second.
    pub(crate) readiness: Arc<crate::readiness::ReadinessCache>,
    /// External images in descriptions: the proxy's key and client (`image_proxy`).
    pub(crate) image_proxy: crate::image_proxy::SharedImageProxy,
    /// Full-text searches running at once (`web::pages::SEARCHES_AT_ONCE`): however many
    /// clients search, most of the database pool stays free for installs and uploads.
    pub(crate) search_slots: Arc<tokio::sync::Semaphore>,
    /// Upstream files being fetched by this server, one fetch per sha256 (`upstream_files`).
    pub(crate) upstream_fetches: crate::upstream_files::Fetches,
}

impl AppState {
    /// Build the state; `temp_dir` is created if missing, and the web signing key is read from
    /// the database (created there by the first server to start).
    pub async fn new(services: Services, temp_dir: PathBuf) -> Result<AppState, CoreError> {
        strongroom_store::private_fs::create_dir_all(&temp_dir)
            .map_err(|e| CoreError::Internal(format!("creating {}: {e}", temp_dir.display())))?;
        let web_key = services.web_signing_key().await?;
        let marker: [u8; 16] = rand::random();
        let image_proxy = Arc::new(crate::image_proxy::ImageProxy::new(
            &services.settings.images,
            &web_key,
        ));
        let cache = Arc::new(PageCache::new(services.settings.http.cache_max_bytes));
        let fresh = Arc::new(crate::freshness::Freshness::new(
            cache.clone(),
            services.db.change_marks().await?,
            services.db.wal_stamp(),
        ));
        crate::freshness::start(&fresh, services.db.clone()).await?;
        Ok(AppState(Arc::new(Shared {
            image_proxy,
            cache,
            fresh,
            services,
            temp_dir,
            web_key: Arc::new(web_key),
            trust_forwarded_proto: false,
            base_marker: Arc::from(format!("strongroombase{}", hex::encode(marker))),
            upload_slots: Arc::default(),
            drain: crate::drain::Drain::default(),
            http_metrics: Arc::default(),
            data_dir: None,
            readiness: Arc::default(),
            search_slots: Arc::new(tokio::sync::Semaphore::new(
                crate::web::pages::SEARCHES_AT_ONCE,
            )),
            upstream_fetches: crate::upstream_files::Fetches::default(),
        })))
    }

    /// The fields, before the state is shared (a copy if it already is).
    fn shared_mut(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// The drain the accept loop watches (uploads refused and awaited at shutdown).
    #[must_use]
    pub fn drain(mut self, drain: crate::drain::Drain) -> AppState {
        self.shared_mut().drain = drain;
        self
    }

    /// The data folder (its file system's free space is a metric).
    #[must_use]
    pub fn data_dir(mut self, dir: PathBuf) -> AppState {
        self.shared_mut().data_dir = Some(dir);
        self
    }

    /// Trust the proxy's `X-Forwarded-Proto: https` (HSTS and secure-origin decisions).
    #[must_use]
    pub fn trust_forwarded_proto(mut self, yes: bool) -> AppState {
        self.shared_mut().trust_forwarded_proto = yes;
        self
    }

    /// Whether this request reached us over HTTPS (public URL, or a trusted proxy's word).
    pub(crate) fn is_https(&self, headers: &HeaderMap) -> bool {
        let public = self
            .services
            .settings
            .public_url
            .as_deref()
            .is_some_and(|u| {
                u.get(..8)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            });
        // A proxy listed after start (SIGHUP) is believed as well.
        let behind_proxy =
            self.trust_forwarded_proto || !self.services.settings.trusted_proxies.is_empty();
        public
            || (behind_proxy
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
    /// which `host::refusal` has already bounded to `host::MAX_AUTHORITY` bytes of a
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
    trusted_proxies: &TrustedProxies,
) -> RequestMeta {
    RequestMeta {
        ip: client_ip(headers, peer.map(|p| p.ip()), &trusted_proxies.current())
            .map(|ip| ip.to_string()),
        user_agent: user_agent(headers, 512),
        request_id: crate::request_log::current(),
    }
}

/// The request's `User-Agent`, at most `max` characters.
pub(crate) fn user_agent(headers: &HeaderMap, max: usize) -> Option<String> {
    headers
        .get(axum::http::header::USER_AGENT)
        .map(|v| agent_text(v, max))
}

/// A user agent's text, at most `max` characters: bytes that are not UTF-8 become U+FFFD; a
/// non-ASCII agent (`é`) is kept, not dropped.
pub(crate) fn agent_text(v: &HeaderValue, max: usize) -> String {
    String::from_utf8_lossy(v.as_bytes())
        .chars()
        .take(max)
        .collect()
}

/// The client's address: the TCP peer, unless the peer is a trusted reverse proxy; then the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left
/// are whatever the client claimed and are never believed). An IPv4-mapped IPv6 address
/// (`::ffff:192.0.2.1`, from a dual-stack socket or a proxy) is the IPv4 address it maps, so one
/// client is one address in the event log and one bucket of every per-address limit.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    trusted: &[IpRange],
) -> Option<std::net::IpAddr> {
    let peer = peer?.to_canonical();
    if !any_contains(trusted, peer) {
        return Some(peer);
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return Some(peer) };
        for part in v.split(',') {
            match part.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => hops.push(ip.to_canonical()),
                Err(_) => return Some(peer),
            }
        }
    }
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !any_contains(trusted, *ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-ASCII agent (valid UTF-8) is kept, bytes that are not UTF-8 are replaced, and the
    /// result is bounded; such agents used to be dropped (logged and stored as empty).
    #[test]
    fn a_non_ascii_user_agent_is_kept_and_bounded() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::USER_AGENT,
            axum::http::HeaderValue::from_bytes("pip/24 café".as_bytes()).expect("header"),
        );
        assert_eq!(user_agent(&h, 200).as_deref(), Some("pip/24 café"));
        assert_eq!(user_agent(&h, 8).as_deref(), Some("pip/24 c"));
        h.insert(
            axum::http::header::USER_AGENT,
            axum::http::HeaderValue::from_bytes(b"x\xffy").expect("header"),
        );
        assert_eq!(user_agent(&h, 200).as_deref(), Some("x\u{fffd}y"));
    }

    /// `::ffff:1.2.3.4` from a trusted proxy (or as the peer itself) is 1.2.3.4: it used to be
    /// a second address, with its own bucket in every per-address limit.
    #[test]
    fn v4_mapped_addresses_are_the_v4_address() {
        let trusted: Vec<IpRange> = vec!["10.0.0.0/8".parse().expect("range")];
        let ip = |h: &HeaderMap, peer: &str| {
            client_ip(h, Some(peer.parse().expect("ip")), &trusted).map(|i| i.to_string())
        };
        assert_eq!(
            ip(&xff(&["::ffff:1.2.3.4"]), "10.0.0.2"),
            Some("1.2.3.4".into())
        );
        assert_eq!(
            ip(&xff(&["::FFFF:1.2.3.4, ::ffff:10.0.0.3"]), "10.0.0.2"),
            Some("1.2.3.4".into())
        );
        assert_eq!(
            ip(&HeaderMap::new(), "::ffff:1.2.3.4"),
            Some("1.2.3.4".into())
        );
        // A dual-stack socket's mapped proxy address is still the trusted proxy.
        assert_eq!(
            ip(&xff(&["1.2.3.4"]), "::ffff:10.0.0.2"),
            Some("1.2.3.4".into())
        );
        assert_eq!(
            ip(&xff(&["2001:db8::1"]), "10.0.0.2"),
            Some("2001:db8::1".into())
        );
    }

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
        let trusted: [IpRange; 1] = ["10.0.0.2".parse().expect("range")];
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

    #[test]
    fn a_trusted_range_covers_every_proxy_hop() {
        let trusted: Vec<IpRange> = ["10.0.0.0/8", "fd00::/8"]
            .iter()
            .map(|r| r.parse().expect("range"))
            .collect();
        let ip = |h: &HeaderMap, peer: &str| {
            client_ip(h, Some(peer.parse().expect("ip")), &trusted).map(|i| i.to_string())
        };
        // two proxies inside the range: the client is the first hop outside it
        assert_eq!(
            ip(&xff(&["6.6.6.6, 203.0.113.7, 10.2.0.1"]), "10.0.0.2"),
            Some("203.0.113.7".into())
        );
        assert_eq!(
            ip(&xff(&["2001:db8::7, fd00::9"]), "::ffff:10.0.0.2"),
            Some("2001:db8::7".into())
        );
        // a peer outside the range is the client whatever it claims
        assert_eq!(
            ip(&xff(&["203.0.113.7"]), "11.0.0.1"),
            Some("11.0.0.1".into())
        );
    }
}
