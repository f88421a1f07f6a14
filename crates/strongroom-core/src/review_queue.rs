//! The review queue (issue 13): every release and file held for an administrator's look (by the
//! scanner, a watched account, a dormant project), with its findings, snippets and capability
//! diff; approve publishes, reject removes the release (filenames burned) and records a
//! malicious verdict.
//!
//! One queue, built from the holds that exist: a quarantined release (`releases.quarantined_at`)
//! is item `r<release id>`, a file held on its own (`files.held_at`: it joined a release later,
//! or a watched account added it) is item `f<file id>`. The ids are the database's, so they stay
//! the same for as long as the item is queued and are never reused. A release item covers the
//! files its approval publishes; files of it held on their own are their own `f` items.
//!
//! The scans come from `file_scans` (JSON of [`ArchiveScan`] and [`CapabilityDiff`]); a file
//! uploaded before the scanner, or by a path that did not scan, has none, and an item shows that
//! rather than failing. Snippets are raw: the CLI and the web page escape them where shown.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use strongroom_scan::diff::CapabilityDiff;
use strongroom_scan::{ArchiveScan, Capability, FileCapabilities, Finding};
use strongroom_store::admin::{FileState, ReleaseState};
use strongroom_store::file_scans::FileScanRow;

use crate::admin::{AdminCap, Authority, require_reason};
use crate::{CoreError, RequestMeta, Services, Subject};

/// What an item of the queue holds back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A quarantined release (every file of it not held on its own).
    Release,
    /// One file held on its own.
    File,
}

/// An item's id: `r<release id>` or `f<file id>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReviewId {
    pub kind: ItemKind,
    pub id: i64,
}

impl ReviewId {
    /// `r12` or `f34` (case-insensitive); anything else is invalid.
    pub fn parse(s: &str) -> Result<ReviewId, CoreError> {
        let s = s.trim();
        let invalid = || {
            CoreError::Invalid(format!(
                "'{s}' is not a review item: the ids are r<number> (a held release) or f<number> (a held file), as `review list` shows them."
            ))
        };
        let mut chars = s.chars();
        let kind = match chars.next().map(|c| c.to_ascii_lowercase()) {
            Some('r') => ItemKind::Release,
            Some('f') => ItemKind::File,
            _ => return Err(invalid()),
        };
        let digits = chars.as_str();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let id = digits.parse().map_err(|_| invalid())?;
        Ok(ReviewId { kind, id })
    }
}

impl fmt::Display for ReviewId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = match self.kind {
            ItemKind::Release => 'r',
            ItemKind::File => 'f',
        };
        write!(f, "{k}{}", self.id)
    }
}

impl Serialize for ReviewId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One line of the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewSummary {
    pub id: ReviewId,
    pub kind: ItemKind,
    pub project: String,
    pub version: String,
    /// When it was held (µs).
    pub held_at: i64,
    /// Why it was held (the quarantine's or the hold's reason).
    pub reason: Option<String>,
    pub files: Vec<String>,
    pub uploaders: Vec<String>,
    /// The highest score of its files' scans; `None` when none was scanned.
    pub score: Option<i64>,
    /// Findings over its files' scans.
    pub findings: usize,
}

/// A file's stored scan, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredScan {
    pub scanner_version: i64,
    pub score: i64,
    pub scanned_at: i64,
    /// Why the scanner's policy held it, when it did.
    pub held_reason: Option<String>,
    pub capabilities: FileCapabilities,
    pub findings: Vec<Finding>,
    /// Against the project's previous release; `None` for a first release.
    pub diff: Option<CapabilityDiff>,
    /// [`diff_words`] of the diff.
    pub diff_words: Vec<String>,
    /// The stored JSON could not be read (a newer scanner's format): what failed.
    pub unreadable: Option<String>,
}

/// A file of an item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewFile {
    pub file_id: i64,
    pub filename: String,
    pub sha256: String,
    pub size: i64,
    pub uploader: Option<String>,
    pub uploaded_at: i64,
    /// Why the file is held on its own (a file item).
    pub held_reason: Option<String>,
    /// `None`: no scan was stored for it.
    pub scan: Option<StoredScan>,
}

/// Everything an administrator reviews about one item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewItem {
    pub id: ReviewId,
    pub kind: ItemKind,
    pub project: String,
    pub version: String,
    pub held_at: i64,
    pub reason: Option<String>,
    pub files: Vec<ReviewFile>,
    /// The highest score of its files' scans.
    pub score: Option<i64>,
    /// The capability diff in words, over its files (each sentence once).
    pub diff_words: Vec<String>,
    /// A release item: its files held on their own, as their item ids (`f<id>`), which its
    /// approval leaves held and its rejection removes with the release.
    pub held_apart: Vec<ReviewId>,
}

