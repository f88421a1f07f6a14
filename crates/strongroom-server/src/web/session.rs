//! The session cookie (`__Host-strongroom-session`: Secure, HttpOnly, SameSite=Lax, Path=/)
//! and who is looking at a page. Sessions themselves live in core; this module only carries
//! the cookie to `Services::session` and back.

use axum::http::{HeaderMap, HeaderValue, header};

use strongroom_core::SessionInfo;

use super::errors::WebError;
use crate::state::AppState;

/// The session cookie's name. `__Host-` makes the browser refuse it without Secure, with a
/// Domain or with a Path other than `/`.
pub(crate) const SESSION_COOKIE: &str = "__Host-strongroom-session";

/// The logged-in person looking at a page.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Viewer {
    pub user_id: i64,
    pub username: String,
    pub is_admin: bool,
    /// The session's CSRF token (every form of a logged-in user carries it).
    #[serde(skip)]
    pub csrf_token: String,
    /// The session may only enrol a second factor (2FA required, none yet).
    pub restricted: bool,
    /// The session as core sees it (passed back to core's account functions).
    #[serde(skip)]
    pub info: SessionInfo,
}

impl Viewer {
    fn from_session(info: SessionInfo) -> Viewer {
        Viewer {
            user_id: info.user.id,
            username: info.user.username.clone(),
            is_admin: info.user.is_admin,
            csrf_token: info.csrf_token.clone(),
            restricted: info.restricted_to_2fa_enrolment,
            info,
        }
    }
}

/// The value of cookie `name` in the request, if any (the first one).
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 512)
}

/// `Set-Cookie` for a fresh session.
pub(crate) fn set_session_cookie(secret: &str) -> Result<HeaderValue, WebError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; Secure; HttpOnly; SameSite=Lax; Path=/"
    ))
    .map_err(WebError::internal)
}

/// `Set-Cookie` for a short-lived helper cookie (login ticket), or its removal (`max_age` 0).
pub(crate) fn short_cookie(name: &str, value: &str, max_age: u32) -> Result<HeaderValue, WebError> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}"
    ))
    .map_err(WebError::internal)
}

/// `Set-Cookie` that removes the session cookie.
pub(crate) fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-strongroom-session=; Secure; HttpOnly; SameSite=Lax; Path=/; Max-Age=0",
    )
}

/// The logged-in user of this request, from the session cookie.
pub(crate) async fn viewer(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Viewer>, WebError> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(state
        .services
        .session(&secret)
        .await?
        .map(Viewer::from_session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "a=1; __Host-strongroom-session=abc; x__Host-strongroom-session=no",
            ),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        let c = set_session_cookie("s3cret").map(|v| v.to_str().map(str::to_owned));
        let c = c.ok().and_then(Result::ok).unwrap_or_default();
        for part in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(part), "{c}");
        }
    }
}
