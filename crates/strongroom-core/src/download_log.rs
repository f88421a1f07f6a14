//! The download log (issue 12): every download of a local or upstream file, recorded without a
//! database round trip on the download path (a bounded buffer, flushed in batches), so an admin
//! can answer "which of our machines installed ctx 0.2.2?". A download is a whole file sent
//! (200 to a GET; the routes record nothing for 304, HEAD or Range), and one client address
//! asking for one file again within a minute is one download ([`repeats`], bounded memory).
//!
//! [`DownloadRecorder::record`] pushes into a buffer of at most [`BUFFER_CAPACITY`] records
//! under a short lock (no await, no I/O); a full buffer drops the record and counts it. The task
//! `serve` starts ([`Services::flush_downloads_forever`]) writes the buffer every
//! [`FLUSH_EVERY`] in transactions of [`FLUSH_BATCH`] rows, and `serve` flushes once more at
//! shutdown after the last request. A batch the database refused goes back to the buffer's
//! front (what no longer fits is dropped and counted), so a database outage costs records only
//! once the buffer is full. Drops are logged once per flush with their count, and the recorder's
//! counters (buffered, written, dropped) are on `/metrics`. Memory: a record is bounded (the
//! user agent cut to [`USER_AGENT_MAX`] bytes, names by the routes that made them), so the
//! buffer holds a few tens of MiB at most.
//!
//! The same recorder counts page reads for the impact report (issue 13): a read of a local
//! project's simple page or JSON API document adds one to a counter per (day, project, client
//! kind) held in memory ([`DownloadRecorder::record_page_hit`]: no allocation but the project's
//! name the first time a thread's stripe counts it between two flushes; at most
//! [`PAGE_HIT_KEYS`] such counters held, further ones dropped and counted), and each flush adds
//! the counters, merged, to `page_hits`. Each flushed batch of downloads also adds its counts per file, day and client
//! kind (the user agent classified at flush time, off the download path) to `download_kinds`
//! in the batch's transaction; those counts outlive the retention period, the user agents do
//! not.
//!
//! The retention job ([`Services::download_retention_job`]) folds rows older than
//! `downloads.retention_days` into daily counts per file and deletes them: client addresses
//! and user agents are kept for the retention period only.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use strongroom_store::download_log::{DownloadCount, DownloadRecord, DownloadedFile, Origin};
use strongroom_store::page_hits::DownloadKindCount;

use crate::client_kind::ClientKind;
use crate::{CoreError, Services};

mod page_hits;
mod repeats;
use page_hits::PageHits;
use repeats::Repeats;
pub use repeats::{AGENTS_PER_WINDOW, WINDOW as REPEAT_WINDOW};

/// Records held in memory at most, waiting for a flush.
pub const BUFFER_CAPACITY: usize = 20_000;
/// How often the buffer is written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Rows per transaction of a flush.
pub const FLUSH_BATCH: usize = 1_000;
/// A user agent is cut to this many bytes (on a character boundary).
pub const USER_AGENT_MAX: usize = 512;
/// Page-read counters held between two flushes at most: one per (day, project) on each
/// thread's stripe that counted it, so a project read on both lanes of a two-core server holds
/// two (some 130 bytes each: at most about 13 MB).
pub const PAGE_HIT_KEYS: usize = 100_000;
/// Rows the retention job folds per transaction, and transactions per run at most (the rest is
/// left to the next run, so one run stays bounded).
const FOLD_STEP: i64 = 5_000;
const FOLD_STEPS_PER_RUN: usize = 40;
/// µs in a day.
const DAY_US: i64 = strongroom_store::download_log::DAY_US;

/// The recorder's counters, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Records waiting for a flush now.
    pub buffered: u64,
    /// Records written to the database since start.
    pub written: u64,
    /// Records dropped since start (buffer full).
    pub dropped: u64,
    /// Requests not recorded since start because they repeated a recent download of the same
    /// file by the same client address.
    pub repeated: u64,
    /// Page reads not counted since start ([`PAGE_HIT_KEYS`] counters held between two flushes).
    pub page_reads_dropped: u64,
}

