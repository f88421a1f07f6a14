//! Checking the data (`strongroom admin fsck`) and what may be repaired without an operator's
//! judgement: the database's own integrity check, every file row's blob (present, its recorded
//! size and sha256) and `.metadata` companion, blobs nothing references (older than the claim
//! grace and under no live claim, exactly the collector's rule) and temp files no live process
//! holds, gaps in the journal, and the event chain. The same blob check, on a random sample, is
//! a periodic job whose findings are admin signals (`blob:missing`, `blob:damaged`):
//! `fsck::blob_signals`.
//!
//! Repair policy ([`FindingKind::repair`]): only what no one uses is deleted (an orphan blob, by
//! the collector's own transaction, which re-checks rows and claims; a stale temp file, by the
//! locked sweep). A row is never deleted and a missing or damaged blob is never replaced or
//! hidden: the finding says to restore it from a backup.

use std::path::PathBuf;

use strongroom_store::Db;
use strongroom_store::blob_check::BlobState;
use strongroom_store::fsck::FileBlob;

use crate::blob_collector::owning_key;
use crate::{CoreError, Services};

mod blob_signals;

/// What fsck found, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// The database's own check reports damage (SQLite) or rows whose parent is gone.
    DatabaseDamaged,
    /// A file row's blob is not in the blob store.
    BlobMissing,
    /// A file row's blob has other bytes than its recorded size and sha256.
    BlobDamaged,
    /// A file's `.metadata` companion is gone.
    MetadataMissing,
    /// A file's `.metadata` companion does not match its recorded sha256.
    MetadataDamaged,
    /// A blob no file row references, older than the claim grace, under no live claim.
    OrphanBlob,
    /// A temp file no live process holds (an upload cut short).
    StaleTempFile,
    /// A cached upstream file's blob (or its `.metadata`) is gone or has other bytes than its
    /// checked sha256: a copy, dropped with `--repair` and fetched again on demand.
    UpstreamCopyBad,
    /// Journal serials that are not there (mirrors following the journal skip them).
    JournalGap,
    /// The event log's hash chain is broken at an entry.
    EventChainBroken,
    /// A file row's sha256, blake2b-256 or size is not what its `file:upload` event recorded,
    /// its blob key is not derived from its blake2b-256, or no upload event names it: the row
    /// was changed outside strongroom (bytes swapped together with their digests).
    FileRowAltered,
}

/// What may be done about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Repair {
    /// Nothing uses it: `--repair` deletes it.
    Delete,
    /// Bytes users need are gone or wrong: restore them from a backup (never done for you).
    RestoreFromBackup,
    /// Evidence or the database itself: an operator decides (restore the database from a
    /// backup, compare with a recorded head).
    Investigate,
}

