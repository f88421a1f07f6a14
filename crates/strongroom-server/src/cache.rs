//! Rendered pages kept in memory. Keys are made only of what the index controls (page kind,
//! project, format, canonical version), never of a request header. A page is valid for one
//! serial ([`PageCache::get`], read against a serial the caller knows) or, for the local
//! project pages and `/simple/`, until invalidated ([`PageCache::get_fresh`]: no database read,
//! see `freshness`). The cache is bounded in bytes (body, gzip copy, key) and evicts with
//! CLOCK (second chance): a page read since the hand last passed survives one more round, so
//! hot pages stay while a scan of cold ones pushes out only cold ones, and nothing is ever
//! flushed at once.
//!
//! Invalidation is race-free with rendering: a renderer takes a [`PageCache::ticket`] before it
//! reads the database, and [`PageCache::put_fresh`] refuses the page when its project (or
//! everything) was invalidated after that ticket, or is being written by this process right
//! now (`mark_dirty`, until the write is seen committed: `settle`).
//!
//! A kept page itself (its body, compressed copies, ETag and cost in bytes) is `cache::page`;
//! what it is kept under (and looked up with) is `cache::key`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use strongroom_core::striped::Counter;

mod key;
mod page;
pub(crate) use key::{Key, MapKey, PageKey, Rider, SimpleKey};
pub(crate) use page::{CachedPage, UpstreamStamp, ZSTD_LEVEL, etag_of, format_tag};

/// Bookkeeping per entry, counted against the budget as the allocator holds it: the key's one
/// allocation (shared by the map, the clock's ring and its project's set), the map's slot and
/// control byte (a hash table is up to half empty after it grows), the key's pointer in the
/// ring and in the set (each up to half empty), the page's own allocation, and the headers of
/// the shared buffers a page holds (body, copies, `ETag`, each promoted to a shared allocation
/// when first served) with the allocator's rounding. Measured against the process's memory in
/// docs/benchmarks.md ("Server memory, where it goes").
const ENTRY_OVERHEAD: usize = heap_alloc(std::mem::size_of::<PageKey>() + 16)
    + 2 * (std::mem::size_of::<(MapKey, Slot)>() + 1)
    + 2 * 2 * (std::mem::size_of::<Key>() + 1)
    + heap_alloc(std::mem::size_of::<CachedPage>() + 16)
    + 4 * 32;

/// What the allocator (jemalloc, the binary's) holds for `len` bytes: the size class it is
/// rounded up to. Classes are 8, then multiples of 16 up to 128, then four per doubling (160,
/// 192, 224, 256, 320, ...), so a block wastes under a fifth of itself; no header sits beside it.
pub(super) const fn heap_alloc(len: usize) -> usize {
    if len == 0 {
        0
    } else if len <= 8 {
        8
    } else if len <= 128 {
        len.div_ceil(16) * 16
    } else {
        // a quarter of the largest power of two below `len`
        let step = (1usize << (usize::BITS - 1 - (len - 1).leading_zeros())) / 4;
        len.div_ceil(step) * step
    }
}

/// Invalidations remembered for [`PageCache::put_fresh`]: a page rendered over a longer span
/// than this many invalidations is not kept (it is served, and the next request renders again).
pub(crate) const INVALIDATION_LOG: usize = 4_096;

/// Projects this process is writing at most (beyond, every page waits for `settle`).
const DIRTY_CAP: usize = 10_000;

/// A journal entry not seen committed after this long was rolled back (an upload's
/// `check_publish` always is) or sits in a transaction left open: `settle` lets its project be
/// kept again (the catch-up read still invalidates it if it ever commits).
pub(crate) const DIRTY_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// What a key costs without its page: bookkeeping, the key's strings, and its project's name
/// again in the project index (shared by the project's pages, counted for each).
pub(super) fn key_cost(key: &PageKey) -> usize {
    ENTRY_OVERHEAD + 2 * heap_alloc(key.heap_bytes())
}

struct Slot {
    /// `None`: invalidated (a tombstone of `ENTRY_OVERHEAD` bytes until the hand passes).
    /// Shared with the requests it answers: a hit costs one reference count.
    page: Option<Arc<CachedPage>>,
    cost: usize,
    /// Read since the clock hand last passed (set by readers under the shared lock).
    referenced: AtomicBool,
}

