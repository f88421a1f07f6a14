//! `GET /simple/` when the cache does not hold it and the index is larger than one run of
//! names: the page streamed in runs of [`RUN`] projects read by key (each run one query that
//! costs the same at the millionth name as at the first), compressed as it goes in the coding
//! the client prefers (zstd, which uv asks for, or gzip), and kept for the next request when it
//! is at most [`KEEP_MAX`] bytes. So a million projects cost one run's memory, the first byte
//! leaves after one run, and a PEP 691 client gets the document compressed. At most
//! [`STREAMS`] reads of the index run at once (a stream reads the whole table); a request that
//! waits [`WAIT`] for one is answered 503 with `Retry-After`, which pip and uv honour. A client
//! whose `If-None-Match` names the current serial's page is answered 304 before any of it is
//! read.

use std::io::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::write::GzEncoder;
use strongroom_protocol::simple::{IndexEntry, IndexPieces};
use tokio::sync::{Semaphore, SemaphorePermit};
use zstd::stream::write::Encoder as ZstdEncoder;

use crate::cache::{CachedPage, PageKey};
use crate::error::ApiError;
use crate::headers::Coding;
use crate::state::AppState;

/// Projects per run (one query, one chunk of the body: about 300 KB of JSON).
pub(crate) const RUN: i64 = 5_000;
/// A streamed index of at most this many bytes is kept in the page cache (with its gzip copy)
/// for the requests after it; a larger one is streamed again for each (a million projects
/// are some 50 MB, which the cache's budget is not for).
const KEEP_MAX: usize = 8 << 20;
/// Reads of the index at once (renders and streams).
const STREAMS: usize = 2;
/// How long a request waits for a stream before it is answered 503.
const WAIT: Duration = Duration::from_secs(10);

static STREAM_SLOTS: Semaphore = Semaphore::const_new(STREAMS);

/// What the answer is made of: the page's format, the global serial it was begun at, and the
/// cache's ticket taken before the first read (a change since makes the kept copy unkept).
pub(crate) struct Plan {
    pub json: bool,
    pub serial: i64,
    pub ticket: u64,
    pub key: PageKey,
    pub content_type: &'static str,
}

/// The 304 for a client whose `If-None-Match` names the page at the plan's serial.
/// The kept copy may have fewer codings than a stream (none in zstd under 16 KiB), so the tag
/// of any coding the client takes, at this serial, answers 304.
pub(crate) fn not_modified(plan: &Plan, headers: &HeaderMap) -> Option<Response> {
    let takes = |c: Coding| {
        crate::headers::choose_coding(headers, c == Coding::Zstd, c == Coding::Gzip) == c
    };
    let etag = [Coding::Zstd, Coding::Gzip, Coding::Identity]
        .into_iter()
        .filter(|&c| takes(c))
        .filter_map(|c| plan.etag(c))
        .find(|e| {
            e.to_str()
                .is_ok_and(|t| crate::headers::etag_matches(headers, t))
        })?;
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    crate::simple::page_headers(
        resp.headers_mut(),
        plan.content_type,
        Some(&etag),
        plan.serial,
    );
    Some(resp)
}

/// A slot to read the index in (taken before its first run is read, so requests that wait
/// hold no part of it), or 503 after [`WAIT`].
pub(crate) async fn slot() -> Result<SemaphorePermit<'static>, ApiError> {
    match tokio::time::timeout(WAIT, STREAM_SLOTS.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::index_busy()),
    }
}

impl Plan {
    /// The page's tag in its `ETag` and in the cache.
    fn tag(&self) -> &'static str {
        crate::cache::format_tag(self.json)
    }

    /// The `ETag` of the page sent in `coding` (`headers::coded_etag`).
    fn etag(&self, coding: Coding) -> Option<HeaderValue> {
        crate::cache::etag_of(self.serial, self.tag())
            .and_then(|e| crate::headers::coded_etag(&e, coding))
    }
}

/// Stream the index whose first run (of [`RUN`] entries: there may be more) is `first`,
/// holding `slot` until the last chunk is sent (or the client goes).
pub(crate) fn stream(
    state: AppState,
    plan: Plan,
    first: Vec<IndexEntry>,
    headers: &HeaderMap,
    slot: SemaphorePermit<'static>,
) -> Response {
    // A compressor that cannot be made (memory) leaves the page plain.
    let enc = Encoder::new(crate::headers::choose_coding(headers, true, true));
    let encoding = enc.as_ref().and_then(Encoder::header);
    // A compressed stream is flushed run by run, so its bytes differ from the copy kept
    // after it (compressed whole): the same page, a weak tag (a weak `If-None-Match`
    // comparison still answers 304 to either).
    let etag = match &enc {
        None => plan.etag(Coding::Identity),
        Some(e) => plan
            .etag(e.coding())
            .and_then(|t| HeaderValue::from_maybe_shared([b"W/", t.as_bytes()].concat()).ok()),
    };
    let (content_type, serial) = (plan.content_type, plan.serial);
    let mut resp = Response::new(Body::from_stream(runs(Runs {
        pieces: IndexPieces::new(plan.json, plan.serial),
        after: None,
        pending: Some(first),
        enc,
        kept: Some(String::new()),
        state,
        plan,
        done: false,
        _slot: slot,
    })));
    let h = resp.headers_mut();
    crate::simple::page_headers(h, content_type, etag.as_ref(), serial);
    if let Some(v) = encoding {
        h.insert(header::CONTENT_ENCODING, v);
    }
    resp
}