impl FindingKind {
    /// The kind as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::DatabaseDamaged => "database-damaged",
            FindingKind::BlobMissing => "blob-missing",
            FindingKind::BlobDamaged => "blob-damaged",
            FindingKind::MetadataMissing => "metadata-missing",
            FindingKind::MetadataDamaged => "metadata-damaged",
            FindingKind::OrphanBlob => "orphan-blob",
            FindingKind::StaleTempFile => "stale-temp-file",
            FindingKind::UpstreamCopyBad => "upstream-copy-bad",
            FindingKind::JournalGap => "journal-gap",
            FindingKind::EventChainBroken => "event-chain-broken",
            FindingKind::FileRowAltered => "file-row-altered",
        }
    }

    /// The repair policy: only what nothing uses is ever deleted.
    pub fn repair(self) -> Repair {
        match self {
            FindingKind::OrphanBlob | FindingKind::StaleTempFile | FindingKind::UpstreamCopyBad => {
                Repair::Delete
            }
            FindingKind::BlobMissing
            | FindingKind::BlobDamaged
            | FindingKind::MetadataMissing
            | FindingKind::MetadataDamaged => Repair::RestoreFromBackup,
            FindingKind::DatabaseDamaged
            | FindingKind::JournalGap
            | FindingKind::EventChainBroken
            | FindingKind::FileRowAltered => Repair::Investigate,
        }
    }

    /// What the operator should do, for the report.
    pub fn advice(self) -> &'static str {
        match self.repair() {
            Repair::Delete => "safe to delete: run with --repair",
            Repair::RestoreFromBackup => {
                "restore this object from a backup of the blob store (same key); the file row is kept and downloads of it are refused until then"
            }
            Repair::Investigate => match self {
                FindingKind::DatabaseDamaged => {
                    "stop the servers and restore the database from a backup (strongroom refuses to serve a damaged SQLite file)"
                }
                _ => {
                    "the database was changed outside strongroom: compare with a backup and a recorded head (admin log verify --expect-head)"
                }
            },
        }
    }

    /// The kind of a blob's state, for a file (`metadata`: its `.metadata` companion).
    pub fn of_blob(state: &BlobState, metadata: bool) -> Option<FindingKind> {
        match (state, metadata) {
            (BlobState::Intact, _) => None,
            (BlobState::Missing, false) => Some(FindingKind::BlobMissing),
            (BlobState::Missing, true) => Some(FindingKind::MetadataMissing),
            (BlobState::Damaged { .. }, false) => Some(FindingKind::BlobDamaged),
            (BlobState::Damaged { .. }, true) => Some(FindingKind::MetadataDamaged),
        }
    }
}

/// One finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// What it is about: a blob key, a file name, a path, a serial, an entry.
    pub subject: String,
    /// What was found.
    pub detail: String,
    pub repair: Repair,
    /// Whether `--repair` dealt with it in this run.
    pub repaired: bool,
}

impl Finding {
    fn new(kind: FindingKind, subject: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding {
            kind,
            subject: subject.into(),
            detail: detail.into(),
            repair: kind.repair(),
            repaired: false,
        }
    }

    /// One line: `kind subject: detail (advice)`.
    pub fn line(&self) -> String {
        let tail = if self.repaired {
            "repaired".to_owned()
        } else {
            self.kind.advice().to_owned()
        };
        format!(
            "{} {}: {} ({tail})",
            self.kind.as_str(),
            self.subject,
            self.detail
        )
    }
}

/// What a run looked at and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FsckReport {
    pub findings: Vec<Finding>,
    /// File rows whose blobs were read.
    pub files_checked: u64,
    /// Objects listed in the blob store.
    pub objects_listed: u64,
    /// Event log entries verified.
    pub events_checked: i64,
}

impl FsckReport {
    /// Whether anything was found that is not repaired.
    pub fn has_open_findings(&self) -> bool {
        self.findings.iter().any(|f| !f.repaired)
    }
}

/// The database's own check (`thorough`: SQLite's `integrity_check`, else `quick_check`), as
/// findings. Runs on a bare [`Db`]: a damaged file may not migrate or open as [`Services`].
pub async fn check_database(db: &Db, thorough: bool) -> Result<Vec<Finding>, CoreError> {
    Ok(db
        .integrity_problems(thorough)
        .await?
        .into_iter()
        .map(|p| Finding::new(FindingKind::DatabaseDamaged, "database", p))
        .collect())
}

const FILES_BATCH: i64 = 500;
/// At most this many orphan keys are held in memory; past it, the rest are found by the next run
/// (after a `--repair`).
const ORPHANS_HELD: usize = 10_000;

