//! The blob store: distribution files and their `.metadata` companions, content-addressed.
//!
//! A local folder is written directly (temp file, fsync, rename: the upload's temp file is renamed
//! into place without a copy); S3-compatible storage goes through object_store (one PUT, or a
//! multipart upload for large files). A blob without a row is invisible (downloads are served only
//! for files the database knows) and is deleted (claims and the collector: `blob_claims`,
//! `core::blob_collector`); a row without a blob cannot happen because the row is written only
//! after the blob is durable, under a claim no collector has taken. What happens to the bytes
//! afterwards (a deleted object, a disk that flips bits) is found by `blob_check` on downloads,
//! the sampled job and `strongroom admin fsck`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::StoreError;
pub use crate::blob_key::{BlobKey, UPSTREAM_PREFIX};
use crate::tempfiles::LockedTempFile;

/// S3 connection settings.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
    /// Connect timeout, and the longest wait for a download's first byte (`s3.timeout_seconds`).
    pub timeout: std::time::Duration,
    /// Retries of a failed write or delete (`s3.retries`); reads are never retried.
    pub retries: usize,
}

impl Default for S3Settings {
    fn default() -> Self {
        S3Settings {
            bucket: String::new(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            timeout: std::time::Duration::from_secs(3),
            retries: 2,
        }
    }
}

/// Where [`Blobs::probe`] writes its objects (never a blob key: those start with two hex digits).
pub const PROBE_PREFIX: &str = ".strongroom-probe";

/// Why the blob store failed its probe. The message (`Display`) is safe to show on `/readyz`
/// (it names keys to check, never endpoints or errors); [`ProbeFailure::detail`] is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// It answered, and refused in a way that will not go away by itself (credentials refused,
    /// no such bucket).
    #[error("{message}")]
    Misconfigured { message: String, detail: String },
    /// It did not answer, or failed (an outage: it may come back by itself).
    #[error("{message}")]
    Unreachable { message: String, detail: String },
    /// What was read back is not what was written.
    #[error("the object read back differs from the one written")]
    Mismatch,
}

impl ProbeFailure {
    /// The underlying error, for the log.
    pub fn detail(&self) -> &str {
        match self {
            ProbeFailure::Misconfigured { detail, .. }
            | ProbeFailure::Unreachable { detail, .. } => detail,
            ProbeFailure::Mismatch => "",
        }
    }
}

/// An inclusive byte range request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Exclusive end.
    pub end: u64,
}

/// What is known about a stored blob.
#[derive(Debug, Clone)]
pub struct BlobMeta {
    pub size: u64,
}

/// One object found by [`Blobs::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// The object's key (`aa/bb/rest/filename`, `….metadata`, or anything else found there).
    pub key: String,
    /// When it was last written, microseconds since the epoch.
    pub modified_micros: i64,
}

/// A blob's bytes as a stream.
pub type BlobBody = BoxStream<'static, Result<Bytes, StoreError>>;

/// A blob opened for reading: its bytes and, where the store tells, the identity of the stored
/// copy they come from.
pub struct Opened {
    pub body: BlobBody,
    pub identity: Option<BlobIdentity>,
}

/// What tells one stored copy of a blob from any other: a write to the file (or a new object
/// under the key) gives another identity. In a folder: device, inode, size, and the modification
/// and change times (the change time cannot be set back by a user, so a write followed by
/// `touch -d` still shows); on S3: the object's ETag, size and last-modified time (`None` when
/// the server sends no ETag). `blob_check`'s verified marks are keyed on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobIdentity(u64);

impl BlobIdentity {
    #[cfg(test)]
    pub(crate) fn for_tests(n: u64) -> BlobIdentity {
        BlobIdentity(n)
    }

    fn of_file(m: &std::fs::Metadata) -> BlobIdentity {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()).hash(&mut h);
        (m.ctime(), m.ctime_nsec()).hash(&mut h);
        BlobIdentity(h.finish())
    }

    fn of_object(m: &object_store::ObjectMeta) -> Option<BlobIdentity> {
        use std::hash::{Hash, Hasher};
        let etag = m.e_tag.as_ref()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (etag, m.size, m.last_modified.timestamp_micros()).hash(&mut h);
        Some(BlobIdentity(h.finish()))
    }
}

