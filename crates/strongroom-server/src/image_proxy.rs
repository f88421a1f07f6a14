//! The image proxy (`GET /image-proxy/<signature>/<hex URL>`): external images in project
//! descriptions, fetched by the server so that readers' browsers never contact a host a
//! description chose. Off by default (`images.proxy`); off, pages show those images as links.
//!
//! It is not an open proxy: a URL is served only with its HMAC under a key derived from the
//! server's web key (stored in the database, so every server and restart agrees), and pages
//! sign only the images of stored, sanitised descriptions. What it fetches is held to
//! (`strongroom_upstream::guard`, shared with upstream file fetches): http(s) only; every address a name resolves to, and every IP literal, outside loopback,
//! private, link-local, CGNAT, multicast, documentation, benchmarking and unspecified ranges
//! (the resolver filters what the connector may use, so the address checked is the one
//! connected to, and every redirect, at most [`MAX_REDIRECTS`], is checked the same way); no
//! proxy from the environment; no cookies either way; `images.proxy_timeout_seconds` for the
//! whole fetch; one declared `image/*` content type other than SVG (which can carry script); at
//! most `images.proxy_max_bytes`, read in chunks and refused as soon as it is passed, with at
//! most [`MAX_CONCURRENT_FETCHES`] fetches at once, so memory is bounded by the cap; and bytes
//! that are a PNG, JPEG, GIF, WebP, AVIF or icon ([`kind`]). The answer carries only our own
//! headers, its `Content-Type` the one of that list the bytes prove, never the origin's.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use hmac::{KeyInit, Mac};
use strongroom_core::ImageSettings;
use strongroom_upstream::guard::{self, GuardedResolver};

use crate::state::AppState;

mod kind;
use kind::ImageKind;

/// Where the proxy answers.
pub(crate) const PREFIX: &str = "/image-proxy/";
/// Redirects followed per image, each checked as the first URL was.
pub(crate) const MAX_REDIRECTS: usize = 3;
/// Images fetched at once: each holds up to `images.proxy_max_bytes`, so the proxy's memory is
/// at most this many times the cap whatever the number of requests; more wait (up to the
/// timeout, then 504).
pub(crate) const MAX_CONCURRENT_FETCHES: usize = 16;

/// Why an image is not served (each maps to a status in `server::error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageRefusal {
    /// The proxy is off (`images.proxy = false`).
    Off,
    /// The URL or its signature is malformed or does not match.
    BadSignature,
    /// The URL is not http(s), or names (or resolves to) an address the guard refuses.
    ForbiddenDestination,
    /// The origin did not answer 200 (or redirected too often).
    Upstream,
    /// The answer is not an image we pass on: its declared type is not one raster `image/*`
    /// type, or its bytes are not one of [`ImageKind`]'s formats.
    NotAnImage,
    /// The image is larger than `images.proxy_max_bytes`.
    TooLarge,
    /// No answer within `images.proxy_timeout_seconds`.
    Timeout,
}

/// The proxy's parts made at start: the signing key and the guarded HTTP client.
pub(crate) struct ImageProxy {
    settings: ImageSettings,
    key: [u8; 32],
    client: Option<reqwest::Client>,
    fetches: tokio::sync::Semaphore,
}

impl ImageProxy {
    /// Build the proxy for `settings`; `web_key` is the server's stored web key, from which the
    /// proxy's own key is derived (a separate purpose, so a signature of one is never the other's).
    pub(crate) fn new(settings: &ImageSettings, web_key: &[u8; 32]) -> ImageProxy {
        let mut key = [0u8; 32];
        if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(web_key) {
            mac.update(b"strongroom image proxy key\0");
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        let client = settings.proxy.then(|| client(settings)).flatten();
        ImageProxy {
            settings: settings.clone(),
            key,
            client,
            fetches: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
        }
    }

    fn mac(&self, url: &str) -> Option<hmac::Hmac<sha2::Sha256>> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(url.as_bytes());
        Some(mac)
    }

    /// The proxy path of `url` (signed).
    pub(crate) fn path(&self, url: &str) -> String {
        let sig = self
            .mac(url)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{PREFIX}{sig}/{}", hex::encode(url.as_bytes()))
    }

    /// The URL a proxy path names, if its signature is right (compared in constant time).
    fn verify(&self, sig: &str, hex_url: &str) -> Result<String, ImageRefusal> {
        let url = hex::decode(hex_url)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(ImageRefusal::BadSignature)?;
        let sig = hex::decode(sig).map_err(|_| ImageRefusal::BadSignature)?;
        self.mac(&url)
            .ok_or(ImageRefusal::BadSignature)?
            .verify_slice(&sig)
            .map_err(|_| ImageRefusal::BadSignature)?;
        Ok(url)
    }

    /// A stored description's HTML as a page shows it: external images through the proxy when
    /// it is on, as links when it is off (see `strongroom_core::descriptions::images`).
    pub(crate) fn rewrite_description(&self, html: &str) -> String {
        if !html.contains("<img") {
            return html.to_owned();
        }
        strongroom_core::descriptions::images::rewrite(html, |url| {
            if self.settings.proxy && self.client.is_some() {
                strongroom_core::descriptions::images::ImageLink::Proxied(self.path(url))
            } else {
                strongroom_core::descriptions::images::ImageLink::Link
            }
        })
    }
}