/// What a decision did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReviewDecision {
    pub id: ReviewId,
    pub project: String,
    pub version: String,
    /// Approve: the files now published.
    pub published: Vec<String>,
    /// Approve of a release: files that stay held for their own review.
    pub still_held: Vec<String>,
    /// Reject: the files taken off the index (their filenames stay used).
    pub removed: Vec<String>,
    /// Reject: the malicious-package verdict's id, when one was recorded.
    pub verdict_id: Option<String>,
}

/// The capabilities' names in alphabetical order, as a list in a sentence.
fn join(caps: &BTreeSet<Capability>) -> String {
    let mut names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
    names.sort_unstable();
    names.join(", ")
}

/// The diff as sentences an administrator reads: "adds environment-read, encoding, network to
/// ctx.py", "drops network from old.py", "the release has network, which the previous release
/// did not".
pub fn diff_words(d: &CapabilityDiff) -> Vec<String> {
    let mut out = Vec::new();
    for (path, caps) in d.added.iter().filter(|(_, c)| !c.is_empty()) {
        out.push(format!("adds {} to {path}", join(caps)));
    }
    for (path, caps) in d.removed.iter().filter(|(_, c)| !c.is_empty()) {
        out.push(format!("drops {} from {path}", join(caps)));
    }
    if !d.new_kinds.is_empty() {
        out.push(format!(
            "the release has {}, which the previous release did not",
            join(&d.new_kinds)
        ));
    }
    out
}

/// Decode one stored scan; what cannot be read is said, not fatal.
fn decode(row: &FileScanRow) -> StoredScan {
    let mut unreadable = Vec::new();
    let scan: ArchiveScan = serde_json::from_str(&row.scan).unwrap_or_else(|e| {
        unreadable.push(format!("scan: {e}"));
        ArchiveScan::default()
    });
    let diff: Option<CapabilityDiff> = row.diff.as_deref().and_then(|d| {
        serde_json::from_str(d)
            .map_err(|e| unreadable.push(format!("diff: {e}")))
            .ok()
    });
    StoredScan {
        scanner_version: row.scanner_version,
        score: row.score,
        scanned_at: row.scanned_at,
        held_reason: row.held_reason.clone(),
        capabilities: scan.capabilities,
        findings: scan.findings,
        diff_words: diff.as_ref().map(diff_words).unwrap_or_default(),
        diff,
        unreadable: (!unreadable.is_empty()).then(|| unreadable.join("; ")),
    }
}

/// A queued item, resolved from the database.
enum Held {
    Release(String, ReleaseState),
    File(String, FileState),
}

impl Services {
    /// Every item held for review, oldest hold first.
    pub async fn review_list(&self) -> Result<Vec<ReviewSummary>, CoreError> {
        let mut names = Names::default();
        let mut out = Vec::new();
        for held in self.held_items().await? {
            let item = self.review_item_of(held, &mut names).await?;
            out.push(ReviewSummary {
                id: item.id,
                kind: item.kind,
                project: item.project,
                version: item.version,
                held_at: item.held_at,
                reason: item.reason,
                uploaders: item
                    .files
                    .iter()
                    .filter_map(|f| f.uploader.clone())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                score: item.score,
                findings: item
                    .files
                    .iter()
                    .filter_map(|f| f.scan.as_ref())
                    .map(|s| s.findings.len())
                    .sum(),
                files: item.files.into_iter().map(|f| f.filename).collect(),
            });
        }
        out.sort_by_key(|s| (s.held_at, s.id.to_string()));
        Ok(out)
    }

    /// One item with its files, scans, findings and diff. `NotFound` when the id is not queued
    /// (decided, or never held).
    pub async fn review_show(&self, id: &str) -> Result<ReviewItem, CoreError> {
        let id = ReviewId::parse(id)?;
        let held = self.held_item(id).await?;
        self.review_item_of(held, &mut Names::default()).await
    }

