//! Where errors become HTTP statuses. `core_error` is the one mapping of a `CoreError` to a
//! status, message and `Retry-After`, for the API's plain-text answers and the web UI's pages
//! alike; the front door's own refusals (421, 408, the connection cap's 503) are here too.
//! Upload errors carry their message in the body *and* in the status line's reason phrase
//! (sanitised), because twine shows the latter.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::CoreError;

/// An error answered to pip, twine or a mirror: plain text, with the message as reason phrase.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found")
    }

    /// 503: every stream of a large `/simple/` is taken (`root_index`); pip and uv retry.
    pub fn index_busy() -> ApiError {
        ApiError {
            retry_after: Some(2),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The project index is being sent to other clients; retry in a moment.",
            )
        }
    }

    /// 421: the request names a host this index does not answer for (`host::refusal`).
    pub fn misdirected(host: Option<&str>) -> ApiError {
        let named = match host {
            Some(h) => format!("'{}'", h.chars().take(100).collect::<String>()),
            None => "no host".to_owned(),
        };
        ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "This index does not answer for {named}. Use its public address, or ask the \
                 administrator to add the name to http.allowed_hosts."
            ),
        )
    }

    /// 400: the `Host` header (or the target's authority) is not a host name or address with an
    /// optional port, of at most `host::MAX_AUTHORITY` bytes (`host::refusal`).
    pub fn bad_host() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "Invalid Host header: expected a host name or address, with an optional port.",
        )
    }

    /// 429: the account already has `max` uploads in progress (`http.max_uploads_per_user`).
    pub fn too_many_uploads(max: u64) -> ApiError {
        ApiError {
            retry_after: Some(10),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "This account already has {max} uploads in progress; try again when one has finished."
                ),
            )
        }
    }

    /// 503: an upload that arrives while the server drains for shutdown (`drain`).
    pub fn shutting_down() -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is shutting down; upload again in a moment.",
            )
        }
    }

    /// 413: a text field of the upload form is longer than its bound (`upload`).
    pub fn form_field_too_large(name: &str, max: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Form field '{}' is longer than {max} bytes.",
                name.chars().take(64).collect::<String>()
            ),
        )
    }

    /// 503: the file is known but its stored bytes are missing (`downloads`); the
    /// administrator has a signal and `admin fsck` names the file.
    pub fn blob_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "This file's stored copy is missing or damaged, so it cannot be served. The index's administrator has been alerted.",
        )
    }

    /// 403: an upstream file the gateway refuses (an upstream block, a malicious-package
    /// record), with the reason (`upstream_files`).
    pub fn upstream_refused(reason: &str) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "This file is not served by this index: {}",
                reason.chars().take(500).collect::<String>()
            ),
        )
    }

    /// An upstream file that could not be fetched (`upstream_files`): 504 when the upstream
    /// did not answer in time, 403 past `upstream.max_file_bytes`, 502 for a bad answer (a
    /// sha256 that does not match included), 503 when the local temp file failed.
    pub fn upstream_failed(f: &crate::upstream_files::tee::FetchFailure) -> ApiError {
        use crate::upstream_files::tee::FetchFailure;
        let status = match f {
            FetchFailure::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            FetchFailure::TooLarge(_) => StatusCode::FORBIDDEN,
            FetchFailure::Upstream(_)
            | FetchFailure::Mismatch { .. }
            | FetchFailure::SizeMismatch { .. } => StatusCode::BAD_GATEWAY,
            FetchFailure::Local(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let message = match f {
            FetchFailure::Local(_) => {
                "The file cannot be fetched right now; try again later.".to_owned()
            }
            other => format!("The file cannot be fetched from the upstream index: {other}."),
        };
        ApiError::new(status, message)
    }

    /// 408: the request body arrived more slowly than `http.body_min_bytes` per window.
    pub fn body_too_slow() -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "The request body arrived too slowly; the connection is closed.",
        )
    }
}

/// What a connection over its address's cap reads before it is closed (`serve`): a complete
/// HTTP/1.1 503 that pip and uv retry, written before the request is read.
pub(crate) const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Too many connections from your address\r\n\
content-type: text/plain; charset=utf-8\r\nretry-after: 2\r\nconnection: close\r\ncontent-length: 70\r\n\r\n\
503 Service Unavailable\n\nToo many open connections from your address.\n";

/// What a failure the client cannot act on is told (5xx): the details go to the log only.
pub(crate) const INTERNAL: &str = "Something went wrong on our side. The error has been logged.";

