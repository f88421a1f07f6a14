//! What every handler can reach: the core services and the rendered-page cache.

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::HeaderMap;
use strongroom_core::{RequestMeta, Services};

use crate::cache::PageCache;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub(crate) cache: Arc<PageCache>,
    /// Where uploads are streamed before they are checked.
    pub(crate) temp_dir: PathBuf,
}

impl AppState {
    /// Build the state; `temp_dir` is created if missing.
    pub fn new(services: Services, temp_dir: PathBuf) -> std::io::Result<AppState> {
        std::fs::create_dir_all(&temp_dir)?;
        Ok(AppState {
            services,
            cache: Arc::new(PageCache::new(50_000)),
            temp_dir,
        })
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