    /// Approve an item: a release is published with its files (those held on their own stay
    /// held); a file is published. The approval's event is the existing one
    /// (`admin:release:approve`, `admin:file:approve`).
    pub async fn review_approve(
        &self,
        cap: &AdminCap,
        id: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<ReviewDecision, CoreError> {
        let reason = require_reason(reason)?;
        let id = ReviewId::parse(id)?;
        match self.held_item(id).await? {
            Held::Release(project, r) => {
                let a = self
                    .admin_approve_release(cap, &project, &r.version, reason, meta)
                    .await?;
                Ok(ReviewDecision {
                    id,
                    project,
                    version: r.version,
                    published: a.published,
                    still_held: a.still_held,
                    removed: Vec::new(),
                    verdict_id: None,
                })
            }
            Held::File(project, f) => {
                self.admin_approve_file(cap, &project, &f.version, &f.filename, reason, meta)
                    .await?;
                Ok(ReviewDecision {
                    id,
                    project,
                    version: f.version,
                    published: vec![f.filename],
                    still_held: Vec::new(),
                    removed: Vec::new(),
                    verdict_id: None,
                })
            }
        }
    }

    /// Reject an item as malicious. A release is removed (`admin:release:remove`; its
    /// filenames stay used), then its verdict recorded; a held file's verdict is recorded while
    /// its row still exists, then the file is rejected (`admin:file:reject`: deleted, its
    /// filename stays used). Last, `admin:review:reject` links the item, its files' sha256 and
    /// the verdict's id on the project's timeline. A release's verdict that fails after the
    /// removal is logged in that event and returned as the error.
    pub async fn review_reject(
        &self,
        cap: &AdminCap,
        id: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<ReviewDecision, CoreError> {
        let reason = require_reason(reason)?;
        let id = ReviewId::parse(id)?;
        let held = self.held_item(id).await?;
        let (project, version, files, verdict) = match held {
            Held::Release(project, r) => {
                let files = self.files_of(&r).await?;
                self.remove_release(&Authority::Admin(cap), &project, &r.version, reason, meta)
                    .await?;
                let verdict = self
                    .record_malicious_verdict(cap, &project, &r.version, reason, meta)
                    .await;
                (project, r.version, files, verdict)
            }
            Held::File(project, f) => {
                let details = format!("{reason} (file {}, sha256 {})", f.filename, f.sha256);
                // Nothing is done yet: a failed verdict is just the error.
                let verdict = self
                    .record_malicious_verdict(cap, &project, &f.version, &details, meta)
                    .await?;
                self.admin_reject_file(cap, &project, &f.version, &f.filename, reason, meta)
                    .await?;
                (project, f.version.clone(), vec![f], Ok(verdict))
            }
        };
        let p = self
            .db
            .project_state(&strongroom_protocol::name::normalize(&project))
            .await?;
        let (verdict_id, verdict_error) = match &verdict {
            Ok(v) if v.is_empty() => (None, None),
            Ok(v) => (Some(v.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let details = serde_json::json!({
            "item": id.to_string(), "version": version, "reason": reason,
            "files": files.iter().map(|f| serde_json::json!({"filename": f.filename, "sha256": f.sha256})).collect::<Vec<_>>(),
            "verdict_id": verdict_id, "verdict_error": verdict_error,
        });
        let ev = self.event(
            cap.actor(),
            "admin:review:reject",
            Subject {
                kind: "project",
                id: p.as_ref().map(|p| p.id),
                name: Some(p.as_ref().map_or(project.as_str(), |p| p.name.as_str())),
            },
            meta,
            details,
        );
        self.db.append_event(&ev).await?;
        verdict?;
        Ok(ReviewDecision {
            id,
            project,
            version,
            published: Vec::new(),
            still_held: Vec::new(),
            removed: files.into_iter().map(|f| f.filename).collect(),
            verdict_id,
        })
    }

    /// Every queued item: quarantined releases, then files held on their own.
    /// The files of release `r` not removed, in upload order.
    async fn files_of(&self, r: &ReleaseState) -> Result<Vec<FileState>, CoreError> {
        let mut files: Vec<FileState> = self
            .db
            .files_any_state(r.project_id)
            .await?
            .into_iter()
            .filter(|f| f.release_id == r.id && f.removed_at.is_none())
            .collect();
        files.sort_by_key(|f| (f.uploaded_at, f.id));
        Ok(files)
    }

    async fn held_items(&self) -> Result<Vec<Held>, CoreError> {
        let mut out: Vec<Held> = self
            .db
            .quarantined_releases()
            .await?
            .into_iter()
            .map(|(p, r)| Held::Release(p, r))
            .collect();
        for (p, f) in self.held_files().await? {
            out.push(Held::File(p, f));
        }
        Ok(out)
    }

    /// The files held on their own whose release is not removed (rejecting a release takes
    /// its held files with it).
    async fn held_files(&self) -> Result<Vec<(String, FileState)>, CoreError> {
        let mut removed: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
        let mut out = Vec::new();
        for (p, f) in self.db.held_files().await? {
            let gone = match removed.entry(f.project_id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    self.db
                        .releases_any_state(f.project_id)
                        .await?
                        .into_iter()
                        .filter(|r| r.removed_at.is_some())
                        .map(|r| r.id)
                        .collect(),
                ),
            };
            if !gone.contains(&f.release_id) {
                out.push((p, f));
            }
        }
        Ok(out)
    }

    async fn held_item(&self, id: ReviewId) -> Result<Held, CoreError> {
        let found = match id.kind {
            ItemKind::Release => self
                .db
                .quarantined_releases()
                .await?
                .into_iter()
                .find(|(_, r)| r.id == id.id)
                .map(|(p, r)| Held::Release(p, r)),
            ItemKind::File => self
                .held_files()
                .await?
                .into_iter()
                .find(|(_, f)| f.id == id.id)
                .map(|(p, f)| Held::File(p, f)),
        };
        found.ok_or_else(|| {
            CoreError::NotFound(format!(
                "{id} is not held for review (decided already, or no such item)."
            ))
        })
    }

    async fn review_item_of(&self, held: Held, names: &mut Names) -> Result<ReviewItem, CoreError> {
        match held {
            Held::Release(project, r) => {
                let (held_apart, files): (Vec<FileState>, Vec<FileState>) = self
                    .files_of(&r)
                    .await?
                    .into_iter()
                    .partition(|f| f.held_at.is_some());
                let scans = self.db.scans_of_release(r.project_id, &r.version).await?;
                let mut out = Vec::new();
                for f in files {
                    let scan = scans.iter().find(|s| s.file_id == f.id).map(decode);
                    out.push(self.review_file(f, scan, names).await?);
                }
                Ok(item(
                    ReviewId {
                        kind: ItemKind::Release,
                        id: r.id,
                    },
                    project,
                    r.version,
                    r.quarantined_at.unwrap_or(r.created_at),
                    r.quarantine_reason,
                    out,
                    held_apart
                        .iter()
                        .map(|f| ReviewId {
                            kind: ItemKind::File,
                            id: f.id,
                        })
                        .collect(),
                ))
            }
            Held::File(project, f) => {
                let scan = self.db.scan_of_file(f.id).await?.as_ref().map(decode);
                let id = ReviewId {
                    kind: ItemKind::File,
                    id: f.id,
                };
                let (version, held_at, reason) = (
                    f.version.clone(),
                    f.held_at.unwrap_or(f.uploaded_at),
                    f.held_reason.clone(),
                );
                let file = self.review_file(f, scan, names).await?;
                Ok(item(
                    id,
                    project,
                    version,
                    held_at,
                    reason,
                    vec![file],
                    Vec::new(),
                ))
            }
        }
    }

    async fn review_file(
        &self,
        f: FileState,
        scan: Option<StoredScan>,
        names: &mut Names,
    ) -> Result<ReviewFile, CoreError> {
        let uploader = match f.uploaded_by {
            Some(uid) => names.get(self, uid).await?,
            None => None,
        };
        Ok(ReviewFile {
            file_id: f.id,
            filename: f.filename,
            sha256: f.sha256,
            size: f.size,
            uploader,
            uploaded_at: f.uploaded_at,
            held_reason: f.held_reason,
            scan,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn item(
    id: ReviewId,
    project: String,
    version: String,
    held_at: i64,
    reason: Option<String>,
    files: Vec<ReviewFile>,
    held_apart: Vec<ReviewId>,
) -> ReviewItem {
    let scans = files.iter().filter_map(|f| f.scan.as_ref());
    let score = scans.clone().map(|s| s.score).max();
    let mut diff_words: Vec<String> = Vec::new();
    for w in scans.flat_map(|s| s.diff_words.iter()) {
        if !diff_words.contains(w) {
            diff_words.push(w.clone());
        }
    }
    ReviewItem {
        id,
        kind: id.kind,
        project,
        version,
        held_at,
        reason,
        files,
        score,
        diff_words,
        held_apart,
    }
}

/// Usernames by account id, read once per listing.
#[derive(Default)]
struct Names(BTreeMap<i64, Option<String>>);

impl Names {
    async fn get(&mut self, s: &Services, id: i64) -> Result<Option<String>, CoreError> {
        if let Some(n) = self.0.get(&id) {
            return Ok(n.clone());
        }
        let n = s.db.user_by_id(id).await?.map(|u| u.username);
        self.0.insert(id, n.clone());
        Ok(n)
    }
}

#[cfg(test)]
#[path = "review_queue_tests.rs"]
mod tests;
