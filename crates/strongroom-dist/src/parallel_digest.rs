//! The three upload digests computed on two threads: SHA-256 (the slowest without SHA-NI) on a
//! helper thread, MD5 and BLAKE2b-256 on the caller's. Chunks are shared, not copied, so a
//! reference-counted buffer (e.g. `bytes::Bytes`) makes this cost one clone per chunk.

use std::io;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

use blake2::Blake2b256;
use md5::Md5;
use sha2::Digest as _;

use crate::Digests;

/// A [`crate::Hasher`] that spreads the work over two threads.
pub struct ParallelHasher<T: AsRef<[u8]> + Clone + Send + 'static> {
    md5: Md5,
    blake2b: Blake2b256,
    tx: Option<SyncSender<T>>,
    sha256: Option<JoinHandle<[u8; 32]>>,
}

impl<T: AsRef<[u8]> + Clone + Send + 'static> std::fmt::Debug for ParallelHasher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ParallelHasher { .. }")
    }
}

impl<T: AsRef<[u8]> + Clone + Send + 'static> ParallelHasher<T> {
    /// Start the helper thread.
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = sync_channel::<T>(64);
        let sha256 = std::thread::Builder::new()
            .name("sha256".into())
            .spawn(move || {
                let mut h = ring::digest::Context::new(&ring::digest::SHA256);
                for chunk in rx {
                    h.update(chunk.as_ref());
                }
                crate::digest::sha256_bytes(h)
            })?;
        Ok(ParallelHasher {
            md5: Md5::new(),
            blake2b: Blake2b256::new(),
            tx: Some(tx),
            sha256: Some(sha256),
        })
    }

    /// Feed a chunk.
    pub fn update(&mut self, chunk: &T) -> io::Result<()> {
        if let Some(tx) = &self.tx {
            tx.send(chunk.clone())
                .map_err(|_| io::Error::other("sha256 thread ended early"))?;
        }
        self.md5.update(chunk.as_ref());
        self.blake2b.update(chunk.as_ref());
        Ok(())
    }

    /// Finish both threads and return the digests.
    pub fn finish(mut self) -> io::Result<Digests> {
        drop(self.tx.take());
        let sha256 = self
            .sha256
            .take()
            .ok_or_else(|| io::Error::other("sha256 thread missing"))?
            .join()
            .map_err(|_| io::Error::other("sha256 thread panicked"))?;
        Ok(Digests {
            md5: self.md5.finalize().into(),
            sha256,
            blake2b_256: self.blake2b.finalize().into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn same_digests_as_the_one_thread_hasher() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut one = crate::Hasher::new();
        one.update(&data);
        let mut two = ParallelHasher::<Arc<[u8]>>::new().expect("thread");
        for chunk in data.chunks(65_536) {
            two.update(&Arc::<[u8]>::from(chunk)).expect("update");
        }
        assert_eq!(two.finish().expect("finish"), one.finish());
        let empty = ParallelHasher::<Arc<[u8]>>::new()
            .expect("thread")
            .finish()
            .expect("finish");
        assert_eq!(empty, crate::Hasher::new().finish());
    }
}
