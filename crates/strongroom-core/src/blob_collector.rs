//! Blobs no file references are deleted: the loser's wheel in a race for a new name, the second
//! sdist of a release, an upload that failed or was killed between writing its blob and
//! committing its row, and any object the database has never heard of.
//!
//! A blob is written before the row that references it (a row must never point at nothing), and
//! the blob store and the database cannot commit together. So:
//!
//! 1. **Claim.** Before the put, the upload commits a claim on its key (`blob_claims`; the
//!    `.metadata` sibling goes with the key). A claim is *live* for `blobs.claim_grace_minutes`.
//! 2. **Put**, then **publish**: the publish transaction deletes the claim (settles it) in the
//!    same transaction that inserts the file row; if the claim is no longer there, it records
//!    nothing (`StoreError::ClaimExpired`).
//! 3. **Release.** A refused, duplicate or failed upload gives its claim up in the transaction of
//!    step 4 for its key, so the loser of a race leaves nothing even before the collector runs
//!    (and if that transaction fails, the claim stays and expires into the job's hands).
//! 4. **Collect a key.** In one transaction: if no file row references the key, no live claim
//!    protects it and no other collector announced a deletion of it within the lease, announce
//!    the deletion (`blob_deletions`) and drop the key's expired claims; commit. Then delete
//!    `<key>.metadata` and `<key>` (idempotent: absent is fine), checking before each delete that
//!    less than half the lease has passed (else stop); then withdraw the announcement, also
//!    when a delete failed (the blob store down): every delete has returned by then, and the
//!    key, unreferenced, is collected again later. A claim on an announced key waits until the announcement is
//!    withdrawn (or older than the lease: its collector died, and by then stopped deleting).
//! 5. **The job** collects the keys of expired claims every run, and, at start, every
//!    `blobs.scan_interval_hours` and on `strongroom admin run-jobs`, lists the whole store
//!    (folder or bucket) and collects every key no row references whose objects are all older
//!    than the grace period (a server of an older version writes blobs without claims).
//!    Objects whose names are not blob keys are left alone.
//!
//! Every transaction about one key (claim, publish, collect, withdraw) takes the key's lock
//! first (a PostgreSQL advisory lock; SQLite's one writer), so they are ordered, and each sees
//! what the ones before it committed. Why no interleaving deletes a referenced blob — take any
//! committed file row R for key K and any collector (or releasing upload) D that deletes K's
//! blobs after its decision transaction T_D:
//!
//! - R committed before T_D: T_D sees R and deletes nothing. Rows are never deleted.
//! - R committed after T_D: R's publish settled a claim C that was still in the table.
//!   - C was committed before T_D: T_D saw C. Live → T_D deletes nothing. Expired → T_D
//!     deleted C, so R's publish could not settle it: contradiction.
//!   - C was committed after T_D: C's claim transaction saw D's announcement, fresh (C waited
//!     until D withdrew it, which D does only after its deletes returned) or older than the
//!     lease (D stops issuing deletes after half of it). Either way R's put came after D's
//!     deletes, so K's blob exists when R commits.
//!
//! The same bytes uploaded again while a refused copy is being collected (a twine retry) are
//! the third case: the retry's claim waits for the deletion, then writes the blob again.
//! Two collectors on one key: one announcement wins, the other finds it fresh and skips. A
//! collector and a publish of the same key: ordered by the key lock (first two cases). A server
//! killed at any step: a claim without a publish expires and is collected; an announcement
//! without a withdrawal expires and is taken over; blobs deleted without the announcement being
//! withdrawn are deleted again (idempotent). The limits, for the operator: clocks of servers
//! sharing a database must agree to well within the grace period; one delete request must not
//! hang for half the lease (`DELETION_LEASE`, ten minutes; object_store's retries give up well
//! before); an upload that stalls for longer than the grace between its claim and its publish
//! fails (500, logged) and is simply repeated.
//! Cached upstream files (`core::upstream_cache`, keys under `upstream/`) follow the same
//! protocol: a fetch claims the key, puts the blob, and inserts its `upstream_files` row settling
//! the claim; "referenced" means a `files` row or an `upstream_files` row. Unlike file rows, an
//! upstream row may be deleted (eviction, a damaged copy), under the key's lock, before the
//! collector's step for the key: the argument above still holds, since a row deleted before T_D
//! protects nothing and one inserted after T_D settled a claim (the second case).
//! What is protected is what the database references: a refused upload is never visible, and
//! once its release (or the collector after the grace period) has run, it leaves no bytes.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use strongroom_store::{BlobClaim, BlobKey, ClaimOutcome};

