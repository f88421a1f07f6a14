//! Building the reqwest client: rustls with ring (as everywhere in strongroom), the platform's
//! roots plus `upstream.ca_bundle`, the proxies the environment names, a connect timeout,
//! strongroom's User-Agent, and no automatic redirects (`redirect` follows them, so the
//! credential rule is applied on every hop). A second, guarded client fetches file URLs on hosts
//! that are neither an upstream's origin nor listed in `upstream.file_hosts`: it connects only
//! to addresses `guard` admits and uses no proxy (through a proxy, the proxy would resolve the
//! name and the guard would see only the proxy's address).

use std::time::Duration;

use crate::{ClientSettings, UpstreamError};

/// The User-Agent every upstream request carries.
pub const USER_AGENT: &str = concat!(
    "strongroom/",
    env!("CARGO_PKG_VERSION"),
    " (upstream gateway)"
);

/// The reqwest client for `settings`.
///
/// Proxies: reqwest 0.13 (with the features the workspace enables; `system-proxy` is not
/// needed on Linux, where it adds nothing) reads `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
/// `NO_PROXY` (or their lower-case forms) from the environment when the client is built, as
/// curl does; `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set (CGI, "httpoxy").
pub(crate) fn client(
    settings: &ClientSettings,
    guarded: bool,
) -> Result<reqwest::Client, UpstreamError> {
    // The binary installs ring at start; make sure a provider exists whoever calls us.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeout = Duration::from_secs(settings.timeout_secs.max(1));
    let mut builder = reqwest::Client::builder()
        .connect_timeout(timeout)
        // No reqwest read timeout: it runs between reads, so a consumer pausing would trip it;
        // `body` bounds the time spent waiting on the upstream instead, and callers bound the
        // wait for the response head.
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .user_agent(USER_AGENT);
    if guarded {
        builder = builder
            .dns_resolver(crate::guard::GuardedResolver {
                allow_loopback: false,
            })
            .no_proxy();
    }
    if let Some(path) = &settings.ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            UpstreamError::Config(format!("upstream.ca_bundle {}: {e}", path.display()))
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            UpstreamError::Config(format!(
                "upstream.ca_bundle {}: not a PEM bundle: {e}",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(UpstreamError::Config(format!(
                "upstream.ca_bundle {}: holds no certificate",
                path.display()
            )));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder
        .build()
        .map_err(|e| UpstreamError::Config(format!("no HTTP client: {e}")))
}