/// The guarded client: our resolver, redirects checked, no proxies, no cookies, one timeout.
fn client(settings: &ImageSettings) -> Option<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let allow_loopback = settings.allow_loopback;
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        match destination_allowed(attempt.url(), allow_loopback) {
            Ok(()) => attempt.follow(),
            Err(_) => attempt.error(Refused),
        }
    });
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver { allow_loopback })
        .redirect(redirects)
        .no_proxy()
        .timeout(Duration::from_secs(settings.proxy_timeout_secs))
        .connect_timeout(Duration::from_secs(settings.proxy_timeout_secs))
        .user_agent(concat!(
            "strongroom-image-proxy/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .inspect_err(|e| tracing::error!("image proxy: no HTTP client: {e}"))
        .ok()
}

/// The scheme and (for an IP literal) the address of a URL; names are checked when resolved.
fn destination_allowed(url: &reqwest::Url, allow_loopback: bool) -> Result<(), ImageRefusal> {
    if guard::url_allowed(url, allow_loopback) {
        Ok(())
    } else {
        Err(ImageRefusal::ForbiddenDestination)
    }
}

/// The error the redirect policy gives for a refused destination, found again in the client's
/// error chain (the resolver's is `guard::Refused`).
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a destination the image proxy may not reach")
    }
}

impl std::error::Error for Refused {}

/// `GET /image-proxy/{signature}/{hex URL}`.
pub(crate) async fn serve(
    State(state): State<AppState>,
    Path((sig, hex_url)): Path<(String, String)>,
) -> Response {
    match fetch(&state.image_proxy, &sig, &hex_url).await {
        Ok(resp) => resp,
        Err(why) => {
            tracing::info!("image proxy refused: {why:?}");
            crate::error::image_refused(&why).into_response()
        }
    }
}

async fn fetch(proxy: &ImageProxy, sig: &str, hex_url: &str) -> Result<Response, ImageRefusal> {
    let client = match (&proxy.client, proxy.settings.proxy) {
        (Some(c), true) => c,
        _ => return Err(ImageRefusal::Off),
    };
    let url = proxy.verify(sig, hex_url)?;
    let url = reqwest::Url::parse(&url).map_err(|_| ImageRefusal::ForbiddenDestination)?;
    destination_allowed(&url, proxy.settings.allow_loopback)?;
    let max = proxy.settings.proxy_max_bytes;
    let timeout = Duration::from_secs(proxy.settings.proxy_timeout_secs);
    let _slot = tokio::time::timeout(timeout, proxy.fetches.acquire())
        .await
        .map_err(|_| ImageRefusal::Timeout)?
        .map_err(|_| ImageRefusal::Upstream)?;
    let mut upstream = client
        .get(url)
        .header(header::ACCEPT, "image/*")
        .send()
        .await
        .map_err(|e| send_refusal(&e))?;
    if upstream.status() != reqwest::StatusCode::OK {
        return Err(ImageRefusal::Upstream);
    }
    // the origin's type only gates the read; what is served is decided by the bytes below
    if !kind::declared_image(
        upstream
            .headers()
            .get_all(header::CONTENT_TYPE)
            .iter()
            .map(HeaderValue::as_bytes),
    ) {
        return Err(ImageRefusal::NotAnImage);
    }
    if upstream.content_length().is_some_and(|n| n > max) {
        return Err(ImageRefusal::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = upstream.chunk().await.map_err(|e| send_refusal(&e))? {
        if (body.len() + chunk.len()) as u64 > max {
            return Err(ImageRefusal::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let kind = ImageKind::sniff(&body).ok_or(ImageRefusal::NotAnImage)?;
    let mut resp = Response::new(Body::from(body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(resp)
}

fn send_refusal(e: &reqwest::Error) -> ImageRefusal {
    // a refused redirect or a name with no allowed address carries `Refused` in its chain
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<Refused>() {
            return ImageRefusal::ForbiddenDestination;
        }
        source = err.source();
    }
    if guard::is_refused(e) {
        return ImageRefusal::ForbiddenDestination;
    }
    if e.is_timeout() {
        ImageRefusal::Timeout
    } else {
        ImageRefusal::Upstream
    }
}

/// The proxy, shared by the handler and the pages.
pub(crate) type SharedImageProxy = Arc<ImageProxy>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_the_url_and_the_key() {
        let on = ImageSettings {
            proxy: true,
            ..ImageSettings::default()
        };
        let a = ImageProxy::new(&on, &[1; 32]);
        let b = ImageProxy::new(&on, &[2; 32]);
        let path = a.path("https://e.org/x.png");
        let rest = path.strip_prefix(PREFIX).expect("prefix");
        let (sig, hex_url) = rest.split_once('/').expect("two parts");
        assert_eq!(a.verify(sig, hex_url).as_deref(), Ok("https://e.org/x.png"));
        assert_eq!(b.verify(sig, hex_url), Err(ImageRefusal::BadSignature));
        let other = hex::encode("https://e.org/y.png");
        assert_eq!(a.verify(sig, &other), Err(ImageRefusal::BadSignature));
        assert_eq!(a.verify("zz", hex_url), Err(ImageRefusal::BadSignature));
    }

    #[test]
    fn destinations_need_http_and_an_allowed_literal() {
        let check = |u: &str| destination_allowed(&reqwest::Url::parse(u).expect(u), false);
        assert_eq!(check("https://e.org/x.png"), Ok(()));
        for refused in [
            "file:///etc/passwd",
            "ftp://e.org/x",
            "http://127.0.0.1/x",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/x",
            "http://2130706433/x",
        ] {
            assert_eq!(
                check(refused),
                Err(ImageRefusal::ForbiddenDestination),
                "{refused}"
            );
        }
    }
}