use crate::{CoreError, Services};

/// How long an announced deletion holds off new claims on its key; its collector stops
/// deleting after half of it.
pub const DELETION_LEASE: Duration = Duration::from_secs(600);

/// How long an upload waits for a deletion of its own key to finish before giving up.
const CLAIM_WAIT: Duration = Duration::from_secs(15);

/// Keys collected per run from expired claims (the rest next run).
const EXPIRED_CLAIMS_PER_RUN: i64 = 10_000;

/// Listed objects looked up in the database at once.
const SCAN_BATCH: usize = 500;

/// Unreferenced keys a listing holds before it collects them (and forgets them): the memory of
/// a scan is bounded by this and [`SCAN_BATCH`], not by the store's size or its orphans.
const ORPHANS_HELD: usize = 10_000;

/// The folder part of an object's name (`None` at the top).
fn folder_of(key: &str) -> Option<&str> {
    key.rsplit_once('/').map(|(folder, _)| folder)
}

pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The blob key an object belongs to: itself, or the file beside a `.metadata` object. `None`
/// for anything that is not named like a blob (never touched).
pub(crate) fn owning_key(object: &str) -> Option<String> {
    if let Some(base) = object.strip_suffix(".metadata")
        && BlobKey::parse_stored(base).is_some()
    {
        return Some(base.to_owned());
    }
    BlobKey::parse_stored(object).map(|k| k.as_str().to_owned())
}

/// What one collector run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Keys whose blobs were deleted.
    pub deleted: Vec<String>,
    /// Objects listed (0 without a scan).
    pub listed: u64,
    /// Listed objects whose names are not blob keys (left alone).
    pub foreign: u64,
}

impl Services {
    pub(crate) fn claim_grace_micros(&self) -> i64 {
        micros(Duration::from_secs(
            self.settings.blobs.claim_grace_minutes.saturating_mul(60),
        ))
    }

    /// Claim `key` before writing its blob, waiting out a deletion of the same key in progress.
    pub(crate) async fn claim_blob_key(&self, key: &BlobKey) -> Result<BlobClaim, CoreError> {
        let started = Instant::now();
        loop {
            match self
                .db
                .claim_blob(key.as_str(), self.now(), micros(DELETION_LEASE))
                .await?
            {
                ClaimOutcome::Claimed(c) => return Ok(c),
                ClaimOutcome::DeletionInProgress if started.elapsed() < CLAIM_WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                ClaimOutcome::DeletionInProgress => {
                    return Err(CoreError::Conflict(
                        "A copy of this file is being removed from storage right now. Upload it again in a few minutes.".into(),
                    ));
                }
            }
        }
    }

    /// The upload is over without its claim being settled (refused, duplicate, failed): give the
    /// claim up and delete the key's blobs now if nothing else protects them, in one transaction.
    /// Best effort: if it fails (the database being full, say), the claim stays, expires, and
    /// the collector deletes the blobs after the grace period.
    pub(crate) async fn release_claim(&self, claim: &BlobClaim, still_held: bool) {
        let live_after = self.now().saturating_sub(self.claim_grace_micros());
        let release = still_held.then_some(claim);
        if let Err(e) = self.collect_key(&claim.blob_key, live_after, release).await {
            tracing::warn!(key = %claim.blob_key, error = %e, "cannot delete an unused blob now; the collector will after the grace period");
        }
    }

    /// Step 4 of the module doc for one key (giving up `release` first). True when its blobs
    /// were deleted.
    pub(crate) async fn collect_key(
        &self,
        key: &str,
        live_after: i64,
        release: Option<&BlobClaim>,
    ) -> Result<bool, CoreError> {
        let lease_micros = micros(DELETION_LEASE);
        let Some(lease) = self
            .db
            .begin_blob_deletion(key, self.now(), live_after, lease_micros, release)
            .await?
        else {
            return Ok(false);
        };
        let deleted = self.delete_key_objects(key).await;
        // Every delete has returned, done or failed: nothing of this collector's can land on
        // the key any more, so the announcement ends either way. Kept after a failure, it would
        // hold off an upload of the same bytes for the whole lease (a blob store outage would
        // block every retry of a file tried during it); withdrawn, a new claim writes both
        // objects again before its row commits, and a blob left behind is collected later
        // (its key is unreferenced).
        let withdrawn = self.db.finish_blob_deletion(&lease).await;
        deleted?;
        withdrawn?;
        Ok(true)
    }

