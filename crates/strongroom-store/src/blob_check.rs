//! Checking a blob's bytes against the sha256 its file row records, in bounded memory: the
//! digest of a whole blob (fsck, the sampled job), and a download stream that never completes
//! with bytes that do not match (the last chunk is held back until the digest is known).
//!
//! A download of a whole file checks a given stored copy once ([`Blobs::get_verified`]): when
//! its bytes have streamed out whole and matched, a *verified mark* remembers that copy (its
//! [`BlobIdentity`]: device, inode, size, modification and change times, or an S3 object's
//! ETag), with the size and sha256 it matched, for [`MARK_TTL`]. The next downloads of the same
//! copy stream without hashing. Any write to the file changes its identity (so the mark no
//! longer applies and the next download checks again); [`Blobs::check`] (fsck's and the sampled
//! job's check) drops the mark of a blob it finds damaged, so does a delete or a new put. What a
//! mark does not see is a change that leaves the identity alone (a disk flipping bits under the
//! file system): such a copy may be served whole until its mark expires or the sampled job or
//! `admin fsck` finds it. The marks are bounded ([`MARKS_MAX`] entries of a few words each).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;

use crate::StoreError;
use crate::blobs::{BlobBody, BlobIdentity, Blobs};

/// How long a verified mark holds: the longest a copy damaged without a write is served whole
/// after its last check.
pub const MARK_TTL: Duration = Duration::from_secs(3600);
/// The most marks kept (about 40 bytes each).
pub const MARKS_MAX: usize = 16_384;

/// Stored copies of blobs whose bytes were last seen whole and matching (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct VerifiedMarks {
    hasher: std::collections::hash_map::RandomState,
    /// hash(key) -> (hash(identity, size, sha256), when it was checked).
    marks: Mutex<HashMap<u64, (u64, Instant)>>,
}

