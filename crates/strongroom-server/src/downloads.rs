//! `GET /packages/<aa>/<bb>/<rest>/<filename>` (and `.metadata`): files the database knows, with
//! Range, ETag and conditional requests. Only files the public sees are served
//! (`core::visibility`); a blob without such a row is never read. What the database says of a
//! file is kept in the page cache (`PageKey::Download`) until its project's next journal entry,
//! like its pages; a `.metadata` file up to [`METADATA_KEEP_MAX`] is kept whole, checked
//! before its first byte is sent (damaged: 503, never a part of it).
//!
//! A blob that is gone answers 503 with a reason and raises the `blob:missing` signal. A whole
//! file is checked against its recorded sha256 while it streams (`Blobs::get_verified`): the
//! chunk that would complete it is held back until the digest matches, so a damaged blob's
//! response is cut short (pip and every HTTP client see a truncated body, never the whole of
//! other bytes) and `blob:damaged` is raised. Once a stored copy has streamed out whole and
//! matched, a verified mark (keyed on the copy's identity: inode, size, mtime, ctime) lets the
//! next downloads of that unchanged copy skip the hashing (`store::blob_check` says what a mark
//! does not see). Memory: at most four read chunks (1 MiB, or 128 KiB past 16 large readers)
//! per download, read into again once written (`store::blob_read`). A Range request (a part
//! of the file) cannot be checked without reading the rest and is served unchecked: the
//! sampled job and `admin fsck` find such a blob.
//!
//! Each download of a whole file (a 200 to a GET, [`is_download`]) is recorded in the download
//! log (`core::download_log`, origin local): into the recorder's memory buffer, never a
//! database round trip here. A 304, Range requests, `HEAD` and `.metadata` files are not
//! recorded (nothing sent, parts of a file, and the metadata pip reads while resolving are not
//! installs); the recorder folds one client's repeats of a file within a minute into one.

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;
use std::sync::Arc;
use strongroom_core::download_log::Origin;
use strongroom_core::fsck::FindingKind;
use strongroom_store::blob_check::BlobState;
use strongroom_store::model::PublicDownload;
use strongroom_store::{BlobKey, ByteRange};

use crate::cache::{CachedPage, PageKey, Rider};
use crate::error::ApiError;
use crate::headers::etag_matches;
use crate::state::{AppState, request_meta};

/// Parse a single `bytes=` range against a length. `Err(())` = unsatisfiable.
pub(crate) fn parse_range(headers: &HeaderMap, len: u64) -> Option<Result<ByteRange, ()>> {
    let v = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multiple ranges: answer the whole file
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        // A suffix range is satisfiable only with a non-zero length and a non-empty file
        // (RFC 9110 14.1.1); an empty range would be answered as `bytes 0--1/0`.
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        ByteRange {
            start: len.saturating_sub(n),
            end: len,
        }
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len
        } else {
            b.parse::<u64>().ok()?.saturating_add(1).min(len)
        };
        if start >= len || end <= start {
            return Some(Err(()));
        }
        ByteRange { start, end }
    };
    Some(Ok(range))
}

/// Whether a `Range` may be honoured: without `If-Range`, or with one naming this file's ETag
/// (a strong comparison, RFC 9110 13.1.5). A date never matches (files carry no
/// `Last-Modified`), nor does a weak tag: the whole file is sent instead.
pub(crate) fn if_range_holds(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().is_ok_and(|v| v.trim() == etag))
}

/// True for a response that is a download to record: a whole file (200) answering a GET (not
/// HEAD, not a Range, not a 304). Local and upstream files alike.
pub(crate) fn is_download(method: &Method, status: StatusCode) -> bool {
    *method == Method::GET && status == StatusCode::OK
}

/// `.metadata` files up to this size are kept in memory once read and checked whole (PEP 658
/// files are a few KiB; an installer reads one per candidate while it resolves).
pub(crate) const METADATA_KEEP_MAX: u64 = 64 * 1024;

/// What a download answers from: the file the public sees, the `ETag` and length of the bytes
/// served, and those bytes when they are kept in memory (a small `.metadata` file).
struct Facts {
    found: Arc<PublicDownload>,
    etag: HeaderValue,
    etag_hash: String,
    len: u64,
    kept: Option<Bytes>,
}

