//! PEP 658 metadata fetched and checked while its file was not kept yet (an installer reads
//! the metadata first, the file later): held, as its fetch's temp file, until the file is kept,
//! which then keeps it from there instead of asking the upstream for it a second time. Bounded:
//! at most [`MAX_HELD`] files of [`MAX_HELD_BYTES`] in all, each for [`HOLD_FOR`]; what does not
//! fit is simply not held (the keep then fetches it again, as before). A failed fetch of the
//! file lets its held metadata go at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::tee::Fetch;

/// Metadata files held at most.
pub(crate) const MAX_HELD: usize = 512;
/// Their bytes at most (on disk, in the temp folder).
pub(crate) const MAX_HELD_BYTES: u64 = 64 * 1024 * 1024;
/// How long one is held for its file's keep.
pub(crate) const HOLD_FOR: Duration = Duration::from_secs(600);

struct Held {
    fetch: Arc<Fetch>,
    metadata_sha256: String,
    bytes: u64,
    until: Instant,
}

/// The held metadata, by the sha256 of its file.
#[derive(Clone, Default)]
pub(crate) struct UnkeptMetadata {
    inner: Arc<Mutex<HashMap<String, Held>>>,
}

impl std::fmt::Debug for UnkeptMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnkeptMetadata")
            .field("held", &self.lock().len())
            .finish()
    }
}

impl UnkeptMetadata {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hold `fetch` (complete and checked: `bytes` bytes hashing to `metadata_sha256`) for the
    /// keep of the file `file_sha256`, at `now`. False when it does not fit.
    pub(crate) fn hold(
        &self,
        file_sha256: &str,
        metadata_sha256: &str,
        fetch: Arc<Fetch>,
        bytes: u64,
        now: Instant,
    ) -> bool {
        let mut map = self.lock();
        map.retain(|_, h| h.until > now);
        let total: u64 = map
            .iter()
            .filter(|(k, _)| k.as_str() != file_sha256)
            .map(|(_, h)| h.bytes)
            .sum();
        if (map.len() >= MAX_HELD && !map.contains_key(file_sha256))
            || total.saturating_add(bytes) > MAX_HELD_BYTES
        {
            return false;
        }
        map.insert(
            file_sha256.to_owned(),
            Held {
                fetch,
                metadata_sha256: metadata_sha256.to_owned(),
                bytes,
                until: now + HOLD_FOR,
            },
        );
        true
    }

    /// The held metadata of the file `file_sha256`, if it is the one its page advertises now
    /// (`metadata_sha256`) and still held at `now`; no longer held afterwards.
    pub(crate) fn take(
        &self,
        file_sha256: &str,
        metadata_sha256: &str,
        now: Instant,
    ) -> Option<Arc<Fetch>> {
        let held = self.lock().remove(file_sha256)?;
        (held.until > now && held.metadata_sha256 == metadata_sha256).then_some(held.fetch)
    }

    /// The file `file_sha256` could not be kept: its metadata is not held for it any longer.
    pub(crate) fn forget(&self, file_sha256: &str) {
        self.lock().remove(file_sha256);
    }

    /// How many are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream_files::tee::new_fetch;

    fn fetch(dir: &std::path::Path) -> Arc<Fetch> {
        new_fetch(dir).expect("fetch").0
    }

    #[test]
    fn held_metadata_is_taken_once_and_only_with_the_advertised_sha256() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = UnkeptMetadata::default();
        let now = Instant::now();
        let f = fetch(dir.path());
        let path = f.path().to_path_buf();
        assert!(held.hold("aa", "m1", f, 10, now));
        assert!(held.take("aa", "other", now).is_none(), "another sha256");
        assert!(
            held.take("aa", "m1", now).is_none(),
            "dropped by the refusal"
        );
        // the temp file went with it
        assert!(!path.exists());
        assert!(held.hold("aa", "m1", fetch(dir.path()), 10, now));
        assert!(held.take("aa", "m1", now).is_some());
        assert!(held.take("aa", "m1", now).is_none(), "taken once");
        assert!(held.hold("aa", "m1", fetch(dir.path()), 10, now));
        held.forget("aa");
        assert_eq!(held.len(), 0);
    }

    #[test]
    fn the_bounds_hold_and_old_ones_expire() {
        let dir = tempfile::tempdir().expect("tempdir");
        let held = UnkeptMetadata::default();
        let now = Instant::now();
        assert!(held.hold("aa", "m", fetch(dir.path()), MAX_HELD_BYTES - 5, now));
        assert!(
            !held.hold("bb", "m", fetch(dir.path()), 10, now),
            "past the bytes"
        );
        assert!(held.hold("bb", "m", fetch(dir.path()), 5, now));
        let later = now + HOLD_FOR + Duration::from_secs(1);
        assert!(held.take("bb", "m", later).is_none(), "expired");
        assert!(
            held.hold("cc", "m", fetch(dir.path()), 10, later),
            "aa expired too"
        );
        assert_eq!(held.len(), 1);
        for i in 0..MAX_HELD - 1 {
            assert!(held.hold(&format!("k{i}"), "m", fetch(dir.path()), 1, later));
        }
        assert!(
            !held.hold("zz", "m", fetch(dir.path()), 1, later),
            "past the count"
        );
    }
}
