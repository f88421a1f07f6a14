//! Downloads of kept upstream files, held in memory and written in batches: a download (or a
//! 304) of a kept file records its sha256 and time here (a short lock, no I/O, no task), the
//! download log's flush loop writes them every `download_log::FLUSH_EVERY` in one transaction,
//! and eviction writes them first so it sees every recent download. Repeats of one file
//! between two flushes fold into one entry (the latest time); at most [`TOUCHES_MAX`] files
//! are held, further ones are dropped and counted (such a file only looks older to eviction
//! than it is: eviction stays least-recently-used-ish, never wrong about what is referenced).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Distinct files held between two flushes at most.
pub const TOUCHES_MAX: usize = 10_000;

/// The touches waiting for a flush.
#[derive(Debug, Clone)]
pub struct UpstreamTouches {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    at: Mutex<HashMap<String, i64>>,
    /// Held from a flush's `take` to its commit: a flush made before eviction waits for one in
    /// progress, so eviction never reads the order while taken touches are not yet written.
    flushing: tokio::sync::Mutex<()>,
    capacity: usize,
    dropped: AtomicU64,
}

impl Default for UpstreamTouches {
    fn default() -> UpstreamTouches {
        UpstreamTouches::with_capacity(TOUCHES_MAX)
    }
}

impl UpstreamTouches {
    /// At most `capacity` distinct files between two flushes.
    pub fn with_capacity(capacity: usize) -> UpstreamTouches {
        UpstreamTouches {
            inner: Arc::new(Inner {
                at: Mutex::new(HashMap::new()),
                flushing: tokio::sync::Mutex::new(()),
                capacity,
                dropped: AtomicU64::new(0),
            }),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // A poisoned lock still holds a whole map (inserts do not panic midway).
        self.inner
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A download of the file `sha256` at `at` (µs). False when it was dropped (full).
    pub fn record(&self, sha256: &str, at: i64) -> bool {
        let mut map = self.map();
        if let Some(t) = map.get_mut(sha256) {
            *t = (*t).max(at);
            return true;
        }
        if map.len() >= self.inner.capacity {
            drop(map);
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        map.insert(sha256.to_owned(), at);
        true
    }

    /// Held by one flush at a time, from taking the touches to writing them.
    pub async fn flush_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.flushing.lock().await
    }

    /// Everything held (the map emptied), sorted by sha256 (a stable lock order for writers).
    pub fn take(&self) -> Vec<(String, i64)> {
        let mut out: Vec<(String, i64)> = std::mem::take(&mut *self.map()).into_iter().collect();
        out.sort_unstable();
        out
    }

    /// A batch the database refused goes back (what no longer fits is dropped and counted).
    pub fn put_back(&self, batch: Vec<(String, i64)>) {
        let mut lost = 0;
        for (sha256, at) in batch {
            if !self.record(&sha256, at) {
                lost += 1;
            }
        }
        if lost > 0 {
            tracing::warn!(
                lost,
                "upstream cache: download times dropped (the database is slow or unreachable)"
            );
        }
    }

    /// Files waiting for a flush now.
    pub fn pending(&self) -> usize {
        self.map().len()
    }

    /// Touches dropped since start (too many files between two flushes).
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_fold_into_the_latest_time() {
        let t = UpstreamTouches::default();
        assert!(t.record("aa", 10));
        assert!(t.record("aa", 30));
        assert!(t.record("aa", 20));
        assert!(t.record("bb", 5));
        assert_eq!(t.take(), [("aa".to_owned(), 30), ("bb".to_owned(), 5)]);
        assert_eq!(t.pending(), 0);
        assert!(t.take().is_empty());
    }

    #[test]
    fn the_bound_drops_new_files_but_still_moves_held_ones() {
        let t = UpstreamTouches::with_capacity(2);
        assert!(t.record("aa", 1));
        assert!(t.record("bb", 1));
        assert!(!t.record("cc", 1));
        assert!(t.record("aa", 9));
        assert_eq!(t.dropped(), 1);
        assert_eq!(t.pending(), 2);
        let batch = t.take();
        assert!(t.record("dd", 1));
        // Put back after a failed write: one of the two no longer fits.
        t.put_back(batch);
        assert_eq!(t.pending(), 2);
        assert_eq!(t.dropped(), 2);
    }
}
