//! Upstream files kept in the blob store (issue 12): keeping a checked file under the blob
//! collector's claim protocol, eviction by `upstream.cache_max_bytes` (least recently
//! downloaded first), the per-address rate of new fetches, and the record of a hash mismatch.
//! A kept file was checked once, when it was fetched; fsck re-reads every kept copy later.
//! Downloads move a file in the eviction order through batched, in-memory touches
//! ([`touches`]). A keep sums the cache's bytes only when this process's estimate
//! ([`CacheBytes`]) could be near the cap or is old, not on every keep (the sum reads every
//! row). The HTTP side (the fetch-once tee, the route) is `server::upstream_files`.

use std::path::Path;
use std::sync::{Arc, Mutex};

pub mod touches;

use strongroom_store::{
    BlobKey, KeepOutcome, MetadataKept, NewEvent, UpstreamEntry, UpstreamEntryKind,
    UpstreamFileRow, UpstreamMetadataRow,
};

use crate::{CoreError, RequestMeta, Services};

/// Kept files looked at per eviction round.
const EVICT_BATCH: i64 = 200;

/// How often one address's bucket of new fetches is written: the window of the limit.
const FETCH_WINDOW_MICROS: i64 = 60_000_000;

/// A keep sums the cache's bytes again at least this often (µs), whatever the estimate:
/// other servers keep files too, and the periodic job evicts what they add meanwhile.
pub const RESUM_EVERY_MICROS: i64 = 5_000_000;

/// This process's estimate of the upstream cache's bytes: the last sum, when it was read (µs),
/// and what this process kept since. A keep that leaves the estimate at most 90 % of the cap
/// within [`RESUM_EVERY_MICROS`] of the sum does not sum again (eviction would find nothing to
/// do); any other keep sums and evicts.
#[derive(Debug, Clone, Default)]
pub struct CacheBytes {
    inner: Arc<Mutex<Option<(i64, i64, i64)>>>,
}

impl CacheBytes {
    /// Count `size` bytes kept at `now` when the estimate says no eviction is due (true),
    /// else false (the caller sums and evicts).
    fn add_if_room(&self, size: i64, now: i64, cap: i64) -> bool {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match g.as_mut() {
            Some((total, at, added))
                if (0..RESUM_EVERY_MICROS).contains(&now.saturating_sub(*at))
                    && total.saturating_add(*added).saturating_add(size)
                        <= cap.saturating_sub(cap / 10) =>
            {
                *added = added.saturating_add(size);
                true
            }
            _ => false,
        }
    }

    /// A sum read `total` at `now`.
    fn summed(&self, total: i64, now: i64) {
        *self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((total, now, 0));
    }
}

/// What the caller fetched and checked, to keep.
#[derive(Debug, Clone)]
pub struct CheckedUpstreamFile<'a> {
    /// Its sha256 (checked).
    pub sha256: &'a str,
    /// Normalised project name.
    pub project: &'a str,
    /// Its release's version.
    pub version: &'a str,
    /// The distribution filename.
    pub filename: &'a str,
    /// Bytes.
    pub size: u64,
    /// The upstream's simple URL (no credentials).
    pub upstream_url: &'a str,
}

impl Services {
    /// The kept copy of the upstream file with this sha256, if any.
    pub async fn cached_upstream_file(
        &self,
        sha256: &str,
    ) -> Result<Option<UpstreamFileRow>, CoreError> {
        Ok(self.db.upstream_file(sha256).await?)
    }

