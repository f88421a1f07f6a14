//! Why an upstream request failed, as one typed error the gateway maps to its answers.

use strongroom_protocol::simple::read::ReadError;

/// Why an upstream request failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer (connect or a read) within the timeout, or a body that trickles slower than
    /// the least rate accepted.
    #[error("the upstream did not answer within {0} s")]
    Timeout(u64),
    /// Connection refused, DNS, TLS, proxy, a redirect refused.
    #[error("the upstream cannot be reached: {0}")]
    Unreachable(String),
    /// A file URL (or a redirect) names a destination files may not come from: not the
    /// upstream's origin, not in `upstream.file_hosts`, and not public.
    #[error("the file URL names a host strongroom does not fetch from: {0}")]
    Forbidden(String),
    /// An unexpected HTTP status.
    #[error("the upstream answered {0}")]
    Status(u16),
    /// A body larger than allowed.
    #[error("the upstream's answer is larger than {0} bytes")]
    TooLarge(u64),
    /// A page that does not parse.
    #[error("the upstream's page cannot be read: {0}")]
    Malformed(#[from] ReadError),
    /// Every slot for page work (parsing, serialising) stayed taken for the whole wait: this
    /// project fails now; nothing about the upstream is known.
    #[error("the server is busy reading other upstream pages")]
    Busy,
    /// The settings cannot make a client (an unreadable CA bundle).
    #[error("upstream settings: {0}")]
    Config(String),
}

impl UpstreamError {
    /// A transport error from reqwest: a timeout stays a timeout; anything else is
    /// "unreachable" with the whole cause chain (reqwest's top line alone says little). The
    /// configured credentials travel in a header, never in a URL; reqwest moves a URL's own
    /// userinfo into a header too, so the URL it names carries no password (tested).
    pub(crate) fn transport(e: reqwest::Error, timeout_secs: u64) -> UpstreamError {
        if e.is_timeout() {
            return UpstreamError::Timeout(timeout_secs);
        }
        if crate::guard::is_refused(&e) {
            let host = e.url().and_then(|u| u.host_str()).unwrap_or("?").to_owned();
            return UpstreamError::Forbidden(format!("{host} resolves to no public address"));
        }
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        UpstreamError::Unreachable(msg)
    }
}