/// The facts of the file (or `.metadata`) at `key`: from the page cache when kept since the
/// project's last journal entry (no database read), else from the database, then kept.
async fn facts(
    state: &AppState,
    key: &BlobKey,
    is_metadata: bool,
    meta: &strongroom_core::RequestMeta,
) -> Result<Facts, ApiError> {
    let lookup = PageKey::download(key.as_str(), is_metadata);
    if let Some(page) = state.fresh.page(&state.services.db, &lookup).await
        && let (Some(found), Some(etag)) = (page.download().cloned(), page.etag.clone())
    {
        let etag_hash = if is_metadata {
            found.file.metadata_sha256.clone().unwrap_or_default()
        } else {
            found.file.sha256.clone()
        };
        // a download's page is never packed: its body is the `.metadata` file's bytes
        let Some(stored) = page.unpacked().cloned() else {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "a kept download's facts are packed",
            ));
        };
        let len = if is_metadata {
            u64::try_from(stored.len()).unwrap_or(u64::MAX)
        } else {
            u64::try_from(found.file.size).unwrap_or(0)
        };
        let kept = is_metadata.then_some(stored);
        return Ok(Facts {
            found,
            etag,
            etag_hash,
            len,
            kept,
        });
    }
    let ticket = state.cache.ticket();
    let found = Arc::new(
        state
            .services
            .public_download(key.as_str())
            .await?
            .ok_or_else(ApiError::not_found)?,
    );
    let keep = |body: Bytes, etag: &HeaderValue| {
        let key = PageKey::Download {
            blob_key: key.as_str().to_owned(),
            metadata: is_metadata,
            project: Rider(found.project.clone()),
        };
        let page = CachedPage::of_download(found.clone(), etag.clone(), body);
        state.cache.put_fresh(key, page, ticket);
    };
    if !is_metadata {
        let etag_hash = found.file.sha256.clone();
        let etag = etag_value(&etag_hash)?;
        keep(Bytes::new(), &etag);
        return Ok(Facts {
            len: u64::try_from(found.file.size).unwrap_or(0),
            found,
            etag,
            etag_hash,
            kept: None,
        });
    }
    let etag_hash = found
        .file
        .metadata_sha256
        .clone()
        .ok_or_else(ApiError::not_found)?;
    let etag = etag_value(&etag_hash)?;
    let Some(head) = state.services.blobs.head(&key.metadata()).await? else {
        return Err(metadata_missing(state, key, meta).await);
    };
    let mut kept = None;
    if head.size <= METADATA_KEEP_MAX {
        let bytes = read_checked(state, key, &etag_hash, head.size, meta).await?;
        keep(bytes.clone(), &etag);
        kept = Some(bytes);
    }
    Ok(Facts {
        found,
        etag,
        etag_hash,
        len: head.size,
        kept,
    })
}

/// A `.metadata` file the store does not have: the signal raised, and the 503 to answer.
async fn metadata_missing(
    state: &AppState,
    key: &BlobKey,
    meta: &strongroom_core::RequestMeta,
) -> ApiError {
    signal(
        state,
        key.as_str(),
        FindingKind::MetadataMissing,
        BlobState::Missing,
        meta.clone(),
    )
    .await;
    ApiError::blob_unavailable()
}

fn etag_value(hash: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!("\"{hash}\"")).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "a stored digest is not a header value",
        )
    })
}

/// A small `.metadata` file read whole and checked against its recorded sha256 before any
/// byte is sent: damaged or gone, it answers 503 (and raises the signal) instead.
async fn read_checked(
    state: &AppState,
    key: &BlobKey,
    sha256: &str,
    size: u64,
    meta: &strongroom_core::RequestMeta,
) -> Result<Bytes, ApiError> {
    let (st, k, meta2) = (state.clone(), key.as_str().to_owned(), meta.clone());
    let on_mismatch = move |found| {
        tracing::error!(blob = %k, "a metadata file does not match its recorded sha256; answered 503");
        tokio::spawn(
            async move { signal(&st, &k, FindingKind::MetadataDamaged, found, meta2).await },
        );
    };
    let Some(body) = state
        .services
        .blobs
        .get_verified(&key.metadata(), size, sha256, on_mismatch)
        .await?
    else {
        return Err(metadata_missing(state, key, meta).await);
    };
    let chunks: Vec<Bytes> = match body.try_collect().await {
        Ok(c) => c,
        Err(_) => return Err(ApiError::blob_unavailable()),
    };
    Ok(match <[Bytes; 1]>::try_from(chunks) {
        Ok([one]) => one,
        // several chunks: one allocation of exactly the file's size
        Err(chunks) => Bytes::from(chunks.concat()),
    })
}

