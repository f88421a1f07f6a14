//! What the page cache knows without asking the database (issue 14): which projects changed,
//! and the upstream generation. Local project pages (`/simple/<p>/`, `/pypi/<p>/json`,
//! `/pypi/<p>/<v>/json`) and `/simple/` are served from the cache with no database read until
//! invalidated by:
//! - this process's own writes: the store's journal hook (`store::change_feed`) fires inside
//!   the transaction; the project's pages go at once and none is kept until a catch-up read
//!   sees the serial committed (staleness 0 for the server's own writes);
//! - other servers on PostgreSQL: `LISTEN` on the journal channel (the `NOTIFY` is sent at the
//!   writer's commit), reconnecting when the connection is lost;
//! - a catch-up read every [`CATCH_UP_EVERY`] (and on SQLite whenever `PRAGMA data_version`
//!   moves, checked every [`DATA_VERSION_EVERY`]): when the global serial moved, the journal
//!   rows since the last known serial are read in bounded batches and their projects
//!   invalidated, so a lost notification, or the admin CLI writing from another process, is
//!   seen within a second.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use strongroom_store::Db;
use strongroom_store::change_feed::{self, CATCH_UP_BATCH, JournalHook};

use crate::cache::PageCache;

/// The longest a change on another server (or process) goes unseen by the catch-up read.
pub(crate) const CATCH_UP_EVERY: Duration = Duration::from_millis(500);
/// How often `PRAGMA data_version` is read on SQLite.
pub(crate) const DATA_VERSION_EVERY: Duration = Duration::from_millis(100);
/// On SQLite, requests look at the write-ahead log's stamp (a `stat`) at most this often: a
/// write by another process (the admin CLI) is seen by the first request this long after it,
/// and a busy server does not pay a system call for every cached page.
pub(crate) const WAL_LOOK_EVERY_MS: u64 = 20;
/// Cached pages are served without a database read only while the last catch-up read began
/// at most this long ago: the bound on staleness across servers and processes.
pub const STALENESS_BOUND: Duration = Duration::from_secs(1);
/// Batches of journal rows one catch-up reads at most before dropping every page instead.
const MAX_BATCHES: usize = 20;

/// The known serial and generation, and the cache they invalidate.
#[derive(Debug)]
pub(crate) struct Freshness {
    cache: Arc<PageCache>,
    /// The journal serial up to which every entry has been read (and its project invalidated).
    serial: AtomicI64,
    /// The upstream generation last read.
    generation: AtomicI64,
    /// A generation this process bumped in a transaction not yet seen committed (0: none), and
    /// when (ms from `born`): one not seen after `cache::DIRTY_TTL` was rolled back (an
    /// upload's `check_publish` always is) and is let go.
    generation_pending: AtomicI64,
    generation_pending_ms: AtomicU64,
    born: std::time::Instant,
    /// SQLite: the write-ahead log's stamp as last caught up with; a request that finds it
    /// moved catches up first (so an admin CLI's write is seen by the next request).
    wal: Option<strongroom_store::change_feed::WalStamp>,
    wal_seen: std::sync::Mutex<strongroom_store::change_feed::Stamp>,
    /// Milliseconds from `born` to the last look at the log's stamp.
    wal_looked_ms: AtomicU64,
    /// One catch-up at a time.
    catching_up: tokio::sync::Mutex<()>,
    /// Milliseconds from `born` to the start of the last catch-up read that succeeded.
    caught_up_ms: AtomicU64,
}