    /// Keep a fetched and checked file (the complete temp file at `path`): claim its key, put
    /// the blob, record the row settling the claim; then evict down to the cap. False when it
    /// was not kept (the claim expired under a stalled put: nothing recorded).
    pub async fn keep_upstream_file(
        &self,
        f: &CheckedUpstreamFile<'_>,
        path: &Path,
    ) -> Result<bool, CoreError> {
        let key = BlobKey::for_upstream(f.sha256, f.filename)
            .ok_or_else(|| CoreError::Internal(format!("no blob key for {}", f.filename)))?;
        let claim = self.claim_blob_key(&key).await?;
        if let Err(e) = self.blobs.put_file(&key, path).await {
            self.release_claim(&claim, true).await;
            return Err(e.into());
        }
        let now = self.now();
        let row = UpstreamFileRow {
            sha256: f.sha256.to_owned(),
            blob_key: key.as_str().to_owned(),
            project: f.project.to_owned(),
            version: f.version.to_owned(),
            filename: f.filename.to_owned(),
            size: i64::try_from(f.size).unwrap_or(i64::MAX),
            upstream_url: f.upstream_url.to_owned(),
            first_seen_at: now,
            last_download_at: now,
            metadata_sha256: None,
        };
        let kept = match self.db.keep_upstream_file(&row, &claim).await {
            Ok(KeepOutcome::Kept | KeepOutcome::AlreadyKept) => true,
            Ok(KeepOutcome::ClaimExpired) => false,
            Err(e) => {
                self.release_claim(&claim, true).await;
                return Err(e.into());
            }
        };
        if kept {
            self.evict_after_keep(row.size).await;
        }
        Ok(kept)
    }

