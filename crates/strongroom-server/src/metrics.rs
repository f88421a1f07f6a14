//! Metrics in the Prometheus text exposition format (version 0.0.4), from a small registry of
//! counters kept here and values read at scrape time. Labels are bounded: the route is the
//! matched route template (`/simple/{name}/`, never the raw path; `unmatched` for 404s), the
//! method one of a fixed set, the status a code; no per-user or per-project label exists.
//! Served on `metrics.bind` (its own listener, `metrics_router`) and at `/metrics` on the main
//! listener to an admin's API token only (404 to anyone else).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use strongroom_core::striped::{Counter, Tally};

use crate::state::AppState;

/// Upper bounds (seconds) of the request-duration histogram's buckets.
const BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The media type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations per bucket (not cumulative; the last slot is above every bound).
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default, Clone)]
struct RouteStats {
    /// Requests by (method, status).
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: Histogram,
}

impl RouteStats {
    fn merge(&mut self, other: &RouteStats) {
        for (k, n) in &other.requests {
            *self.requests.entry(*k).or_default() += n;
        }
        for (mine, theirs) in self.latency.counts.iter_mut().zip(other.latency.counts) {
            *mine += theirs;
        }
        self.latency.sum += other.latency.sum;
    }
}

/// The HTTP counters of this process. What every answer writes is striped
/// (`strongroom_core::striped`): the lanes serving at once do not share its cache lines.
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    routes: Tally<BTreeMap<String, RouteStats>>,
    bytes_in: Arc<AtomicU64>,
    /// Bytes of bodies counted as they are sent (large ones: downloads).
    bytes_out: Arc<AtomicU64>,
    /// Bytes of bodies counted when the answer left the handler (`COUNTED_AT_ONCE`).
    bytes_out_at_once: Counter,
    /// Kept pages answered at the front door, before the router (`entry`).
    front_door: Counter,
}

/// A bounded method label.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

impl HttpMetrics {
    fn record(&self, route: &str, method: &'static str, status: u16, secs: f64) {
        self.routes.with(|routes| {
            let stats = match routes.get_mut(route) {
                Some(s) => s,
                None => routes.entry(route.to_owned()).or_default(),
            };
            *stats.requests.entry((method, status)).or_default() += 1;
            stats.latency.observe(secs);
        });
    }

    /// Every route's counts, merged from the stripes.
    fn routes(&self) -> BTreeMap<String, RouteStats> {
        let mut all: BTreeMap<String, RouteStats> = BTreeMap::new();
        self.routes.each(|stripe| {
            for (route, s) in stripe.iter() {
                match all.get_mut(route) {
                    Some(merged) => merged.merge(s),
                    None => {
                        all.insert(route.clone(), s.clone());
                    }
                }
            }
        });
        all
    }