#[derive(Default)]
struct Inner {
    /// hashbrown's map with its default hasher (foldhash, seeded at random per process, in
    /// place of SipHash: every page request hashes a key here), searched by a borrowed key
    /// (`SimpleKey`). Its keys are the index's own (names of projects that exist); a
    /// request's key only looks.
    map: hashbrown::HashMap<MapKey, Slot>,
    /// The clock: every key in `map` exactly once; the hand is the front.
    ring: VecDeque<Key>,
    bytes: usize,
    /// The keys in `map` of each project (`PageKey::project`).
    by_project: HashMap<String, HashSet<Key>>,
    /// Invalidations so far; the last [`INVALIDATION_LOG`] of them, oldest first (`None`:
    /// everything).
    tick: u64,
    log: VecDeque<(u64, Option<String>)>,
    /// Projects this process has journalled in a transaction not yet seen committed, with the
    /// highest serial; `dirty_all` the same for every project once `DIRTY_CAP` is reached.
    dirty: HashMap<String, (i64, std::time::Instant)>,
    dirty_all: Option<(i64, std::time::Instant)>,
}

impl Inner {
    fn tombstone(&mut self, key: &PageKey) {
        if let Some(slot) = self.map.get_mut(key)
            && slot.page.take().is_some()
        {
            let cost = key_cost(key);
            self.bytes = self.bytes - slot.cost + cost;
            slot.cost = cost;
            *slot.referenced.get_mut() = false;
        }
    }

    fn record(&mut self, project: Option<String>) {
        self.tick += 1;
        if self.log.len() == INVALIDATION_LOG {
            self.log.pop_front();
        }
        self.log.push_back((self.tick, project));
    }

    fn invalidate(&mut self, project: &str) {
        let keys: Vec<Key> = self
            .by_project
            .get(project)
            .map(|k| k.iter().cloned().collect())
            .unwrap_or_default();
        for k in &keys {
            self.tombstone(k);
        }
        for json in [false, true] {
            self.tombstone(&PageKey::Index { json });
        }
        self.tombstone(&PageKey::XmlRpcPackages);
        self.record(Some(project.to_owned()));
    }

    /// Whether a page under `key` rendered after `ticket` may be kept.
    fn may_keep(&self, key: &PageKey, ticket: u64) -> bool {
        if self.dirty_all.is_some() {
            return false;
        }
        if key.project().is_some_and(|p| self.dirty.contains_key(p))
            || (key.is_global() && !self.dirty.is_empty())
        {
            return false;
        }
        if self.tick == ticket {
            return true;
        }
        // the log must reach back to the ticket to tell
        if self.log.front().is_none_or(|(t, _)| *t > ticket + 1) {
            return false;
        }
        !self
            .log
            .iter()
            .rev()
            .take_while(|(t, _)| *t > ticket)
            .any(|(_, p)| match p {
                None => true,
                Some(p) => key.is_global() || key.project() == Some(p.as_str()),
            })
    }

    fn forget(&mut self, key: &PageKey) {
        if let Some(p) = key.project()
            && let Some(set) = self.by_project.get_mut(p)
        {
            set.remove(key);
            if set.is_empty() {
                self.by_project.remove(p);
            }
        }
    }
}

/// The cache.
pub(crate) struct PageCache {
    inner: RwLock<Inner>,
    max_bytes: usize,
    /// Lookups answered from the cache, and lookups that were not (for the metrics; striped,
    /// as every page request counts one).
    hits: Counter,
    misses: Counter,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("max_bytes", &self.max_bytes)
            .field("bytes", &self.bytes())
            .finish_non_exhaustive()
    }
}

impl PageCache {
    pub fn new(max_bytes: u64) -> PageCache {
        PageCache {
            inner: RwLock::new(Inner::default()),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            hits: Counter::default(),
            misses: Counter::default(),
        }
    }

    /// The page for `key` if it was rendered at `serial`.
    pub fn get(&self, key: &PageKey, serial: i64) -> Option<Arc<CachedPage>> {
        self.count(self.lookup(key, Some(serial)))
    }

