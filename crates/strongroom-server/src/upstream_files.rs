//! `GET /upstream/files/<project>/<sha256>/<filename>` (and `.metadata`): upstream files,
//! fetched once, checked against the sha256 the upstream's page advertised, kept in the blob
//! store under `upstream/…` and served from there afterwards (issue 12, docs/gateway.md).
//!
//! Every request first asks the gateway for its verdict (`Services::upstream_file`: blocked or
//! malicious → 403 with the reason, unknown / cooldown / a local or reserved name → 404), cached
//! or not, so a block or an advisory import stops serving a kept file at once. A kept file was
//! checked against its sha256 once, as it was fetched (later damage is `strongroom fsck`'s to
//! find), and is served straight from the blob store (ETag, Range) without hashing it again; its
//! download moves it in the eviction order through the batched touches of
//! `core::upstream_cache::touches` (no task, no write per download). A file not kept yet
//! is fetched by one task per server ([`tee`]), which every requester follows; the task keeps
//! the checked file (claim, blob, row: `core::upstream_cache`) and then its PEP 658 metadata.
//! A file's body is held to the size its page advertised, and `Content-Length` is that size,
//! never the upstream's. Where file URLs may lead is the upstream client's rule
//! (`upstream.file_hosts`, public addresses otherwise). The metadata of a file not kept is
//! fetched the same way (its own single flight, the same budget, streamed) and kept on its own
//! (a resolver may never download the file); a file kept later takes it over.
//! Starting a fetch counts against `upstream.new_fetches_per_minute` for the client's address
//! (429 + Retry-After); joining one or reading a kept file does not. Every download (a whole
//! file, 200 to a GET: not a 304, HEAD or Range, `crate::downloads::is_download`) is recorded
//! (`Services::downloads`, origin Upstream), as for local files.

pub(crate) mod tee;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use strongroom_core::download_log::Origin;
use strongroom_core::gateway::UpstreamFileVerdict;
use strongroom_core::gateway::fast::FileTarget;
use strongroom_core::upstream_cache::CheckedUpstreamFile;
use strongroom_core::{RequestMeta, Services};
use strongroom_protocol::NormalizedName;
use strongroom_protocol::simple::read::UpstreamFile;
use strongroom_store::{BlobKey, UpstreamFileRow, UpstreamMetadataRow};

use crate::error::ApiError;
use crate::headers::etag_matches;
use crate::state::{AppState, request_meta};
pub(crate) use tee::Fetches;
use tee::{FetchFailure, Joined, Phase};

/// The largest PEP 658 metadata file read from an upstream (real ones are a few KiB).
const MAX_METADATA_BYTES: u64 = 16 * 1024 * 1024;

/// What one request asks for, checked.
struct Wanted {
    project: NormalizedName,
    sha256: String,
    filename: String,
    metadata: bool,
}

fn parse(project: &str, sha256: &str, filename: &str) -> Option<Wanted> {
    let project = NormalizedName::new(project).ok()?;
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let (filename, metadata) = match filename.strip_suffix(".metadata") {
        Some(f) => (f, true),
        None => (filename, false),
    };
    BlobKey::for_upstream(sha256, filename)?;
    Some(Wanted {
        project,
        sha256: sha256.to_owned(),
        filename: filename.to_owned(),
        metadata,
    })
}

/// The served file, the gateway's answer.
struct Served {
    file: UpstreamFile,
    version: String,
    upstream: usize,
    upstream_url: String,
}

