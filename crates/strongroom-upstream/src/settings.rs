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
    /// Hosts besides each upstream's own origin that file URLs (and their redirects) may name
    /// whatever they resolve to (`upstream.file_hosts`); any other host must resolve only to
    /// public addresses (`guard`).
    pub file_hosts: Vec<FileHost>,
}

/// One `upstream.file_hosts` entry: a host name or IP literal, with an optional port (without
/// one, any port of that host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHost {
    host: String,
    port: Option<u16>,
}

impl FileHost {
    /// Parse `host`, `host:port`, `[v6]` or `[v6]:port` (no scheme, no path).
    pub fn parse(raw: &str) -> Result<FileHost, String> {
        let raw = raw.trim();
        let url = url::Url::parse(&format!("http://{raw}/"))
            .map_err(|e| format!("{raw:?} is not a host or host:port ({e})"))?;
        let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
        match url.host_str() {
            Some(host)
                if bare && !host.is_empty() && url.username().is_empty() && !raw.contains('/') =>
            {
                Ok(FileHost {
                    host: host.to_owned(),
                    port: url.port(),
                })
            }
            _ => Err(format!("{raw:?} is not a host or host:port")),
        }
    }

    /// Whether `url` is on this host (and port, when one is given; else any port).
    pub fn matches(&self, url: &url::Url) -> bool {
        url.host_str() == Some(self.host.as_str())
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
    }
}

impl std::fmt::Display for FileHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FileHost;

    fn u(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn file_hosts_match_host_and_optional_port() {
        let any = FileHost::parse("Files.Example.org").expect("host");
        assert!(any.matches(&u("https://files.example.org/a/b.whl")));
        assert!(any.matches(&u("http://files.example.org:8080/a")));
        assert!(!any.matches(&u("https://evil.files.example.org.test/a")));
        let port = FileHost::parse("127.0.0.1:9000").expect("host:port");
        assert!(port.matches(&u("http://127.0.0.1:9000/f")));
        assert!(!port.matches(&u("http://127.0.0.1:9001/f")));
        let v6 = FileHost::parse("[::1]:9000").expect("v6");
        assert!(v6.matches(&u("http://[::1]:9000/f")));
        assert_eq!(v6.to_string(), "[::1]:9000");
        for bad in ["", "http://x/", "x/y", "a b", "u@x"] {
            assert!(FileHost::parse(bad).is_err(), "{bad}");
        }
    }
}
