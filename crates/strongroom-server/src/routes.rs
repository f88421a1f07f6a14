//! The route table: every path strongroom answers, in one place.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::state::AppState;
use crate::{downloads, json_api, simple, upload, xmlrpc};

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.services.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

async fn home() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>strongroom</title></head><body>\
         <h1>strongroom</h1><p>A Python package index. Install with \
         <code>pip install --index-url &lt;this host&gt;/simple/ PACKAGE</code>; \
         upload with <code>twine upload --repository-url &lt;this host&gt;/legacy/</code>.</p>\
         <p><a href=\"/simple/\">Simple index</a></p></body></html>",
    )
        .into_response()
}

async fn not_found() -> Response {
    crate::error::ApiError::not_found().into_response()
}

/// Build the application router.
pub fn router(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.services.settings.max_file_size)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024 * 1024);
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/simple", get(|| async { Redirect::permanent("/simple/") }))
        .route("/simple/", get(simple::index))
        .route("/simple/{name}", get(simple::project_no_slash))
        .route("/simple/{name}/", get(simple::project))
        .route("/pypi/{name}/json", get(json_api::project))
        .route("/pypi/{name}/json/", get(json_api::project))
        .route("/pypi/{name}/{version}/json", get(json_api::release))
        .route("/pypi/{name}/{version}/json/", get(json_api::release))
        .route("/packages/{*path}", get(downloads::download))
        .route(
            "/legacy/",
            post(upload::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/legacy",
            post(|| async { Redirect::permanent("/legacy/") }),
        )
        .route(
            "/pypi",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .route(
            "/RPC2",
            post(xmlrpc::call).layer(DefaultBodyLimit::max(64 * 1024)),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::headers::security_headers))
        .with_state(state)
}
