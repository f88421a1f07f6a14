//! What the client is built from: the configured upstream indexes (with their credentials) and
//! the bounds core derives from `upstream.*`.

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

impl UpstreamIndex {
    /// True when the index has credentials to send.
    pub(crate) fn has_credentials(&self) -> bool {
        self.username.is_some() || self.password.is_some()
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
