//! The fetch-once tee: one task per (server, sha256) reads the upstream body into a locked temp
//! file while hashing it, and every requester (the first one too) follows that file as it grows
//! (a `watch` of the bytes written), so nobody waits for the whole file and the upstream is read
//! once. The last byte is held back from every follower until the sha256 matched, so a file
//! whose bytes differ from what the upstream's page advertised never reaches a client whole:
//! the body ends in an error instead. The size the page advertised is a bound too: a body that
//! runs past it is cut off at once, one that ends short of it fails. The task does not depend on its requesters: when they go
//! away it still completes (bounded by `upstream.max_file_bytes` and the client's read timeout).

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use strongroom_store::blob_check::Digest;
use strongroom_store::tempfiles::LockedTempFile;
use strongroom_upstream::{FileStream, UpstreamError};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// A follower reads at most this much at a time (its memory).
const FOLLOW_CHUNK: u64 = 256 * 1024;

/// Why a fetch ended without a checked file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchFailure {
    /// The upstream did not answer in time.
    Timeout(u64),
    /// The upstream could not be reached or answered an error.
    Upstream(String),
    /// Larger than `upstream.max_file_bytes`.
    TooLarge(u64),
    /// The body is longer or shorter than the size the upstream's page advertised.
    SizeMismatch {
        /// The page's `size`.
        advertised: u64,
    },
    /// The bytes' sha256 is not the advertised one.
    Mismatch {
        /// What the bytes hash to.
        actual: String,
    },
    /// Writing the temp file failed.
    Local(String),
}

impl std::fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchFailure::Timeout(s) => write!(f, "the upstream did not answer within {s} s"),
            FetchFailure::Upstream(e) => write!(f, "{e}"),
            FetchFailure::TooLarge(n) => write!(
                f,
                "the file is larger than {n} bytes (upstream.max_file_bytes)"
            ),
            FetchFailure::SizeMismatch { advertised } => write!(
                f,
                "the upstream sent a body of another size than the {advertised} bytes its page advertised"
            ),
            FetchFailure::Mismatch { .. } => write!(
                f,
                "the upstream sent bytes that do not match the sha256 its page advertised"
            ),
            FetchFailure::Local(e) => write!(f, "cannot write the temp file: {e}"),
        }
    }
}

impl From<UpstreamError> for FetchFailure {
    fn from(e: UpstreamError) -> FetchFailure {
        match e {
            UpstreamError::Timeout(s) => FetchFailure::Timeout(s),
            UpstreamError::TooLarge(n) => FetchFailure::TooLarge(n),
            other => FetchFailure::Upstream(other.to_string()),
        }
    }
}

/// Where a fetch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the upstream's answer.
    Opening,
    /// Bytes are arriving.
    Running,
    /// Every byte is written and the sha256 matched.
    Verified,
    /// Over, without a checked file.
    Failed(FetchFailure),
}

/// What followers watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes written to the temp file so far.
    pub written: u64,
    /// Where the fetch is.
    pub phase: Phase,
}

/// One fetch in progress: its temp file (removed when the last holder lets go) and its progress.
#[derive(Debug)]
pub(crate) struct Fetch {
    temp: LockedTempFile,
    progress: watch::Receiver<Progress>,
}

