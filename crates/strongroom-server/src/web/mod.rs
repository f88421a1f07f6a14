//! The server-rendered web UI: public project pages, account pages, account settings and the
//! admin area. Templates are minijinja (auto-escaped), CSS and JS are static files (the CSP
//! forbids inline script and style). Handlers reach the request through the extractors in
//! [`extract`]: a form is read only after its origin and CSRF token were checked.

pub(crate) mod account_delete;
pub(crate) mod accounts;
pub(crate) mod admin;
pub(crate) mod admin_impact;
pub(crate) mod admin_invites;
pub(crate) mod admin_projects;
pub(crate) mod admin_review;
pub(crate) mod admin_site;
pub(crate) mod admin_upstream;
pub(crate) mod admin_upstream_log;
pub(crate) mod admin_users;
pub(crate) mod answer;
pub(crate) mod assets;
pub(crate) mod csrf;
pub(crate) mod errors;
pub(crate) mod extract;
pub(crate) mod help;
pub(crate) mod impact_chart;
pub(crate) mod manage;
pub(crate) mod pages;
pub(crate) mod project_manage;
pub(crate) mod read;
pub(crate) mod redirect;
pub(crate) mod review;
pub(crate) mod session;
pub(crate) mod templates;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use strongroom_core::RequestMeta;

use self::errors::WebError;
use self::session::Viewer;
use crate::state::AppState;

/// Marks a response as a UI page: `headers::secure` gives it the HTML CSP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UiPage;

/// What every page needs: the viewer, the forms' CSRF token and cookies to set.
pub(crate) struct PageCx {
    pub viewer: Option<Viewer>,
    pub csrf_token: String,
    set_cookies: Vec<HeaderValue>,
    /// `accounts.registration = closed`: no page links to the registration page.
    registration_closed: bool,
    /// The index's public URL (`public_url`, else from the Host header), for snippets.
    site_url: String,
}

impl PageCx {
    /// Load the viewer from the session cookie and prepare the CSRF token.
    pub async fn load(state: &AppState, headers: &HeaderMap) -> Result<PageCx, WebError> {
        let viewer = session::viewer(state, headers).await?;
        Ok(PageCx::with_viewer(state, headers, viewer))
    }

    /// The context of a viewer already looked up (the extractors in [`extract`]).
    pub fn with_viewer(state: &AppState, headers: &HeaderMap, viewer: Option<Viewer>) -> PageCx {
        let (csrf_token, set) = csrf::form_token(state, headers, viewer.as_ref());
        PageCx {
            viewer,
            csrf_token,
            set_cookies: set.into_iter().collect(),
            registration_closed: state.services.settings.registration
                == strongroom_core::registration::Registration::Closed,
            site_url: state.base_url(headers),
        }
    }

    /// Whether registration is closed (no page links to it).
    pub fn registration_closed(&self) -> bool {
        self.registration_closed
    }

    /// Render `template` with the page's own context plus `viewer` and `csrf_token`.
    pub fn render(self, template: &str, ctx: Value) -> Result<Response, WebError> {
        self.render_status(StatusCode::OK, template, ctx)
    }

    /// Like [`PageCx::render`], with another status (a form shown again with its errors).
    pub fn render_status(
        self,
        status: StatusCode,
        template: &str,
        ctx: Value,
    ) -> Result<Response, WebError> {
        // A form shown again with its error (a failed login, a refused registration): the
        // request line carries the message the person saw, like every other refusal.
        let refusal = (status.is_client_error())
            .then(|| ctx.get_attr("error").ok())
            .flatten()
            .and_then(|e| e.as_str().map(str::to_owned));
        let full = context! {
            viewer => ser(&self.viewer),
            csrf_token => self.csrf_token,
            registration_closed => self.registration_closed,
            site_url => self.site_url,
            ..ctx
        };
        let body = templates::render(template, full).map_err(WebError::internal)?;
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for c in self.set_cookies {
            h.append(header::SET_COOKIE, c);
        }
        resp.extensions_mut().insert(UiPage);
        if let Some(message) = refusal {
            resp.extensions_mut()
                .insert(crate::request_log::Refusal(message));
        }
        Ok(resp)
    }
}

/// `303 See Other` to a path of this site, with cookies to set.
pub(crate) fn see_other(path: &str, cookies: Vec<HeaderValue>) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(path) {
        h.insert(header::LOCATION, v);
    } else {
        h.insert(header::LOCATION, HeaderValue::from_static("/"));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(header::SET_COOKIE, c);
    }
    resp.extensions_mut().insert(UiPage);
    resp
}

/// A serde value as a template value.
pub(crate) fn ser<T: serde::Serialize>(v: &T) -> Value {
    Value::from(minijinja::value::Serde(v))
}

/// The requester's address and agent, for core's event log.
pub(crate) struct Meta(pub RequestMeta);

impl FromRequestParts<AppState> for Meta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(Meta(crate::state::request_meta(
            &parts.headers,
            peer,
            &state.services.settings.trusted_proxies,
        )))
    }
}

/// A JSON answer (the WebAuthn endpoints).
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    let mut resp = (status, value.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A failed JSON request: `{"error": message}` with the error's status.
pub(crate) fn json_error(e: WebError) -> Response {
    if let Some(path) = &e.location {
        return json(
            StatusCode::FORBIDDEN,
            &serde_json::json!({ "error": e.message, "redirect": path }),
        );
    }
    let mut resp = json(e.status, &serde_json::json!({ "error": e.message }));
    resp.extensions_mut()
        .insert(crate::request_log::Refusal(e.message.clone()));
    if let Some(s) = e.retry_after
        && let Ok(v) = HeaderValue::from_str(&s.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// The fixed confirmations shown after a settings change (`?done=<key>`; never reflected text).
pub(crate) fn done_message(key: Option<&str>) -> Option<&'static str> {
    Some(match key? {
        "email-added" => "Email address added. Check your inbox for the verification link.",
        "email-removed" => "Email address removed.",
        "email-primary" => "Primary email address changed.",
        "email-sent" => "Verification email sent.",
        "password" => "Your password was changed.",
        "session-ended" => "The session was ended.",
        "totp-removed" => "The authentication app was removed.",
        "key-added" => "Security key added.",
        "key-removed" => "Security key removed.",
        "token-revoked" => "The token was revoked.",
        "review-kept" => "Kept: it works again.",
        "review-dropped" => "Removed from your account.",
        "reauth" => "Thanks, you can continue.",
        "two-factor-pending" => {
            "Almost done: follow the link we mailed to your primary address to turn on two-factor authentication."
        }
        _ => return None,
    })
}
