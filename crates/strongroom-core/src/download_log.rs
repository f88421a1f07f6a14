//! The download log (issue 12): every download of a local or upstream file, recorded without a
//! database round trip on the download path (a bounded buffer, flushed in batches), so an admin
//! can answer "which of our machines installed ctx 0.2.2?".
//!
//! FOUNDATION STUB: the types and signatures are the contract between the gateway's parts.

use std::sync::Arc;

/// Where the downloaded file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A file published here.
    Local,
    /// A file served from an upstream index (cached or fetched for this request).
    Upstream,
}

/// One download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    /// Local or upstream.
    pub origin: Origin,
    /// Normalised project name.
    pub project: String,
    /// The release's version.
    pub version: String,
    /// The file's name.
    pub filename: String,
    /// The file's sha256 (hex).
    pub sha256: String,
    /// When (µs since the epoch, from the services' clock).
    pub at: i64,
    /// The client's address (after the trusted-proxy rule).
    pub ip: Option<String>,
    /// The client's user agent (cut to 512 bytes).
    pub user_agent: Option<String>,
}

/// The recorder (clones share one buffer).
#[derive(Debug, Clone, Default)]
pub struct DownloadRecorder {
    _inner: Arc<()>,
}

impl DownloadRecorder {
    /// Record a download: never waits for the database.
    pub fn record(&self, _record: DownloadRecord) {}
}
