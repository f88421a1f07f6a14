//! Reading a blob from the local folder for a download: large reads (1 MiB) on the blocking
//! pool straight into the chunk handed to hyper (no copy through tokio's file buffer), with the
//! next chunk read while the current one is written. Bounded: at most [`LARGE_READERS`]
//! downloads read 1 MiB chunks at once; any further download reads [`SMALL_CHUNK`] chunks. A
//! download holds at most four chunks' buffers: the one being read, and the last three handed
//! out (hyper may still be writing one or two; the digest check, `blob_check`, holds one back),
//! so read buffers stay under `LARGE_READERS × 4 MiB + connections × 4 × 128 KiB` however many
//! downloads run.
//!
//! Each chunk read is one blocking-pool task, and a download yields its async thread between
//! two chunks, so pages are answered between any two chunks of every download.
//!
//! A download reads into the buffers of its own chunks once nobody else holds them
//! (`Reader::hand_out`, `Reader::reusable`), so a large file costs a few buffers, not one per
//! chunk: with a fresh megabyte per chunk, the allocator kept the freed ones until its decay,
//! which the process's resident memory showed (docs/benchmarks.md, the evening of 2026-12-07).

use std::collections::VecDeque;
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
    /// Chunk buffers allocated (not read into again) by the downloads this limits, ever.
    fresh: AtomicUsize,
}

static LARGE: Large = Large {
    in_use: AtomicUsize::new(0),
    max: LARGE_READERS,
    fresh: AtomicUsize::new(0),
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

/// How many of its handed-out chunks a download keeps a handle on (the newest ones), to read
/// into again once nobody else holds one: hyper asks for the next chunk while up to its buffer
/// size of the last one is still queued, and the digest check (`blob_check`) holds one back.
const SPENT_KEPT: usize = 3;

struct Reader {
    file: Arc<std::fs::File>,
    /// Bytes not yet asked of the blocking pool.
    left: u64,
    chunk: usize,
    ahead: Option<JoinHandle<std::io::Result<Bytes>>>,
    /// Handles on the last chunks handed out, oldest first.
    spent: VecDeque<Bytes>,
    /// The buffer of a written chunk (nobody else held it), emptied, for the next read.
    free: Option<Vec<u8>>,
    large: &'static Large,
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
        let reuse = self.reusable();
        if reuse.is_none() {
            self.large.fresh.fetch_add(1, Ordering::Relaxed);
        }
        Some(tokio::task::spawn_blocking(move || {
            let mut buf = reuse.unwrap_or_default();
            buf.reserve_exact(usize::try_from(n).unwrap_or(0));
            // `Take` over `&File` reads into the spare capacity without zeroing it first.
            (&*file).take(n).read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        }))
    }

    /// A buffer nobody else holds: the free one, or a handed-out chunk's once written.
    fn reusable(&mut self) -> Option<Vec<u8>> {
        if let Some(v) = self.free.take() {
            return Some(v);
        }
        let at = self.spent.iter().position(Bytes::is_unique)?;
        self.spent.remove(at).and_then(emptied)
    }

    /// Keep a handle on `chunk`, handed out now. A written chunk becomes the free buffer
    /// before the oldest handle is let go, so the newest chunks being held elsewhere (hyper
    /// still writing one, the digest check holding one back) never cost a reuse.
    fn hand_out(&mut self, chunk: &Bytes) {
        if self.free.is_none()
            && let Some(at) = self.spent.iter().position(Bytes::is_unique)
        {
            self.free = self.spent.remove(at).and_then(emptied);
        }
        if self.spent.len() >= SPENT_KEPT {
            self.spent.pop_front();
        }
        self.spent.push_back(chunk.clone());
    }
}