/// The one mapping of a core error to an HTTP answer (status, the message shown, `Retry-After`),
/// for every surface: the plain-text answers of the API (`ApiError`), the web UI's error pages
/// and form errors (`web::errors::WebError`) and the JSON of its WebAuthn calls. A full disk is
/// 507 with `core::error::OUT_OF_SPACE`; an unreachable database or blob store is 503 with a
/// reason and `Retry-After` ([`unavailable`]); other storage and internal failures are a logged
/// 500 that reveals nothing.
pub(crate) fn core_error(e: CoreError) -> ApiError {
    if let Some(part) = e.unavailable() {
        tracing::warn!(error = %e, "storage unreachable; answered 503");
        return unavailable(part);
    }
    if e.is_out_of_space() {
        // Not a bug to hide: the client may retry, and twine shows the reason phrase.
        tracing::error!(error = %e, "out of storage space; answered 507");
        return ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            strongroom_core::error::OUT_OF_SPACE,
        );
    }
    if let CoreError::Busy {
        message,
        retry_after_secs,
    } = &e
    {
        // Not a failure: a bounded pool (password hashing) was full for the whole wait.
        return ApiError {
            retry_after: Some((*retry_after_secs).max(1)),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message.clone())
        };
    }
    if let CoreError::UpstreamUnavailable { timed_out, message } = &e {
        // Not a bug: the upstream index is down or slow and nothing is stored to fall back on.
        let status = if *timed_out {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        return ApiError::new(status, message.clone());
    }
    let status = match &e {
        CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
        CoreError::Forbidden(_) | CoreError::ReauthRequired => StatusCode::FORBIDDEN,
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Conflict(_) => StatusCode::CONFLICT,
        CoreError::Gone(_) => StatusCode::GONE,
        CoreError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
        CoreError::Storage(_)
        | CoreError::Internal(_)
        | CoreError::Busy { .. }
        | CoreError::UpstreamUnavailable { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "request failed");
        return ApiError::new(status, INTERNAL);
    }
    // `Retry-After: 0` would invite an immediate retry of a refused request.
    let retry_after = e.retry_after().map(|s| s.max(1));
    ApiError {
        retry_after,
        ..ApiError::new(status, e.to_string())
    }
}

/// Seconds a client is asked to wait when storage is unreachable.
pub(crate) const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// 503: the database or the blob store cannot be reached (an outage, or a start still waiting
/// for the database). pip and uv retry a 503; the reason says which part is missing.
pub(crate) fn unavailable(part: strongroom_store::Backend) -> ApiError {
    let message = match part {
        strongroom_store::Backend::Database => strongroom_core::error::DATABASE_UNAVAILABLE,
        strongroom_store::Backend::BlobStore => strongroom_core::error::BLOB_STORE_UNAVAILABLE,
    };
    ApiError {
        retry_after: Some(UNAVAILABLE_RETRY_AFTER),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }
}

/// 503 while `serve` waits for the database at start: every route but `/healthz` and `/readyz`.
pub(crate) fn not_open_yet() -> ApiError {
    ApiError {
        retry_after: Some(UNAVAILABLE_RETRY_AFTER),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The package index is starting: the database is not reachable yet. Try again in a few seconds.",
        )
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        core_error(e)
    }
}

impl From<strongroom_store::StoreError> for ApiError {
    fn from(e: strongroom_store::StoreError) -> Self {
        CoreError::from(e).into()
    }
}

/// Make `message` safe for a status line: printable ASCII only, bounded length.
pub(crate) fn reason_phrase(message: &str) -> String {
    let mut s: String = message
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .take(1024)
        .collect();
    if s.is_empty() {
        s.push_str("Error");
    }
    s
}

