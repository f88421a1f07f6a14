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
}

impl AppState {
    /// Build the state; `temp_dir` is created if missing, and the web signing key is read from
    /// the database (created there by the first server to start).
    pub async fn new(services: Services, temp_dir: PathBuf) -> Result<AppState, CoreError> {
        std::fs::create_dir_all(&temp_dir)
            .map_err(|e| CoreError::Internal(format!("creating {}: {e}", temp_dir.display())))?;
        let web_key = services.web_signing_key().await?;
        Ok(AppState {
            services,
            cache: Arc::new(PageCache::new(50_000)),
            temp_dir,
            web_key: Arc::new(web_key),
            trust_forwarded_proto: false,
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

    /// The absolute base URL for links: the configured public URL, else this request's host.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if let Some(u) = &self.services.settings.public_url {
            return u.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    }
}

/// The requester's address and agent, for the event log.
pub(crate) fn request_meta(headers: &HeaderMap, peer: Option<std::net::SocketAddr>) -> RequestMeta {
    RequestMeta {
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}
