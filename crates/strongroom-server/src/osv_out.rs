//! The index's own malicious-package verdicts as an OSV feed (issue 13): `GET /osv/` lists every
//! record (`id`, `modified`, `withdrawn` when withdrawn, and its link) and `GET /osv/<id>.json`
//! is one record in the malicious-packages layout (core::verdicts). Public and anonymous like
//! the JSON API, cacheable, with an ETag of the body (a conditional GET gets 304). The OSV
//! query API (`POST /osv/v1/query`, osv_api.rs) is separate.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a client or cache may keep an answer (a new verdict shows within it).
const CACHE_CONTROL: &str = "max-age=300, public";

/// The JSON answer with its ETag, or 304 when the client holds it.
fn cacheable(headers: &HeaderMap, body: String) -> Response {
    let digest = hex::encode(Sha256::digest(body.as_bytes()));
    let etag = format!("\"{}\"", &digest[..32]);
    let mut resp = if crate::headers::etag_matches(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    resp
}

/// `GET /osv/`: the feed's index.
pub(crate) async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
    let verdicts = state.services.malicious_verdicts().await?;
    let records: Vec<serde_json::Value> = verdicts
        .iter()
        .map(|v| {
            let mut e = serde_json::to_value(strongroom_core::verdicts::verdict_summary(v))
                .unwrap_or_default();
            e["url"] = format!("{base}/osv/{}.json", v.id).into();
            e
        })
        .collect();
    let body = serde_json::json!({
        "ecosystem": strongroom_protocol::osv::ECOSYSTEM,
        "prefix": state.services.settings.scan.osv_id_prefix,
        "records": records,
    });
    Ok(cacheable(&headers, body.to_string()))
}

/// `GET /osv/<id>.json`: one record; 404 for anything else.
pub(crate) async fn record(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(id) = file.strip_suffix(".json").filter(|id| !id.is_empty()) else {
        return Err(ApiError::not_found());
    };
    let Some(v) = state.services.malicious_verdict(id).await? else {
        return Err(ApiError::not_found());
    };
    let body = serde_json::to_string_pretty(&strongroom_core::verdicts::verdict_osv_json(&v))
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("record not serialisable: {e}"),
            )
        })?;
    Ok(cacheable(&headers, body))
}
