//! `GET /api/file-status/{sha256}` and `POST /api/file-status` (issue 13): a file's status by
//! its sha256 (`core::file_status`), what `strongroom audit` asks about every file a lock file
//! pins. One hash answers `{sha256, status, project, version, filename, reason?, osv_id?}`, 404
//! `{sha256, status: "unknown"}` for a file the reader may not know of; a batch (a JSON list of
//! at most 1000 hashes, or `{"sha256": [...]}`) answers `{"files": [...]}` in the order asked.
//!
//! Anonymous by default (files that were ever public); an administrator's unscoped API token in
//! `Authorization` sees every file, and so does an admin's session cookie on the GET. The POST
//! reads no cookie, so it needs no CSRF token (it changes nothing either way).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::CoreError;
use strongroom_core::file_status::{MAX_BATCH, Sha256Hex, StatusReader};
use strongroom_core::tokens::{Credentials, parse_authorization};

use crate::state::AppState;

/// The largest batch body: 1000 quoted hashes with separators and some whitespace.
pub(crate) const MAX_BODY: usize = 128 * 1024;

fn answer(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            // A status changes (a yank, a removal) and an admin's answer is theirs alone.
            (header::CACHE_CONTROL, "no-store"),
        ],
        v.to_string(),
    )
        .into_response()
}

fn refused(e: CoreError) -> Response {
    match e {
        CoreError::Invalid(m) => {
            answer(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": m }))
        }
        other => crate::error::core_error(other).into_response(),
    }
}

fn credentials(headers: &HeaderMap) -> Credentials {
    parse_authorization(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// `GET /api/file-status/{sha256}`.
pub(crate) async fn one(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    headers: HeaderMap,
) -> Response {
    let sha = match Sha256Hex::parse(&sha256) {
        Ok(s) => s,
        Err(e) => return refused(e),
    };
    let creds = credentials(&headers);
    // An admin's session (the web area) reads as the admin; a token, when given, decides.
    let cap = if matches!(creds, Credentials::None) {
        match crate::web::session::viewer(&state, &headers).await {
            Ok(Some(v)) => state.services.admin_cap(&v.info),
            Ok(None) => None,
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let reader = match &cap {
        Some(cap) => StatusReader::Admin(cap),
        None => StatusReader::Token(&creds),
    };
    match state.services.file_status(reader, &sha).await {
        Ok(r) if r.status == strongroom_core::file_status::FileStatus::Unknown => {
            answer(StatusCode::NOT_FOUND, &r.to_json())
        }
        Ok(r) => answer(StatusCode::OK, &r.to_json()),
        Err(e) => refused(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Batch {
    List(Vec<String>),
    Object { sha256: Vec<String> },
}

/// `POST /api/file-status`: a batch.
pub(crate) async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let asked = match serde_json::from_slice::<Batch>(&body) {
        Ok(Batch::List(l) | Batch::Object { sha256: l }) => l,
        Err(e) => {
            return refused(CoreError::Invalid(format!(
                "expected a JSON list of sha256 hashes: {e}"
            )));
        }
    };
    if asked.len() > MAX_BATCH {
        return refused(CoreError::Invalid(format!(
            "at most {MAX_BATCH} hashes in one request (got {}): split the list",
            asked.len()
        )));
    }
    let hashes = match asked
        .iter()
        .map(|h| Sha256Hex::parse(h))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(h) => h,
        Err(e) => return refused(e),
    };
    let creds = credentials(&headers);
    match state
        .services
        .file_statuses(StatusReader::Token(&creds), &hashes)
        .await
    {
        Ok(rs) => {
            let files: Vec<serde_json::Value> = rs.iter().map(|r| r.to_json()).collect();
            answer(StatusCode::OK, &serde_json::json!({ "files": files }))
        }
        Err(e) => refused(e),
    }
}