impl Fetch {
    /// The temp file's path (it lives as long as this value).
    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Wait until the upstream answered (the phase is past `Opening`) and return the progress.
    pub(crate) async fn opened(&self) -> Progress {
        let mut rx = self.progress.clone();
        loop {
            let p = rx.borrow_and_update().clone();
            if p.phase != Phase::Opening {
                return p;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }

    /// The body a requester is sent: the temp file as it grows, the last byte only once the
    /// sha256 matched; an error (a cut-short body) when the fetch fails.
    pub(crate) fn follow(self: &Arc<Fetch>) -> BoxStream<'static, std::io::Result<Bytes>> {
        struct St {
            fetch: Arc<Fetch>,
            rx: watch::Receiver<Progress>,
            pos: u64,
        }
        let st = St {
            rx: self.progress.clone(),
            fetch: Arc::clone(self),
            pos: 0,
        };
        futures_util::stream::try_unfold(st, |mut st| async move {
            loop {
                let p = st.rx.borrow_and_update().clone();
                let limit = match &p.phase {
                    Phase::Failed(f) => {
                        return Err(std::io::Error::other(format!(
                            "the upstream file could not be served: {f}"
                        )));
                    }
                    Phase::Verified => p.written,
                    // Held back until checked: a client never holds the whole of other bytes.
                    Phase::Opening | Phase::Running => p.written.saturating_sub(1),
                };
                if st.pos < limit {
                    // One positioned read of the shared temp file per chunk (no open, no seek).
                    let want = (limit - st.pos).min(FOLLOW_CHUNK);
                    let (fetch, pos) = (Arc::clone(&st.fetch), st.pos);
                    let buf = tokio::task::spawn_blocking(move || {
                        let mut buf = vec![0u8; usize::try_from(want).unwrap_or(0)];
                        fetch.temp.as_file().read_exact_at(&mut buf, pos)?;
                        Ok::<_, std::io::Error>(buf)
                    })
                    .await
                    .map_err(std::io::Error::other)??;
                    st.pos += want;
                    return Ok(Some((Bytes::from(buf), st)));
                }
                if p.phase == Phase::Verified {
                    return Ok(None);
                }
                if st.rx.changed().await.is_err() {
                    // The task ended without a last word: treat as failed.
                    let last = st.rx.borrow().clone();
                    if last.phase != Phase::Verified {
                        return Err(std::io::Error::other(
                            "the upstream fetch stopped unexpectedly",
                        ));
                    }
                }
            }
        })
        .boxed()
    }
}

/// The fetch's writing half, held by its task.
pub(crate) struct Writer {
    tx: watch::Sender<Progress>,
    file: tokio::fs::File,
}

/// A new fetch with its temp file in `dir`: the shared half and the task's half.
pub(crate) fn new_fetch(dir: &Path) -> std::io::Result<(Arc<Fetch>, Writer)> {
    let temp = LockedTempFile::create_in(dir, "upstream-")?;
    let file = tokio::fs::File::from_std(temp.as_file().try_clone()?);
    let (tx, rx) = watch::channel(Progress {
        written: 0,
        phase: Phase::Opening,
    });
    Ok((Arc::new(Fetch { temp, progress: rx }), Writer { tx, file }))
}

impl Writer {
    /// The upstream could not be opened.
    pub(crate) fn fail(&self, f: FetchFailure) {
        self.tx.send_modify(|p| p.phase = Phase::Failed(f));
    }

    /// Copy `stream` into the temp file, publishing progress, checking the size bounds (`max_bytes`
    /// and the advertised `size`, the moment a chunk passes either) and at the end the size and
    /// the sha256. Ok(size) once verified (followers may finish); the temp file is then complete
    /// (written, not yet synced: keeping it syncs it).
    pub(crate) async fn tee(
        mut self,
        stream: FileStream,
        max_bytes: u64,
        size: Option<u64>,
        expected_sha256: &str,
    ) -> Result<u64, FetchFailure> {
        let r = self.copy(stream, max_bytes, size, expected_sha256).await;
        match &r {
            Ok(_) => self.tx.send_modify(|p| p.phase = Phase::Verified),
            Err(f) => self.fail(f.clone()),
        }
        r
    }

    async fn copy(
        &mut self,
        stream: FileStream,
        max_bytes: u64,
        size: Option<u64>,
        expected_sha256: &str,
    ) -> Result<u64, FetchFailure> {
        if let Some(n) = stream.content_length {
            if n > max_bytes {
                return Err(FetchFailure::TooLarge(max_bytes));
            }
            if let Some(advertised) = size
                && n != advertised
            {
                return Err(FetchFailure::SizeMismatch { advertised });
            }
        }
        self.tx.send_modify(|p| p.phase = Phase::Running);
        let mut body = stream.body;
        let mut digest = Digest::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            digest.update(&chunk);
            if digest.len() > max_bytes {
                return Err(FetchFailure::TooLarge(max_bytes));
            }
            if let Some(advertised) = size
                && digest.len() > advertised
            {
                // Not one byte past the advertised size is written or followed.
                return Err(FetchFailure::SizeMismatch { advertised });
            }
            self.file
                .write_all(&chunk)
                .await
                .map_err(|e| FetchFailure::Local(e.to_string()))?;
            // Flushed before it is announced: a follower's read sees what it is told exists.
            self.file
                .flush()
                .await
                .map_err(|e| FetchFailure::Local(e.to_string()))?;
            let n = digest.len();
            self.tx.send_modify(|p| p.written = n);
        }
        let got = digest.len();
        if let Some(advertised) = size
            && got != advertised
        {
            return Err(FetchFailure::SizeMismatch { advertised });
        }
        let actual = digest.finish();
        if !actual.eq_ignore_ascii_case(expected_sha256) {
            return Err(FetchFailure::Mismatch { actual });
        }
        // Not synced here: followers read it from the page cache, and keeping it
        // (`Blobs::put_file`) syncs it before its row is written, off every client's path.
        Ok(got)
    }
}