impl Services {
    /// Everything but the database's own check ([`check_database`]); with `repair`, what
    /// [`Repair::Delete`] allows is deleted. `temp_dirs`: the folders upload temp files live in.
    pub async fn fsck(&self, temp_dirs: &[PathBuf], repair: bool) -> Result<FsckReport, CoreError> {
        let mut report = FsckReport::default();
        self.fsck_files(&mut report).await?;
        self.fsck_upstream_copies(&mut report, repair).await?;
        self.fsck_upstream_metadata(&mut report, repair).await?;
        fsck_rows_vs_uploads(&self.db, &mut report.findings).await?;
        self.fsck_orphans(&mut report, repair).await?;
        for dir in temp_dirs {
            self.fsck_temp_dir(dir, &mut report, repair)?;
        }
        for gap in self.db.journal_gaps(100).await? {
            report.findings.push(Finding::new(
                FindingKind::JournalGap,
                format!("serials {}..{}", gap.after + 1, gap.next - 1),
                format!(
                    "the journal jumps from serial {} to {}: entries are gone",
                    gap.after, gap.next
                ),
            ));
        }
        match self.verify_log().await? {
            Ok(n) => report.events_checked = n,
            Err(seq) => report.findings.push(Finding::new(
                FindingKind::EventChainBroken,
                format!("event {seq}"),
                "the hash chain does not hold from this entry on",
            )),
        }
        Ok(report)
    }

