//! HTML error pages: the web UI's counterpart of `crate::error`. A `CoreError` gets its status,
//! message and `Retry-After` from `crate::error::core_error`, the one mapping; this module only
//! renders them (5xx details go to the log, not the page). `answer::finish` renders the page
//! again with the signed-in header and the way back.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use strongroom_core::CoreError;

use super::UiPage;

/// A failed page request.
#[derive(Debug)]
pub(crate) struct WebError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// Not an error page but a redirect (to the re-authentication prompt).
    pub location: Option<String>,
    /// Core wants a fresh password first (`CoreError::ReauthRequired`): `answer::finish` turns
    /// the page into the re-authentication prompt, keeping the form's values.
    pub reauth: bool,
}

/// What an error page said, for `answer::finish` to render again with the signed-in header
/// and the way back.
#[derive(Debug, Clone)]
pub(crate) struct ErrorPage {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

/// Marks the answer of a request that needs a fresh password first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReauthNeeded;

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError {
            status,
            message: message.into(),
            retry_after: None,
            location: None,
            reauth: false,
        }
    }

    /// The person must confirm their password first (see [`ReauthNeeded`]).
    pub fn reauth() -> WebError {
        WebError::from(CoreError::ReauthRequired)
    }

    /// Send the browser to `path` (a path of this site) instead of showing an error.
    pub fn redirect(path: &str) -> WebError {
        WebError {
            status: StatusCode::SEE_OTHER,
            message: "Confirm your password to continue.".into(),
            retry_after: None,
            location: Some(path.to_owned()),
            reauth: false,
        }
    }

    pub fn not_found() -> WebError {
        WebError::new(StatusCode::NOT_FOUND, "This page does not exist.")
    }

    pub fn forbidden(message: impl Into<String>) -> WebError {
        WebError::new(StatusCode::FORBIDDEN, message)
    }

    pub fn internal(what: impl std::fmt::Display) -> WebError {
        tracing::error!(error = %what, "page failed");
        WebError::new(StatusCode::INTERNAL_SERVER_ERROR, crate::error::INTERNAL)
    }
}

impl From<CoreError> for WebError {
    /// The status, message and `Retry-After` of `crate::error::core_error`, shown as a page.
    fn from(e: CoreError) -> Self {
        let reauth = matches!(e, CoreError::ReauthRequired);
        let answer = crate::error::core_error(e);
        WebError {
            status: answer.status,
            message: answer.message,
            retry_after: answer.retry_after,
            location: None,
            reauth,
        }
    }
}

impl From<strongroom_store::StoreError> for WebError {
    fn from(e: strongroom_store::StoreError) -> Self {
        CoreError::from(e).into()
    }
}

impl ErrorPage {
    /// The page's body: `extra` adds the viewer, the CSRF token and the way back.
    pub(crate) fn body(&self, extra: minijinja::Value) -> String {
        let title = self.status.canonical_reason().unwrap_or("Error");
        super::templates::render(
            "error.html",
            context! {
                status => self.status.as_u16(),
                title => title,
                message => &self.message,
                retry_after => self.retry_after,
                request_id => crate::request_log::current(),
                ..extra
            },
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page template failed");
            format!("{} {title}\n", self.status.as_u16())
        })
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let Some(path) = &self.location {
            return super::see_other(path, Vec::new());
        }
        let page = ErrorPage {
            status: self.status,
            message: self.message.clone(),
            retry_after: self.retry_after,
        };
        let body = page.body(context! {});
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            h.insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut().insert(UiPage);
        resp.extensions_mut()
            .insert(crate::request_log::Refusal(self.message.clone()));
        resp.extensions_mut().insert(page);
        if self.reauth {
            resp.extensions_mut().insert(ReauthNeeded);
        }
        resp
    }
}