/// `GET /upstream/files/{project}/{sha256}/{filename}`
pub(crate) async fn file(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path((project, sha256, filename)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let meta = request_meta(
        &headers,
        Some(peer),
        &state.services.settings.trusted_proxies,
    );
    let want = parse(&project, &sha256, &filename).ok_or_else(ApiError::not_found)?;
    // One read and, usually, a remembered verdict (`core::gateway::fast`); the full path when
    // the name or its page needs more.
    let (verdict, parts) = match state
        .services
        .file_target(&want.project, &want.sha256, &want.filename)
        .await?
    {
        FileTarget::Verdict(v, parts) => (v, Some(*parts)),
        FileTarget::Slow => (
            state
                .services
                .upstream_file(&want.project, &want.sha256, &want.filename)
                .await?,
            None,
        ),
    };
    let served = match verdict {
        UpstreamFileVerdict::Serve {
            file,
            version,
            upstream,
        } => {
            let client = state
                .services
                .upstream
                .as_ref()
                .ok_or_else(ApiError::not_found)?;
            let upstream_url = client
                .indexes()
                .get(upstream)
                .map(|i| i.url.clone())
                .ok_or_else(ApiError::not_found)?;
            Served {
                file: *file,
                version,
                upstream,
                upstream_url,
            }
        }
        UpstreamFileVerdict::Refused(reason) => return Err(ApiError::upstream_refused(&reason)),
        UpstreamFileVerdict::NotFound => return Err(ApiError::not_found()),
    };
    // The gateway serves only files with a sha256; the page's must be the one asked for.
    if served.file.sha256.as_deref() != Some(want.sha256.as_str())
        || served.file.filename != want.filename
    {
        return Err(ApiError::not_found());
    }
    // What is kept of it: as the lookup read it, else read now (the lone metadata only when
    // asked for).
    let (kept, lone) = match parts {
        Some(p) => (p.file, Some(p.lone_metadata)),
        None => (
            state.services.cached_upstream_file(&want.sha256).await?,
            None,
        ),
    };
    if want.metadata {
        return metadata(&state, &want, &served, kept, lone, &headers, &meta).await;
    }
    if let Some(row) = kept.filter(|r| r.filename == want.filename)
        && let Some(resp) = serve_kept(&state, &row, &headers).await?
    {
        record(&state.services, &method, &resp, &served, &want, &meta);
        return Ok(resp);
    }
    let resp = serve_fetch(&state, &want, &served, &meta, Part::File).await?;
    record(&state.services, &method, &resp, &served, &want, &meta);
    Ok(resp)
}

/// Record one download when `resp` is one (never waits for the database; the recorder cuts
/// the user agent and folds a client's repeats).
fn record(
    services: &Services,
    method: &Method,
    resp: &Response,
    served: &Served,
    want: &Wanted,
    meta: &RequestMeta,
) {
    if crate::downloads::is_download(method, resp.status()) {
        services.record_download(
            Origin::Upstream,
            want.project.as_str(),
            &served.version,
            &want.filename,
            &want.sha256,
            meta,
        );
    }
}

fn file_headers(etag_hash: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, public"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag_hash}\"")) {
        h.insert(header::ETAG, v);
    }
    h
}

/// A kept file from the blob store, as it is (it was checked when kept); `None` when its blob
/// is gone (the row is forgotten, and the caller fetches it again).
async fn serve_kept(
    state: &AppState,
    row: &UpstreamFileRow,
    headers: &HeaderMap,
) -> Result<Option<Response>, ApiError> {
    let services = &state.services;
    let len = u64::try_from(row.size).unwrap_or(0);
    let mut resp_headers = file_headers(&row.sha256);
    if etag_matches(headers, &format!("\"{}\"", row.sha256)) {
        services.touch_upstream_file(row);
        return Ok(Some(
            (StatusCode::NOT_MODIFIED, resp_headers).into_response(),
        ));
    }
    resp_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let (status, range) = match crate::downloads::parse_range(headers, len) {
        None => (StatusCode::OK, None),
        Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Some(Err(())) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp_headers.insert(header::CONTENT_RANGE, v);
            }
            return Ok(Some(
                (StatusCode::RANGE_NOT_SATISFIABLE, resp_headers).into_response(),
            ));
        }
    };
    let Some(body) = services.blobs.get(&row.blob_key, range).await? else {
        tracing::error!(blob = %row.blob_key, "a cached upstream file's blob is missing; forgetting it and fetching it again");
        forget(services, row.clone());
        return Ok(None);
    };
    services.touch_upstream_file(row);
    let content_len = range.map_or(len, |r| r.end - r.start);
    resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content_len));
    if let Some(r) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start, r.end - 1))
    {
        resp_headers.insert(header::CONTENT_RANGE, v);
    }
    let body = Body::from_stream(body.map_err(std::io::Error::other));
    Ok(Some((status, resp_headers, body).into_response()))
}

/// Drop a kept copy that is missing: the next request fetches it again.
fn forget(services: &Services, row: UpstreamFileRow) {
    let s = services.clone();
    tokio::spawn(async move {
        if let Err(e) = s.drop_upstream_copy(&row).await {
            tracing::warn!(error = %e, "cannot drop a damaged cached upstream file now; the collector will");
        }
    });
}