impl VerifiedMarks {
    fn key(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn mark(&self, identity: BlobIdentity, size: u64, sha256: &str) -> u64 {
        self.hasher
            .hash_one((identity, size, sha256.to_ascii_lowercase()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (u64, Instant)>> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this copy was checked whole, with this size and sha256, within [`MARK_TTL`].
    fn holds(&self, key: &str, identity: BlobIdentity, size: u64, sha256: &str) -> bool {
        let want = self.mark(identity, size, sha256);
        self.lock()
            .get(&self.key(key))
            .is_some_and(|&(m, at)| m == want && at.elapsed() < MARK_TTL)
    }

    fn insert(&self, key: &str, identity: BlobIdentity, size: u64, sha256: &str) {
        let (k, m) = (self.key(key), self.mark(identity, size, sha256));
        let mut marks = self.lock();
        if marks.len() >= MARKS_MAX && !marks.contains_key(&k) {
            // Expired ones first; if none, an eighth of them (in no order): a blob that loses
            // its mark is only checked again on its next download.
            marks.retain(|_, (_, at)| at.elapsed() < MARK_TTL);
            if marks.len() >= MARKS_MAX {
                let drop: Vec<u64> = marks.keys().take(MARKS_MAX / 8).copied().collect();
                for d in drop {
                    marks.remove(&d);
                }
            }
        }
        marks.insert(k, (m, Instant::now()));
    }

    pub(crate) fn forget(&self, key: &str) {
        let k = self.key(key);
        self.lock().remove(&k);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// What a blob's bytes turned out to be, compared with its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobState {
    /// Present, the recorded size and sha256.
    Intact,
    /// No object under the key.
    Missing,
    /// Present, but its size or sha256 differ from the row's (`size`, `sha256` as found).
    Damaged { size: u64, sha256: String },
}

/// A running sha256 and byte count.
#[derive(Clone)]
pub struct Digest {
    ctx: ring::digest::Context,
    len: u64,
}

impl Default for Digest {
    fn default() -> Self {
        Digest {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            len: 0,
        }
    }
}

impl Digest {
    /// Feed bytes.
    pub fn update(&mut self, b: &[u8]) {
        self.ctx.update(b);
        self.len = self
            .len
            .saturating_add(u64::try_from(b.len()).unwrap_or(u64::MAX));
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lowercase hex sha256 of what was fed.
    pub fn finish(self) -> String {
        hex::encode(self.ctx.finish().as_ref())
    }
}

impl Blobs {
    /// Read the whole blob at `key` (streamed; one chunk in memory) and compare it with the
    /// recorded `size` (when the row records one) and `sha256` (hex).
    pub async fn check(
        &self,
        key: &str,
        size: Option<u64>,
        sha256: &str,
    ) -> Result<BlobState, StoreError> {
        let Some(mut body) = self.get(key, None).await? else {
            self.marks().forget(key);
            return Ok(BlobState::Missing);
        };
        let mut d = Digest::default();
        while let Some(chunk) = body.next().await {
            d.update(&chunk?);
        }
        let found_size = d.len();
        let found = d.finish();
        if size.is_none_or(|s| s == found_size) && found.eq_ignore_ascii_case(sha256) {
            Ok(BlobState::Intact)
        } else {
            self.marks().forget(key);
            Ok(BlobState::Damaged {
                size: found_size,
                sha256: found,
            })
        }
    }
}

impl Blobs {
    /// [`Blobs::check`] for a distribution file, also comparing the blake2b-256 of its bytes
    /// with the row's (the digest its key is derived from): bytes swapped together with the
    /// row's sha256 and size still differ there. A mismatch of either is `Damaged`.
    pub async fn check_file(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        blake2_256: &str,
    ) -> Result<BlobState, StoreError> {
        use blake2::Digest as _;
        let Some(mut body) = self.get(key, None).await? else {
            self.marks().forget(key);
            return Ok(BlobState::Missing);
        };
        let mut d = Digest::default();
        let mut b = blake2::Blake2b256::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            d.update(&chunk);
            b.update(&chunk);
        }
        let found_size = d.len();
        let found = d.finish();
        let found_blake2 = hex::encode(b.finalize());
        if size == found_size
            && found.eq_ignore_ascii_case(sha256)
            && found_blake2.eq_ignore_ascii_case(blake2_256)
        {
            Ok(BlobState::Intact)
        } else {
            self.marks().forget(key);
            Ok(BlobState::Damaged {
                size: found_size,
                sha256: found,
            })
        }
    }
}

impl Blobs {
    /// The whole blob at `key` for a download, `None` if it is missing: streamed through
    /// [`verified_body`] (checked against `size` and `sha256`, the last chunk held back), unless
    /// a verified mark says this very stored copy was checked whole before (see the module doc);
    /// a check that passes sets the mark.
    pub async fn get_verified(
        &self,
        key: &str,
        size: u64,
        sha256: &str,
        on_mismatch: impl FnOnce(BlobState) + Send + 'static,
    ) -> Result<Option<BlobBody>, StoreError> {
        let Some(opened) = self.open(key, None).await? else {
            self.marks().forget(key);
            return Ok(None);
        };
        let Some(identity) = opened.identity else {
            return Ok(Some(verified_body(
                opened.body,
                size,
                sha256.to_owned(),
                on_mismatch,
            )));
        };
        if self.marks().holds(key, identity, size, sha256) {
            return Ok(Some(opened.body));
        }
        let (blobs, key2, sha2) = (self.clone(), key.to_owned(), sha256.to_owned());
        Ok(Some(checked_body(
            opened.body,
            size,
            sha256.to_owned(),
            on_mismatch,
            move || blobs.marks().insert(&key2, identity, size, &sha2),
        )))
    }
}

/// `body` (a whole blob) passed through unchanged, except that the chunk that would complete it
/// is sent only once the bytes are known to have `size` bytes and the given sha256: on a
/// mismatch the stream ends in an error instead (the HTTP response is cut short, so no client
/// ever holds the whole of a damaged file), and `on_mismatch` runs once. At most one chunk is
/// held back.
pub fn verified_body(
    body: BlobBody,
    size: u64,
    sha256: String,
    on_mismatch: impl FnOnce(BlobState) + Send + 'static,
) -> BlobBody {
    checked_body(body, size, sha256, on_mismatch, || {})
}

/// [`verified_body`], running `on_intact` once the whole body has matched.
fn checked_body<I: FnOnce() + Send + 'static>(
    body: BlobBody,
    size: u64,
    sha256: String,
    on_mismatch: impl FnOnce(BlobState) + Send + 'static,
    on_intact: I,
) -> BlobBody {
    struct St<F, I> {
        body: BlobBody,
        digest: Digest,
        held: Option<Bytes>,
        size: u64,
        sha256: String,
        on_mismatch: Option<F>,
        on_intact: Option<I>,
        done: bool,
    }
    let st = St {
        body,
        digest: Digest::default(),
        held: None,
        size,
        sha256,
        on_mismatch: Some(on_mismatch),
        on_intact: Some(on_intact),
        done: false,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    st.digest.update(&chunk);
                    if st.digest.len() > st.size {
                        // Longer than recorded: never send past what the row promises.
                        st.done = true;
                        let found = st.digest.clone();
                        if let Some(f) = st.on_mismatch.take() {
                            f(BlobState::Damaged {
                                size: found.len(),
                                sha256: found.finish(),
                            });
                        }
                        return Some((Err(damaged()), st));
                    }
                    if chunk.is_empty() {
                        continue;
                    }
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let d = std::mem::take(&mut st.digest);
                    let len = d.len();
                    let found = d.finish();
                    if len == st.size && found.eq_ignore_ascii_case(&st.sha256) {
                        if let Some(f) = st.on_intact.take() {
                            f();
                        }
                        return st.held.take().map(|c| (Ok(c), st));
                    }
                    if let Some(f) = st.on_mismatch.take() {
                        f(BlobState::Damaged {
                            size: len,
                            sha256: found,
                        });
                    }
                    return Some((Err(damaged()), st));
                }
            }
        }
    })
    .boxed()
}

