//! HTML error pages: the web UI's counterpart of `crate::error` (same status for each
//! `CoreError` kind; 429 carries `Retry-After`; 5xx details go to the log, not the page).

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
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> WebError {
        WebError {
            status,
            message: message.into(),
            retry_after: None,
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
        WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side. The error has been logged.",
        )
    }
}

/// The seconds at the end of a rate-limit message ("… try again in 120 seconds" → 120).
pub(crate) fn retry_after_secs(message: &str) -> u64 {
    let digits: String = message
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(60)
}

impl From<CoreError> for WebError {
    fn from(e: CoreError) -> Self {
        let status = match &e {
            CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Gone(_) => StatusCode::GONE,
            CoreError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            CoreError::Storage(_) | CoreError::Internal(_) => {
                return WebError::internal(e);
            }
        };
        let retry_after =
            matches!(e, CoreError::TooMany(_)).then(|| retry_after_secs(&e.to_string()));
        WebError {
            status,
            message: e.to_string(),
            retry_after,
        }
    }
}

impl From<strongroom_store::StoreError> for WebError {
    fn from(e: strongroom_store::StoreError) -> Self {
        CoreError::from(e).into()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = super::templates::render(
            "error.html",
            context! {
                status => self.status.as_u16(),
                title => title,
                message => &self.message,
                retry_after => self.retry_after,
            },
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "error page template failed");
            format!("{} {title}\n", self.status.as_u16())
        });
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
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::retry_after_secs;

    #[test]
    fn retry_after_from_message() {
        assert_eq!(
            retry_after_secs("Too many attempts; try again in 300 seconds"),
            300
        );
        assert_eq!(retry_after_secs("locked for 42"), 42);
        assert_eq!(retry_after_secs("no number"), 60);
    }
}