/// The fetches in progress on this server, by sha256 (single flight).
#[derive(Debug, Clone, Default)]
pub(crate) struct Fetches {
    inner: Arc<Mutex<HashMap<String, Arc<Fetch>>>>,
}

/// What [`Fetches::join_or_start`] found.
pub(crate) enum Joined {
    /// A fetch was already running: follow it.
    Running(Arc<Fetch>),
    /// None was: this caller starts one (it is registered already; the writer is the task's).
    Started(Arc<Fetch>, Writer),
}

impl Fetches {
    /// The running fetch of `sha256`, if any.
    pub(crate) fn running(&self, sha256: &str) -> Option<Arc<Fetch>> {
        self.lock().get(sha256).cloned()
    }

    /// Join the fetch of `sha256`, or register a new one made by `make` (called under the lock,
    /// so two requests never both start one).
    pub(crate) fn join_or_start(
        &self,
        sha256: &str,
        make: impl FnOnce() -> std::io::Result<(Arc<Fetch>, Writer)>,
    ) -> std::io::Result<Joined> {
        let mut map = self.lock();
        if let Some(f) = map.get(sha256) {
            return Ok(Joined::Running(Arc::clone(f)));
        }
        let (fetch, writer) = make()?;
        map.insert(sha256.to_owned(), Arc::clone(&fetch));
        Ok(Joined::Started(fetch, writer))
    }

    /// The fetch of `sha256` is over: new requests no longer join it.
    pub(crate) fn finish(&self, sha256: &str) {
        self.lock().remove(sha256);
    }