    /// Count `resp`, answered under `route` to a request of `method` that arrived at
    /// `started`; its body's bytes as they are sent (a body of known small size, a cached
    /// page, counted at once: only a download's are worth following).
    fn answered(
        &self,
        route: &str,
        method: &'static str,
        started: Instant,
        resp: Response,
    ) -> Response {
        self.record(
            route,
            method,
            resp.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        if method == "HEAD" {
            // no body is sent, whatever the answer's size says
            return resp;
        }
        if let Some(n) = resp.body().size_hint().exact()
            && n <= COUNTED_AT_ONCE
        {
            self.bytes_out_at_once.add(n);
            return resp;
        }
        let counter = self.bytes_out.clone();
        resp.map(|b| Body::new(Counted { inner: b, counter }))
    }

    /// Count a kept page answered at the front door under `template` (a route of the
    /// table), without a [`Track`].
    pub(crate) fn front_door_answer(
        &self,
        template: &'static str,
        method: &Method,
        started: Instant,
        resp: Response,
    ) -> Response {
        self.front_door.add(1);
        self.answered(template, method_label(method), started, resp)
    }
}

/// A body that adds the bytes of its data frames to a counter as they pass.
struct Counted<B> {
    inner: B,
    counter: Arc<AtomicU64>,
}

impl<B> HttpBody for Counted<B>
where
    B: HttpBody<Data = Bytes, Error = axum::Error> + Unpin,
{
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.counter
                .fetch_add(u64::try_from(data.len()).unwrap_or(0), Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Count every request: by route template, method and status; its duration until the response
/// head; the bytes of its body and of the response body.
pub(crate) struct Track {
    metrics: Arc<HttpMetrics>,
    started: Instant,
    route: Route,
    method: &'static str,
}

/// The route template a request is counted under.
enum Route {
    /// As the router matched it.
    Matched(MatchedPath),
    Unmatched,
}

impl Track {
    /// Start counting `req` (its body's bytes as they are read).
    pub(crate) fn begin(state: &AppState, req: Request) -> (Track, Request) {
        let metrics = state.http_metrics.clone();
        let track = Track {
            started: Instant::now(),
            route: req
                .extensions()
                .get::<MatchedPath>()
                .map_or(Route::Unmatched, |m| Route::Matched(m.clone())),
            method: method_label(req.method()),
            metrics,
        };
        // a request without a body (every GET) keeps its own: nothing to count, nothing boxed
        let req = if req.body().is_end_stream() {
            req
        } else {
            let counter = track.metrics.bytes_in.clone();
            req.map(|b| Body::new(Counted { inner: b, counter }))
        };
        (track, req)
    }

    /// Count the answer (`HttpMetrics::answered`).
    pub(crate) fn end(self, resp: Response) -> Response {
        let route = match &self.route {
            Route::Matched(m) => m.as_str(),
            Route::Unmatched => "unmatched",
        };
        self.metrics
            .answered(route, self.method, self.started, resp)
    }
}

/// A response body of at most this many bytes is counted when the answer leaves the handler.
const COUNTED_AT_ONCE: u64 = 1 << 20;

/// Escape a label value (backslash, double quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric's HELP and TYPE lines.
fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Free and total bytes of the file system holding `dir`.
fn disk_space(dir: &std::path::Path) -> Option<(u64, u64)> {
    let s = rustix::fs::statvfs(dir).ok()?;
    let frsize = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    Some((
        s.f_bavail.saturating_mul(frsize),
        s.f_blocks.saturating_mul(frsize),
    ))
}

/// The whole exposition.
pub(crate) async fn render(state: &AppState) -> String {
    let mut out = String::new();
    {
        let routes = state.http_metrics.routes();
        let name = "strongroom_http_requests_total";
        head(
            &mut out,
            name,
            "counter",
            "HTTP requests answered, by route template, method and status.",
        );
        for (route, s) in routes.iter() {
            for ((method, status), n) in &s.requests {
                let code = status.to_string();
                let class = format!("{}xx", status / 100);
                sample(
                    &mut out,
                    name,
                    &[
                        ("route", route),
                        ("method", method),
                        ("status", &code),
                        ("class", &class),
                    ],
                    n,
                );
            }
        }
        let name = "strongroom_http_request_duration_seconds";
        head(
            &mut out,
            name,
            "histogram",
            "Time from a request's arrival to its response head, by route template.",
        );
        for (route, s) in routes.iter() {
            let mut cumulative = 0u64;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += s.latency.counts[i];
                sample(
                    &mut out,
                    &format!("{name}_bucket"),
                    &[("route", route), ("le", &bound.to_string())],
                    cumulative,
                );
            }
            cumulative += s.latency.counts[BUCKETS.len()];
            sample(
                &mut out,
                &format!("{name}_bucket"),
                &[("route", route), ("le", "+Inf")],
                cumulative,
            );
            sample(
                &mut out,
                &format!("{name}_sum"),
                &[("route", route)],
                s.latency.sum,
            );
            sample(
                &mut out,
                &format!("{name}_count"),
                &[("route", route)],
                cumulative,
            );
        }
    }
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        head(out, name, "counter", help);
        sample(out, name, &[], v);
    };
    let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
        head(out, name, "gauge", help);
        sample(out, name, &[], v);
    };
    let hm = &state.http_metrics;
    counter(
        &mut out,
        "strongroom_http_request_bytes_total",
        "Bytes of request bodies received.",
        hm.bytes_in.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "strongroom_http_response_bytes_total",
        "Bytes of response bodies sent.",
        hm.bytes_out
            .load(Ordering::Relaxed)
            .wrapping_add(hm.bytes_out_at_once.get()),
    );
    gauge(
        &mut out,
        "strongroom_uploads_in_flight",
        "Uploads being received or stored now.",
        u64::try_from(state.drain.uploads_in_flight()).unwrap_or(u64::MAX),
    );
    gauge(
        &mut out,
        "strongroom_draining",
        "1 while the server drains for shutdown, else 0.",
        u64::from(state.drain.is_draining()),
    );
    counter(
        &mut out,
        "strongroom_front_door_pages_total",
        "Kept simple pages answered at the front door, before the router (also counted under their route).",
        state.http_metrics.front_door.get(),
    );
    let (hits, misses) = state.cache.hits_misses();
    counter(
        &mut out,
        "strongroom_page_cache_hits_total",
        "Page-cache lookups (pages, and what a download reads of its file) answered from memory.",
        hits,
    );
    counter(
        &mut out,
        "strongroom_page_cache_misses_total",
        "Page-cache lookups that read the database (and rendered the page).",
        misses,
    );
    gauge(
        &mut out,
        "strongroom_page_cache_bytes",
        "Bytes held by the page cache.",
        u64::try_from(state.cache.bytes()).unwrap_or(u64::MAX),
    );
    gauge(
        &mut out,
        "strongroom_page_cache_max_bytes",
        "The page cache's budget (cache.max_bytes).",
        u64::try_from(state.cache.max_bytes()).unwrap_or(u64::MAX),
    );
    let pool = state.services.db.pool_stats();
    let name = "strongroom_db_connections";
    head(
        &mut out,
        name,
        "gauge",
        "Database pool connections, in use by a request or job, or idle.",
    );
    sample(&mut out, name, &[("state", "in_use")], pool.in_use);
    sample(&mut out, name, &[("state", "idle")], pool.idle);
    counter(
        &mut out,
        "strongroom_blob_store_errors_total",
        "Failed blob-store operations.",
        strongroom_store::blob_error_count(),
    );
    let dl = state.services.downloads.stats();
    gauge(
        &mut out,
        "strongroom_download_log_buffered",
        "Downloads recorded in memory and not yet written to the download log.",
        dl.buffered,
    );
    counter(
        &mut out,
        "strongroom_download_log_written_total",
        "Downloads written to the download log by this process.",
        dl.written,
    );
    counter(
        &mut out,
        "strongroom_download_log_dropped_total",
        "Downloads not recorded because the recorder's buffer was full.",
        dl.dropped,
    );
    counter(
        &mut out,
        "strongroom_page_reads_dropped_total",
        "Page reads not counted for the impact report because the counters held between two writes were full.",
        dl.page_reads_dropped,
    );
    counter(
        &mut out,
        "strongroom_download_log_repeats_total",
        "Requests not recorded because the same client address had downloaded the same file within the minute.",
        dl.repeated,
    );
    let jobs = strongroom_core::job_stats::snapshot();
    for (name, help, pick) in [
        (
            "strongroom_job_runs_total",
            "Runs of each periodic job.",
            (|c: &strongroom_core::job_stats::JobCounts| c.runs)
                as fn(&strongroom_core::job_stats::JobCounts) -> u64,
        ),
        (
            "strongroom_job_failures_total",
            "Failed runs of each periodic job.",
            |c: &strongroom_core::job_stats::JobCounts| c.failures,
        ),
    ] {
        head(&mut out, name, "counter", help);
        for (job, c) in &jobs {
            sample(&mut out, name, &[("job", job)], pick(c));
        }
    }
    // Read from the database at each scrape: the queue every server shares. Absent (not
    // zero) when the database does not answer.
    let name = "strongroom_mail_queue_depth";
    head(
        &mut out,
        name,
        "gauge",
        "Mails queued and not yet delivered (all servers).",
    );
    match state.services.db.outbox_pending_count().await {
        Ok(n) => sample(&mut out, name, &[], n),
        Err(e) => tracing::debug!(error = %e, "metrics: cannot count the outbox"),
    }
    if let Some((free, total)) = state.data_dir.as_deref().and_then(disk_space) {
        gauge(
            &mut out,
            "strongroom_data_free_bytes",
            "Bytes available to strongroom on the data folder's file system.",
            free,
        );
        gauge(
            &mut out,
            "strongroom_data_size_bytes",
            "Size of the data folder's file system.",
            total,
        );
    }
    out
}

