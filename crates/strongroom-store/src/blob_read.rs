//! Reading a blob from the local folder for a download: large reads (1 MiB) on the blocking
//! pool straight into the chunk handed to hyper (no copy through tokio's file buffer), with the
//! next chunk read while the current one is written. Bounded: at most [`LARGE_READERS`]
//! downloads read 1 MiB chunks at once (two in memory each: the one being written and the one
//! read ahead); any further download reads [`SMALL_CHUNK`] chunks, so read buffers stay under
//! `LARGE_READERS × 2 MiB + connections × 2 × 128 KiB` however many downloads run.
//!
//! Each chunk read is one blocking-pool task, and a download yields its async thread between
//! two chunks, so pages are answered between any two chunks of every download.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::StoreError;
use crate::blobs::BlobBody;

/// The chunk of a download while fewer than [`LARGE_READERS`] read large chunks.
pub const LARGE_CHUNK: usize = 1024 * 1024;
/// The chunk of any further download.
pub const SMALL_CHUNK: usize = 128 * 1024;
/// How many downloads may read [`LARGE_CHUNK`]s at once.
pub const LARGE_READERS: usize = 16;

/// How many downloads read large chunks now, of at most `max`.
struct Large {
    in_use: AtomicUsize,
    max: usize,
}

static LARGE: Large = Large {
    in_use: AtomicUsize::new(0),
    max: LARGE_READERS,
};

/// A place among the large readers, given back when the download ends.
struct LargeSlot(&'static Large);

impl LargeSlot {
    fn take(large: &'static Large) -> Option<LargeSlot> {
        large
            .in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < large.max).then_some(n + 1)
            })
            .ok()
            .map(|_| LargeSlot(large))
    }
}