    /// Keep checked PEP 658 metadata (the complete temp file at `path`) at `<key>.metadata` of
    /// the file `f` describes, under a claim on the key like the file itself, then record it
    /// (settling the claim): on the kept file's row, or, with `alone` (a `.metadata` request
    /// for a file not kept), on its own. Without `alone` and with the file evicted meanwhile,
    /// giving the claim up deletes what was written (never an orphan).
    pub async fn keep_upstream_metadata(
        &self,
        f: &CheckedUpstreamFile<'_>,
        metadata_sha256: &str,
        path: &Path,
        alone: bool,
    ) -> Result<MetadataKept, CoreError> {
        let key = BlobKey::for_upstream(f.sha256, f.filename)
            .ok_or_else(|| CoreError::Internal(format!("no blob key for {}", f.filename)))?;
        let size = tokio::fs::metadata(path).await?.len();
        let claim = self.claim_blob_key(&key).await?;
        if let Err(e) = self.blobs.put_metadata_file(&key, path).await {
            self.release_claim(&claim, true).await;
            return Err(e.into());
        }
        let now = self.now();
        let row = UpstreamMetadataRow {
            sha256: f.sha256.to_owned(),
            blob_key: key.as_str().to_owned(),
            project: f.project.to_owned(),
            filename: f.filename.to_owned(),
            metadata_sha256: metadata_sha256.to_owned(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            first_seen_at: now,
            last_download_at: now,
        };
        let kept = match self.db.keep_upstream_metadata(&row, &claim, alone).await {
            Ok(k) => k,
            Err(e) => {
                self.release_claim(&claim, true).await;
                return Err(e.into());
            }
        };
        match kept {
            MetadataKept::FileGone => self.release_claim(&claim, true).await,
            MetadataKept::Alone => self.evict_after_keep(row.size).await,
            MetadataKept::OnFile | MetadataKept::Already | MetadataKept::ClaimExpired => {}
        }
        Ok(kept)
    }

    /// The metadata kept on its own for the upstream file with this sha256, if any.
    pub async fn cached_upstream_metadata(
        &self,
        sha256: &str,
    ) -> Result<Option<UpstreamMetadataRow>, CoreError> {
        Ok(self.db.upstream_metadata(sha256).await?)
    }

    /// Drop metadata kept on its own whose blob is missing or damaged: the row goes, then the
    /// key's blobs (the next request fetches it again).
    pub async fn drop_upstream_metadata(&self, row: &UpstreamMetadataRow) -> Result<(), CoreError> {
        let entry = UpstreamEntry {
            kind: UpstreamEntryKind::Metadata,
            sha256: row.sha256.clone(),
            blob_key: row.blob_key.clone(),
            size: row.size,
            last_download_at: row.last_download_at,
        };
        if self.db.forget_upstream_entry(&entry, i64::MAX).await? {
            let live_after = self.now().saturating_sub(self.claim_grace_micros());
            self.collect_key(&row.blob_key, live_after, None).await?;
        }
        Ok(())
    }

    /// Drop the metadata kept on its own for the file with this sha256, if any.
    pub async fn drop_upstream_metadata_of(&self, sha256: &str) -> Result<(), CoreError> {
        match self.db.upstream_metadata(sha256).await? {
            Some(row) => self.drop_upstream_metadata(&row).await,
            None => Ok(()),
        }
    }

    /// A download of metadata kept on its own (the eviction order, like a file's).
    pub fn touch_upstream_metadata(&self, row: &UpstreamMetadataRow) {
        self.upstream_touches.record(&row.sha256, self.now());
    }

    /// A download of a kept file, now: remembered in memory (no I/O) and written with the
    /// next flush ([`Services::flush_upstream_touches`]).
    pub fn touch_upstream_file(&self, row: &UpstreamFileRow) {
        self.upstream_touches.record(&row.sha256, self.now());
    }

    /// Write the downloads of kept files remembered since the last flush (one transaction); on
    /// a database error they go back for the next flush. Returns the rows moved.
    pub async fn flush_upstream_touches(&self) -> Result<u64, CoreError> {
        // one flush at a time: eviction's flush waits for the periodic one's commit
        let _one = self.upstream_touches.flush_guard().await;
        let batch = self.upstream_touches.take();
        if batch.is_empty() {
            return Ok(0);
        }
        match self.db.touch_upstream_files(&batch).await {
            Ok(n) => Ok(n),
            Err(e) => {
                self.upstream_touches.put_back(batch);
                Err(e.into())
            }
        }
    }

    /// After keeping `size` bytes: evict down to the cap unless the estimate says there is
    /// room ([`CacheBytes`]).
    async fn evict_after_keep(&self, size: i64) {
        let cap = i64::try_from(self.settings.upstream.cache_max_bytes).unwrap_or(i64::MAX);
        if self.upstream_bytes.add_if_room(size, self.now(), cap) {
            return;
        }
        if let Err(e) = self.evict_upstream_files().await {
            tracing::warn!(error = %e, "cannot evict cached upstream files now; the jobs will");
        }
    }

    /// Evict the least recently downloaded kept files (and metadata kept on its own) until
    /// their bytes are within `upstream.cache_max_bytes`: each row goes first (under its key's lock), then the
    /// collector's step for its key deletes the blobs (which waits out, or is waited out by, a
    /// fetch of the same file on another server). Returns the number evicted; the
    /// last sum becomes this process's estimate ([`CacheBytes`]).
    pub async fn evict_upstream_files(&self) -> Result<u64, CoreError> {
        // The recent downloads first, so the order below knows them.
        if let Err(e) = self.flush_upstream_touches().await {
            tracing::warn!(error = %e, "cannot write the download times of cached upstream files before evicting");
        }
        let cap = i64::try_from(self.settings.upstream.cache_max_bytes).unwrap_or(i64::MAX);
        let mut total = self.db.upstream_cache_bytes().await?;
        let mut evicted = 0;
        while total > cap {
            let batch = self.db.least_recent_upstream_entries(EVICT_BATCH).await?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                if total <= cap {
                    break;
                }
                if self
                    .db
                    .forget_upstream_entry(&row, row.last_download_at)
                    .await?
                {
                    total = total.saturating_sub(row.size);
                    evicted += 1;
                    let live_after = self.now().saturating_sub(self.claim_grace_micros());
                    if let Err(e) = self.collect_key(&row.blob_key, live_after, None).await {
                        // Unreferenced now: the collector's scan takes it later.
                        tracing::warn!(key = %row.blob_key, error = %e, "cannot delete an evicted upstream file's blobs now");
                    }
                }
            }
            total = self.db.upstream_cache_bytes().await?;
        }
        self.upstream_bytes.summed(total, self.now());
        Ok(evicted)
    }

    /// Drop a kept copy found missing or damaged: its row goes, then its blobs (the next
    /// request fetches the file again).
    pub async fn drop_upstream_copy(&self, row: &UpstreamFileRow) -> Result<(), CoreError> {
        if self.db.forget_upstream_file(row, i64::MAX).await? {
            let live_after = self.now().saturating_sub(self.claim_grace_micros());
            self.collect_key(&row.blob_key, live_after, None).await?;
        }
        Ok(())
    }

    /// Eviction as a periodic job: report lines.
    pub(crate) async fn upstream_cache_job(&self) -> Result<Vec<String>, CoreError> {
        let n = self.evict_upstream_files().await?;
        Ok(if n > 0 {
            vec![format!(
                "upstream cache: evicted {n} least recently downloaded file(s) (upstream.cache_max_bytes)"
            )]
        } else {
            Vec::new()
        })
    }