/// What one fetch reads: a distribution file, or the PEP 658 metadata of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    File,
    Metadata,
}

/// One fetch's target, as the page describes it.
#[derive(Debug, Clone)]
struct Target {
    part: Part,
    /// The single-flight key: the file's sha256, `<sha256>.metadata` for its metadata.
    key: String,
    url: String,
    /// The sha256 the page advertised for these bytes.
    sha256: String,
    /// Bytes read at most.
    max_bytes: u64,
    /// The page's `size` (files only; pages give none for metadata).
    size: Option<u64>,
}

impl Target {
    fn new(services: &Services, want: &Wanted, served: &Served, part: Part) -> Option<Target> {
        match part {
            Part::File => Some(Target {
                part,
                key: want.sha256.clone(),
                url: served.file.url.clone(),
                sha256: want.sha256.clone(),
                max_bytes: services.settings.upstream.max_file_bytes,
                size: served.file.size,
            }),
            Part::Metadata => Target::metadata(&want.sha256, &served.file),
        }
    }

    /// The metadata of the file with sha256 `file_sha256`, if its page advertised it.
    fn metadata(file_sha256: &str, file: &UpstreamFile) -> Option<Target> {
        match &file.core_metadata {
            Some(Some(meta_sha)) => Some(Target {
                part: Part::Metadata,
                key: format!("{file_sha256}.metadata"),
                url: format!("{}.metadata", file.url),
                sha256: meta_sha.clone(),
                max_bytes: MAX_METADATA_BYTES,
                size: None,
            }),
            _ => None,
        }
    }

    /// The name a mismatch is recorded under.
    fn filename(&self, file: &str) -> String {
        match self.part {
            Part::File => file.to_owned(),
            Part::Metadata => format!("{file}.metadata"),
        }
    }
}

/// Something not kept yet (a file, or a file's metadata): follow this server's fetch of it,
/// starting one if none runs. Starting one counts against the client's new-fetch budget; the
/// body is streamed from the fetch's temp file, so memory does not grow with its size.
async fn serve_fetch(
    state: &AppState,
    want: &Wanted,
    served: &Served,
    meta: &RequestMeta,
    part: Part,
) -> Result<Response, ApiError> {
    let services = &state.services;
    let target = Target::new(services, want, served, part).ok_or_else(ApiError::not_found)?;
    let max = services.settings.upstream.max_file_bytes;
    if target.size.is_some_and(|n| n > max) {
        return Err(ApiError::upstream_failed(&FetchFailure::TooLarge(max)));
    }
    let fetch = match state.upstream_fetches.running(&target.key) {
        Some(f) => f,
        None => {
            // Only a fetch this request starts counts (not joining one, not a kept file). Over
            // the budget, a fetch that a concurrent request started meanwhile is still joined.
            if let Err(e) = services.take_upstream_fetch(meta.ip.as_deref()).await {
                let Some(f) = state.upstream_fetches.running(&target.key) else {
                    return Err(e.into());
                };
                return follow(&target, f).await;
            }
            let dir = services.blobs.temp_dir(&state.temp_dir);
            match state
                .upstream_fetches
                .join_or_start(&target.key, || tee::new_fetch(&dir))
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot create a temp file for an upstream fetch");
                    ApiError::upstream_failed(&FetchFailure::Local(e.to_string()))
                })? {
                Joined::Running(f) => f,
                Joined::Started(f, writer) => {
                    let job = FetchJob {
                        services: services.clone(),
                        fetches: state.upstream_fetches.clone(),
                        fetch: Arc::clone(&f),
                        target: target.clone(),
                        temp_dir: dir,
                        project: want.project.as_str().to_owned(),
                        sha256: want.sha256.clone(),
                        filename: want.filename.clone(),
                        version: served.version.clone(),
                        file: served.file.clone(),
                        upstream: served.upstream,
                        upstream_url: served.upstream_url.clone(),
                        meta: meta.clone(),
                    };
                    // Its own task: a client that goes away does not stop it.
                    tokio::spawn(job.run(writer));
                    f
                }
            }
        }
    };
    follow(&target, fetch).await
}

