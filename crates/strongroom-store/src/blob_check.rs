//! Checking a blob's bytes against the sha256 its file row records, in bounded memory: the
//! digest of a whole blob (fsck, the sampled job), and a download stream that never completes
//! with bytes that do not match (the last chunk is held back until the digest is known).

use bytes::Bytes;
use futures_util::StreamExt;

use crate::StoreError;
use crate::blobs::{BlobBody, Blobs};

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
            Ok(BlobState::Damaged {
                size: found_size,
                sha256: found,
            })
        }
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
    struct St<F> {
        body: BlobBody,
        digest: Digest,
        held: Option<Bytes>,
        size: u64,
        sha256: String,
        on_mismatch: Option<F>,
        done: bool,
    }
    let st = St {
        body,
        digest: Digest::default(),
        held: None,
        size,
        sha256,
        on_mismatch: Some(on_mismatch),
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