    /// The page for `key` if it was kept and not invalidated since (`put_fresh`).
    pub fn get_fresh(&self, key: &PageKey) -> Option<Arc<CachedPage>> {
        self.count(self.lookup(key, None))
    }

    /// Count a miss found without a lookup (see [`PageCache::holds`]).
    pub fn note_miss(&self) {
        self.misses.add(1);
    }

    /// The page for `key` if it was rendered at `serial`: a second look after the fresh path
    /// declined. Nothing kept is not counted (the fresh path counted that miss); a page kept
    /// at another serial is a miss, one at `serial` a hit.
    pub fn get_held(&self, key: &PageKey, serial: i64) -> Option<Arc<CachedPage>> {
        let kept = self.lookup(key, None)?;
        self.count((kept.serial == serial).then_some(kept))
    }

    /// Count a hit found by [`PageCache::peek`].
    pub fn note_hit(&self) {
        self.hits.add(1);
    }

    /// The page kept under `key` (a [`PageKey`] or a [`SimpleKey`]), if any (marked read, but
    /// not counted as a hit or a miss: the caller decides whether it serves it).
    pub fn peek<Q>(&self, key: &Q) -> Option<Arc<CachedPage>>
    where
        Q: std::hash::Hash + hashbrown::Equivalent<MapKey> + ?Sized,
    {
        self.lookup(key, None)
    }

