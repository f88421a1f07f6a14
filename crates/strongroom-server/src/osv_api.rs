//! `POST /osv/v1/query`: the one call of the OSV API that pip-audit's OSV service makes
//! (`pip-audit -s osv --osv-url http://HOST/osv/v1/query`), answered from the advisories
//! imported with `strongroom admin osv import` (core::advisories). A body
//! `{"package": {"name": N, "ecosystem": "PyPI"}, "version": V}` gets `{"vulns": [...]}` or
//! `{}` when nothing affects that version. Read-only, anonymous like the JSON API.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

#[derive(serde::Deserialize)]
struct Query {
    package: Package,
    version: String,
}

#[derive(serde::Deserialize)]
struct Package {
    name: String,
    #[serde(default)]
    ecosystem: Option<String>,
}

/// `POST /osv/v1/query` (pip-audit sends the JSON without a content type).
pub(crate) async fn query(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let q: Query = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("not an OSV query: {e}"),
        )
    })?;
    let json = |v: serde_json::Value| {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response()
    };
    if q.package
        .ecosystem
        .as_deref()
        .is_some_and(|e| e != strongroom_protocol::osv::ECOSYSTEM)
    {
        return Ok(json(serde_json::json!({})));
    }
    let Ok(name) = strongroom_protocol::NormalizedName::new(&q.package.name) else {
        return Ok(json(serde_json::json!({})));
    };
    let vulns = state.services.osv_query(&name, &q.version).await?;
    Ok(json(if vulns.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "vulns": vulns })
    }))
}
