//! `GET /readyz`: whether this server can serve now (database writable, blob store writable and
//! readable, schema current; the checks are `core::readiness`). 200 `ready`, or 503 with one
//! plain-text line per failed check. The answer is kept for [`CACHE_FOR`] and one check runs at
//! a time, so probes (or anyone else: like `/healthz` it answers whatever the Host) cannot turn
//! it into load on the database or the bucket.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use strongroom_core::readiness::Readiness;
use tokio::time::Instant;

use crate::state::AppState;

/// How long one readiness answer is reused.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(1);

/// The path of the readiness check (exempt from the Host allow-list, like `/healthz`).
pub(crate) const READY_PATH: &str = "/readyz";

/// The last answer and when it was made.
#[derive(Default)]
pub(crate) struct ReadinessCache {
    last: tokio::sync::Mutex<Option<(Instant, Readiness)>>,
}

impl ReadinessCache {
    /// The cached answer while fresh, else a new one (callers arriving meanwhile wait for it).
    async fn get(&self, state: &AppState) -> Readiness {
        let mut last = self.last.lock().await;
        if let Some((at, r)) = &*last
            && at.elapsed() < CACHE_FOR
        {
            return r.clone();
        }
        let r = state.services.readiness().await;
        if !r.is_ready() {
            tracing::warn!(report = %r.to_text().trim_end().replace('\n', "; "), "not ready");
        }
        *last = Some((Instant::now(), r.clone()));
        r
    }
}

/// The route. A server draining for shutdown is not ready whatever its storage says, so a
/// proxy or orchestrator takes it out of rotation while its uploads finish.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.drain.is_draining() {
        let mut resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready\ndraining: the server is shutting down\n",
        )
            .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return resp;
    }
    let r = state.readiness.get(&state).await;
    answer(&r)
}

/// `r` as the route's answer (also used before the database is open).
pub(crate) fn answer(r: &Readiness) -> Response {
    let status = if r.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = (status, r.to_text()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