#[derive(Debug)]
enum Backend {
    Local {
        root: PathBuf,
    },
    S3 {
        /// Writes, lists and deletes: a few retries.
        store: Arc<dyn ObjectStore>,
        /// Downloads and `head`: no retries.
        reads: Arc<dyn ObjectStore>,
        /// The longest wait for a read's answer.
        timeout: std::time::Duration,
        bucket: String,
    },
}

/// The blob store.
#[derive(Debug, Clone)]
pub struct Blobs {
    backend: Arc<Backend>,
    /// Copies checked whole by a download (`blob_check`).
    marks: Arc<crate::blob_check::VerifiedMarks>,
}

const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const CHUNK: usize = 8 * 1024 * 1024;

impl Blobs {
    /// A store in a local folder (created if missing).
    pub fn local(root: impl Into<PathBuf>) -> Result<Blobs, StoreError> {
        let root = root.into();
        crate::private_fs::create_dir_all(&root.join(".tmp"))?;
        Ok(Blobs {
            backend: Arc::new(Backend::Local { root }),
            marks: Arc::default(),
        })
    }

    /// A store in an S3-compatible bucket. A plain-HTTP endpoint without `allow_http` is refused
    /// here, by name, instead of failing every request later.
    pub fn s3(s: &S3Settings) -> Result<Blobs, StoreError> {
        if let Some(e) = &s.endpoint
            && e.get(..7)
                .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
            && !s.allow_http
        {
            return Err(StoreError::Config(format!(
                "s3.endpoint {e} is plain HTTP but s3.allow_http is false: use an https:// endpoint, or set s3.allow_http = true if the traffic to it cannot be read or changed by others"
            )));
        }
        let timeout = if s.timeout.is_zero() {
            S3Settings::default().timeout
        } else {
            s.timeout
        };
        let options = object_store::ClientOptions::new()
            .with_allow_http(s.allow_http)
            .with_connect_timeout(timeout);
        let retry = |max_retries: usize| object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: std::time::Duration::from_millis(100),
                max_backoff: std::time::Duration::from_secs(1),
                base: 2.0,
            },
            max_retries,
            retry_timeout: timeout * 4,
        };
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_client_options(options)
            .with_bucket_name(&s.bucket)
            .with_region(&s.region)
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(false);
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(k) = &s.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let reads = b
            .clone()
            .with_retry(retry(0))
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        let store = b
            .with_retry(retry(s.retries))
            .build()
            .map_err(|e| StoreError::Config(e.to_string()))?;
        Ok(Blobs {
            backend: Arc::new(Backend::S3 {
                store: Arc::new(store),
                reads: Arc::new(reads),
                timeout,
                bucket: s.bucket.clone(),
            }),
            marks: Arc::default(),
        })
    }

    /// The verified marks of this store's blobs.
    pub(crate) fn marks(&self) -> &crate::blob_check::VerifiedMarks {
        &self.marks
    }

    /// Whether blobs live in a local folder (where flushing the upload early pays off).
    pub fn is_local(&self) -> bool {
        matches!(&*self.backend, Backend::Local { .. })
    }

    /// A folder for temporary upload files on the same filesystem as the blobs when local
    /// (so the final move is a rename), else `fallback`.
    pub fn temp_dir(&self, fallback: &Path) -> PathBuf {
        match &*self.backend {
            Backend::Local { root } => root.join(".tmp"),
            Backend::S3 { .. } => fallback.to_path_buf(),
        }
    }

    /// Move a finished temp file into place at `key`. The file is fsynced first.
    /// Re-putting an existing key with the same content is harmless (content-addressed).
    ///
    /// On a folder the file is staged in `.tmp` as a hard link (no copy; the caller's
    /// [`crate::tempfiles::LockedTempFile`] lock covers the link too) or, across file systems,
    /// as a locked copy, then renamed into place. Whatever fails, nothing partial is left: a
    /// staged file is removed, an S3 multipart upload is aborted.
    pub async fn put_file(&self, key: &BlobKey, file: &Path) -> Result<(), StoreError> {
        self.put_file_at(key.as_str(), file).await
    }

    /// [`Blobs::put_file`] for `<key>.metadata` (PEP 658 metadata fetched into a temp file).
    pub async fn put_metadata_file(&self, key: &BlobKey, file: &Path) -> Result<(), StoreError> {
        self.put_file_at(&key.metadata(), file).await
    }

    async fn put_file_at(&self, key: &str, file: &Path) -> Result<(), StoreError> {
        self.marks.forget(key);
        match &*self.backend {
            Backend::Local { root } => {
                // one blocking task for the folder, the move and the folder's sync (each its
                // own task cost a thread hop apiece)
                let (src, tmp, dest) = (file.to_path_buf(), root.join(".tmp"), root.join(key));
                tokio::task::spawn_blocking(move || {
                    if let Some(parent) = dest.parent() {
                        crate::private_fs::create_dir_all(parent)?;
                    }
                    stage_file(&src, &tmp, &dest)?;
                    sync_dir(dest.parent());
                    std::io::Result::Ok(())
                })
                .await
                .map_err(|e| StoreError::Blob(format!("staging task: {e}")))??;
                Ok(())
            }
            Backend::S3 { store, .. } => {
                let path = ObjPath::from(key);
                let len = tokio::fs::metadata(file).await?.len();
                let mut f = tokio::fs::File::open(file).await?;
                if len <= MULTIPART_THRESHOLD {
                    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                    f.read_to_end(&mut buf).await?;
                    store
                        .put(&path, PutPayload::from(buf))
                        .await
                        .map_err(blob_err)?;
                } else {
                    let upload = store.put_multipart(&path).await.map_err(blob_err)?;
                    let mut w = WriteMultipart::new_with_chunk_size(upload, CHUNK);
                    let mut buf = vec![0u8; 1024 * 1024];
                    let sent: Result<(), StoreError> = async {
                        loop {
                            let n = f.read(&mut buf).await?;
                            if n == 0 {
                                return Ok(());
                            }
                            w.wait_for_capacity(4).await.map_err(blob_err)?;
                            w.write(&buf[..n]);
                        }
                    }
                    .await;
                    if let Err(e) = sent {
                        // Parts already sent would stay (and be billed) without this.
                        if let Err(abort) = w.abort().await {
                            tracing::warn!(key = %key, error = %abort, "aborting a failed multipart upload failed");
                        }
                        return Err(e);
                    }
                    // finish() aborts by itself when it fails.
                    w.finish().await.map_err(blob_err)?;
                }
                Ok(())
            }
        }
    }

    /// Store a small blob (e.g. a `.metadata` file) at `key`.
    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        self.marks.forget(key);
        match &*self.backend {
            Backend::Local { root } => {
                let (tmp, dest) = (root.join(".tmp"), root.join(key));
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    use std::io::Write;
                    if let Some(parent) = dest.parent() {
                        crate::private_fs::create_dir_all(parent)?;
                    }
                    let mut t = LockedTempFile::create_in(&tmp, "put-")?;
                    t.write_all(&data)?;
                    t.as_file().sync_all()?;
                    t.persist(&dest)?;
                    sync_dir(dest.parent());
                    Ok(())
                })
                .await
                .map_err(|e| StoreError::Blob(format!("staging task: {e}")))??;
                Ok(())
            }
            Backend::S3 { store, .. } => {
                store
                    .put(&ObjPath::from(key), PutPayload::from(data))
                    .await
                    .map_err(blob_err)?;
                Ok(())
            }
        }
    }

    /// Every object in the store (the folder without its `.tmp`, or the bucket), with its
    /// last-modified time, in no particular order. Keys are relative, `/`-separated.
    pub fn list(&self) -> BoxStream<'static, Result<ListedBlob, StoreError>> {
        match &*self.backend {
            Backend::Local { root } => crate::blob_walk::list_folder(root.clone()),
            // object_store percent-encodes a few characters of each key part on the way in
            // (`ObjPath::from`); decoding gives back the key the database names.
            Backend::S3 { store, .. } => store
                .list(None)
                .map(|r| {
                    r.map(|m| ListedBlob {
                        key: percent_decode(m.location.as_ref()),
                        modified_micros: m.last_modified.timestamp_micros(),
                    })
                    .map_err(blob_err)
                })
                .filter(|r| {
                    let probe = r
                        .as_ref()
                        .is_ok_and(|b| b.key.starts_with(&format!("{PROBE_PREFIX}/")));
                    std::future::ready(!probe)
                })
                .boxed(),
        }
    }

    /// Size of a blob, or `None` if absent.
    pub async fn head(&self, key: &str) -> Result<Option<BlobMeta>, StoreError> {
        match &*self.backend {
            Backend::Local { root } => match tokio::fs::metadata(root.join(key)).await {
                Ok(m) => Ok(Some(BlobMeta { size: m.len() })),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            },
            Backend::S3 { reads, timeout, .. } => {
                match answered(*timeout, reads.head(&ObjPath::from(key))).await? {
                    Ok(m) => Ok(Some(BlobMeta { size: m.size })),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(blob_err(e)),
                }
            }
        }
    }

    /// Read a blob (or a range of it) as a stream.
    pub async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<BlobBody>, StoreError> {
        Ok(self.open(key, range).await?.map(|o| o.body))
    }

    /// Read a blob (or a range of it) as a stream, with the identity of the stored copy read.
    pub async fn open(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<Opened>, StoreError> {
        match &*self.backend {
            Backend::Local { root } => {
                let path = root.join(key);
                let opened = tokio::task::spawn_blocking(move || {
                    let mut f = std::fs::File::open(path)?;
                    let meta = f.metadata()?;
                    let len = meta.len();
                    let (start, end) = range.map_or((0, len), |r| (r.start, r.end.min(len)));
                    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(start))?;
                    let len = end.saturating_sub(start);
                    // a small file (most wheels, every PEP 658 file) is read here, in the
                    // same task: one trip to the blocking pool, not two
                    let body = crate::blob_read::read_small(&f, len)?;
                    Ok::<_, std::io::Error>((f, len, meta, body))
                })
                .await
                .map_err(|e| StoreError::Blob(format!("open task: {e}")))?;
                let (f, len, meta, small) = match opened {
                    Ok(x) => x,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                let body = match small {
                    Some(bytes) if bytes.is_empty() => futures_util::stream::empty().boxed(),
                    Some(bytes) => {
                        futures_util::stream::once(std::future::ready(Ok(bytes))).boxed()
                    }
                    None => crate::blob_read::file_body(f, len),
                };
                Ok(Some(Opened {
                    body,
                    identity: Some(BlobIdentity::of_file(&meta)),
                }))
            }
            Backend::S3 { reads, timeout, .. } => {
                let opts = GetOptions {
                    range: range.map(|r| GetRange::Bounded(r.start..r.end)),
                    ..GetOptions::default()
                };
                match answered(*timeout, reads.get_opts(&ObjPath::from(key), opts)).await? {
                    Ok(r) => {
                        let identity = BlobIdentity::of_object(&r.meta);
                        Ok(Some(Opened {
                            body: r.into_stream().map(|c| c.map_err(blob_err)).boxed(),
                            identity,
                        }))
                    }
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(blob_err(e)),
                }
            }
        }
    }

    /// Read a whole small blob into memory.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let Some(mut s) = self.get(key, None).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Some(Bytes::from(out)))
    }

    /// Write a small object under [`PROBE_PREFIX`], read it back and delete it: whether the
    /// store takes writes and serves them (`serve`'s start, readiness). On S3 a refusal that
    /// will not go away by itself (credentials, bucket) is [`ProbeFailure::Misconfigured`].
    pub async fn probe(&self) -> Result<(), ProbeFailure> {
        let key = format!("{PROBE_PREFIX}/{}", unique_suffix());
        let body = Bytes::from(format!("strongroom probe {key}\n"));
        match &*self.backend {
            Backend::Local { .. } => {
                let fail = |what: &str, e: StoreError| ProbeFailure::Unreachable {
                    message: format!("{what} the blob folder failed"),
                    detail: e.to_string(),
                };
                self.put_bytes(&key, body.clone())
                    .await
                    .map_err(|e| fail("writing to", e))?;
                let back = self.get_bytes(&key).await;
                let deleted = self.delete(&key).await;
                let back = back.map_err(|e| fail("reading from", e))?;
                deleted.map_err(|e| fail("deleting from", e))?;
                if back.as_ref() != Some(&body) {
                    return Err(ProbeFailure::Mismatch);
                }
                Ok(())
            }
            Backend::S3 {
                store,
                reads,
                timeout,
                bucket,
            } => {
                let path = ObjPath::from(key.as_str());
                // Connecting and the answer each within the timeout.
                let within = *timeout * 2;
                let classify = |what: &str, e: object_store::Error| match e {
                    object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. } => ProbeFailure::Misconfigured {
                        message: format!(
                            "the S3 server refused to let strongroom {what} in bucket '{bucket}': check s3.access_key_id and s3.secret_access_key, and that the key may read, write and delete in the bucket"
                        ),
                        detail: e.to_string(),
                    },
                    object_store::Error::NotFound { .. } => ProbeFailure::Misconfigured {
                        message: format!(
                            "bucket '{bucket}' does not exist on the S3 server (check storage and s3.endpoint)"
                        ),
                        detail: e.to_string(),
                    },
                    other => ProbeFailure::Unreachable {
                        message: format!(
                            "the S3 server failed or did not answer a {what} (check s3.endpoint and that it is up)"
                        ),
                        detail: other.to_string(),
                    },
                };
                let late = |what: &str| ProbeFailure::Unreachable {
                    message: format!(
                        "the S3 server did not answer a {what} within {} s (s3.timeout_seconds)",
                        within.as_secs_f32()
                    ),
                    detail: String::new(),
                };
                tokio::time::timeout(within, store.put(&path, PutPayload::from(body.clone())))
                    .await
                    .map_err(|_| late("write"))?
                    .map_err(|e| classify("write", e))?;
                let back =
                    tokio::time::timeout(within, async { reads.get(&path).await?.bytes().await })
                        .await;
                let deleted = tokio::time::timeout(within, store.delete(&path)).await;
                let back = back
                    .map_err(|_| late("read"))?
                    .map_err(|e| classify("read", e))?;
                deleted
                    .map_err(|_| late("delete"))?
                    .map_err(|e| classify("delete", e))?;
                if back != body {
                    return Err(ProbeFailure::Mismatch);
                }
                Ok(())
            }
        }
    }

    /// Delete a blob if present.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.marks.forget(key);
        match &*self.backend {
            Backend::Local { root } => match tokio::fs::remove_file(root.join(key)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            Backend::S3 { store, .. } => match store.delete(&ObjPath::from(key)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(blob_err(e)),
            },
        }
    }
}

