//! Cross-site request forgery defences for every form POST: a same-origin check on `Origin`
//! (or `Referer`), and a token in the form. Logged-in users' tokens are their session's;
//! anonymous forms (login, register, reset) use a signed double-submit cookie
//! (`__Host-strongroom-csrf` holds a random value, the form holds its HMAC under the server key).

use axum::http::{HeaderMap, HeaderValue, header};
use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;

use super::errors::WebError;
use super::session::{Viewer, cookie};
use crate::state::AppState;

/// The anonymous pre-session cookie.
pub(crate) const ANON_COOKIE: &str = "__Host-strongroom-csrf";

#[allow(dead_code)]
/// The header the WebAuthn JSON posts carry their token in.
pub(crate) const HEADER: &str = "x-csrf-token";

const REFUSED: &str = "The form could not be accepted (cross-site request check failed). Reload the page and try again.";

/// The token a page's forms carry, and the cookie to set when an anonymous visitor has none yet.
pub(crate) fn form_token(
    state: &AppState,
    headers: &HeaderMap,
    viewer: Option<&Viewer>,
) -> (String, Option<HeaderValue>) {
    if let Some(v) = viewer {
        return (v.csrf_token.clone(), None);
    }
    match cookie(headers, ANON_COOKIE).filter(|c| is_seed(c)) {
        Some(seed) => (sign(state, &seed), None),
        None => {
            let seed = hex::encode(rand::random::<[u8; 32]>());
            let set = HeaderValue::from_str(&format!(
                "{ANON_COOKIE}={seed}; Secure; HttpOnly; SameSite=Lax; Path=/"
            ))
            .ok();
            (sign(state, &seed), set)
        }
    }
}

fn is_seed(c: &str) -> bool {
    c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sign(state: &AppState, seed: &str) -> String {
    let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(state.web_key.as_slice()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this branch cannot be taken.
        Err(_) => return String::new(),
    };
    mac.update(b"strongroom anonymous csrf\0");
    mac.update(seed.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[allow(dead_code)]
/// The refusal of a cross-site (or token-less) request.
pub(crate) fn refused() -> WebError {
    WebError::forbidden(REFUSED)
}

/// Refuse a POST that comes from another site or lacks the right token. Nothing may change
/// before this passed.
pub(crate) fn check_post(
    state: &AppState,
    headers: &HeaderMap,
    viewer: Option<&Viewer>,
    token: Option<&str>,
) -> Result<(), WebError> {
    if !same_origin(state, headers) {
        return Err(WebError::forbidden(REFUSED));
    }
    let token = token.unwrap_or("");
    let expected = match viewer {
        Some(v) => v.csrf_token.clone(),
        None => match cookie(headers, ANON_COOKIE).filter(|c| is_seed(c)) {
            Some(seed) => sign(state, &seed),
            None => return Err(WebError::forbidden(REFUSED)),
        },
    };
    if expected.is_empty() || !bool::from(token.as_bytes().ct_eq(expected.as_bytes())) {
        return Err(WebError::forbidden(REFUSED));
    }
    Ok(())
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

/// Whether the request's `Origin` (or, without it, `Referer`) is this site. With a configured
/// public URL the whole origin must match it; otherwise the host must be the request's `Host`.
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let claimed = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(o) => Some(o.trim()),
        None => headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(origin_of),
    };
    let Some(claimed) = claimed.and_then(origin_of) else {
        return false;
    };
    if let Some(public) = &state.services.settings.public_url {
        return origin_of(public).is_some_and(|p| p.eq_ignore_ascii_case(claimed));
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let claimed_host = claimed.split_once("://").map_or("", |(_, h)| h);
    claimed_host.eq_ignore_ascii_case(host.trim())
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://localhost:8080/a?b"),
            Some("http://localhost:8080")
        );
        assert_eq!(origin_of("https://x.org"), Some("https://x.org"));
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("javascript://x"), None);
    }
}