    /// Every file row's blob and `.metadata`, read whole (one chunk in memory at a time).
    async fn fsck_files(&self, report: &mut FsckReport) -> Result<(), CoreError> {
        let mut after = 0;
        loop {
            let batch = self.db.file_blobs_after(after, FILES_BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.id;
            for f in &batch {
                report.files_checked += 1;
                for (kind, state) in self.check_file_blobs(f).await? {
                    report.findings.push(Finding::new(
                        kind,
                        f.blob_key.clone(),
                        describe(f, kind, &state),
                    ));
                }
            }
        }
    }

    /// Every cached upstream file's blob and `.metadata` (`upstream_files`), read whole; a bad
    /// copy is dropped with `repair` (row, then blobs), to be fetched again on demand.
    async fn fsck_upstream_copies(
        &self,
        report: &mut FsckReport,
        repair: bool,
    ) -> Result<(), CoreError> {
        let mut after = String::new();
        loop {
            let batch = self.db.upstream_files_after(&after, FILES_BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.sha256.clone();
            for row in &batch {
                report.files_checked += 1;
                let size = u64::try_from(row.size).ok();
                let mut bad = Vec::new();
                let st = self.blobs.check(&row.blob_key, size, &row.sha256).await?;
                if st != BlobState::Intact {
                    bad.push(format!(
                        "the cached upstream file {} is {st:?}",
                        row.filename
                    ));
                }
                if let Some(m) = &row.metadata_sha256 {
                    let key = format!("{}.metadata", row.blob_key);
                    let st = self.blobs.check(&key, None, m).await?;
                    if st != BlobState::Intact {
                        bad.push(format!("its metadata is {st:?}"));
                    }
                }
                if bad.is_empty() {
                    continue;
                }
                let mut f = Finding::new(
                    FindingKind::UpstreamCopyBad,
                    row.blob_key.clone(),
                    bad.join("; "),
                );
                if repair {
                    self.drop_upstream_copy(row).await?;
                    f.repaired = true;
                }
                report.findings.push(f);
            }
        }
    }

    /// Every metadata file kept without its file (`upstream_metadata`), read whole; a bad
    /// copy is dropped with `repair`, to be fetched again on demand.
    async fn fsck_upstream_metadata(
        &self,
        report: &mut FsckReport,
        repair: bool,
    ) -> Result<(), CoreError> {
        let mut after = String::new();
        loop {
            let batch = self.db.upstream_metadata_after(&after, FILES_BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            after = last.sha256.clone();
            for row in &batch {
                report.files_checked += 1;
                let key = format!("{}.metadata", row.blob_key);
                let size = u64::try_from(row.size).ok();
                let st = self.blobs.check(&key, size, &row.metadata_sha256).await?;
                if st == BlobState::Intact {
                    continue;
                }
                let mut f = Finding::new(
                    FindingKind::UpstreamCopyBad,
                    key,
                    format!("the cached metadata of {} is {st:?}", row.filename),
                );
                if repair {
                    self.drop_upstream_metadata(row).await?;
                    f.repaired = true;
                }
                report.findings.push(f);
            }
        }
    }

    /// A file's blob and its `.metadata`: the kinds found wrong, with the states found.
    pub(crate) async fn check_file_blobs(
        &self,
        f: &FileBlob,
    ) -> Result<Vec<(FindingKind, BlobState)>, CoreError> {
        let mut out = Vec::new();
        let size = u64::try_from(f.size).ok();
        let st = match size {
            Some(size) => {
                self.blobs
                    .check_file(&f.blob_key, size, &f.sha256, &f.blake2_256)
                    .await?
            }
            None => self.blobs.check(&f.blob_key, None, &f.sha256).await?,
        };
        if let Some(k) = FindingKind::of_blob(&st, false) {
            out.push((k, st));
        }
        if let Some(sha) = &f.metadata_sha256 {
            let key = format!("{}.metadata", f.blob_key);
            let st = self.blobs.check(&key, None, sha).await?;
            if let Some(k) = FindingKind::of_blob(&st, true) {
                out.push((k, st));
            }
        }
        Ok(out)
    }

    /// Keys no row references whose objects are all older than the grace and that no live
    /// claim protects; with `repair`, collected by the collector's own transaction.
    async fn fsck_orphans(&self, report: &mut FsckReport, repair: bool) -> Result<(), CoreError> {
        use futures_util::StreamExt;
        let live_after = self.now().saturating_sub(self.claim_grace_micros());
        // Unreferenced keys with their objects' newest write time; the listing is looked up in
        // batches, so memory holds one batch and the orphans (at most ORPHANS_HELD).
        let mut newest: std::collections::BTreeMap<String, i64> = Default::default();
        let mut batch: std::collections::HashMap<String, i64> = Default::default();
        let mut listing = self.blobs.list();
        loop {
            let next = listing.next().await.transpose()?;
            if let Some(obj) = &next {
                report.objects_listed += 1;
                if let Some(k) = owning_key(&obj.key) {
                    let n = batch.entry(k).or_insert(obj.modified_micros);
                    *n = (*n).max(obj.modified_micros);
                }
            }
            if batch.len() >= FILES_BATCH as usize || (next.is_none() && !batch.is_empty()) {
                let keys: Vec<String> = batch.keys().cloned().collect();
                for k in self.db.unreferenced_blob_keys(&keys).await? {
                    let at = batch.get(&k).copied().unwrap_or(i64::MAX);
                    if newest.len() < ORPHANS_HELD || newest.contains_key(&k) {
                        let n = newest.entry(k).or_insert(at);
                        *n = (*n).max(at);
                    }
                }
                batch.clear();
            }
            if next.is_none() {
                break;
            }
        }
        for (key, at) in newest {
            if at >= live_after || self.db.has_live_blob_claim(&key, live_after).await? {
                continue; // young or claimed: an upload may be about to reference it
            }
            let mut f = Finding::new(
                FindingKind::OrphanBlob,
                key.clone(),
                "no file row references it and no upload claims it",
            );
            if repair {
                f.repaired = self.collect_key(&key, live_after, None).await?;
            }
            report.findings.push(f);
        }
        Ok(())
    }

    /// Temp files in `dir` no live process holds; with `repair`, swept (the same locked sweep
    /// `serve` runs at start).
    fn fsck_temp_dir(
        &self,
        dir: &std::path::Path,
        report: &mut FsckReport,
        repair: bool,
    ) -> Result<(), CoreError> {
        let stale = strongroom_store::tempfiles::unheld(dir).map_err(|e| {
            CoreError::Internal(format!("reading the temp folder {}: {e}", dir.display()))
        })?;
        if stale.is_empty() {
            return Ok(());
        }
        let swept = if repair {
            strongroom_store::tempfiles::sweep(dir)
                .map_err(|e| {
                    CoreError::Internal(format!("sweeping the temp folder {}: {e}", dir.display()))
                })?
                .removed
                > 0
        } else {
            false
        };
        for (path, len) in stale {
            let mut f = Finding::new(
                FindingKind::StaleTempFile,
                path.display().to_string(),
                format!("{len} bytes no live process holds"),
            );
            f.repaired = swept && !path.exists();
            report.findings.push(f);
        }
        Ok(())
    }
}

/// Every file row against what its `file:upload` event recorded (the part of the data a
/// recorded log head authenticates): one [`FindingKind::FileRowAltered`] per disagreement, and
/// one for rows no upload event names. Also run by `admin restore-backup` on the backup.
pub async fn fsck_rows_vs_uploads(db: &Db, findings: &mut Vec<Finding>) -> Result<(), CoreError> {
    use strongroom_store::upload_record::RowAlteration;
    let found = db.file_rows_vs_uploads().await?;
    for a in &found.altered {
        let detail = match &a.alteration {
            RowAlteration::Differs {
                field,
                row,
                recorded,
            } => format!(
                "file {} (id {}): the row's {field} is {row}, its upload recorded {recorded}",
                a.filename, a.file_id
            ),
            RowAlteration::KeyNotDerived { expected } => format!(
                "file {} (id {}): its blob key is not derived from its blake2b-256 (expected {})",
                a.filename,
                a.file_id,
                expected.as_deref().unwrap_or("none: the digest is not one")
            ),
        };
        findings.push(Finding::new(
            FindingKind::FileRowAltered,
            a.blob_key.clone(),
            detail,
        ));
    }
    if found.truncated {
        findings.push(Finding::new(
            FindingKind::FileRowAltered,
            "files",
            format!(
                "and more file rows disagree with their uploads ({} in all)",
                found.altered_count
            ),
        ));
    }
    if found.without_upload > 0 {
        findings.push(Finding::new(
            FindingKind::FileRowAltered,
            "files",
            format!(
                "{} file row(s) that no file:upload event records",
                found.without_upload
            ),
        ));
    }
    Ok(())
}

/// What was found, in words.
pub(crate) fn describe(f: &FileBlob, kind: FindingKind, state: &BlobState) -> String {
    let what = match kind {
        FindingKind::MetadataMissing | FindingKind::MetadataDamaged => "its .metadata",
        _ => "the blob",
    };
    match state {
        BlobState::Intact => format!("{} of {} is intact", what, f.filename),
        BlobState::Missing => format!(
            "{what} of {} ({}) is not in the blob store",
            f.filename, f.project_name
        ),
        BlobState::Damaged { size, sha256 } => format!(
            "{what} of {} ({}) has {size} bytes with sha256 {sha256}; the row records {} bytes, sha256 {}",
            f.filename,
            f.project_name,
            if matches!(
                kind,
                FindingKind::MetadataMissing | FindingKind::MetadataDamaged
            ) {
                "?".to_owned()
            } else {
                f.size.to_string()
            },
            if matches!(
                kind,
                FindingKind::MetadataMissing | FindingKind::MetadataDamaged
            ) {
                f.metadata_sha256.clone().unwrap_or_default()
            } else {
                f.sha256.clone()
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_nothing_uses_is_repairable() {
        let all = [
            FindingKind::DatabaseDamaged,
            FindingKind::BlobMissing,
            FindingKind::BlobDamaged,
            FindingKind::MetadataMissing,
            FindingKind::MetadataDamaged,
            FindingKind::OrphanBlob,
            FindingKind::StaleTempFile,
            FindingKind::JournalGap,
            FindingKind::EventChainBroken,
        ];
        let deletable: Vec<_> = all
            .iter()
            .filter(|k| k.repair() == Repair::Delete)
            .collect();
        assert_eq!(
            deletable,
            [&FindingKind::OrphanBlob, &FindingKind::StaleTempFile]
        );
        for k in [FindingKind::BlobMissing, FindingKind::BlobDamaged] {
            assert_eq!(k.repair(), Repair::RestoreFromBackup);
            assert!(k.advice().contains("backup"));
        }
        let mut names: Vec<&str> = all.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn blob_states_classify_by_object() {
        let damaged = BlobState::Damaged {
            size: 3,
            sha256: "00".into(),
        };
        assert_eq!(FindingKind::of_blob(&BlobState::Intact, false), None);
        assert_eq!(
            FindingKind::of_blob(&BlobState::Missing, false),
            Some(FindingKind::BlobMissing)
        );
        assert_eq!(
            FindingKind::of_blob(&damaged, false),
            Some(FindingKind::BlobDamaged)
        );
        assert_eq!(
            FindingKind::of_blob(&BlobState::Missing, true),
            Some(FindingKind::MetadataMissing)
        );
        assert_eq!(
            FindingKind::of_blob(&damaged, true),
            Some(FindingKind::MetadataDamaged)
        );
    }

    mod services {
        use std::path::Path;

        use strongroom_store::{BlobKey, ClaimOutcome};

        use crate::fsck::{FindingKind, Repair};
        use crate::test_harness::{Harness, T0, sdist};

        const HOUR: i64 = 3_600_000_000;

        fn sha(b: &[u8]) -> String {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(b))
        }

        fn blake2(b: &[u8]) -> String {
            use blake2::Digest;
            hex::encode(blake2::Blake2b256::digest(b))
        }

        /// The key of a file whose bytes are `seed`, as an upload derives it.
        fn key(seed: &str, filename: &str) -> BlobKey {
            BlobKey::for_file(&blake2(seed.as_bytes()), filename).expect("key")
        }

        fn write(root: &Path, key: &str, data: &[u8], at: i64) {
            let p = root.join(key);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, data).expect("write");
            let t = std::time::UNIX_EPOCH
                + std::time::Duration::from_micros(u64::try_from(at).expect("positive"));
            std::fs::File::options()
                .write(true)
                .open(&p)
                .expect("open")
                .set_modified(t)
                .expect("mtime");
        }

        /// Publish `name`'s sdist with the bytes `stored` recorded as its content; returns its key.
        async fn publish(h: &Harness, u: &strongroom_store::model::User, name: &str) -> BlobKey {
            let filename = format!("{name}-1.0.tar.gz");
            let mut f = sdist(name, "1.0", u, T0, filename.clone(), name);
            let k = key(name, &filename);
            f.blob_key = k.as_str().to_owned();
            f.sha256 = sha(name.as_bytes());
            f.blake2_256 = blake2(name.as_bytes());
            f.size = i64::try_from(name.len()).expect("len");
            h.s.db.publish_file(&f).await.expect("publish");
            k
        }

        /// An intact, a missing and a damaged blob, an old orphan, an old orphan an upload has
        /// just claimed again, a young one and a stale temp file: each classified, and
        /// `--repair` deletes exactly the old unclaimed orphan and the temp file.
        #[tokio::test]
        async fn findings_are_classified_and_repair_deletes_only_what_nothing_uses() {
            let h = Harness::new().await;
            let root = h.dir().join("files");
            let u = h.user("alice").await;
            let intact = publish(&h, &u, "intact").await;
            write(&root, intact.as_str(), b"intact", T0 - 2 * HOUR);
            let _missing = publish(&h, &u, "missing").await;
            let damaged = publish(&h, &u, "damaged").await;
            write(&root, damaged.as_str(), b"dAmaged", T0 - 2 * HOUR);
            let orphan = key("orphan", "orphan-1.0.tar.gz");
            write(&root, orphan.as_str(), b"x", T0 - 2 * HOUR);
            let claimed = key("claimed", "claimed-1.0.tar.gz");
            write(&root, claimed.as_str(), b"x", T0 - 2 * HOUR);
            let ClaimOutcome::Claimed(_) =
                h.s.db
                    .claim_blob(claimed.as_str(), T0, 600_000_000)
                    .await
                    .expect("claim")
            else {
                panic!("claimed")
            };
            let young = key("young", "young-1.0.tar.gz");
            write(&root, young.as_str(), b"x", T0);
            let tmp = h.dir().join("tmp");
            std::fs::create_dir_all(&tmp).expect("mkdir");
            std::fs::write(tmp.join("up-stale"), b"half").expect("write");

            let kinds = |r: &super::super::FsckReport| {
                let mut k: Vec<(FindingKind, String, bool)> = r
                    .findings
                    .iter()
                    .map(|f| (f.kind, f.subject.clone(), f.repaired))
                    .collect();
                k.sort_by_key(|x| x.0.as_str());
                k
            };
            let stale = tmp.join("up-stale").display().to_string();
            let r =
                h.s.fsck(std::slice::from_ref(&tmp), false)
                    .await
                    .expect("fsck");
            assert_eq!(r.files_checked, 3);
            let missing_key = key("missing", "missing-1.0.tar.gz").as_str().to_owned();
            assert_eq!(
                kinds(&r),
                [
                    (FindingKind::BlobDamaged, damaged.as_str().to_owned(), false),
                    (FindingKind::BlobMissing, missing_key.clone(), false),
                    (FindingKind::OrphanBlob, orphan.as_str().to_owned(), false),
                    (FindingKind::StaleTempFile, stale.clone(), false),
                ]
            );
            assert!(r.has_open_findings());
            let r =
                h.s.fsck(std::slice::from_ref(&tmp), true)
                    .await
                    .expect("repair");
            assert_eq!(
                kinds(&r),
                [
                    (FindingKind::BlobDamaged, damaged.as_str().to_owned(), false),
                    (FindingKind::BlobMissing, missing_key, false),
                    (FindingKind::OrphanBlob, orphan.as_str().to_owned(), true),
                    (FindingKind::StaleTempFile, stale, true),
                ]
            );
            for f in &r.findings {
                assert_eq!(f.repaired, f.repair == Repair::Delete, "{f:?}");
            }
            assert!(!root.join(orphan.as_str()).exists());
            assert!(!tmp.join("up-stale").exists());
            for kept in [&intact, &damaged, &claimed, &young] {
                assert!(root.join(kept.as_str()).exists(), "{kept}");
            }
        }

        /// The sampled job signals each bad blob once an hour, not on every run.
        #[tokio::test]
        async fn the_sampled_job_signals_bad_blobs_once_an_hour() {
            let h = Harness::with(|_, s| s.blobs.verify_sample = 10).await;
            let root = h.dir().join("files");
            let u = h.user("alice").await;
            let ok = publish(&h, &u, "fine").await;
            write(&root, ok.as_str(), b"fine", T0);
            publish(&h, &u, "gone").await;
            let count = |h: &Harness| {
                let h = h.s.clone();
                async move {
                    h.db.events(0, 1000)
                        .await
                        .expect("events")
                        .iter()
                        .filter(|e| e.action == "blob:missing")
                        .map(|e| e.subject_name.clone().unwrap_or_default())
                        .collect::<Vec<_>>()
                }
            };
            let lines = h.s.blob_sample_job().await.expect("job");
            assert_eq!(
                lines,
                [
                    "blob check: 1 missing or damaged blob(s) among 2 sampled file(s); run `strongroom admin fsck`"
                ]
            );
            h.s.blob_sample_job().await.expect("job");
            assert_eq!(count(&h).await, ["gone-1.0.tar.gz"]);
            h.clock.advance(HOUR + 1);
            h.s.blob_sample_job().await.expect("job");
            assert_eq!(count(&h).await, ["gone-1.0.tar.gz", "gone-1.0.tar.gz"]);
            let off = Harness::new().await;
            assert!(off.s.blob_sample_job().await.expect("job").is_empty());
        }
    }
}