    /// Take a place for one new upstream fetch by `ip` (`upstream.new_fetches_per_minute`),
    /// or refuse with the wait (429 + Retry-After). Off with `rate_limits = false` or 0.
    pub async fn take_upstream_fetch(&self, ip: Option<&str>) -> Result<(), CoreError> {
        let per_minute = i64::from(self.settings.upstream.new_fetches_per_minute);
        if !self.settings.rate_limits || per_minute == 0 {
            return Ok(());
        }
        let now = self.now();
        let bucket = format!("upstream-fetch:{}", ip.unwrap_or("-"));
        match self
            .db
            .rate_reserve(&bucket, &[(now - FETCH_WINDOW_MICROS, per_minute)], now)
            .await?
        {
            strongroom_store::RateReservation::Taken(_) => Ok(()),
            strongroom_store::RateReservation::Full(seen) => {
                let oldest = seen.first().and_then(|(_, at)| *at).unwrap_or(now);
                let wait = (oldest + FETCH_WINDOW_MICROS - now).max(1_000_000);
                let secs = u64::try_from((wait + 999_999) / 1_000_000).unwrap_or(60);
                Err(CoreError::TooMany {
                    message: format!(
                        "Too many files not yet cached were asked for from this address. Try again in {secs} s. (Limit upstream.new_fetches_per_minute: {per_minute}.)"
                    ),
                    retry_after_secs: secs,
                })
            }
        }
    }

    /// An upstream sent other bytes than its page's sha256 promised: logged, and an event
    /// `upstream:hash-mismatch` (nothing was kept).
    pub async fn record_upstream_mismatch(
        &self,
        project: &str,
        filename: &str,
        expected: &str,
        actual: &str,
        upstream_url: &str,
        meta: Option<&RequestMeta>,
    ) {
        tracing::error!(
            project,
            filename,
            expected,
            actual,
            upstream = upstream_url,
            "an upstream file does not match the sha256 its page advertised; the download was cut short and nothing was kept"
        );
        let event = NewEvent {
            at: self.now(),
            actor_name: Some("upstream".into()),
            action: "upstream:hash-mismatch".into(),
            subject_kind: "project".into(),
            subject_name: Some(project.to_owned()),
            ip: meta.and_then(|m| m.ip.clone()),
            user_agent: meta.and_then(|m| m.user_agent.clone()),
            request_id: meta.and_then(|m| m.request_id.clone()),
            details: serde_json::json!({
                "filename": filename,
                "expected_sha256": expected,
                "actual_sha256": actual,
                "upstream": upstream_url,
            }),
            ..NewEvent::default()
        };
        if let Err(e) = self.db.append_event(&event).await {
            tracing::warn!(error = %e, "cannot record the upstream hash mismatch event");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use strongroom_store::BlobKey;

    use strongroom_store::MetadataKept;

    use super::CheckedUpstreamFile;
    use crate::test_harness::{Harness, T0};

    const HOUR: i64 = 3_600_000_000;

    fn sha(seed: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(seed))
    }

    /// Keep a file of `size` bytes (the temp file written here) under `seed`'s sha256.
    async fn keep(h: &Harness, seed: &str, filename: &str, size: usize) -> BlobKey {
        let tmp = h.dir().join(format!("tmp-{seed}"));
        std::fs::write(&tmp, vec![b'x'; size]).expect("write");
        let sha256 = sha(seed);
        let f = CheckedUpstreamFile {
            sha256: &sha256,
            project: "pub-lib",
            version: "1.0",
            filename,
            size: size as u64,
            upstream_url: "https://upstream.example/simple/",
        };
        assert!(h.s.keep_upstream_file(&f, &tmp).await.expect("keep"));
        BlobKey::for_upstream(&sha256, filename).expect("key")
    }

    fn present(root: &Path, key: &BlobKey) -> bool {
        root.join(key.as_str()).exists()
    }

    /// The collector's whole-store scan never deletes a cached upstream file a row references,
    /// however old, and deletes an `upstream/` blob no row references once past the grace.
    #[tokio::test]
    async fn the_collector_keeps_referenced_upstream_blobs_and_deletes_the_rest() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let kept = keep(&h, "kept", "pub_lib-1.0-py3-none-any.whl", 10).await;
        let stray = BlobKey::for_upstream(&sha("stray"), "stray-1.0.tar.gz").expect("key");
        // An upstream blob no row references (a fetch killed between its put and its row),
        // written long before now, as the kept one was.
        std::fs::write(root.join(kept.metadata()), b"m").expect("write");
        for name in [
            stray.as_str().to_owned(),
            stray.metadata(),
            kept.as_str().to_owned(),
            kept.metadata(),
        ] {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            if !p.exists() {
                std::fs::write(&p, b"orphan").expect("write");
            }
            let t = std::time::UNIX_EPOCH
                + std::time::Duration::from_micros(
                    u64::try_from(T0 - 48 * HOUR).expect("positive"),
                );
            std::fs::File::options()
                .write(true)
                .open(&p)
                .expect("open")
                .set_modified(t)
                .expect("mtime");
        }
        h.clock.advance(48 * HOUR);
        let c = h.s.collect_blobs(true).await.expect("collect");
        assert_eq!(c.deleted, vec![stray.as_str().to_owned()], "{c:?}");
        assert_eq!(c.foreign, 0, "upstream/ keys are blob keys: {c:?}");
        assert!(
            present(&root, &kept),
            "a referenced cached upstream file was deleted"
        );
        assert!(!present(&root, &stray));
        assert!(!root.join(stray.metadata()).exists());
        // fsck agrees: no orphan is left, and the kept one is not called one (its bytes are a
        // stand-in, which fsck's copy check reports; that is the next test).
        let report = h.s.fsck(&[], false).await.expect("fsck");
        assert!(
            !report
                .findings
                .iter()
                .any(|f| f.kind == crate::fsck::FindingKind::OrphanBlob
                    && f.subject.starts_with("upstream/")),
            "{:?}",
            report.findings
        );
    }