    /// How many fetches are running.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Fetch>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn sha(b: &[u8]) -> String {
        let mut d = Digest::default();
        d.update(b);
        d.finish()
    }

    /// A body fed chunk by chunk from the test.
    fn fed(
        content_length: Option<u64>,
    ) -> (
        tokio::sync::mpsc::Sender<Result<Bytes, UpstreamError>>,
        FileStream,
    ) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let body =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|x| (x, rx)) },
            )
            .boxed();
        (
            tx,
            FileStream {
                content_length,
                body,
            },
        )
    }

    async fn collect(s: BoxStream<'static, std::io::Result<Bytes>>) -> std::io::Result<Vec<u8>> {
        let parts: Vec<Bytes> = s.try_collect().await?;
        Ok(parts.concat())
    }

    /// Two followers (one joining late) both get every byte once the sha256 matched, and
    /// neither gets the last byte before the end was checked.
    #[tokio::test]
    async fn followers_get_the_whole_file_only_after_the_check() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (tx, stream) = fed(Some(data.len() as u64));
        let expected = sha(&data);
        let size = data.len() as u64;
        let task =
            tokio::spawn(
                async move { writer.tee(stream, 10_000_000, Some(size), &expected).await },
            );
        let early = tokio::spawn(collect(fetch.follow()));
        tx.send(Ok(Bytes::copy_from_slice(&data[..300_000])))
            .await
            .expect("send");
        tx.send(Ok(Bytes::copy_from_slice(&data[300_000..])))
            .await
            .expect("send");
        // Every byte is written, the end not yet seen: a follower has all but the last byte.
        let mut rx = fetch.progress.clone();
        rx.wait_for(|p| p.written == data.len() as u64)
            .await
            .expect("progress");
        let late = fetch.follow();
        drop(tx);
        assert_eq!(task.await.expect("task"), Ok(data.len() as u64));
        assert_eq!(early.await.expect("early").expect("body"), data);
        assert_eq!(collect(late).await.expect("late body"), data);
    }

    /// Bytes that hash to something else: every follower's body ends in an error, short of the
    /// whole file.
    #[tokio::test]
    async fn a_mismatch_cuts_every_body_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (tx, stream) = fed(None);
        let wrong = sha(b"other bytes");
        let task = tokio::spawn(async move { writer.tee(stream, 10_000_000, None, &wrong).await });
        let follower = fetch.follow();
        let received = Arc::new(Mutex::new(0usize));
        let counted = Arc::clone(&received);
        let reader = tokio::spawn(async move {
            follower
                .try_for_each(|b| {
                    *counted.lock().expect("lock") += b.len();
                    std::future::ready(Ok(()))
                })
                .await
        });
        tx.send(Ok(Bytes::from_static(b"evil bytes here")))
            .await
            .expect("send");
        drop(tx);
        assert!(matches!(
            task.await.expect("task"),
            Err(FetchFailure::Mismatch { .. })
        ));
        assert!(reader.await.expect("reader").is_err());
        assert!(*received.lock().expect("lock") < b"evil bytes here".len());
    }

    /// A body past the bound is cut off (advertised by Content-Length or counted as it comes).
    #[tokio::test]
    async fn a_body_past_the_bound_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (_tx, stream) = fed(Some(1000));
        assert_eq!(
            writer.tee(stream, 999, None, "00").await,
            Err(FetchFailure::TooLarge(999))
        );
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (tx, stream) = fed(None);
        let task = tokio::spawn(async move { writer.tee(stream, 10, None, "00").await });
        tx.send(Ok(Bytes::from_static(b"0123456789abc")))
            .await
            .expect("send");
        assert_eq!(task.await.expect("task"), Err(FetchFailure::TooLarge(10)));
        assert!(collect(fetch.follow()).await.is_err());
    }

    /// The advertised size bounds the body: a Content-Length other than it fails before any
    /// byte, a chunk past it fails at once (nothing of it is followed), a short body fails at
    /// its end even when its sha256 is the advertised one.
    #[tokio::test]
    async fn the_advertised_size_is_enforced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (_tx, stream) = fed(Some(4_000_000));
        assert_eq!(
            writer.tee(stream, 10_000_000, Some(100), "00").await,
            Err(FetchFailure::SizeMismatch { advertised: 100 })
        );
        // Longer: the chunk that passes the size is neither written nor followed, and the
        // fetch ends while the upstream would still be sending.
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (tx, stream) = fed(None);
        let task =
            tokio::spawn(async move { writer.tee(stream, 10_000_000, Some(100), "00").await });
        tx.send(Ok(Bytes::from(vec![b'x'; 60])))
            .await
            .expect("send");
        tx.send(Ok(Bytes::from(vec![b'y'; 60])))
            .await
            .expect("send");
        assert_eq!(
            task.await.expect("task"),
            Err(FetchFailure::SizeMismatch { advertised: 100 })
        );
        assert!(std::fs::metadata(fetch.path()).expect("temp").len() <= 100);
        assert!(collect(fetch.follow()).await.is_err());
        drop(tx);
        // Shorter, with the right sha256 of what came: still refused.
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let (tx, stream) = fed(None);
        let expected = sha(b"abc");
        let task = tokio::spawn(async move { writer.tee(stream, 100, Some(4), &expected).await });
        tx.send(Ok(Bytes::from_static(b"abc"))).await.expect("send");
        drop(tx);
        assert_eq!(
            task.await.expect("task"),
            Err(FetchFailure::SizeMismatch { advertised: 4 })
        );
        assert!(collect(fetch.follow()).await.is_err());
    }

    /// The task completes with no follower at all (a client that went away), and the temp file
    /// stays until the last holder lets go, then is removed.
    #[tokio::test]
    async fn the_fetch_completes_without_followers_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (fetch, writer) = new_fetch(dir.path()).expect("fetch");
        let follower = fetch.follow();
        drop(follower); // the client went away
        let (tx, stream) = fed(None);
        let expected = sha(b"abc");
        let task = tokio::spawn(async move { writer.tee(stream, 100, None, &expected).await });
        tx.send(Ok(Bytes::from_static(b"abc"))).await.expect("send");
        drop(tx);
        assert_eq!(task.await.expect("task"), Ok(3));
        let path = fetch.path().to_path_buf();
        assert_eq!(std::fs::read(&path).expect("temp file"), b"abc");
        drop(fetch);
        assert!(!path.exists());
    }

    /// Two requests for one sha256: one fetch, the second joins it.
    #[tokio::test]
    async fn one_fetch_per_sha256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fetches = Fetches::default();
        let first = fetches
            .join_or_start("aa", || new_fetch(dir.path()))
            .expect("first");
        let second = fetches
            .join_or_start("aa", || panic!("a second fetch was started"))
            .expect("second");
        match (first, second) {
            (Joined::Started(a, _), Joined::Running(b)) => assert!(Arc::ptr_eq(&a, &b)),
            _ => panic!("expected one start and one join"),
        }
        assert_eq!(fetches.len(), 1);
        fetches.finish("aa");
        assert!(fetches.running("aa").is_none());
    }
}
