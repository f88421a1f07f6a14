//! A kept page: the rendered body, its compressed copies (gzip for every client that asks, and
//! zstd for big pages), its ETag and what it costs the cache in bytes. Small pages may be kept
//! only compressed (`packed`) and inflated for a client that takes no coding.

use std::io::Write;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::{Bytes, BytesMut};

use crate::packed::PACKED_MAX;

use super::{PageKey, heap_alloc, key_cost};

/// A rendered page and its compressed copies.
#[derive(Debug, Clone)]
pub(crate) struct CachedPage {
    pub serial: i64,
    /// The page's `ETag` (made once: a clone shares its bytes); `None` only if it were not a
    /// valid header value, which one made of a serial, a tag and a version always is.
    pub etag: Option<HeaderValue>,
    /// The page as rendered; empty when `packed`.
    pub(super) body: Bytes,
    /// Only the gzip copy is kept (a page under [`PACKED_MAX`] bytes): the plain body is made
    /// from it for the rare client that takes none, which costs a few microseconds.
    pub(super) packed: bool,
    pub gzip: Option<Bytes>,
    /// What few pages have, out of line: most pages (a project's simple page) have none of it,
    /// and each of tens of thousands of kept pages would carry the room for it (about 100
    /// bytes, a size class of the allocator).
    rare: Option<Box<Rare>>,
}

/// The parts of a [`CachedPage`] that only some kinds of page have.
#[derive(Debug, Clone, Default)]
pub(super) struct Rare {
    /// A Zstandard copy, for a body of at least [`ZSTD_MIN`] bytes.
    zstd: Option<Bytes>,
    /// Offsets in `body` where each request's own base URL goes (pages with absolute links
    /// when no `public_url` is set). Such pages have no gzip copy: it would differ per base.
    base_slots: Box<[usize]>,
    /// For a list of entries (`PageKey::Changelog`): each entry's serial and where it starts in
    /// `body`, so an answer can begin at any entry without rendering again.
    rows: Box<[(i64, usize)]>,
    /// An upstream project's page kept under its `PageKey::Simple` (served without a database
    /// read, like a local one): when the upstream confirmed it and until when it may be served.
    upstream: Option<UpstreamStamp>,
    /// Under a `PageKey::Download`: the file as the database said it is public.
    download: Option<Arc<strongroom_store::model::PublicDownload>>,
}

impl Rare {
    /// `None` when there is nothing in it (no allocation for the common page).
    fn boxed(self) -> Option<Box<Rare>> {
        let empty = self.zstd.is_none()
            && self.base_slots.is_empty()
            && self.rows.is_empty()
            && self.upstream.is_none()
            && self.download.is_none();
        (!empty).then(|| Box::new(self))
    }
}

/// See [`CachedPage::upstream`] (µs, the services' clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UpstreamStamp {
    pub confirmed_at: i64,
    pub fresh_until: i64,
}

/// The largest body kept and served without a gzip copy: with its headers it goes in one TCP
/// segment either way, so compressing it saves a client no packet and no round trip, while
/// keeping it only compressed would cost every client that asks for no coding an inflate per
/// request (a project of one or two files: most projects of a private index).
pub(crate) const GZIP_MIN: usize = 1024;

pub(super) fn gzip_of(body: &Bytes) -> Option<Bytes> {
    if body.len() <= GZIP_MIN {
        return None;
    }
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)
        .ok()
        .and_then(|()| enc.finish().ok())
        .map(exact)
}

/// The smallest body kept with a Zstandard copy as well: a big page (a project of many files,
/// the root index), where it saves bytes and the client's time; a small page is not worth a
/// third copy in memory.
pub(crate) const ZSTD_MIN: usize = 16 * 1024;

/// Zstandard's level for kept copies (made once per change) and streamed pages.
pub(crate) const ZSTD_LEVEL: i32 = 3;

pub(super) fn zstd_of(body: &Bytes) -> Option<Bytes> {
    if body.len() < ZSTD_MIN {
        return None;
    }
    zstd::bulk::compress(body, ZSTD_LEVEL).ok().map(exact)
}

/// The bytes of `v` in an allocation of exactly their size: a `Vec` or `String` grown by
/// doubling can hold up to twice its length, and the cache counts a page by its length.
pub(super) fn exact(v: Vec<u8>) -> Bytes {
    Bytes::from(v.into_boxed_slice())
}

/// The tag of a simple page in its `ETag` and in the cache: one body per format family (both
/// HTML media types share one).
pub(crate) fn format_tag(json: bool) -> &'static str {
    if json { "json" } else { "html" }
}