/// The stream's compressor, if the client accepts one.
enum Encoder {
    Gzip(GzEncoder<Vec<u8>>),
    Zstd(ZstdEncoder<'static, Vec<u8>>),
}

impl Encoder {
    fn new(coding: Coding) -> Option<Encoder> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => Some(Encoder::Gzip(GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            ))),
            Coding::Zstd => ZstdEncoder::new(Vec::new(), crate::cache::ZSTD_LEVEL)
                .ok()
                .map(Encoder::Zstd),
        }
    }

    fn coding(&self) -> Coding {
        match self {
            Encoder::Gzip(_) => Coding::Gzip,
            Encoder::Zstd(_) => Coding::Zstd,
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        self.coding().header()
    }

    /// Compress `text`; flushed, so the client can read every chunk as it comes. What is
    /// written so far is taken out.
    fn chunk(&mut self, text: &str) -> std::io::Result<Vec<u8>> {
        Ok(match self {
            Encoder::Gzip(e) => {
                e.write_all(text.as_bytes())?;
                e.flush()?;
                std::mem::take(e.get_mut())
            }
            Encoder::Zstd(e) => {
                e.write_all(text.as_bytes())?;
                e.flush()?;
                std::mem::take(e.get_mut())
            }
        })
    }

    /// Compress `text` and end the stream.
    fn finish(self, text: &str) -> std::io::Result<Vec<u8>> {
        match self {
            Encoder::Gzip(mut e) => {
                e.write_all(text.as_bytes())?;
                e.finish()
            }
            Encoder::Zstd(mut e) => {
                e.write_all(text.as_bytes())?;
                e.finish()
            }
        }
    }
}

/// The stream's state between chunks.
struct Runs {
    state: AppState,
    plan: Plan,
    pieces: IndexPieces,
    /// The last name written (the next run starts after it); `None` before the first run.
    after: Option<String>,
    /// A run read before the stream began.
    pending: Option<Vec<IndexEntry>>,
    enc: Option<Encoder>,
    /// The plain page so far, while it may still be kept.
    kept: Option<String>,
    done: bool,
    _slot: SemaphorePermit<'static>,
}

fn runs(start: Runs) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::try_unfold(start, |mut r| async move {
        if r.done {
            return Ok(None);
        }
        // before the first run: the head
        let mut text = if r.after.is_none() {
            r.pieces.head()
        } else {
            String::new()
        };
        let run = match r.pending.take() {
            Some(run) => run,
            None => r
                .state
                .services
                .simple_index_run(r.after.as_deref().unwrap_or(""), RUN)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        };
        let refs: Vec<&IndexEntry> = run.iter().collect();
        r.pieces.entries(&refs, &mut text);
        r.after = Some(
            run.last()
                .map(|e| e.normalized.as_str().to_owned())
                .unwrap_or_default(),
        );
        if i64::try_from(run.len()).unwrap_or(i64::MAX) < RUN {
            text.push_str(&r.pieces.tail());
            r.done = true;
        }
        let (chunk, text) = r.encode(text).await?;
        if let Some(kept) = r.keep(text) {
            // a page that could not be kept is still sent
            let _ = kept.await;
        }
        Ok(Some((chunk, r)))
    })
}

impl Runs {
    /// The chunk to send for `text`: itself, or compressed (finished after the last), with
    /// `text` handed back. A run is some hundreds of KiB: compressing it takes milliseconds,
    /// done on a blocking thread so that the lane's other connections are not held that long.
    async fn encode(&mut self, text: String) -> std::io::Result<(Bytes, String)> {
        let Some(mut enc) = self.enc.take() else {
            return Ok((Bytes::copy_from_slice(text.as_bytes()), text));
        };
        let last = self.done;
        let (enc, chunk, text) = tokio::task::spawn_blocking(move || {
            if last {
                let chunk = enc.finish(&text);
                (None, chunk, text)
            } else {
                let chunk = enc.chunk(&text);
                (Some(enc), chunk, text)
            }
        })
        .await
        .map_err(std::io::Error::other)?;
        self.enc = enc;
        Ok((Bytes::from(chunk?), text))
    }

    /// Add `text` to the copy to keep and give up on it past [`KEEP_MAX`]; once it is whole,
    /// the work that keeps it (compressed on a blocking thread), for the caller to await
    /// before the last chunk goes, so the request after it finds the page kept.
    fn keep(&mut self, text: String) -> Option<tokio::task::JoinHandle<()>> {
        if let Some(kept) = self.kept.as_mut() {
            if kept.len() + text.len() > KEEP_MAX {
                self.kept = None;
            } else {
                kept.push_str(&text);
            }
        }
        if self.done
            && let Some(kept) = self.kept.take()
        {
            // Compressing up to 8 MiB twice is CPU work: off the runtime's threads. The ticket
            // still refuses the page if anything changed since the first run was read.
            let (cache, key, ticket) = (
                self.state.cache.clone(),
                self.plan.key.clone(),
                self.plan.ticket,
            );
            let (serial, tag) = (self.plan.serial, self.plan.tag());
            return Some(tokio::task::spawn_blocking(move || {
                cache.put_fresh(key, CachedPage::new(serial, tag, kept), ticket);
            }));
        }
        None
    }
}