impl Freshness {
    pub(crate) fn new(
        cache: Arc<PageCache>,
        marks: change_feed::ChangeMarks,
        wal: Option<change_feed::WalStamp>,
    ) -> Freshness {
        Freshness {
            wal_seen: std::sync::Mutex::new(wal.as_ref().and_then(change_feed::WalStamp::read)),
            wal,
            wal_looked_ms: AtomicU64::new(0),
            catching_up: tokio::sync::Mutex::new(()),
            cache,
            serial: AtomicI64::new(marks.serial),
            generation: AtomicI64::new(marks.generation),
            generation_pending: AtomicI64::new(0),
            generation_pending_ms: AtomicU64::new(0),
            born: std::time::Instant::now(),
            caught_up_ms: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether what the cache holds may be served without asking the database: the last
    /// catch-up read began within [`STALENESS_BOUND`] (a server that cannot read its journal
    /// serves from the database).
    pub(crate) fn trusted(&self) -> bool {
        self.trusted_at(self.now_ms())
    }

    /// [`Freshness::trusted`] at `now` (ms from `born`).
    fn trusted_at(&self, now: u64) -> bool {
        let bound = u64::try_from(STALENESS_BOUND.as_millis()).unwrap_or(u64::MAX);
        now.saturating_sub(self.caught_up_ms.load(Ordering::Acquire)) <= bound
    }

    /// The page under `key`, when it may be served without a database read (on SQLite, after
    /// catching up first when the write-ahead log moved since the last catch-up). Nothing kept
    /// under `key` is `None` at once: no catch-up could make a page servable, and the caller
    /// reads the database anyway (a cold page after every write does not pay for one). While
    /// this process's own generation bump (an upstream rule, an advisory import) is not seen
    /// committed, no page is served from the cache: any of them may have changed, and the
    /// next catch-up drops them all.
    pub(crate) async fn page(
        &self,
        db: &Db,
        key: &crate::cache::PageKey,
    ) -> Option<std::sync::Arc<crate::cache::CachedPage>> {
        // One lookup in the common case: what is kept now is what is served, unless a
        // catch-up runs first (it may drop the page: looked up again after it).
        let Some(found) = self.cache.peek(key) else {
            self.cache.note_miss();
            return None;
        };
        let caught_up = self.wal_moved();
        if caught_up && self.catch_up(db).await.is_err() {
            return None;
        }
        if self.generation_pending.load(Ordering::Acquire) != 0 || !self.trusted() {
            return None;
        }
        if caught_up {
            self.cache.get_fresh(key)
        } else {
            self.cache.note_hit();
            Some(found)
        }
    }

    /// The page under `key` when [`Freshness::page`] would serve it without waiting for
    /// anything: kept, trusted, and the write-ahead log as the last catch-up left it (looked at
    /// here when a look is due: `None` when it moved, and the caller then asks
    /// [`Freshness::page`], which catches up). Nothing is counted here: a caller that serves
    /// the page counts the hit (`PageCache::note_hit`).
    pub(crate) fn page_now<Q>(&self, key: &Q) -> Option<std::sync::Arc<crate::cache::CachedPage>>
    where
        Q: std::hash::Hash + hashbrown::Equivalent<crate::cache::MapKey> + ?Sized,
    {
        let now = self.now_ms();
        if self.wal.is_some()
            && now.saturating_sub(self.wal_looked_ms.load(Ordering::Relaxed)) >= WAL_LOOK_EVERY_MS
            && !self.wal_unmoved_at(now)
        {
            return None;
        }
        if self.generation_pending.load(Ordering::Acquire) != 0 || !self.trusted_at(now) {
            return None;
        }
        // counted by the caller, which may still decline it (an upstream project's page)
        self.cache.peek(key)
    }

    /// Whether the write-ahead log is as the last catch-up left it, looked at now (a `stat`).
    /// The look is remembered only then: a moved log is left for [`Freshness::page`], whose own
    /// look ([`Freshness::wal_moved`]) then finds it due and catches up before it serves.
    /// Without this, a request came to the front door more than [`WAL_LOOK_EVERY_MS`] after
    /// the router's last look (any server with requests further apart than that) and always
    /// took the router.
    fn wal_unmoved_at(&self, now: u64) -> bool {
        let Some(wal) = &self.wal else { return true };
        let unmoved = self.wal_as_seen(wal);
        if unmoved {
            self.wal_looked_ms.fetch_max(now, Ordering::Relaxed);
        }
        unmoved
    }

    /// Whether the write-ahead log is as the last catch-up saw it.
    fn wal_as_seen(&self, wal: &change_feed::WalStamp) -> bool {
        let now = wal.read();
        *self
            .wal_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            == now
    }

    fn wal_moved(&self) -> bool {
        let Some(wal) = &self.wal else { return false };
        let at = self.now_ms();
        let last = self.wal_looked_ms.load(Ordering::Relaxed);
        if at.saturating_sub(last) < WAL_LOOK_EVERY_MS
            || self
                .wal_looked_ms
                .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            // looked at just now (by this request's neighbour)
            return false;
        }
        !self.wal_as_seen(wal)
    }

    /// The upstream generation, when known without a database read (`None` while this
    /// process's own bump is not yet seen committed).
    pub(crate) fn generation(&self) -> Option<i64> {
        (self.generation_pending.load(Ordering::Acquire) == 0)
            .then(|| self.generation.load(Ordering::Acquire))
    }

    /// A notification from another server (or this one, at commit): `<serial> <project>`.
    pub(crate) fn notified(&self, payload: &str) {
        if let Some(g) = change_feed::parse_generation(payload) {
            // every project's documents may have changed (advisories, upstream rules)
            if self.generation.fetch_max(g, Ordering::AcqRel) < g {
                self.cache.invalidate_all();
            }
            return;
        }
        if let Some((serial, project)) = change_feed::parse_payload(payload) {
            self.cache
                .invalidate_project(&strongroom_protocol::name::normalize(project));
            // serials commit in order: everything up to this one is settled
            self.cache.settle(serial);
        }
    }

    /// Read the global serial and generation; when the serial moved, invalidate the projects
    /// of the journal rows since the last known one.
    pub(crate) async fn catch_up(&self, db: &Db) -> Result<(), strongroom_store::StoreError> {
        let _one = self.catching_up.lock().await;
        let began = self.now_ms();
        // stamped before the read: a commit after it moves the stamp again
        let stamp = self.wal.as_ref().map(change_feed::WalStamp::read);
        self.catch_up_read(db, began).await?;
        if let Some(stamp) = stamp {
            *self
                .wal_seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = stamp;
        }
        Ok(())
    }

    async fn catch_up_read(&self, db: &Db, began: u64) -> Result<(), strongroom_store::StoreError> {
        let marks = db.change_marks().await?;
        let mut at = self.serial.load(Ordering::Acquire);
        if marks.serial < at {
            // the journal went back (a restore): nothing kept can be trusted
            self.cache.invalidate_all();
            at = marks.serial;
        }
        let mut batches = 0;
        while at < marks.serial {
            if batches == MAX_BATCHES {
                self.cache.invalidate_all();
                at = marks.serial;
                break;
            }
            let rows = db.journal_projects_since(at, CATCH_UP_BATCH).await?;
            let Some(&(last, _)) = rows.last() else { break };
            for (_, project) in &rows {
                self.cache
                    .invalidate_project(&strongroom_protocol::name::normalize(project));
            }
            at = last;
            batches += 1;
        }
        self.serial.store(at, Ordering::Release);
        self.cache.settle(marks.serial);
        // a new generation changes documents of every project (advisory imports change
        // `vulnerabilities` without a journal entry): nothing kept under the old one is served
        if self.generation.swap(marks.generation, Ordering::AcqRel) != marks.generation {
            self.cache.invalidate_all();
        }
        let pending = self.generation_pending.load(Ordering::Acquire);
        let pending_for = began.saturating_sub(self.generation_pending_ms.load(Ordering::Acquire));
        if pending != 0 && pending_settled(pending, marks.generation, pending_for) {
            let _ = self.generation_pending.compare_exchange(
                pending,
                0,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
        self.caught_up_ms.fetch_max(began, Ordering::AcqRel);
        Ok(())
    }
}

/// Whether a generation this process bumped `age_ms` ago no longer holds pages back: seen
/// committed (`committed` reached it), or not seen for longer than `cache::DIRTY_TTL`, so rolled
/// back (an upload's `check_publish` always is) or left open; if it ever commits, the catch-up
/// that reads it still drops every page.
fn pending_settled(pending: i64, committed: i64, age_ms: u64) -> bool {
    let ttl = u64::try_from(crate::cache::DIRTY_TTL.as_millis()).unwrap_or(u64::MAX);
    pending <= committed || age_ms > ttl
}

impl JournalHook for Freshness {
    fn journal_written(&self, serial: i64, project: &str) {
        self.cache
            .mark_dirty(&strongroom_protocol::name::normalize(project), serial);
    }

    fn generation_bumped(&self, generation: i64) {
        self.generation_pending_ms
            .store(self.now_ms(), Ordering::Release);
        self.generation_pending
            .fetch_max(generation, Ordering::AcqRel);
    }
}

/// Start following `db` for `fresh` (tasks that end when `fresh` is dropped; on PostgreSQL
/// the listener's ends at the next notification after that).
pub(crate) async fn start(
    fresh: &Arc<Freshness>,
    db: Db,
) -> Result<(), strongroom_store::StoreError> {
    let hook: Arc<dyn JournalHook> = fresh.clone();
    change_feed::subscribe(&db, &hook).await?;
    if db.dialect() == strongroom_store::Dialect::Postgres {
        tokio::spawn(listen(Arc::downgrade(fresh), db.clone()));
    }
    tokio::spawn(follow(Arc::downgrade(fresh), db));
    Ok(())
}

/// PostgreSQL: hear the journal's notifications; on a lost connection read what was missed.
async fn listen(fresh: Weak<Freshness>, db: Db) {
    while fresh.strong_count() > 0 {
        let mut l = match db.journal_listener().await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "page cache: cannot listen for journal entries");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let n = l.next().await;
            let Some(f) = fresh.upgrade() else { return };
            match n {
                Ok(Some(payload)) => f.notified(&payload),
                // lost; sqlx reconnects on the next call: read what was missed meanwhile
                Ok(None) => {
                    if let Err(e) = f.catch_up(&db).await {
                        if db.is_closed() {
                            return;
                        }
                        tracing::warn!(error = %e, "page cache: catch-up read failed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "page cache: journal listener failed");
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every [`CATCH_UP_EVERY`], and on SQLite whenever `data_version` moved: the catch-up read.
async fn follow(fresh: Weak<Freshness>, db: Db) {
    let mut data_version = db.data_version().await.ok().flatten();
    let mut last_version = None;
    let mut last_catch_up = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(DATA_VERSION_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut due = last_catch_up.elapsed() >= CATCH_UP_EVERY;
        if let Some(dv) = data_version.as_mut() {
            match dv.read().await {
                Ok(v) => {
                    due |= last_version.is_some_and(|l| l != v);
                    last_version = Some(v);
                }
                Err(_) => {
                    data_version = db.data_version().await.ok().flatten();
                    last_version = None;
                    due = true;
                }
            }
        }
        let Some(f) = fresh.upgrade() else { return };
        if due {
            match f.catch_up(&db).await {
                Ok(()) => last_catch_up = tokio::time::Instant::now(),
                // the server is stopping: nothing more to follow
                Err(_) if db.is_closed() => return,
                Err(e) => tracing::warn!(error = %e, "page cache: catch-up read failed"),
            }
        }
    }
}

#[cfg(test)]
#[path = "freshness_tests.rs"]
mod tests;