/// A page's `ETag`: the serial it was rendered at, its tag and this server's version (a new
/// release may render the same serial differently).
pub(crate) fn etag_of(serial: i64, tag: &str) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from(format!(
        "\"{serial}-{tag}-{}\"",
        env!("CARGO_PKG_VERSION")
    )))
    .ok()
}

/// The smallest body whose copies are compressed on the blocking threads rather than where it
/// was rendered ([`CachedPage::made`]): about half a millisecond of gzip and Zstandard.
pub(crate) const OFF_LANE_MIN: usize = 32 * 1024;

impl CachedPage {
    /// [`CachedPage::new`] for a request's miss: a big body's copies are compressed on the
    /// blocking threads. A connection's lane serves every other connection it holds between
    /// two polls, so a page of a project of thousands of files compressed there (milliseconds)
    /// would hold all of them that long.
    pub async fn made(
        serial: i64,
        tag: &str,
        body: String,
    ) -> Result<CachedPage, strongroom_core::CoreError> {
        if body.len() < OFF_LANE_MIN {
            return Ok(CachedPage::new(serial, tag, body));
        }
        let tag = tag.to_owned();
        crate::off_lane::run("page compression", move || {
            CachedPage::new(serial, &tag, body)
        })
        .await
    }

    /// Wrap a freshly rendered body (gzip copy made once here, for bodies worth compressing).
    pub fn new(serial: i64, tag: &str, body: String) -> CachedPage {
        let body = exact(body.into_bytes());
        let gzip = gzip_of(&body);
        let packed = gzip.is_some() && body.len() < PACKED_MAX;
        CachedPage {
            serial,
            etag: etag_of(serial, tag),
            rare: Rare {
                zstd: zstd_of(&body),
                ..Rare::default()
            }
            .boxed(),
            gzip,
            body: if packed { Bytes::new() } else { body },
            packed,
        }
    }

    /// Wrap a body only ever served as it is (no compressed copies: an XML-RPC answer is built
    /// from it, not sent).
    pub fn plain(serial: i64, tag: &str, body: String) -> CachedPage {
        CachedPage::with_rows(serial, tag, body, Vec::new())
    }

    /// Wrap a list of entries rendered one after another, with each one's serial and start.
    pub fn with_rows(serial: i64, tag: &str, body: String, rows: Vec<(i64, usize)>) -> CachedPage {
        CachedPage {
            serial,
            etag: etag_of(serial, tag),
            body: exact(body.into_bytes()),
            packed: false,
            gzip: None,
            rare: Rare {
                rows: rows.into_boxed_slice(),
                ..Rare::default()
            }
            .boxed(),
        }
    }

    /// What a download answers from (`PageKey::Download`): the file's facts, its `ETag`
    /// (`"<sha256>"` of the bytes served) and, for a `.metadata` file, its bytes (else empty).
    pub fn of_download(
        found: Arc<strongroom_store::model::PublicDownload>,
        etag: HeaderValue,
        body: Bytes,
    ) -> CachedPage {
        CachedPage {
            serial: 0,
            etag: Some(etag),
            body,
            packed: false,
            gzip: None,
            rare: Rare {
                download: Some(found),
                ..Rare::default()
            }
            .boxed(),
        }
    }

    /// The entries with a serial in `after+1..=upto` (a slice of the stored bytes, nothing
    /// copied), how many there are, and the last one's serial.
    pub fn rows_between(&self, after: i64, upto: i64) -> (Bytes, usize, Option<i64>) {
        let rows = self.rows();
        let first = rows.partition_point(|(serial, _)| *serial <= after);
        let end = rows.partition_point(|(serial, _)| *serial <= upto);
        if first >= end {
            return (Bytes::new(), 0, None);
        }
        let start = rows[first].1;
        let stop = rows.get(end).map_or(self.body.len(), |&(_, at)| at);
        (
            self.body.slice(start..stop),
            end - first,
            Some(rows[end - 1].0),
        )
    }

    /// See [`Rare::rows`].
    fn rows(&self) -> &[(i64, usize)] {
        self.rare.as_deref().map_or(&[], |r| &r.rows)
    }

    /// See [`Rare::base_slots`].
    fn base_slots(&self) -> &[usize] {
        self.rare.as_deref().map_or(&[], |r| &r.base_slots)
    }

    /// The Zstandard copy, for a body of at least [`ZSTD_MIN`] bytes.
    pub fn zstd(&self) -> Option<&Bytes> {
        self.rare.as_deref().and_then(|r| r.zstd.as_ref())
    }