/// The answer that follows `fetch` (see [`tee::Fetch::follow`]).
async fn follow(target: &Target, fetch: Arc<tee::Fetch>) -> Result<Response, ApiError> {
    let progress = fetch.opened().await;
    // The length announced is the page's size (the body is held to it), never the upstream's
    // Content-Length; with no size on the page, none until the bytes are checked.
    let length = match progress.phase {
        Phase::Failed(f) => return Err(ApiError::upstream_failed(&f)),
        Phase::Running | Phase::Opening => target.size,
        Phase::Verified => Some(progress.written),
    };
    let mut headers = file_headers(&target.sha256);
    if let Some(n) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok((StatusCode::OK, headers, Body::from_stream(fetch.follow())).into_response())
}

/// Metadata files being kept at once: a blob store put of one reads it whole (up to
/// [`MAX_METADATA_BYTES`] on S3), so the server's memory for them is bounded whatever the
/// number of requests.
static METADATA_KEEPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The task of one fetch.
struct FetchJob {
    services: Services,
    fetches: Fetches,
    fetch: Arc<tee::Fetch>,
    target: Target,
    temp_dir: std::path::PathBuf,
    project: String,
    sha256: String,
    filename: String,
    version: String,
    file: UpstreamFile,
    upstream: usize,
    upstream_url: String,
    meta: RequestMeta,
}

impl FetchJob {
    async fn run(self, writer: tee::Writer) {
        let t = &self.target;
        let result = match self.services.upstream.as_ref() {
            None => {
                let f = FetchFailure::Upstream("no upstream is configured".into());
                writer.fail(f.clone());
                Err(f)
            }
            Some(client) => match client.open_file(self.upstream, &t.url, t.max_bytes).await {
                Ok(stream) => writer.tee(stream, t.max_bytes, t.size, &t.sha256).await,
                Err(e) => {
                    let f = FetchFailure::from(e);
                    writer.fail(f.clone());
                    Err(f)
                }
            },
        };
        match (result, t.part) {
            (Ok(size), Part::File) => self.keep_file(size).await,
            // Kept on the file's row if it is kept, else on its own.
            (Ok(_), Part::Metadata) => self.keep_metadata(self.fetch.path(), &t.sha256, true).await,
            (Err(f), _) => {
                self.failed(t, &f).await;
            }
        }
        self.fetches.finish(&t.key);
    }

    /// The file as the core keeps it (`size`: its bytes).
    fn checked(&self, size: u64) -> CheckedUpstreamFile<'_> {
        CheckedUpstreamFile {
            sha256: &self.sha256,
            project: &self.project,
            version: &self.version,
            filename: &self.filename,
            size,
            upstream_url: &self.upstream_url,
        }
    }

    async fn keep_file(&self, size: u64) {
        let s = &self.services;
        match s
            .keep_upstream_file(&self.checked(size), self.fetch.path())
            .await
        {
            Ok(true) => {
                tracing::info!(project = %self.project, file = %self.filename, size, "kept an upstream file");
                // Its metadata: taken over from the copy kept on its own if there was one (in
                // the keep), recorded by the fetch of it still running if there is one, else
                // fetched now.
                if let Some(target) = Target::metadata(&self.sha256, &self.file)
                    && self.fetches.running(&target.key).is_none()
                    && let Ok(Some(row)) = s.cached_upstream_file(&self.sha256).await
                    && row.metadata_sha256.is_none()
                {
                    self.fetch_and_keep_metadata(&target).await;
                }
            }
            Ok(false) => {
                tracing::warn!(file = %self.filename, "an upstream file was fetched but not kept (its claim expired); it is fetched again next time")
            }
            Err(e) => {
                tracing::error!(error = %e, file = %self.filename, "cannot keep a fetched upstream file; it is fetched again next time")
            }
        }
    }

    /// The metadata of a file just kept, read now into a temp file of its own (no follower).
    async fn fetch_and_keep_metadata(&self, target: &Target) {
        let Some(client) = self.services.upstream.as_ref() else {
            return;
        };
        let (fetch, writer) = match tee::new_fetch(&self.temp_dir) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "cannot create a temp file for an upstream metadata fetch");
                return;
            }
        };
        let result = match client
            .open_file(self.upstream, &target.url, target.max_bytes)
            .await
        {
            Ok(stream) => {
                writer
                    .tee(stream, target.max_bytes, None, &target.sha256)
                    .await
            }
            Err(e) => Err(FetchFailure::from(e)),
        };
        match result {
            Ok(_) => {
                self.keep_metadata(fetch.path(), &target.sha256, false)
                    .await
            }
            Err(f) => self.failed(target, &f).await,
        }
    }

    /// Keep checked metadata (the complete temp file at `path`): on the kept file's row, or
    /// with `alone` on its own when the file is not kept.
    async fn keep_metadata(&self, path: &std::path::Path, meta_sha: &str, alone: bool) {
        let Ok(_permit) = METADATA_KEEPS.acquire().await else {
            return;
        };
        let checked = self.checked(self.file.size.unwrap_or(0));
        if let Err(e) = self
            .services
            .keep_upstream_metadata(&checked, meta_sha, path, alone)
            .await
        {
            tracing::warn!(error = %e, file = %self.filename, "cannot keep an upstream file's metadata");
        }
    }

    async fn failed(&self, target: &Target, f: &FetchFailure) {
        if let FetchFailure::Mismatch { actual } = f {
            // Nothing of a file whose bytes were not the advertised ones is kept: not the
            // metadata kept for it before either.
            if target.part == Part::File
                && let Err(e) = self.services.drop_upstream_metadata_of(&self.sha256).await
            {
                tracing::warn!(error = %e, file = %self.filename, "cannot drop the kept metadata of a mismatching upstream file");
            }
            self.services
                .record_upstream_mismatch(
                    &self.project,
                    &target.filename(&self.filename),
                    &target.sha256,
                    actual,
                    &self.upstream_url,
                    Some(&self.meta),
                )
                .await;
        } else {
            tracing::warn!(project = %self.project, file = %target.filename(&self.filename), error = %f, "an upstream fetch failed; nothing was kept");
        }
    }
}