    /// fsck reads every cached upstream copy; a damaged one is reported and, with repair,
    /// dropped (row and blobs) so the next request fetches it again.
    #[tokio::test]
    async fn fsck_finds_and_drops_a_damaged_upstream_copy() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let tmp = h.dir().join("tmp-good");
        std::fs::write(&tmp, b"good bytes").expect("write");
        let sha256 = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b"good bytes"))
        };
        let f = CheckedUpstreamFile {
            sha256: &sha256,
            project: "pub-lib",
            version: "1.0",
            filename: "g-1.0.tar.gz",
            size: 10,
            upstream_url: "https://upstream.example/simple/",
        };
        assert!(h.s.keep_upstream_file(&f, &tmp).await.expect("keep"));
        let key = BlobKey::for_upstream(&sha256, "g-1.0.tar.gz").expect("key");
        let report = h.s.fsck(&[], false).await.expect("fsck");
        assert!(report.findings.is_empty(), "{:?}", report.findings);
        std::fs::write(root.join(key.as_str()), b"evil bytes").expect("damage");
        let report = h.s.fsck(&[], false).await.expect("fsck");
        let found: Vec<_> = report
            .findings
            .iter()
            .map(|f| (f.kind.as_str(), f.subject.clone()))
            .collect();
        assert_eq!(found, [("upstream-copy-bad", key.as_str().to_owned())]);
        let report = h.s.fsck(&[], true).await.expect("fsck");
        assert!(
            report.findings.iter().all(|f| f.repaired),
            "{:?}",
            report.findings
        );
        assert!(
            h.s.cached_upstream_file(&sha256)
                .await
                .expect("row")
                .is_none()
        );
        assert!(!present(&root, &key));
    }

    /// Keep metadata (`body`, in a temp file) for the file `seed` names.
    async fn keep_meta(
        h: &Harness,
        seed: &str,
        filename: &str,
        body: &[u8],
        alone: bool,
    ) -> MetadataKept {
        let tmp = h.dir().join(format!("meta-{seed}"));
        std::fs::write(&tmp, body).expect("write");
        let sha256 = sha(seed);
        let f = CheckedUpstreamFile {
            sha256: &sha256,
            project: "pub-lib",
            version: "1.0",
            filename,
            size: 10,
            upstream_url: "https://upstream.example/simple/",
        };
        h.s.keep_upstream_metadata(&f, &sha(&format!("meta-{seed}")), &tmp, alone)
            .await
            .expect("keep metadata")
    }

    /// Metadata kept beside a kept file is recorded; metadata of a file just kept that lands
    /// after the file was evicted (a slow metadata fetch) is deleted with the key's blobs, not
    /// left as an orphan.
    #[tokio::test]
    async fn metadata_kept_after_its_file_was_evicted_leaves_nothing_behind() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let kept = keep(&h, "m1", "m1-1.0-py3-none-any.whl", 10).await;
        let body = b"Metadata-Version: 2.1\n";
        let k = keep_meta(&h, "m1", "m1-1.0-py3-none-any.whl", body, false).await;
        assert_eq!(k, MetadataKept::OnFile);
        assert_eq!(
            std::fs::read(root.join(kept.metadata())).expect("read"),
            body
        );
        let again =
            h.s.cached_upstream_file(&sha("m1"))
                .await
                .expect("row")
                .expect("kept");
        assert_eq!(again.metadata_sha256, Some(sha("meta-m1")));

        let gone = keep(&h, "m2", "m2-1.0-py3-none-any.whl", 10).await;
        let row =
            h.s.cached_upstream_file(&sha("m2"))
                .await
                .expect("row")
                .expect("kept");
        h.s.drop_upstream_copy(&row).await.expect("evict");
        assert!(!present(&root, &gone));
        let k = keep_meta(&h, "m2", "m2-1.0-py3-none-any.whl", body, false).await;
        assert_eq!(k, MetadataKept::FileGone);
        assert!(
            !root.join(gone.metadata()).exists(),
            "the late metadata stayed behind"
        );
        assert!(!present(&root, &gone));
        assert!(
            h.s.cached_upstream_metadata(&sha("m2"))
                .await
                .expect("m")
                .is_none()
        );
        assert_eq!(h.s.db.blob_claim_counts().await.expect("counts"), (0, 0));
    }

    /// Metadata of a file not kept is kept on its own, counts against the cap, is evicted
    /// least recently downloaded first with the files, and a file kept later takes it over.
    #[tokio::test]
    async fn metadata_kept_alone_counts_against_the_cap_and_is_taken_over() {
        let h = Harness::with(|_, s| s.upstream.cache_max_bytes = 250).await;
        let root = h.dir().join("files");
        let a_key = BlobKey::for_upstream(&sha("a"), "a-1.0.tar.gz").expect("key");
        let k = keep_meta(&h, "a", "a-1.0.tar.gz", &[b'm'; 100], true).await;
        assert_eq!(k, MetadataKept::Alone);
        assert!(root.join(a_key.metadata()).exists());
        assert!(!present(&root, &a_key));
        // its file kept: the file's row records it, and the bytes counted are the file's
        h.clock.advance(1);
        keep(&h, "a", "a-1.0.tar.gz", 100).await;
        let row =
            h.s.cached_upstream_file(&sha("a"))
                .await
                .expect("row")
                .expect("kept");
        assert_eq!(row.metadata_sha256, Some(sha("meta-a")));
        assert!(
            h.s.cached_upstream_metadata(&sha("a"))
                .await
                .expect("m")
                .is_none()
        );
        assert_eq!(h.s.db.upstream_cache_bytes().await.expect("bytes"), 100);
        // metadata alone for b (100 bytes) then a file c (100): 300 > 250, and the metadata
        // of b, downloaded least recently, goes (a was touched after it)
        h.clock.advance(1);
        let b_key = BlobKey::for_upstream(&sha("b"), "b-1.0.tar.gz").expect("key");
        keep_meta(&h, "b", "b-1.0.tar.gz", &[b'm'; 100], true).await;
        h.clock.advance(1);
        h.s.touch_upstream_file(&row);
        h.clock.advance(1);
        let c = keep(&h, "c", "c-1.0.tar.gz", 100).await;
        assert!(
            h.s.cached_upstream_metadata(&sha("b"))
                .await
                .expect("m")
                .is_none()
        );
        assert!(!root.join(b_key.metadata()).exists());
        assert!(present(&root, &a_key) && present(&root, &c));
        assert_eq!(h.s.db.upstream_cache_bytes().await.expect("bytes"), 200);
    }

    /// fsck reads metadata kept on its own; a damaged copy is reported and, with repair,
    /// dropped (row and blob).
    #[tokio::test]
    async fn fsck_finds_and_drops_damaged_metadata_kept_alone() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let body = b"Metadata-Version: 2.1\nName: d\n";
        let tmp = h.dir().join("meta-d");
        std::fs::write(&tmp, body).expect("write");
        let sha256 = sha("d");
        let meta_sha = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(body))
        };
        let f = CheckedUpstreamFile {
            sha256: &sha256,
            project: "pub-lib",
            version: "1.0",
            filename: "d-1.0.tar.gz",
            size: 10,
            upstream_url: "https://upstream.example/simple/",
        };
        let k =
            h.s.keep_upstream_metadata(&f, &meta_sha, &tmp, true)
                .await
                .expect("keep");
        assert_eq!(k, MetadataKept::Alone);
        let key = BlobKey::for_upstream(&sha256, "d-1.0.tar.gz").expect("key");
        assert!(
            h.s.fsck(&[], false)
                .await
                .expect("fsck")
                .findings
                .is_empty()
        );
        std::fs::write(
            root.join(key.metadata()),
            b"Metadata-Version: 2.1\nName: e\n",
        )
        .expect("damage");
        let report = h.s.fsck(&[], true).await.expect("fsck");
        let found: Vec<_> = report
            .findings
            .iter()
            .map(|f| (f.kind.as_str(), f.subject.clone(), f.repaired))
            .collect();
        assert_eq!(found, [("upstream-copy-bad", key.metadata(), true)]);
        assert!(
            h.s.cached_upstream_metadata(&sha256)
                .await
                .expect("m")
                .is_none()
        );
        assert!(!root.join(key.metadata()).exists());
    }

    /// Past `upstream.cache_max_bytes` the least recently downloaded go, rows and blobs.
    #[tokio::test]
    async fn eviction_takes_the_least_recently_downloaded_first() {
        let h = Harness::with(|_, s| s.upstream.cache_max_bytes = 250).await;
        let root = h.dir().join("files");
        let a = keep(&h, "a", "a-1.0.tar.gz", 100).await;
        h.clock.advance(HOUR);
        let b = keep(&h, "b", "b-1.0.tar.gz", 100).await;
        h.clock.advance(HOUR);
        // a is downloaded again: b is now the least recently downloaded.
        let row =
            h.s.cached_upstream_file(&sha("a"))
                .await
                .expect("row")
                .expect("a");
        h.s.touch_upstream_file(&row);
        assert_eq!(
            h.s.upstream_touches.pending(),
            1,
            "remembered, not written yet"
        );
        h.clock.advance(HOUR);
        let c = keep(&h, "c", "c-1.0.tar.gz", 100).await;
        assert!(present(&root, &a) && present(&root, &c));
        assert!(!present(&root, &b), "the least recently downloaded stays");
        assert!(
            h.s.cached_upstream_file(&sha("b"))
                .await
                .expect("row")
                .is_none()
        );
        assert_eq!(h.s.db.upstream_cache_bytes().await.expect("bytes"), 200);
    }
}

#[cfg(test)]
mod cache_bytes_tests {
    use super::{CacheBytes, RESUM_EVERY_MICROS};

    #[test]
    fn a_keep_skips_the_sum_only_with_a_recent_estimate_well_under_the_cap() {
        let b = CacheBytes::default();
        assert!(!b.add_if_room(1, 10, 1_000), "no sum yet");
        b.summed(100, 10);
        assert!(b.add_if_room(500, 11, 1_000));
        assert!(
            b.add_if_room(300, 12, 1_000),
            "900: exactly 90 % of the cap"
        );
        assert!(!b.add_if_room(1, 13, 1_000), "past 90 %: sum and evict");
        b.summed(100, 20);
        assert!(!b.add_if_room(1, 20 + RESUM_EVERY_MICROS, 1_000), "too old");
        assert!(!b.add_if_room(1, 19, 1_000), "a clock moved back");
        assert!(b.add_if_room(1, 21, 1_000));
    }
}