impl Drop for LargeSlot {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Reader {
    file: Arc<std::fs::File>,
    /// Bytes not yet asked of the blocking pool.
    left: u64,
    chunk: usize,
    ahead: Option<JoinHandle<std::io::Result<Bytes>>>,
    _slot: Option<LargeSlot>,
}

impl Reader {
    /// Start reading the next chunk (at the file's position: reads are never concurrent).
    fn start(&mut self) -> Option<JoinHandle<std::io::Result<Bytes>>> {
        if self.left == 0 {
            return None;
        }
        let n = u64::try_from(self.chunk).map_or(self.left, |c| c.min(self.left));
        self.left -= n;
        let file = self.file.clone();
        Some(tokio::task::spawn_blocking(move || {
            let mut buf = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
            // `Take` over `&File` reads into the spare capacity without zeroing it first.
            (&*file).take(n).read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        }))
    }
}

/// Files up to this size are read whole where they are opened ([`read_small`]).
pub const SMALL_FILE: u64 = 128 * 1024;

/// `len` bytes of `file` from its current position when `len` is at most [`SMALL_FILE`]
/// (fewer if the file is shorter: the caller's length or digest check sees it); `None` for a
/// larger part, which is streamed in chunks instead ([`file_body`]). Blocking.
pub(crate) fn read_small(file: &std::fs::File, len: u64) -> std::io::Result<Option<Bytes>> {
    if len > SMALL_FILE {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len).read_to_end(&mut buf)?;
    Ok(Some(Bytes::from(buf)))
}

/// `len` bytes of `file` from its current position, as a stream of chunks. A file shorter
/// than `len` ends the stream early (the caller's length or digest check sees it).
pub(crate) fn file_body(file: std::fs::File, len: u64) -> BlobBody {
    body_with(&LARGE, file, len)
}

fn body_with(large: &'static Large, file: std::fs::File, len: u64) -> BlobBody {
    let slot = LargeSlot::take(large);
    let chunk = if slot.is_some() {
        LARGE_CHUNK
    } else {
        SMALL_CHUNK
    };
    let reader = Reader {
        file: Arc::new(file),
        left: len,
        chunk,
        ahead: None,
        _slot: slot,
    };
    futures_util::stream::unfold(reader, |mut r| async move {
        let next = match r.ahead.take() {
            Some(h) => {
                // Between two chunks, let every other task run: a connection writing chunks
                // that the socket takes at once would otherwise hold its worker thread for
                // tokio's whole cooperative budget (128 writes, over 100 MB here), and page
                // requests on that thread would wait behind it (measured: 9,200 page req/s
                // alone, 140 beside 8 downloads).
                tokio::task::yield_now().await;
                h
            }
            None => r.start()?,
        };
        let read = match next.await {
            Ok(read) => read,
            Err(e) => return Some((Err(StoreError::Blob(format!("read task: {e}"))), r)),
        };
        match read {
            Ok(b) if b.is_empty() => None,
            Ok(b) => {
                if b.len() < r.chunk && r.left > 0 {
                    // The file ended early: nothing more to read.
                    r.left = 0;
                }
                r.ahead = r.start();
                Some((Ok(b), r))
            }
            Err(e) => {
                r.left = 0;
                Some((Err(StoreError::from(e)), r))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    async fn collect(b: BlobBody) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = b;
        while let Some(c) = b.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        out
    }

    fn limiter(max: usize) -> &'static Large {
        Box::leak(Box::new(Large {
            in_use: AtomicUsize::new(0),
            max,
        }))
    }

    #[tokio::test]
    async fn reads_a_part_or_the_whole_in_chunks_and_stops_at_a_short_file() {
        let mut f = tempfile::tempfile().expect("tempfile");
        let data: Vec<u8> = (0..(LARGE_CHUNK * 2 + 777))
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect();
        f.write_all(&data).expect("write");
        f.rewind().expect("rewind");
        let large = limiter(LARGE_READERS);
        let whole = collect(body_with(
            large,
            f.try_clone().expect("clone"),
            data.len() as u64,
        ))
        .await;
        assert_eq!(whole, data);
        f.seek(std::io::SeekFrom::Start(5)).expect("seek");
        let part = collect(body_with(large, f.try_clone().expect("clone"), 1000)).await;
        assert_eq!(part, data[5..1005]);
        // Asked for more than there is: the stream ends with what there was.
        f.seek(std::io::SeekFrom::Start(LARGE_CHUNK as u64 * 2))
            .expect("seek");
        let tail = collect(body_with(large, f, LARGE_CHUNK as u64 * 3)).await;
        assert_eq!(tail, data[LARGE_CHUNK * 2..]);
        assert_eq!(large.in_use.load(Ordering::Acquire), 0, "slots given back");
    }

    #[test]
    fn a_small_part_is_read_at_once_and_a_larger_one_is_left_to_the_stream() {
        let mut f = tempfile::tempfile().expect("tempfile");
        let data: Vec<u8> = (0..SMALL_FILE + 1)
            .map(|i| u8::try_from(i % 251).unwrap_or(0))
            .collect();
        f.write_all(&data).expect("write");
        f.rewind().expect("rewind");
        let whole = read_small(&f, SMALL_FILE).expect("read").expect("small");
        assert_eq!(whole.as_ref(), &data[..data.len() - 1]);
        assert_eq!(whole.len(), SMALL_FILE as usize);
        f.rewind().expect("rewind");
        assert!(read_small(&f, SMALL_FILE + 1).expect("read").is_none());
        // asked for more than is left: what there is (the digest check sees the rest missing)
        f.seek(std::io::SeekFrom::Start(SMALL_FILE - 9))
            .expect("seek");
        let tail = read_small(&f, 100).expect("read").expect("small");
        assert_eq!(tail.as_ref(), &data[data.len() - 10..]);
    }

    #[tokio::test]
    async fn downloads_past_the_large_readers_read_small_chunks() {
        let large = limiter(2);
        let slots: Vec<_> = (0..3).map_while(|_| LargeSlot::take(large)).collect();
        assert_eq!(slots.len(), 2);
        let mut f = tempfile::tempfile().expect("tempfile");
        f.write_all(&vec![1u8; SMALL_CHUNK * 2]).expect("write");
        f.rewind().expect("rewind");
        let mut b = body_with(large, f, (SMALL_CHUNK * 2) as u64);
        let first = b.next().await.expect("a chunk").expect("read");
        assert_eq!(first.len(), SMALL_CHUNK);
        drop(b);
        drop(slots);
        assert_eq!(large.in_use.load(Ordering::Acquire), 0);
    }
}