fn damaged() -> StoreError {
    StoreError::Blob(
        "the stored bytes do not match the file's recorded sha256; the response was cut short"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(chunks: &[&'static [u8]]) -> BlobBody {
        futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        )
        .boxed()
    }

    fn sha(b: &[u8]) -> String {
        let mut d = Digest::default();
        d.update(b);
        d.finish()
    }

    async fn run(b: BlobBody, size: u64, sha256: String) -> (Vec<u8>, bool, Option<BlobState>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let s2 = seen.clone();
        let mut v = verified_body(b, size, sha256, move |st| {
            *s2.lock().expect("lock") = Some(st);
        });
        let (mut out, mut failed) = (Vec::new(), false);
        while let Some(c) = v.next().await {
            match c {
                Ok(c) => out.extend_from_slice(&c),
                Err(_) => failed = true,
            }
        }
        let st = seen.lock().expect("lock").clone();
        (out, failed, st)
    }

    async fn drain(mut b: BlobBody) -> (Vec<u8>, bool) {
        let (mut out, mut failed) = (Vec::new(), false);
        while let Some(c) = b.next().await {
            match c {
                Ok(c) => out.extend_from_slice(&c),
                Err(_) => failed = true,
            }
        }
        (out, failed)
    }

    /// A whole download that matched marks the copy; a write to the file (even one that puts the
    /// modification time back) loses the mark, and the changed bytes are cut short; a check
    /// that finds a blob damaged drops its mark.
    #[tokio::test]
    async fn a_verified_mark_holds_for_the_same_copy_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = Blobs::local(dir.path()).expect("local");
        let good = vec![7u8; 3 * 1024 * 1024 + 5];
        let key = "ab/cd/ef/f-1.0-py3-none-any.whl";
        blobs
            .put_bytes(key, Bytes::from(good.clone()))
            .await
            .expect("put");
        let (size, digest) = (good.len() as u64, sha(&good));
        let get = |b: &Blobs| {
            let (b, digest) = (b.clone(), digest.clone());
            async move {
                let body = b
                    .get_verified(key, size, &digest, |_| {})
                    .await
                    .expect("get")
                    .expect("present");
                drain(body).await
            }
        };
        assert_eq!(blobs.marks().len(), 0);
        // A download cut off before the end sets no mark.
        let mut partial = blobs
            .get_verified(key, size, &digest, |_| {})
            .await
            .expect("get")
            .expect("present");
        let _ = partial.next().await;
        drop(partial);
        assert_eq!(blobs.marks().len(), 0);
        assert_eq!(get(&blobs).await, (good.clone(), false));
        assert_eq!(blobs.marks().len(), 1);
        let path = dir.path().join(key);
        let opened = blobs.open(key, None).await.expect("open").expect("present");
        let id = opened.identity.expect("a local file has an identity");
        assert!(blobs.marks().holds(key, id, size, &digest));
        // The mark is for this size and sha256 only.
        assert!(!blobs.marks().holds(key, id, size, &sha(b"other")));
        assert!(!blobs.marks().holds(key, id, size - 1, &digest));
        // Rewrite in place, same length, modification time put back.
        let mtime = std::fs::metadata(&path)
            .expect("meta")
            .modified()
            .expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut bad = good.clone();
        bad[good.len() / 2] ^= 1;
        std::fs::write(&path, &bad).expect("tamper");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open")
            .set_modified(mtime)
            .expect("set mtime");
        let (out, failed) = get(&blobs).await;
        assert!(failed && out.len() < bad.len() && out[..] == bad[..out.len()]);
        // A check that finds it damaged forgets it; so does a delete.
        assert!(get(&blobs).await.1);
        std::fs::write(&path, &good).expect("restore");
        assert_eq!(get(&blobs).await, (good.clone(), false));
        assert_eq!(blobs.marks().len(), 1);
        std::fs::write(&path, &bad).expect("tamper");
        assert!(matches!(
            blobs.check(key, Some(size), &digest).await.expect("check"),
            BlobState::Damaged { .. }
        ));
        assert_eq!(blobs.marks().len(), 0);
        std::fs::write(&path, &good).expect("restore");
        assert_eq!(get(&blobs).await, (good.clone(), false));
        blobs.delete(key).await.expect("delete");
        assert_eq!(blobs.marks().len(), 0);
    }

    #[test]
    fn marks_stay_bounded() {
        let marks = VerifiedMarks::default();
        let id = BlobIdentity::for_tests(1);
        for i in 0..(MARKS_MAX + 100) {
            marks.insert(&format!("k{i}"), id, 1, "00");
        }
        assert!(marks.len() <= MARKS_MAX, "{}", marks.len());
        assert!(marks.holds(&format!("k{}", MARKS_MAX + 99), id, 1, "00"));
    }

    #[tokio::test]
    async fn intact_bytes_pass_whole_and_damaged_ones_never_complete() {
        let good: &[u8] = b"hello, wheel";
        let (out, failed, st) = run(body(&[b"hello", b", ", b"wheel"]), 12, sha(good)).await;
        assert_eq!((out.as_slice(), failed, st), (good, false, None));
        // Same length, one byte changed: the last chunk is withheld and the stream fails.
        let (out, failed, st) = run(body(&[b"hello", b", ", b"whell"]), 12, sha(good)).await;
        assert_eq!(out, b"hello, ");
        assert!(failed);
        assert!(matches!(st, Some(BlobState::Damaged { size: 12, .. })));
        // Longer than recorded: cut at once.
        let (out, failed, _) = run(body(&[b"hello", b", wheel!!"]), 12, sha(good)).await;
        assert!(out.len() < 12 && failed);
        // Shorter: never complete either.
        let (out, failed, _) = run(body(&[b"hello"]), 12, sha(good)).await;
        assert!(out.is_empty() && failed);
    }
}