async fn exposition(state: &AppState) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        render(state).await,
    )
        .into_response()
}

/// `GET /metrics` on the main listener: for an admin's unscoped API token only; 404 (as for
/// a path that does not exist) to everyone else.
pub(crate) async fn main_listener(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let creds = strongroom_core::tokens::parse_authorization(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    match state.services.is_admin_token(&creds).await {
        Ok(true) => exposition(&state).await,
        Ok(false) => crate::error::ApiError::not_found().into_response(),
        Err(e) => crate::error::core_error(e).into_response(),
    }
}

/// Serve the metrics on their own listener (`metrics.bind`) until the process ends.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(state)).await
}

/// The router of the separate `metrics.bind` listener: `/metrics` to anyone who reaches it
/// (bind it to an address only the monitoring system reaches), 404 for every other path.
/// GET only, no cookie read: not part of the web route table.
#[allow(clippy::disallowed_methods)]
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(state): State<AppState>| async move { exposition(&state).await }),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(state)
}

/// Where the data folder is (for the free-disk gauge).
pub(crate) type DataDir = Option<PathBuf>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_hold_each_observation_once() {
        let mut h = Histogram::default();
        for s in [0.001, 0.005, 0.2, 100.0] {
            h.observe(s);
        }
        assert_eq!(h.counts.iter().sum::<u64>(), 4);
        assert_eq!(h.counts[0], 2, "le=0.005 is inclusive");
        assert_eq!(h.counts[BUCKETS.len()], 1, "above every bound");
        assert!((h.sum - 100.206).abs() < 1e-9);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }

    #[test]
    fn methods_outside_the_known_set_share_one_label() {
        let odd = Method::from_bytes(b"BREW").expect("method");
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::GET), "GET");
    }
}