/// `<file>.metadata`: the kept copy (checked when it was kept), else fetched from the upstream
/// like a file (single flight, the new-fetch budget, streamed from a temp file, checked; kept
/// when the file is). Offered only when the page advertised it with a sha256. `lone`: the
/// metadata kept on its own, when the lookup read it.
async fn metadata(
    state: &AppState,
    want: &Wanted,
    served: &Served,
    kept: Option<UpstreamFileRow>,
    lone: Option<Option<UpstreamMetadataRow>>,
    headers: &HeaderMap,
    meta: &RequestMeta,
) -> Result<Response, ApiError> {
    let services = &state.services;
    let Some(Some(expected)) = &served.file.core_metadata else {
        return Err(ApiError::not_found());
    };
    let row = kept.filter(|r| r.filename == want.filename);
    let etag = format!("\"{expected}\"");
    let mut resp_headers = file_headers(expected);
    if etag_matches(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, resp_headers).into_response());
    }
    // Beside its kept file, else kept on its own (a file kept takes its metadata over).
    let (key, lone) = match &row {
        Some(r) if r.metadata_sha256.as_deref() == Some(expected.as_str()) => {
            (BlobKey::parse_upstream(&r.blob_key), None)
        }
        Some(_) => (None, None),
        None => {
            let lone = match lone {
                Some(l) => l,
                None => services.cached_upstream_metadata(&want.sha256).await?,
            };
            match lone {
                Some(m) if m.filename == want.filename && m.metadata_sha256 == *expected => {
                    (BlobKey::parse_upstream(&m.blob_key), Some(m))
                }
                _ => (None, None),
            }
        }
    };
    if let Some(key) = key {
        if let Some(found) = services.blobs.head(&key.metadata()).await?
            && let Some(body) = services.blobs.get(&key.metadata(), None).await?
        {
            if let Some(m) = &lone {
                services.touch_upstream_metadata(m);
            }
            // Checked when kept, like the file.
            resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(found.size));
            let body = Body::from_stream(body.map_err(std::io::Error::other));
            return Ok((StatusCode::OK, resp_headers, body).into_response());
        }
        if let Some(m) = lone {
            tracing::error!(blob = %key.metadata(), "cached upstream metadata is missing; forgetting it and fetching it again");
            forget_metadata(services, m);
        }
    }
    serve_fetch(state, want, served, meta, Part::Metadata).await
}

/// Drop metadata kept on its own that is missing: the next request fetches it again.
fn forget_metadata(services: &Services, row: UpstreamMetadataRow) {
    let s = services.clone();
    tokio::spawn(async move {
        if let Err(e) = s.drop_upstream_metadata(&row).await {
            tracing::warn!(error = %e, "cannot drop missing cached upstream metadata now; the collector will");
        }
    });
}