/// Undo `%XX` escapes (invalid or non-UTF-8 sequences are kept as they are).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'%'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Failed blob-store (S3) operations since this process started: the
/// `strongroom_blob_store_errors_total` metric. Every object-store failure passes `blob_err`.
static BLOB_ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many blob-store operations have failed in this process (for the metrics).
pub fn blob_error_count() -> u64 {
    BLOB_ERRORS.load(std::sync::atomic::Ordering::Relaxed)
}

/// An S3 error as the store's: what means "not reachable now" (a refused or timed-out
/// connection, a 5xx, refused credentials) is [`StoreError::Unavailable`], answered 503.
fn blob_err(e: object_store::Error) -> StoreError {
    use object_store::Error as E;
    BLOB_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match e {
        E::Generic { .. } | E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            StoreError::Unavailable {
                part: crate::Backend::BlobStore,
                detail: e.to_string(),
            }
        }
        other => StoreError::Blob(other.to_string()),
    }
}

/// `op`'s answer within `timeout`, else [`StoreError::Unavailable`].
async fn answered<T>(
    timeout: std::time::Duration,
    op: impl std::future::Future<Output = T>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, op)
        .await
        .map_err(|_| StoreError::Unavailable {
            part: crate::Backend::BlobStore,
            detail: format!("no answer within {} s", timeout.as_secs_f32()),
        })
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}-{}-{}",
        std::process::id(),
        crate::model::now_micros(),
        n
    )
}