    /// An upstream project's page: when the upstream confirmed it and until when it may be
    /// served (`None` for a local page).
    pub fn upstream(&self) -> Option<UpstreamStamp> {
        self.rare.as_deref().and_then(|r| r.upstream)
    }

    /// Marks the page as an upstream project's (see [`CachedPage::upstream`]).
    pub fn set_upstream(&mut self, stamp: UpstreamStamp) {
        self.rare.get_or_insert_with(Box::default).upstream = Some(stamp);
    }

    /// Under a `PageKey::Download`: the file as the database said it is public.
    pub fn download(&self) -> Option<&Arc<strongroom_store::model::PublicDownload>> {
        self.rare.as_deref().and_then(|r| r.download.as_ref())
    }

    /// Wrap a body rendered with `marker` where the base URL goes: the markers are cut out and
    /// their offsets kept, so each request gets its own base without it being stored.
    pub fn with_base_slots(serial: i64, tag: &str, body: &str, marker: &str) -> CachedPage {
        let mut out = String::with_capacity(body.len());
        let mut slots = Vec::new();
        let mut rest = body;
        while let Some(at) = rest.find(marker) {
            out.push_str(&rest[..at]);
            slots.push(out.len());
            rest = &rest[at + marker.len()..];
        }
        out.push_str(rest);
        if slots.is_empty() {
            return CachedPage::new(serial, tag, out);
        }
        CachedPage {
            serial,
            etag: etag_of(serial, tag),
            body: exact(out.into_bytes()),
            packed: false,
            gzip: None,
            rare: Rare {
                base_slots: slots.into_boxed_slice(),
                ..Rare::default()
            }
            .boxed(),
        }
    }

    /// The stored body of a page never packed (a download's facts, an XML-RPC list, a page
    /// of entries): `None` for a packed page, whose bytes only [`CachedPage::body`] makes.
    pub fn unpacked(&self) -> Option<&Bytes> {
        (!self.packed).then_some(&self.body)
    }

    /// The page as rendered: the stored bytes, or for a packed page its gzip copy decoded
    /// (`None` only if that copy, made by this process, did not decode).
    pub fn body(&self) -> Option<Bytes> {
        if !self.packed {
            return Some(self.body.clone());
        }
        // kept for the pages asked for plain again and again (`plain_copies`)
        crate::plain_copies::plain_of(self.gzip.as_ref()?)
    }

    /// The body for a request whose base URL is `base` (the stored bytes when the page has no
    /// base slots; a fresh copy, never kept, when it has). `None` as [`CachedPage::body`].
    pub fn body_for(&self, base: &str) -> Option<Bytes> {
        let slots = self.base_slots();
        if slots.is_empty() {
            return self.body();
        }
        let mut out = BytesMut::with_capacity(self.body.len() + base.len() * slots.len());
        let mut from = 0;
        for &at in slots {
            out.extend_from_slice(&self.body[from..at]);
            out.extend_from_slice(base.as_bytes());
            from = at;
        }
        out.extend_from_slice(&self.body[from..]);
        Some(out.freeze())
    }

    /// Bytes this page costs in the cache under `key`.
    pub(super) fn cost(&self, key: &PageKey) -> usize {
        key_cost(key)
            + heap_alloc(self.etag.as_ref().map_or(0, HeaderValue::len))
            + heap_alloc(self.body.len())
            + heap_alloc(self.gzip.as_ref().map_or(0, Bytes::len))
            + self.rare.as_deref().map_or(0, Rare::cost)
    }
}

impl Rare {
    /// Bytes it costs beside the page: itself and what it holds.
    fn cost(&self) -> usize {
        heap_alloc(std::mem::size_of::<Rare>())
            + heap_alloc(self.zstd.as_ref().map_or(0, Bytes::len))
            + heap_alloc(std::mem::size_of_val::<[usize]>(&self.base_slots))
            + heap_alloc(std::mem::size_of_val::<[(i64, usize)]>(&self.rows))
            + self.download.as_deref().map_or(0, download_bytes)
    }
}

/// What a kept download's facts cost: the struct and its strings.
fn download_bytes(d: &strongroom_store::model::PublicDownload) -> usize {
    let f = &d.file;
    std::mem::size_of::<strongroom_store::model::PublicDownload>()
        + d.project.len()
        + d.version.len()
        + f.filename.len()
        + f.packagetype.len()
        + f.python_version.len()
        + f.md5.len()
        + f.sha256.len()
        + f.blake2_256.len()
        + f.blob_key.len()
        + f.metadata_sha256.as_ref().map_or(0, String::len)
        + f.comment_text.as_ref().map_or(0, String::len)
}