#[derive(Debug)]
struct Inner {
    buffer: Mutex<VecDeque<DownloadRecord>>,
    repeats: Mutex<Repeats>,
    repeated: AtomicU64,
    capacity: usize,
    written: AtomicU64,
    dropped: AtomicU64,
    /// Drops not yet reported in the log.
    dropped_unlogged: AtomicU64,
    /// Page reads counted since the last flush.
    page_hits: PageHits,
    /// Page reads not counted since start (no counter free between two flushes).
    page_hits_dropped: AtomicU64,
}

/// The counts per file, day and client kind of a batch of downloads.
fn kind_counts(batch: &[DownloadRecord]) -> Vec<DownloadKindCount> {
    type Key<'a> = (Origin, &'a str, &'a str, &'a str, &'a str, i64, ClientKind);
    let mut counts: BTreeMap<Key<'_>, i64> = BTreeMap::new();
    for d in batch {
        let key = (
            d.origin,
            d.project.as_str(),
            d.version.as_str(),
            d.filename.as_str(),
            d.sha256.as_str(),
            strongroom_store::download_log::day_of(d.at),
            ClientKind::of(d.user_agent.as_deref()),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(
            |((origin, project, version, filename, sha256, day, kind), count)| DownloadKindCount {
                origin,
                project: project.to_owned(),
                version: version.to_owned(),
                filename: filename.to_owned(),
                sha256: sha256.to_owned(),
                day,
                client_kind: kind.as_str().to_owned(),
                count,
            },
        )
        .collect()
}

/// The recorder (clones share one buffer).
#[derive(Debug, Clone)]
pub struct DownloadRecorder {
    inner: Arc<Inner>,
}

impl Default for DownloadRecorder {
    fn default() -> Self {
        DownloadRecorder::with_capacity(BUFFER_CAPACITY)
    }
}

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl DownloadRecorder {
    /// A recorder holding at most `capacity` records between flushes.
    pub fn with_capacity(capacity: usize) -> DownloadRecorder {
        DownloadRecorder {
            inner: Arc::new(Inner {
                buffer: Mutex::new(VecDeque::new()),
                repeats: Mutex::new(Repeats::new(repeats::TRACKED)),
                repeated: AtomicU64::new(0),
                capacity,
                written: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                dropped_unlogged: AtomicU64::new(0),
                page_hits: PageHits::default(),
                page_hits_dropped: AtomicU64::new(0),
            }),
        }
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, VecDeque<DownloadRecord>> {
        // A poisoned lock still holds a whole queue (pushes and drains do not panic midway).
        match self.inner.buffer.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn count_drops(&self, n: u64) {
        if n > 0 {
            self.inner.dropped.fetch_add(n, Ordering::Relaxed);
            self.inner.dropped_unlogged.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Record a download: never waits for the database (short locks, no I/O). A repeat of a
    /// recent download (same client address and file, see [`repeats`]) is counted, not
    /// recorded; a full buffer drops the record and counts it.
    pub fn record(&self, mut record: DownloadRecord) {
        record.user_agent = record.user_agent.map(|ua| cut(ua, USER_AGENT_MAX));
        let admitted = {
            // A poisoned lock still holds a consistent map (admit does not panic midway).
            let mut repeats = match self.inner.repeats.lock() {
                Ok(r) => r,
                Err(poisoned) => poisoned.into_inner(),
            };
            repeats.admit(&record)
        };
        if !admitted {
            self.inner.repeated.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut buffer = self.buffer();
        if buffer.len() >= self.inner.capacity {
            drop(buffer);
            self.count_drops(1);
            return;
        }
        buffer.push_back(record);
    }

    fn page_hits(&self) -> &PageHits {
        &self.inner.page_hits
    }

    /// Count one read of `project`'s page (normalised name) at `at` (µs) by a client of
    /// `kind`: a short lock of this thread's stripe and a map look-up, no I/O; the name is
    /// copied only the first time the project is read on this stripe between two flushes.
    pub fn record_page_hit(&self, project: &str, kind: ClientKind, at: i64) {
        let day = strongroom_store::download_log::day_of(at);
        if !self.page_hits().add(day, project, kind, 1, PAGE_HIT_KEYS) {
            self.inner.page_hits_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Page reads not counted since start (every counter, [`PAGE_HIT_KEYS`], held between two
    /// flushes).
    pub fn page_hits_dropped(&self) -> u64 {
        self.inner.page_hits_dropped.load(Ordering::Relaxed)
    }

    /// Write the page-read counters (emptied); on a database error they go back (what no
    /// longer fits is dropped and counted) and the error is returned.
    async fn flush_page_hits(&self, db: &strongroom_store::Db) -> Result<(), CoreError> {
        let rows = self.page_hits().take();
        if rows.is_empty() {
            return Ok(());
        }
        if let Err(e) = db.add_page_hits(&rows).await {
            let hits = self.page_hits();
            let mut lost = 0;
            for r in rows {
                let kind = ClientKind::parse(&r.client_kind).unwrap_or(ClientKind::Other);
                let n = u64::try_from(r.count).unwrap_or(0);
                if !hits.add(r.day, &r.project, kind, n, PAGE_HIT_KEYS) {
                    lost += n;
                }
            }
            self.inner
                .page_hits_dropped
                .fetch_add(lost, Ordering::Relaxed);
            return Err(CoreError::from(e));
        }
        Ok(())
    }

    /// The counters now.
    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            buffered: self.buffer().len() as u64,
            written: self.inner.written.load(Ordering::Relaxed),
            dropped: self.inner.dropped.load(Ordering::Relaxed),
            repeated: self.inner.repeated.load(Ordering::Relaxed),
            page_reads_dropped: self.page_hits_dropped(),
        }
    }

    /// Take at most `n` records from the buffer's front.
    fn take(&self, n: usize) -> Vec<DownloadRecord> {
        let mut buffer = self.buffer();
        let n = n.min(buffer.len());
        buffer.drain(..n).collect()
    }

    /// Put a batch the database refused back at the buffer's front; what no longer fits (the
    /// newest of the batch) is dropped and counted.
    fn put_back(&self, mut batch: Vec<DownloadRecord>) {
        let mut buffer = self.buffer();
        let room = self.inner.capacity.saturating_sub(buffer.len());
        let lost = batch.len().saturating_sub(room);
        batch.truncate(room);
        for r in batch.into_iter().rev() {
            buffer.push_front(r);
        }
        drop(buffer);
        self.count_drops(lost as u64);
    }

    /// Write everything buffered now (the records recorded meanwhile wait for the next flush),
    /// in transactions of [`FLUSH_BATCH`] rows; returns how many were written. On a database
    /// error the failing batch goes back to the buffer and the error is returned.
    pub async fn flush(&self, db: &strongroom_store::Db) -> Result<u64, CoreError> {
        let pages = self.flush_page_hits(db).await;
        let mut left = self.buffer().len();
        let mut written = 0;
        let result = loop {
            if left == 0 {
                break Ok(written);
            }
            let batch = self.take(left.min(FLUSH_BATCH));
            if batch.is_empty() {
                break Ok(written);
            }
            left = left.saturating_sub(batch.len());
            match db
                .insert_downloads_counted(&batch, &kind_counts(&batch))
                .await
            {
                Ok(n) => {
                    written += n;
                    self.inner.written.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    self.put_back(batch);
                    break Err(CoreError::from(e));
                }
            }
        };
        let dropped = self.inner.dropped_unlogged.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                dropped,
                capacity = self.inner.capacity,
                "download log: records dropped because the buffer was full (the database is slow or unreachable)"
            );
        }
        pages.and(result)
    }
}

impl Services {
    /// Count one read of a local project's simple page or JSON API document (the page routes
    /// call this with the normalised name and the request's user agent).
    pub fn record_page_hit(&self, project: &str, user_agent: Option<&str>) {
        self.downloads.record_page_hit(
            project,
            ClientKind::of(user_agent),
            self.clock.now_micros(),
        );
    }

    /// Record one download at the services' clock's now (the download routes call this).
    pub fn record_download(
        &self,
        origin: Origin,
        project: &str,
        version: &str,
        filename: &str,
        sha256: &str,
        meta: &crate::RequestMeta,
    ) {
        self.downloads.record(DownloadRecord {
            origin,
            project: project.to_owned(),
            version: version.to_owned(),
            filename: filename.to_owned(),
            sha256: sha256.to_owned(),
            at: self.clock.now_micros(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
        });
    }

    /// Flush the download log every [`FLUSH_EVERY`], forever (from `serve`; `serve` calls
    /// [`DownloadRecorder::flush`] once more at shutdown).
    pub async fn flush_downloads_forever(self) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            if let Err(e) = self.downloads.flush(&self.db).await {
                tracing::warn!(error = %e, buffered = self.downloads.stats().buffered, "download log: cannot write; kept in memory and retried");
            }
            // The downloads of kept upstream files, batched the same way.
            if let Err(e) = self.flush_upstream_touches().await {
                tracing::warn!(error = %e, "upstream cache: cannot write download times; kept in memory and retried");
            }
        }
    }

    /// The retention job: rows older than `downloads.retention_days` are folded into daily
    /// counts and deleted (bounded per run).
    pub async fn download_retention_job(&self) -> Result<Vec<String>, CoreError> {
        let days = i64::try_from(self.settings.downloads.retention_days).unwrap_or(i64::MAX);
        let before = self
            .clock
            .now_micros()
            .saturating_sub(days.saturating_mul(DAY_US));
        let mut folded = 0;
        for _ in 0..FOLD_STEPS_PER_RUN {
            let n = self.db.fold_downloads(before, FOLD_STEP).await?;
            folded += n;
            if n < FOLD_STEP as u64 {
                break;
            }
        }
        Ok(if folded > 0 {
            vec![format!(
                "download log: {folded} downloads older than {days} days folded into daily counts (addresses dropped)"
            )]
        } else {
            Vec::new()
        })
    }

    /// What the log knows of `project` (normalised) from `since` (µs) on: the downloads still
    /// on record (newest first, at most `limit`), the daily counts of older ones, and every
    /// file with its first download.
    pub async fn download_log_of(
        &self,
        project: &str,
        since: i64,
        limit: i64,
    ) -> Result<ProjectDownloads, CoreError> {
        Ok(ProjectDownloads {
            downloads: self.db.downloads_of(project, since, limit).await?,
            counts: self.db.download_counts_of(project, since, limit).await?,
            files: self.db.downloaded_files(project).await?,
        })
    }
}

/// Rows the CLI and the admin page show by default (newest first).
pub const DEFAULT_LIMIT: i64 = 1_000;

/// What `admin upstream log` and `/admin/upstream/log` ask: a project (any spelling, a valid
/// project name) and optionally a time from which on (RFC 3339 or a date: its midnight UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// The normalised name.
    pub project: String,
    /// µs; 0 = everything on record.
    pub since: i64,
}

impl LogQuery {
    /// Check the operator's words: a name that no project could have, or a time that is not
    /// one, is a clear error.
    pub fn parse(project: &str, since: Option<&str>) -> Result<LogQuery, CoreError> {
        let name = strongroom_protocol::ProjectName::new(project.trim())
            .map_err(|_| CoreError::Invalid(format!("'{project}' is not a valid project name")))?;
        let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
            Some(t) => crate::timeline::parse_time(t)?,
            None => 0,
        };
        Ok(LogQuery {
            project: name.normalized().as_str().to_owned(),
            since,
        })
    }
}

/// The download log of one project (the CLI and the admin page show it).
#[derive(Debug, Clone, Default)]
pub struct ProjectDownloads {
    /// Downloads still on record with address and user agent, newest first.
    pub downloads: Vec<DownloadRecord>,
    /// Older downloads, counted per file per day, newest day first.
    pub counts: Vec<DownloadCount>,
    /// Every file of the project the log knows: first seen, downloads in all.
    pub files: Vec<DownloadedFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: i64) -> DownloadRecord {
        DownloadRecord {
            origin: Origin::Local,
            project: "alpha".into(),
            version: "1".into(),
            filename: "alpha-1.tar.gz".into(),
            sha256: "0".repeat(64),
            at: i,
            ip: Some(format!("10.0.0.{i}")),
            user_agent: Some("pip".into()),
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts() {
        let r = DownloadRecorder::with_capacity(3);
        let clone = r.clone();
        for i in 0..5 {
            clone.record(rec(i));
        }
        assert_eq!(
            r.stats(),
            RecorderStats {
                buffered: 3,
                written: 0,
                dropped: 2,
                repeated: 0,
                page_reads_dropped: 0,
            }
        );
        // The oldest are kept, in order.
        assert_eq!(
            r.take(10).iter().map(|d| d.at).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn a_refused_batch_goes_back_to_the_front_and_what_does_not_fit_is_counted() {
        let r = DownloadRecorder::with_capacity(4);
        for i in 0..4 {
            r.record(rec(i));
        }
        let batch = r.take(3);
        r.record(rec(10));
        r.record(rec(11));
        r.put_back(batch);
        // One of the three fits back (the oldest, first); the other two are counted.
        assert_eq!(
            r.take(10).iter().map(|d| d.at).collect::<Vec<_>>(),
            [0, 3, 10, 11]
        );
        assert_eq!(r.stats().dropped, 2);
    }

    #[test]
    fn user_agents_are_cut_on_a_character_boundary() {
        let r = DownloadRecorder::with_capacity(2);
        let mut d = rec(0);
        d.user_agent = Some(format!("{}é", "a".repeat(USER_AGENT_MAX - 1)));
        r.record(d);
        let ua = r.take(1).remove(0).user_agent.expect("ua");
        assert_eq!(ua.len(), USER_AGENT_MAX - 1);
        assert!(ua.chars().all(|c| c == 'a'));
    }

    #[test]
    fn page_hits_are_counted_per_day_project_and_kind_within_a_bound() {
        let r = DownloadRecorder::with_capacity(4);
        let day = 20_000 * DAY_US;
        for _ in 0..3 {
            r.record_page_hit("ctx", ClientKind::Pip, day + 5);
        }
        r.record_page_hit("ctx", ClientKind::Bandersnatch, day + 9);
        r.record_page_hit("ctx", ClientKind::Pip, day + DAY_US);
        let mut rows = r.page_hits().take();
        rows.sort_by(|a, b| (a.day, &a.client_kind).cmp(&(b.day, &b.client_kind)));
        let got: Vec<(i64, &str, i64)> = rows
            .iter()
            .map(|h| (h.day, h.client_kind.as_str(), h.count))
            .collect();
        assert_eq!(
            got,
            [
                (day, "bandersnatch", 1),
                (day, "pip", 3),
                (day + DAY_US, "pip", 1)
            ]
        );
        assert!(r.page_hits().take().is_empty(), "taken once");
        // Past the bound a new (day, project) is dropped and counted; known ones still count.
        let hits = PageHits::default();
        assert!(hits.add(day, "a", ClientKind::Uv, 1, 2));
        assert!(hits.add(day, "b", ClientKind::Uv, 1, 2));
        assert!(!hits.add(day, "c", ClientKind::Uv, 1, 2));
        assert!(!hits.add(day + DAY_US, "a", ClientKind::Uv, 1, 2));
        assert!(hits.add(day, "a", ClientKind::Pip, 5, 2));
        assert_eq!(hits.take().iter().map(|h| h.count).sum::<i64>(), 7);
        assert!(
            hits.add(day, "c", ClientKind::Uv, 1, 2),
            "a take frees the bound"
        );
    }

    #[test]
    fn page_reads_past_the_bound_are_counted_as_dropped_in_the_stats() {
        let r = DownloadRecorder::with_capacity(4);
        let day = 20_000 * DAY_US;
        for i in 0..PAGE_HIT_KEYS + 3 {
            r.record_page_hit(&format!("p{i}"), ClientKind::Pip, day);
        }
        r.record_page_hit("p0", ClientKind::Pip, day);
        assert_eq!(r.stats().page_reads_dropped, 3);
        assert_eq!(r.page_hits().take().len(), PAGE_HIT_KEYS);
    }

    #[tokio::test]
    async fn page_hits_and_download_kinds_reach_the_database_on_flush() {
        let (s, _clock, _dir) = crate::test_harness::services(|_, _| {}).await;
        for ua in [
            Some("pip/24.0 {}"),
            Some("pip/24.0 {}"),
            Some("uv/0.5.1"),
            None,
        ] {
            s.record_page_hit("ctx", ua);
        }
        for (ip, ua) in [
            ("10.0.0.1", "pip/24.0"),
            ("10.0.0.2", "bandersnatch 6.5.0 (x)"),
        ] {
            let m = crate::RequestMeta {
                ip: Some(ip.into()),
                user_agent: Some(ua.into()),
                request_id: None,
            };
            s.record_download(
                Origin::Local,
                "ctx",
                "0.2.2",
                "ctx-0.2.2.tar.gz",
                &"a".repeat(64),
                &m,
            );
        }
        assert!(s.db.page_hits_of("ctx", 0).await.expect("read").is_empty());
        assert_eq!(s.downloads.flush(&s.db).await.expect("flush"), 2);
        let hits: Vec<(String, i64)> =
            s.db.page_hits_of("ctx", 0)
                .await
                .expect("read")
                .into_iter()
                .map(|h| (h.client_kind, h.count))
                .collect();
        assert_eq!(
            hits,
            [
                ("other".to_owned(), 1),
                ("pip".to_owned(), 2),
                ("uv".to_owned(), 1)
            ]
        );
        let kinds: Vec<(String, i64)> =
            s.db.download_kinds_of("ctx", 0)
                .await
                .expect("kinds")
                .into_iter()
                .map(|k| (k.client_kind, k.count))
                .collect();
        assert_eq!(
            kinds,
            [("bandersnatch".to_owned(), 1), ("pip".to_owned(), 1)]
        );
        // A second flush adds nothing more.
        s.downloads.flush(&s.db).await.expect("flush");
        assert_eq!(s.db.page_hits_of("ctx", 0).await.expect("read").len(), 3);
    }

    #[tokio::test]
    async fn recorded_downloads_reach_the_log_on_flush_and_fold_after_retention() {
        let (s, clock, _dir) = crate::test_harness::services(|_, _| {}).await;
        let meta = crate::RequestMeta {
            ip: Some("10.1.2.3".into()),
            user_agent: Some("pip/25.0".into()),
            request_id: None,
        };
        let sha = "a".repeat(64);
        // Three machines download the file; the first asks for it 50 times more within the
        // minute (RT12 F11: each was a row): one download.
        for ip in ["10.1.2.3", "10.1.2.4", "10.1.2.5"] {
            for _ in 0..if ip == "10.1.2.3" { 51 } else { 1 } {
                let m = crate::RequestMeta {
                    ip: Some(ip.into()),
                    ..meta.clone()
                };
                s.record_download(
                    Origin::Upstream,
                    "ctx",
                    "0.2.2",
                    "ctx-0.2.2.tar.gz",
                    &sha,
                    &m,
                );
            }
        }
        assert_eq!(s.downloads.stats().repeated, 50);
        // Recorded, not written: nothing reached the database yet.
        assert!(
            s.db.downloads_of("ctx", 0, 10)
                .await
                .expect("read")
                .is_empty()
        );
        assert_eq!(s.downloads.stats().buffered, 3);
        assert_eq!(s.downloads.flush(&s.db).await.expect("flush"), 3);
        assert_eq!(
            s.downloads.stats(),
            RecorderStats {
                buffered: 0,
                written: 3,
                dropped: 0,
                repeated: 50,
                page_reads_dropped: 0,
            }
        );
        let log = s.download_log_of("ctx", 0, 10).await.expect("log");
        assert_eq!(log.downloads.len(), 3);
        let mut ips: Vec<_> = log.downloads.iter().filter_map(|d| d.ip.clone()).collect();
        ips.sort();
        assert_eq!(ips, ["10.1.2.3", "10.1.2.4", "10.1.2.5"]);
        assert_eq!(log.downloads[0].at, crate::test_harness::T0);

        // Within the default retention (90 days) the rows stay.
        clock.advance(89 * DAY_US);
        assert!(s.download_retention_job().await.expect("job").is_empty());
        assert_eq!(
            s.db.downloads_of("ctx", 0, 10).await.expect("read").len(),
            3
        );
        // Past it they become a count for their day, without addresses.
        clock.advance(2 * DAY_US);
        let lines = s.run_jobs().await.expect("jobs");
        assert!(
            lines
                .lines
                .iter()
                .any(|l| l.contains("3 downloads older than 90 days")),
            "{lines:?}"
        );
        let log = s.download_log_of("ctx", 0, 10).await.expect("log");
        assert!(log.downloads.is_empty());
        assert_eq!(log.counts.len(), 1);
        assert_eq!(log.counts[0].count, 3);
        assert_eq!(log.files.len(), 1);
        assert_eq!(log.files[0].downloads, 3);
    }
}

#[cfg(test)]
mod cost_tests;