/// Stage `src` in `tmp` and rename it to `dest`: a hard link when both are on one file system,
/// else a locked copy. A staged name never outlives a failure.
fn stage_file(src: &Path, tmp: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::File::open(src)?.sync_all()?;
    let staged = tmp.join(format!("put-{}", unique_suffix()));
    if std::fs::hard_link(src, &staged).is_ok() {
        // a link has the source's mode: blobs are owner-only whatever it was
        std::fs::set_permissions(
            &staged,
            std::os::unix::fs::PermissionsExt::from_mode(crate::private_fs::FILE_MODE),
        )?;
        match std::fs::rename(&staged, dest) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&staged);
                // A sweep may have taken an unlocked link; copying below still works.
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
    }
    let mut t = LockedTempFile::create_in(tmp, "put-")?;
    std::io::copy(&mut std::fs::File::open(src)?, &mut t)?;
    t.as_file().sync_all()?;
    t.persist(dest)?;
    Ok(())
}

/// Sync a folder after a rename into it (blocking; called on a blocking thread).
fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir
        && let Ok(f) = std::fs::File::open(d)
    {
        // Best effort: not every filesystem supports fsync on directories.
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod probe_tests {
    use super::*;

    /// A plain-HTTP endpoint without `allow_http` is refused when the store is configured, with
    /// the keys to change, instead of failing every request later.
    #[test]
    fn an_http_endpoint_without_allow_http_is_refused_by_name() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s = S3Settings {
            bucket: "b".into(),
            endpoint: Some("HTTP://127.0.0.1:9".into()),
            ..S3Settings::default()
        };
        let e = Blobs::s3(&s).expect_err("refused");
        let text = e.to_string();
        assert!(text.contains("s3.allow_http"), "{text}");
        assert!(
            Blobs::s3(&S3Settings {
                allow_http: true,
                ..s.clone()
            })
            .is_ok()
        );
        assert!(
            Blobs::s3(&S3Settings {
                endpoint: Some("https://127.0.0.1:9".into()),
                ..s
            })
            .is_ok()
        );
    }

    /// The probe leaves nothing behind, and `list` (the collector's and fsck's view) never
    /// shows its folder.
    #[tokio::test]
    async fn the_local_probe_round_trips_and_leaves_nothing_listed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Blobs::local(dir.path()).expect("local");
        b.probe().await.expect("probe");
        b.put_bytes(
            &format!("{PROBE_PREFIX}/left-over"),
            Bytes::from_static(b"x"),
        )
        .await
        .expect("put");
        let listed: Vec<_> = b.list().collect().await;
        assert!(listed.is_empty(), "{listed:?}");
    }

    /// A stopped S3 server is an outage (503, and the start goes on), answered at once: reads
    /// are not retried.
    #[tokio::test]
    async fn an_unreachable_s3_server_is_unavailable_quickly() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let b = Blobs::s3(&S3Settings {
            bucket: "b".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            allow_http: true,
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..S3Settings::default()
        })
        .expect("configured");
        let t = std::time::Instant::now();
        let e = b.get("aa/bb/cc/f.whl", None).await.err().expect("fails");
        assert_eq!(e.unavailable(), Some(crate::Backend::BlobStore), "{e:?}");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        match b.probe().await {
            Err(ProbeFailure::Unreachable { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
}
