//! The HTTP client for upstream indexes (issue 12): project pages with ETag revalidation and
//! file streams, through the proxies the environment names (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`), with an optional CA bundle and credentials sent only to the upstream's own
//! origin, and a timeout on connecting and on every read. It decides nothing: what is served is
//! `strongroom_core::gateway`.
//!
//! File URLs come from pages an upstream wrote, so they are held to where files may be: the
//! upstream's own origin, a host in `upstream.file_hosts`, or a host that resolves only to public
//! addresses (`guard`), on every redirect hop too.
//!
//! Modules: `settings` (what it is built from), `build` (the reqwest clients), `redirect` (hops,
//! the credential rule and the file-destination rule), `guard` (public addresses only), `body`
//! (bounded reads), `page` (project pages), `work` (page parsing and serialising off the async
//! workers, under a limit), `file` (file streams), `error`.

mod body;
mod build;
mod error;
mod file;
pub mod guard;
mod page;
mod redirect;
mod settings;
mod work;

use std::sync::Arc;
use std::time::Duration;

use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::UpstreamPage;

pub use body::MIN_BYTES_PER_WINDOW;
pub use build::USER_AGENT;
pub use error::UpstreamError;
pub use file::FileStream;
pub use page::PAGE_ACCEPT;
pub use redirect::MAX_REDIRECTS;
pub use settings::{ClientSettings, FileHost, UpstreamIndex};
pub use work::{INLINE_BYTES, PAGE_WORK_SLOTS, PageWork};

/// The answer to a page request.
#[derive(Debug)]
pub enum PageFetch {
    /// 304: the stored page is still current.
    NotModified,
    /// The upstream does not know the project (404/410).
    NotFound,
    /// A new page.
    Page {
        /// The parsed page.
        page: UpstreamPage,
        /// The response's ETag, for the next revalidation.
        etag: Option<String>,
    },
}

/// The client (cheap to clone: clones share one connection pool).
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    settings: Arc<ClientSettings>,
    http: reqwest::Client,
    work: PageWork,
    /// For file URLs on hosts that are not trusted by configuration (`guard`).
    guarded: reqwest::Client,
}

impl UpstreamClient {
    /// Build the client: fails on a CA bundle that cannot be read or holds no certificate, or
    /// a TLS setup that cannot start.
    pub fn new(settings: ClientSettings) -> Result<UpstreamClient, UpstreamError> {
        for index in &settings.indexes {
            reqwest::Url::parse(&index.url)
                .map_err(|e| UpstreamError::Config(format!("upstream URL {}: {e}", index.url)))?;
        }
        let http = build::client(&settings, false)?;
        let guarded = build::client(&settings, true)?;
        // a page job waits for a slot at most half the timeout, so the page answers (or fails
        // as busy) within the whole timeout
        let wait = Duration::from_secs(settings.timeout_secs.max(1)) / 2;
        Ok(UpstreamClient {
            settings: Arc::new(settings),
            http,
            work: PageWork::new(PAGE_WORK_SLOTS, wait),
            guarded,
        })
    }

    /// The configured upstreams.
    pub fn indexes(&self) -> &[UpstreamIndex] {
        &self.settings.indexes
    }

    /// The slots for page work: the gateway serialises a page for storage through them too.
    pub fn page_work(&self) -> &PageWork {
        &self.work
    }

    fn index(&self, upstream: usize) -> Result<&UpstreamIndex, UpstreamError> {
        self.settings.indexes.get(upstream).ok_or_else(|| {
            UpstreamError::Config(format!("no upstream number {upstream} is configured"))
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_secs.max(1))
    }

    /// Fetch `<upstream url>/<project>/`, revalidating with `etag` when given. The whole
    /// exchange (redirects, head and body) takes at most `timeout_secs`; the page is parsed
    /// through [`UpstreamClient::page_work`] (`Busy` when no slot is free in time).
    pub async fn fetch_page(
        &self,
        upstream: usize,
        project: &NormalizedName,
        etag: Option<&str>,
    ) -> Result<PageFetch, UpstreamError> {
        let head = std::sync::atomic::AtomicBool::new(false);
        self.fetch_page_watched(upstream, project, etag, &head)
            .await
    }

    /// [`UpstreamClient::fetch_page`], setting `head` once the upstream's response head came
    /// (a final, non-redirect status): a failure after that (a slow or oversized body) is about
    /// this project's page, not about the upstream being reachable.
    pub async fn fetch_page_watched(
        &self,
        upstream: usize,
        project: &NormalizedName,
        etag: Option<&str>,
        head: &std::sync::atomic::AtomicBool,
    ) -> Result<PageFetch, UpstreamError> {
        let index = self.index(upstream)?;
        let secs = self.settings.timeout_secs;
        let fetch = page::fetch(
            &self.http,
            &self.work,
            index,
            project,
            etag,
            page::PageLimits {
                timeout_secs: secs,
                max_bytes: self.settings.max_page_bytes,
            },
            head,
        );
        tokio::time::timeout(self.timeout(), fetch)
            .await
            .unwrap_or(Err(UpstreamError::Timeout(secs)))
    }

    /// Open a file URL taken from upstream `upstream`'s page (credentials only if it is on the
    /// upstream's own origin). The URL and every redirect must be on the upstream's origin, on
    /// a host in `file_hosts`, or on a host with public addresses only (else `Forbidden`). The
    /// body ends with `TooLarge` past `max_bytes`. The response
    /// head comes within `timeout_secs`; then every chunk does, and each window of that length
    /// brings at least [`MIN_BYTES_PER_WINDOW`].
    pub async fn open_file(
        &self,
        upstream: usize,
        url: &str,
        max_bytes: u64,
    ) -> Result<FileStream, UpstreamError> {
        let index = self.index(upstream)?;
        let secs = self.settings.timeout_secs;
        let policy = redirect::FilePolicy {
            guarded: &self.guarded,
            hosts: &self.settings.file_hosts,
        };
        let open = file::open(&self.http, policy, index, url, secs, max_bytes);
        tokio::time::timeout(self.timeout(), open)
            .await
            .unwrap_or(Err(UpstreamError::Timeout(secs)))
    }
}