/// The buffer of `b`, emptied, when no other handle on it is left.
fn emptied(b: Bytes) -> Option<Vec<u8>> {
    let mut m = b.try_into_mut().ok()?;
    // emptied first: the conversion moves the bytes it holds to the buffer's start
    m.clear();
    Some(Vec::from(m))
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
        spent: VecDeque::with_capacity(SPENT_KEPT),
        free: None,
        large,
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
                r.hand_out(&b);
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
            fresh: AtomicUsize::new(0),
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

    /// Six chunks of `data`'s file, each dropped once copied (as hyper does once it has
    /// written one), through the digest check or not: the bytes, and the buffers allocated.
    async fn drain(body: BlobBody, large: &Large) -> (Vec<u8>, usize, usize) {
        let before = large.fresh.load(Ordering::Relaxed);
        let mut b = body;
        let (mut out, mut chunks) = (Vec::new(), 0);
        while let Some(c) = b.next().await {
            out.extend_from_slice(&c.expect("chunk"));
            chunks += 1;
        }
        (out, chunks, large.fresh.load(Ordering::Relaxed) - before)
    }

    #[tokio::test]
    async fn written_chunks_are_read_into_again_through_the_digest_check_too() {
        use sha2::Digest;
        let mut f = tempfile::tempfile().expect("tempfile");
        let data: Vec<u8> = (0..(LARGE_CHUNK * 5 + 3))
            .map(|i| u8::try_from(i % 253).unwrap_or(0))
            .collect();
        f.write_all(&data).expect("write");
        let large = limiter(LARGE_READERS);
        f.rewind().expect("rewind");
        let plain = body_with(large, f.try_clone().expect("clone"), data.len() as u64);
        let (out, chunks, fresh) = drain(plain, large).await;
        assert_eq!((out == data, chunks), (true, 6));
        assert!(fresh <= 3, "{fresh} buffers for {chunks} chunks");
        f.rewind().expect("rewind");
        let sha = hex::encode(sha2::Sha256::digest(&data));
        let body = body_with(large, f.try_clone().expect("clone"), data.len() as u64);
        let checked = crate::blob_check::verified_body(body, data.len() as u64, sha, |_| {});
        let (out, chunks, fresh) = drain(checked, large).await;
        assert_eq!((out == data, chunks), (true, 6));
        assert!(
            fresh <= 4,
            "{fresh} buffers for {chunks} chunks behind the check"
        );
        // Every chunk held: none is read into again, each keeps its bytes.
        f.rewind().expect("rewind");
        let before = large.fresh.load(Ordering::Relaxed);
        let mut b = body_with(large, f, data.len() as u64);
        let mut held = Vec::new();
        while let Some(c) = b.next().await {
            held.push(c.expect("chunk"));
        }
        assert_eq!(large.fresh.load(Ordering::Relaxed) - before, held.len());
        assert_eq!(held.concat(), data);
    }

    #[tokio::test]
    async fn only_a_chunk_nobody_else_holds_is_read_into_again() {
        let mut r = Reader {
            file: Arc::new(tempfile::tempfile().expect("tempfile")),
            left: 0,
            chunk: SMALL_CHUNK,
            ahead: None,
            spent: VecDeque::new(),
            free: None,
            large: limiter(1),
            _slot: None,
        };
        let chunk = |x: u8| Bytes::from(vec![x; 64]);
        let (a, b, c, d) = (chunk(1), chunk(2), chunk(3), chunk(4));
        for x in [&a, &b, &c, &d] {
            r.hand_out(x);
        }
        assert_eq!(r.spent.len(), SPENT_KEPT, "the oldest handle let go");
        assert!(r.reusable().is_none(), "every chunk still held");
        drop(a);
        assert!(r.reusable().is_none(), "a's handle was let go: not reused");
        let pb = b.as_ptr();
        drop(b);
        let v = r.reusable().expect("b is free");
        assert_eq!((v.as_ptr(), v.capacity() >= 64, v.len()), (pb, true, 0));
        assert!(r.reusable().is_none(), "c and d are still held");
        // A written chunk is kept as the free buffer when the next is handed out, even as
        // its handle is the oldest one let go.
        let pc = c.as_ptr();
        drop(c);
        let (e, f) = (chunk(5), chunk(6));
        r.hand_out(&e);
        r.hand_out(&f);
        let v = r.reusable().expect("c's buffer kept free");
        assert_eq!(v.as_ptr(), pc);
        assert_eq!(d.as_ref(), &[4u8; 64][..], "a held chunk keeps its bytes");
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