    /// Delete `<key>.metadata`, then `<key>` (so a key never loses its blob and keeps its
    /// metadata), stopping after half the lease.
    async fn delete_key_objects(&self, key: &str) -> Result<(), CoreError> {
        let started = Instant::now();
        for object in [format!("{key}.metadata"), key.to_owned()] {
            if started.elapsed() > DELETION_LEASE / 2 {
                return Err(CoreError::Internal(format!(
                    "deleting the blobs of {key} took longer than half the lease; left for the next run"
                )));
            }
            self.blobs.delete(&object).await?;
        }
        Ok(())
    }

    /// One collector run: the keys of expired claims, and with `scan` every key the store lists
    /// that no row references and whose objects are all older than the grace period.
    pub async fn collect_blobs(&self, scan: bool) -> Result<Collected, CoreError> {
        self.collect_blobs_holding(scan, SCAN_BATCH, ORPHANS_HELD)
            .await
    }

    /// [`Services::collect_blobs`], collecting the unreferenced keys found so far whenever
    /// `orphans_held` of them are waiting (after a database batch), except those of the folder
    /// being listed, whose `.metadata` sibling may be next: a key goes only when all its
    /// objects are older than the grace period, as in one pass over everything.
    pub(crate) async fn collect_blobs_holding(
        &self,
        scan: bool,
        scan_batch: usize,
        orphans_held: usize,
    ) -> Result<Collected, CoreError> {
        let scan_batch = scan_batch.max(1);
        let live_after = self.now().saturating_sub(self.claim_grace_micros());
        let mut out = Collected::default();
        for key in self
            .db
            .expired_blob_claims(live_after, EXPIRED_CLAIMS_PER_RUN)
            .await?
        {
            if self.collect_key(&key, live_after, None).await? {
                out.deleted.push(key);
            }
        }
        if !scan {
            return Ok(out);
        }
        // Unreferenced keys with the newest write time of their objects: at most
        // `orphans_held` in memory, however large the store and however many orphans it holds.
        let mut orphans: BTreeMap<String, i64> = BTreeMap::new();
        let mut batch: Vec<(String, i64)> = Vec::with_capacity(scan_batch);
        let mut listing = self.blobs.list();
        loop {
            let next = listing.next().await.transpose()?;
            if let Some(obj) = &next {
                out.listed += 1;
                match owning_key(&obj.key) {
                    Some(k) => batch.push((k, obj.modified_micros)),
                    None => out.foreign += 1,
                }
            }
            if batch.len() >= scan_batch || (next.is_none() && !batch.is_empty()) {
                let keys: Vec<String> = batch
                    .iter()
                    .map(|(k, _)| k.clone())
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let unreferenced: HashSet<String> = self
                    .db
                    .unreferenced_blob_keys(&keys)
                    .await?
                    .into_iter()
                    .collect();
                for (k, m) in batch.drain(..) {
                    if unreferenced.contains(&k) {
                        let newest = orphans.entry(k).or_insert(m);
                        *newest = (*newest).max(m);
                    }
                }
            }
            if batch.is_empty() && (next.is_none() || orphans.len() >= orphans_held.max(1)) {
                // A key's objects (`<key>`, `<key>.metadata`) share a folder, listed together
                // (folder store) or as adjacent names (bucket): the keys of the folder being
                // listed may still meet a sibling, and wait; the others are judged now.
                let open = next.as_ref().and_then(|o| folder_of(&o.key));
                for (key, newest) in std::mem::take(&mut orphans) {
                    if open.is_some() && folder_of(&key) == open {
                        orphans.insert(key, newest);
                    } else if newest < live_after
                        && self.collect_key(&key, live_after, None).await?
                    {
                        out.deleted.push(key);
                    }
                }
            }
            if next.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// The collector as a periodic job: report lines.
    pub(crate) async fn blob_collector_job(&self, scan: bool) -> Result<Vec<String>, CoreError> {
        let c = self.collect_blobs(scan).await?;
        let mut lines = Vec::new();
        if !c.deleted.is_empty() {
            lines.push(format!(
                "blob collector: deleted the blobs of {} key(s) no file references",
                c.deleted.len()
            ));
        }
        if scan {
            lines.push(format!(
                "blob collector: listed {} object(s) in the blob store{}",
                c.listed,
                if c.foreign > 0 {
                    format!(", {} not named like blobs (left alone)", c.foreign)
                } else {
                    String::new()
                }
            ));
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use strongroom_store::{BlobKey, ClaimOutcome};

    use super::{DELETION_LEASE, micros, owning_key};
    use crate::test_harness::{Harness, T0, sdist};

    const HOUR: i64 = 3_600_000_000;

    fn key(seed: &str, filename: &str) -> BlobKey {
        use sha2::Digest;
        BlobKey::for_file(&hex::encode(sha2::Sha256::digest(seed)), filename).expect("key")
    }

    /// Write `key` and its `.metadata` into the folder store, last modified at `at` (µs).
    fn write(root: &Path, key: &BlobKey, at: i64) {
        for name in [key.as_str().to_owned(), key.metadata()] {
            let p = root.join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"bytes").expect("write");
            let t = std::time::UNIX_EPOCH
                + std::time::Duration::from_micros(u64::try_from(at).expect("positive"));
            std::fs::File::options()
                .write(true)
                .open(&p)
                .expect("open")
                .set_modified(t)
                .expect("mtime");
        }
    }

    fn present(root: &Path, key: &BlobKey) -> (bool, bool) {
        (
            root.join(key.as_str()).exists(),
            root.join(key.metadata()).exists(),
        )
    }

    /// Every kind of blob through one collector: a published file's (kept, however old), an
    /// abandoned claim's (kept while the claim lives, deleted after), one the database never
    /// heard of (kept while young, deleted once older than the grace period), one whose upload
    /// is in flight (its live claim protects it), and an object that is no blob (never touched).
    #[tokio::test]
    async fn the_collector_deletes_exactly_what_nothing_protects() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let u = h.user("alice").await;
        let mut f = sdist("demo", "1.0", &u, T0, "demo-1.0.tar.gz".into(), "pub");
        let published = key("pub", "demo-1.0.tar.gz");
        f.blob_key = published.as_str().to_owned();
        write(&root, &published, T0 - 48 * HOUR);
        h.s.db.publish_file(&f).await.expect("publish");

        let abandoned = key("abandoned", "demo-2.0.tar.gz");
        let ClaimOutcome::Claimed(_) =
            h.s.db
                .claim_blob(abandoned.as_str(), T0, micros(DELETION_LEASE))
                .await
                .expect("claim")
        else {
            panic!("claimed")
        };
        write(&root, &abandoned, T0);
        let stray_old = key("stray old", "demo-3.0.tar.gz");
        write(&root, &stray_old, T0 - 2 * HOUR);
        let stray_young = key("stray young", "demo-4.0.tar.gz");
        write(&root, &stray_young, T0);
        std::fs::create_dir_all(root.join("notes")).expect("mkdir");
        std::fs::write(root.join("notes/README"), b"mine").expect("write");

        // Now: the old stray goes (no claim, older than the grace period); the rest stays.
        let c = h.s.collect_blobs(true).await.expect("collect");
        assert_eq!(c.deleted, vec![stray_old.as_str().to_owned()]);
        assert_eq!((c.listed, c.foreign), (9, 1));
        assert_eq!(present(&root, &stray_old), (false, false));
        assert_eq!(present(&root, &abandoned), (true, true), "its claim lives");
        assert_eq!(present(&root, &stray_young), (true, true), "young");

        // Two hours on, a new upload is in flight on the young stray's key (same bytes again).
        h.clock.advance(2 * HOUR);
        let ClaimOutcome::Claimed(live) =
            h.s.db
                .claim_blob(stray_young.as_str(), T0 + 2 * HOUR, micros(DELETION_LEASE))
                .await
                .expect("claim")
        else {
            panic!("claimed")
        };
        // Without a listing only expired claims are looked at: the abandoned claim's blobs go.
        let c = h.s.collect_blobs(false).await.expect("collect");
        assert_eq!(c.deleted, vec![abandoned.as_str().to_owned()]);
        assert_eq!(present(&root, &abandoned), (false, false));
        let c = h.s.collect_blobs(true).await.expect("collect");
        assert!(c.deleted.is_empty(), "{c:?}");
        assert_eq!(
            present(&root, &stray_young),
            (true, true),
            "a live claim protects it"
        );
        assert_eq!(present(&root, &published), (true, true), "referenced");
        assert!(root.join("notes/README").exists());
        // The upload is refused: giving up its claim deletes its blobs at once.
        h.s.release_claim(&live, true).await;
        assert_eq!(present(&root, &stray_young), (false, false));
        assert_eq!(h.s.db.blob_claim_counts().await.expect("n"), (0, 0));
        // Nothing left to do, and the job says what it looked at.
        let lines = h.s.blob_collector_job(true).await.expect("job");
        assert_eq!(lines, vec!["blob collector: listed 3 object(s) in the blob store, 1 not named like blobs (left alone)".to_owned()]);
    }

    /// A listing that looks up one object at a time and holds at most one orphan (in
    /// production 500 and ten thousand) collects
    /// the same as one pass over everything: every old orphan, and never a key one of whose
    /// objects is young (here the wheel is young and its `.metadata` old, in one folder).
    #[tokio::test]
    async fn a_scan_holding_few_orphans_collects_exactly_what_a_whole_pass_does() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let old: Vec<BlobKey> = (0..6)
            .map(|i| key(&format!("old {i}"), &format!("demo-{i}.0.tar.gz")))
            .collect();
        for k in &old {
            write(&root, k, T0 - 2 * HOUR);
        }
        let young = key("young", "demo-9.0-py3-none-any.whl");
        write(&root, &young, T0 - 2 * HOUR);
        let t = std::time::UNIX_EPOCH
            + std::time::Duration::from_micros(u64::try_from(T0).expect("positive"));
        std::fs::File::options()
            .write(true)
            .open(root.join(young.as_str()))
            .expect("open")
            .set_modified(t)
            .expect("mtime");
        let c =
            h.s.collect_blobs_holding(true, 1, 1)
                .await
                .expect("collect");
        let mut deleted = c.deleted.clone();
        deleted.sort();
        let mut want: Vec<String> = old.iter().map(|k| k.as_str().to_owned()).collect();
        want.sort();
        assert_eq!(deleted, want);
        assert_eq!(c.listed, 14);
        for k in &old {
            assert_eq!(present(&root, k), (false, false));
        }
        assert_eq!(present(&root, &young), (true, true), "young wheel");
    }

    /// A refused upload whose blob cannot be deleted (the blob store failing) still ends its
    /// deletion: the same file uploaded again claims its key at once instead of waiting out
    /// the lease, and the blob left behind is collected by a later run.
    #[tokio::test]
    async fn a_failed_delete_ends_its_lease() {
        let h = Harness::new().await;
        let root = h.dir().join("files");
        let k = key("refused", "demo-1.0-py3-none-any.whl");
        let ClaimOutcome::Claimed(claim) =
            h.s.db
                .claim_blob(k.as_str(), T0, micros(DELETION_LEASE))
                .await
                .expect("claim")
        else {
            panic!("claimed")
        };
        write(&root, &k, T0);
        // `<key>.metadata` as a folder with something in it: its delete fails, even as root.
        let meta = root.join(k.metadata());
        std::fs::remove_file(&meta).expect("rm");
        std::fs::create_dir_all(meta.join("x")).expect("mkdir");
        h.s.release_claim(&claim, true).await;
        assert!(root.join(k.as_str()).exists(), "nothing after the failure");
        assert_eq!(
            h.s.db.blob_claim_counts().await.expect("n"),
            (0, 0),
            "no claim, and no announced deletion left behind"
        );
        let again =
            h.s.db
                .claim_blob(k.as_str(), T0 + 1, micros(DELETION_LEASE))
                .await
                .expect("claim");
        assert!(matches!(again, ClaimOutcome::Claimed(_)), "{again:?}");
        let ClaimOutcome::Claimed(again) = again else {
            unreachable!()
        };
        // The retry is refused too, now with a working store: its blobs go.
        std::fs::remove_dir_all(&meta).expect("rm");
        h.s.release_claim(&again, true).await;
        assert_eq!(present(&root, &k), (false, false));
        assert_eq!(h.s.db.blob_claim_counts().await.expect("n"), (0, 0));
    }

    #[test]
    fn only_blob_names_are_collected() {
        let k = format!("ab/cd/{}/demo-1.0-py3-none-any.whl", "e".repeat(60));
        assert_eq!(owning_key(&k).as_deref(), Some(k.as_str()));
        assert_eq!(
            owning_key(&format!("{k}.metadata")).as_deref(),
            Some(k.as_str())
        );
        assert_eq!(owning_key("README"), None);
        assert_eq!(owning_key("backups/ab/cd/x.whl"), None);
        assert_eq!(owning_key("ab/cd/not-hex/x.whl"), None);
        assert_eq!(owning_key(&format!("ab/{}/x.whl", "e".repeat(62))), None);
    }
}