/// `GET /packages/{*path}`
pub(crate) async fn download(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let meta = request_meta(
        &headers,
        Some(peer),
        &state.services.settings.trusted_proxies,
    );
    let (file_path, is_metadata) = match path.strip_suffix(".metadata") {
        Some(p) => (p, true),
        None => (path.as_str(), false),
    };
    let key = BlobKey::parse(file_path).ok_or_else(ApiError::not_found)?;
    let Facts {
        found,
        etag,
        etag_hash,
        len,
        kept,
    } = facts(&state, &key, is_metadata, &meta).await?;
    let file = &found.file;
    let mut resp_headers = HeaderMap::new();
    resp_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    resp_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    resp_headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, public"),
    );
    resp_headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    let etag_text = etag.to_str().unwrap_or_default().to_owned();
    resp_headers.insert(header::ETAG, etag);
    if etag_matches(&headers, &etag_text) {
        return Ok((StatusCode::NOT_MODIFIED, resp_headers).into_response());
    }
    let asked = if if_range_holds(&headers, &etag_text) {
        parse_range(&headers, len)
    } else {
        None
    };
    let (status, range) = match asked {
        None => (StatusCode::OK, None),
        Some(Ok(r)) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Some(Err(())) => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                resp_headers.insert(header::CONTENT_RANGE, v);
            }
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, resp_headers).into_response());
        }
    };
    let content_len = range.map_or(len, |r| r.end - r.start);
    resp_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(content_len));
    if let Some(r) = range
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{len}", r.start, r.end - 1))
    {
        resp_headers.insert(header::CONTENT_RANGE, v);
    }
    // a kept `.metadata` file: its bytes (or the part asked), no read
    if let Some(bytes) = kept {
        let body = match range {
            None => bytes,
            Some(r) => bytes
                .slice(usize::try_from(r.start).unwrap_or(0)..usize::try_from(r.end).unwrap_or(0)),
        };
        return Ok((status, resp_headers, Body::from(body)).into_response());
    }
    let blob_key = if is_metadata {
        key.metadata()
    } else {
        key.as_str().to_owned()
    };
    let kind = if is_metadata {
        (FindingKind::MetadataMissing, FindingKind::MetadataDamaged)
    } else {
        (FindingKind::BlobMissing, FindingKind::BlobDamaged)
    };
    let body = if range.is_none() {
        let (st, k, filename) = (
            state.clone(),
            key.as_str().to_owned(),
            file.filename.clone(),
        );
        let meta2 = meta.clone();
        let on_mismatch = move |found| {
            tracing::error!(file = %filename, blob = %k, "a blob does not match its recorded sha256; the download was cut short");
            tokio::spawn(async move { signal(&st, &k, kind.1, found, meta2).await });
        };
        state
            .services
            .blobs
            .get_verified(&blob_key, len, &etag_hash, on_mismatch)
            .await?
    } else {
        state.services.blobs.get(&blob_key, range).await?
    };
    let Some(body) = body else {
        signal(&state, key.as_str(), kind.0, BlobState::Missing, meta).await;
        return Err(ApiError::blob_unavailable());
    };
    // A whole file sent to a client: an install to record.
    if range.is_none() && !is_metadata && is_download(&method, status) {
        state.services.record_download(
            Origin::Local,
            &found.project,
            &found.version,
            &file.filename,
            &file.sha256,
            &meta,
        );
    }
    let body = Body::from_stream(body.map_err(std::io::Error::other));
    Ok((status, resp_headers, body).into_response())
}

/// Raise the signal for the file at `blob_key` (logged, never failing the request further).
async fn signal(
    state: &AppState,
    blob_key: &str,
    kind: FindingKind,
    found: BlobState,
    meta: strongroom_core::RequestMeta,
) {
    if matches!(found, BlobState::Missing) {
        tracing::error!(blob = %blob_key, kind = kind.as_str(), "a file's blob is not in the blob store; answered 503");
    }
    let raised = async {
        if let Some(f) = state.services.file_blob(blob_key).await? {
            state
                .services
                .raise_blob_signal(&f, kind, &found, Some(&meta))
                .await?;
        }
        Ok::<(), strongroom_core::CoreError>(())
    }
    .await;
    if let Err(e) = raised {
        tracing::warn!(blob = %blob_key, error = %e, "cannot record the blob signal");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::RANGE, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range(&h("bytes=0-9"), 100),
            Some(Ok(ByteRange { start: 0, end: 10 }))
        );
        assert_eq!(
            parse_range(&h("bytes=90-"), 100),
            Some(Ok(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            parse_range(&h("bytes=-10"), 100),
            Some(Ok(ByteRange {
                start: 90,
                end: 100
            }))
        );
        assert_eq!(
            parse_range(&h("bytes=95-200"), 100),
            Some(Ok(ByteRange {
                start: 95,
                end: 100
            }))
        );
        assert_eq!(parse_range(&h("bytes=100-"), 100), Some(Err(())));
        // Found by the fuzz seed replay: a suffix range of an empty file was an empty range.
        assert_eq!(parse_range(&h("bytes=-500"), 0), Some(Err(())));
        assert_eq!(parse_range(&h("bytes=0-"), 0), Some(Err(())));
        assert_eq!(parse_range(&h("bytes=0-1,5-6"), 100), None);
        assert_eq!(parse_range(&h("items=0-1"), 100), None);
        assert_eq!(parse_range(&HeaderMap::new(), 100), None);
    }

    #[test]
    fn if_range_needs_the_same_strong_etag() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_RANGE, HeaderValue::from_str(v).expect("header"));
            h
        };
        assert!(if_range_holds(&HeaderMap::new(), "\"ab\""));
        assert!(if_range_holds(&with("\"ab\""), "\"ab\""));
        assert!(!if_range_holds(&with("\"cd\""), "\"ab\""));
        assert!(!if_range_holds(&with("W/\"ab\""), "\"ab\""));
        assert!(!if_range_holds(
            &with("Sat, 05 Dec 2026 10:00:00 GMT"),
            "\"ab\""
        ));
    }
}