    fn count(&self, found: Option<Arc<CachedPage>>) -> Option<Arc<CachedPage>> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.add(1);
        found
    }

    fn lookup<Q>(&self, key: &Q, serial: Option<i64>) -> Option<Arc<CachedPage>>
    where
        Q: std::hash::Hash + hashbrown::Equivalent<MapKey> + ?Sized,
    {
        let inner = self.inner.read().ok()?;
        let slot = inner.map.get(key)?;
        let page = slot
            .page
            .as_ref()
            .filter(|p| serial.is_none_or(|s| p.serial == s))?;
        // a hot page's mark is already set: reading it leaves the line shared between cores
        if !slot.referenced.load(Ordering::Relaxed) {
            slot.referenced.store(true, Ordering::Relaxed);
        }
        Some(page.clone())
    }

    /// Hits and misses since start (for the metrics).
    pub fn hits_misses(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Take before reading what a page is rendered from; hand to [`PageCache::put_fresh`].
    pub fn ticket(&self) -> u64 {
        self.inner.read().map_or(0, |i| i.tick)
    }

    /// Keep a page rendered from what was read after `ticket`, unless its project (or every
    /// page) was invalidated since or is being written now; `false` when not kept.
    pub fn put_fresh(&self, key: PageKey, page: impl Into<Arc<CachedPage>>, ticket: u64) -> bool {
        let Ok(mut inner) = self.inner.write() else {
            return false;
        };
        if !inner.may_keep(&key, ticket) {
            return false;
        }
        self.put_in(&mut inner, key, page.into());
        true
    }

    /// Drop the pages of `project` (normalised name) and those listing every project.
    pub fn invalidate_project(&self, project: &str) {
        if let Ok(mut inner) = self.inner.write() {
            inner.invalidate(project);
        }
    }

    /// Drop every page kept by `put_fresh` (the journal went back, or too far to read).
    pub fn invalidate_all(&self) {
        if let Ok(mut inner) = self.inner.write() {
            let keys: Vec<Key> = inner
                .map
                .keys()
                .filter(|k| k.key.project().is_some() || k.key.is_global())
                .map(|k| k.key.clone())
                .collect();
            for k in &keys {
                inner.tombstone(k);
            }
            inner.record(None);
        }
    }

    /// This process journalled `project` at `serial` in a transaction still open: its pages
    /// go now and none is kept until [`PageCache::settle`] sees the serial committed.
    pub fn mark_dirty(&self, project: &str, serial: i64) {
        if let Ok(mut inner) = self.inner.write() {
            inner.invalidate(project);
            let now = std::time::Instant::now();
            if inner.dirty.len() >= DIRTY_CAP && !inner.dirty.contains_key(project) {
                let s = inner.dirty_all.map_or(serial, |(s, _)| s.max(serial));
                inner.dirty_all = Some((s, now));
            } else {
                let e = inner
                    .dirty
                    .entry(project.to_owned())
                    .or_insert((serial, now));
                *e = (e.0.max(serial), now);
            }
        }
    }

    /// Every journal entry up to `committed` is committed (or was rolled back): the projects
    /// written here up to it (or longer than `DIRTY_TTL` ago) are invalidated once more, now
    /// that the database shows the change, and may be kept again.
    pub fn settle(&self, committed: i64) {
        self.settle_at(committed, std::time::Instant::now());
    }

    fn settle_at(&self, committed: i64, now: std::time::Instant) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        let done_at = |(s, at): (i64, std::time::Instant)| {
            s <= committed || now.saturating_duration_since(at) > DIRTY_TTL
        };
        let done: Vec<String> = inner
            .dirty
            .iter()
            .filter(|(_, e)| done_at(**e))
            .map(|(p, _)| p.clone())
            .collect();
        for p in done {
            inner.dirty.remove(&p);
            inner.invalidate(&p);
        }
        if inner.dirty_all.is_some_and(done_at) {
            inner.dirty_all = None;
            drop(inner);
            self.invalidate_all();
        }
    }

    /// Remember a page; a page larger than the whole budget is not kept (and drops an older
    /// copy under the same key). Evicts unreferenced pages, oldest first, until within budget.
    pub fn put(&self, key: PageKey, page: impl Into<Arc<CachedPage>>) {
        if let Ok(mut inner) = self.inner.write() {
            self.put_in(&mut inner, key, page.into());
        }
    }

    fn put_in(&self, inner: &mut Inner, key: PageKey, page: Arc<CachedPage>) {
        let cost = page.cost(&key);
        // The same identity kept under another project (a `Download`, whose project rides
        // along: its project's name changed, as a removed project's names are freed): the old
        // entry goes wholly, so the new one is indexed under the project it belongs to now.
        // Also when the page is too large to keep.
        if let Some(old_key) = inner
            .map
            .get_key_value(&key)
            .map(|(k, _)| &k.key)
            .filter(|k| k.project() != key.project() || cost > self.max_bytes)
            .cloned()
        {
            if let Some(old) = inner.map.remove(&old_key) {
                inner.bytes -= old.cost;
            }
            inner.ring.retain(|k| !Arc::ptr_eq(k, &old_key));
            inner.forget(&old_key);
        }
        if cost > self.max_bytes {
            return;
        }
        match inner.map.get_mut(&key) {
            Some(slot) => {
                inner.bytes = inner.bytes - slot.cost + cost;
                slot.page = Some(page);
                slot.cost = cost;
                *slot.referenced.get_mut() = true;
            }
            None => {
                let key: Key = Arc::new(key.clone());
                inner.ring.push_back(key.clone());
                if let Some(p) = key.project() {
                    inner
                        .by_project
                        .entry(p.to_owned())
                        .or_default()
                        .insert(key.clone());
                }
                inner.map.insert(
                    MapKey::new(key),
                    Slot {
                        page: Some(page),
                        cost,
                        // unreferenced until read again: a scan of pages read once
                        // passes through without pushing out the ones read often
                        referenced: AtomicBool::new(false),
                    },
                );
                inner.bytes += cost;
            }
        }
        while inner.bytes > self.max_bytes {
            let Some(k) = inner.ring.pop_front() else {
                break;
            };
            // the page just put is passed over (it is being served now); the rest are
            // given a second chance if read since the hand last passed
            let keep = *k == key
                || inner
                    .map
                    .get_mut(&k)
                    .is_some_and(|s| std::mem::replace(s.referenced.get_mut(), false));
            if keep {
                inner.ring.push_back(k);
            } else if let Some(old) = inner.map.remove(&k) {
                inner.bytes -= old.cost;
                inner.forget(&k);
            }
        }
    }

    /// Bytes held now (pages, gzip copies, keys, bookkeeping).
    pub fn bytes(&self) -> usize {
        self.inner.read().map_or(0, |i| i.bytes)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.read().map_or(0, |i| i.map.len())
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
