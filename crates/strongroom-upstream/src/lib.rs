//! The HTTP client for upstream indexes (issue 12): project pages with ETag revalidation and
//! file streams, through the proxies the environment names (`HTTPS_PROXY`, `NO_PROXY`), with an
//! optional CA bundle and credentials sent only to the upstream's own origin, and a timeout on
//! connecting and on every read. It decides nothing: what is served is `strongroom_core::gateway`.
//!
//! FOUNDATION STUB: the signatures are the contract; the client part of the gateway work fills
//! them.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::{ReadError, UpstreamPage};

/// One configured upstream index (`upstream.url`, in priority order).
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamIndex {
    /// The simple index URL without credentials, ending in `/` (`https://host/simple/`).
    pub url: String,
    /// Basic-auth user from the configured URL's userinfo.
    pub username: Option<String>,
    /// Basic-auth password from the configured URL's userinfo (never logged or shown).
    pub password: Option<String>,
}

impl std::fmt::Debug for UpstreamIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamIndex")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// What the client needs (built by core from `upstream.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// The upstreams, first = highest priority.
    pub indexes: Vec<UpstreamIndex>,
    /// Connect timeout and the longest wait for any read (seconds).
    pub timeout_secs: u64,
    /// Extra trusted roots (PEM), besides the platform's.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// The largest page body read (bytes).
    pub max_page_bytes: u64,
}

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

/// A file body being read from an upstream.
pub struct FileStream {
    /// `Content-Length`, when the upstream sent one.
    pub content_length: Option<u64>,
    /// The body, each chunk within the read timeout; ends with an error past `max_bytes`.
    pub body: BoxStream<'static, Result<Bytes, UpstreamError>>,
}

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer (connect or a read) within the timeout.
    #[error("the upstream did not answer within {0} s")]
    Timeout(u64),
    /// Connection refused, DNS, TLS, proxy.
    #[error("the upstream cannot be reached: {0}")]
    Unreachable(String),
    /// An unexpected HTTP status.
    #[error("the upstream answered {0}")]
    Status(u16),
    /// A body larger than allowed.
    #[error("the upstream's answer is larger than {0} bytes")]
    TooLarge(u64),
    /// A page that does not parse.
    #[error("the upstream's page cannot be read: {0}")]
    Malformed(#[from] ReadError),
    /// The settings cannot make a client (an unreadable CA bundle).
    #[error("upstream settings: {0}")]
    Config(String),
}

/// The client (cheap to clone).
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    settings: ClientSettings,
}

impl UpstreamClient {
    /// Build the client.
    pub fn new(settings: ClientSettings) -> Result<UpstreamClient, UpstreamError> {
        Ok(UpstreamClient { settings })
    }

    /// The configured upstreams.
    pub fn indexes(&self) -> &[UpstreamIndex] {
        &self.settings.indexes
    }

    /// Fetch `<upstream url>/<project>/`, revalidating with `etag` when given.
    pub async fn fetch_page(
        &self,
        _upstream: usize,
        _project: &NormalizedName,
        _etag: Option<&str>,
    ) -> Result<PageFetch, UpstreamError> {
        Err(UpstreamError::Unreachable("not implemented yet".into()))
    }

    /// Open a file URL taken from upstream `upstream`'s page (credentials only if it is on the
    /// upstream's own origin); the body ends with `TooLarge` past `max_bytes`.
    pub async fn open_file(
        &self,
        _upstream: usize,
        _url: &str,
        _max_bytes: u64,
    ) -> Result<FileStream, UpstreamError> {
        Err(UpstreamError::Unreachable("not implemented yet".into()))
    }
}