/// The image proxy's refusals (`image_proxy`): 404 when the proxy is off or the signature does
/// not match (nothing to find there), 403 for a destination the guard refuses, 502 for what
/// the origin answered (not 200, not a raster image by its type and bytes, too large), 504 when it took too long.
pub(crate) fn image_refused(why: &crate::image_proxy::ImageRefusal) -> ApiError {
    use crate::image_proxy::ImageRefusal as R;
    match why {
        R::Off | R::BadSignature => ApiError::not_found(),
        R::ForbiddenDestination => ApiError::new(
            StatusCode::FORBIDDEN,
            "The image proxy does not fetch from that address.",
        ),
        R::Upstream => ApiError::new(StatusCode::BAD_GATEWAY, "The image could not be fetched."),
        R::NotAnImage => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "The image proxy passes on PNG, JPEG, GIF, WebP, AVIF and icon images only.",
        ),
        R::TooLarge => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "The image is larger than the image proxy passes on.",
        ),
        R::Timeout => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "The image took too long to fetch.",
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = format!(
            "{} {}\n\n{}\n",
            self.status.as_u16(),
            self.status.canonical_reason().unwrap_or(""),
            self.message
        );
        // After the message, so clients matching its beginning still match.
        if let Some(id) = crate::request_log::current() {
            body.push_str(&format!("\nrequest id: {id}\n"));
        }
        let mut resp = (self.status, body).into_response();
        resp.extensions_mut()
            .insert(crate::request_log::Refusal(self.message.clone()));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Ok(phrase) =
            hyper::ext::ReasonPhrase::try_from(reason_phrase(&self.message).into_bytes())
        {
            resp.extensions_mut().insert(phrase);
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_answer_is_a_complete_response() {
        let text = std::str::from_utf8(TOO_MANY_CONNECTIONS).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
    }

    #[test]
    fn reason_phrase_cannot_split_the_status_line() {
        let p = reason_phrase("bad\r\nSet-Cookie: x=1 \u{e9}\u{0}");
        assert!(!p.contains('\r') && !p.contains('\n') && !p.contains('\0'));
        assert_eq!(p, "bad??Set-Cookie: x=1 ??");
        assert!(hyper::ext::ReasonPhrase::try_from(p.into_bytes()).is_ok());
        assert_eq!(reason_phrase(""), "Error");
    }

    /// Every kind of core error, built afresh (`CoreError` is not `Clone`).
    fn every_kind() -> Vec<fn() -> CoreError> {
        vec![
            || CoreError::Invalid("bad field".into()),
            || CoreError::Forbidden("not yours".into()),
            || CoreError::ReauthRequired,
            || CoreError::NotFound("no such project".into()),
            || CoreError::Conflict("File already exists".into()),
            || CoreError::Gone("no longer supported".into()),
            || CoreError::TooMany {
                message: "slow down".into(),
                retry_after_secs: 30,
            },
            || CoreError::TooMany {
                message: "slow down".into(),
                retry_after_secs: 0,
            },
            || {
                CoreError::from(strongroom_store::StoreError::OutOfSpace(
                    "database: database or disk is full".into(),
                ))
            },
            || CoreError::from(strongroom_store::StoreError::Blob("s3: refused".into())),
            || CoreError::Internal("secret detail".into()),
            || CoreError::Busy {
                message: strongroom_core::hash_pool::BUSY.into(),
                retry_after_secs: 5,
            },
            || {
                CoreError::from(strongroom_store::StoreError::Unavailable {
                    part: strongroom_store::Backend::Database,
                    detail: "pool timed out".into(),
                })
            },
            || {
                CoreError::from(strongroom_store::StoreError::Unavailable {
                    part: strongroom_store::Backend::BlobStore,
                    detail: "connection refused".into(),
                })
            },
        ]
    }

    #[test]
    fn the_api_and_the_web_ui_answer_a_core_error_alike() {
        use crate::web::errors::WebError;
        for make in every_kind() {
            let api = ApiError::from(make());
            let web = WebError::from(make());
            let what = format!("{:?}", make());
            assert_eq!(api.status, web.status, "{what}");
            assert_eq!(api.message, web.message, "{what}");
            assert_eq!(api.retry_after, web.retry_after, "{what}");
            assert!(web.location.is_none());
            if api.status == StatusCode::SERVICE_UNAVAILABLE {
                // busy hashing, or a part of storage unreachable: a reason, never details
                assert!(
                    api.message == strongroom_core::hash_pool::BUSY
                        || api.message == strongroom_core::error::DATABASE_UNAVAILABLE
                        || api.message == strongroom_core::error::BLOB_STORE_UNAVAILABLE,
                    "{what}: {}",
                    api.message
                );
                assert_eq!(api.retry_after, Some(5), "{what}");
            } else if api.status.is_server_error() && api.status != StatusCode::INSUFFICIENT_STORAGE
            {
                assert_eq!(api.message, INTERNAL, "{what}: details stay in the log");
            }
            if api.status == StatusCode::TOO_MANY_REQUESTS {
                assert!(api.retry_after.is_some_and(|s| s >= 1), "{what}");
            }
        }
        let web = crate::web::errors::WebError::from(make_full());
        assert_eq!(web.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(web.message, strongroom_core::error::OUT_OF_SPACE);
    }

    fn make_full() -> CoreError {
        CoreError::from(strongroom_store::StoreError::OutOfSpace(
            "file system: No space left on device".into(),
        ))
    }

    #[test]
    fn a_full_disk_is_507_with_a_message_in_the_reason_phrase_and_the_body() {
        let full =
            strongroom_store::StoreError::OutOfSpace("database: database or disk is full".into());
        let resp = ApiError::from(CoreError::from(full)).into_response();
        assert_eq!(resp.status(), StatusCode::INSUFFICIENT_STORAGE);
        let phrase = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .expect("reason phrase");
        assert_eq!(
            phrase.as_bytes(),
            strongroom_core::error::OUT_OF_SPACE.as_bytes()
        );
        // Other storage failures stay a logged 500 that reveals nothing.
        let other = strongroom_store::StoreError::Blob("s3: connection refused".into());
        let resp = ApiError::from(CoreError::from(other)).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// An outage of either backend is 503 with a reason naming it and `Retry-After`, never a
    /// 500, and its details (hosts, errors) stay in the log.
    #[test]
    fn an_unreachable_database_or_blob_store_is_503_with_a_reason_and_retry_after() {
        use strongroom_store::{Backend, StoreError};
        for (part, says) in [
            (Backend::Database, "database"),
            (Backend::BlobStore, "file store"),
        ] {
            let e = StoreError::Unavailable {
                part,
                detail: "secret-host:5432 refused".into(),
            };
            let api = ApiError::from(CoreError::from(e));
            assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(api.message.contains(says), "{}", api.message);
            assert!(!api.message.contains("secret-host"));
            let resp = api.into_response();
            assert_eq!(
                resp.headers()
                    .get(header::RETRY_AFTER)
                    .map(|v| v.as_bytes()),
                Some(UNAVAILABLE_RETRY_AFTER.to_string().as_bytes())
            );
        }
    }
}
