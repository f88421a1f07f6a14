//! A file's status by its sha256 (issue 13): live, yanked, held, quarantined, removed or
//! malicious, readable without a token for files that were ever public (a lock file already
//! names them); what `strongroom audit` asks.
//!
//! "Ever public" is the journal's word: a file is announced there (`add … file FILENAME`) when
//! an upload publishes it, or an administrator approves or restores it, and the entry stays
//! whatever happens to the file later. A file held or quarantined at upload and never approved
//! has no such entry: anonymous readers get `unknown` for it, exactly as for a hash the index
//! never saw, so the endpoint tells nothing about held uploads. An administrator (a session
//! holding [`AdminCap`], or a live unscoped admin API token) sees every file. A file named by
//! one of the index's own malicious verdicts is answered to everyone: the OSV feed publishes its
//! sha256 anyway.

use std::collections::BTreeMap;

use serde::Serialize;
use strongroom_store::{FileStatusRow, ProjectStatus};

use crate::admin::AdminCap;
use crate::tokens::Credentials;
use crate::{CoreError, Services};

/// At most this many hashes in one question (`POST /api/file-status`).
pub const MAX_BATCH: usize = 1000;

/// A sha256 as 64 lower-case hex digits (upper case is accepted and folded).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    /// `s` when it is 64 hex digits; `CoreError::Invalid` naming it otherwise.
    pub fn parse(s: &str) -> Result<Sha256Hex, CoreError> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Sha256Hex(s.to_ascii_lowercase()))
        } else {
            let shown: String = s.chars().take(80).collect();
            Err(CoreError::Invalid(format!(
                "not a sha256 (64 hex digits): {shown:?}"
            )))
        }
    }

    /// The lower-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a file stands, worst first when several apply (a removed file of a yanked release is
/// `removed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum FileStatus {
    /// Named by one of the index's own malicious-package verdicts (`osv_id`).
    Malicious { osv_id: String },
    /// The file, its release or its project is removed.
    Removed,
    /// Its release or project is quarantined (held for the administrators).
    Quarantined,
    /// The file waits for an administrator's review (added by a watched account).
    Held,
    /// Its release is yanked (PEP 592).
    Yanked,
    /// Installable.
    Live,
    /// The index holds no such file, or the reader may not know of it.
    Unknown,
}

impl FileStatus {
    /// The word the API answers (`live`, `yanked`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            FileStatus::Malicious { .. } => "malicious",
            FileStatus::Removed => "removed",
            FileStatus::Quarantined => "quarantined",
            FileStatus::Held => "held",
            FileStatus::Yanked => "yanked",
            FileStatus::Live => "live",
            FileStatus::Unknown => "unknown",
        }
    }

    /// Whether a lock file pinning it is fine (`live`).
    pub fn is_live(&self) -> bool {
        matches!(self, FileStatus::Live)
    }
}

/// The answer for one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatusReport {
    pub sha256: Sha256Hex,
    pub status: FileStatus,
    /// Which file it is (absent for `unknown`).
    pub file: Option<FileIdentity>,
    /// Why: the yank's reason for everyone; the removal's, quarantine's or hold's reason for
    /// administrators only.
    pub reason: Option<String>,
}

/// The project, version and filename of a known file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileIdentity {
    pub project: String,
    pub version: String,
    pub filename: String,
}

impl FileStatusReport {
    /// The JSON the API answers: `{sha256, status, project, version, filename, reason?,
    /// osv_id?}` (`{sha256, status: "unknown"}` for an unknown file).
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "sha256": self.sha256.as_str(),
            "status": self.status.as_str(),
        });
        if let Some(f) = &self.file {
            v["project"] = f.project.clone().into();
            v["version"] = f.version.clone().into();
            v["filename"] = f.filename.clone().into();
        }
        if let Some(r) = &self.reason {
            v["reason"] = r.clone().into();
        }
        if let FileStatus::Malicious { osv_id } = &self.status {
            v["osv_id"] = osv_id.clone().into();
        }
        v
    }
}

/// Who asks, which decides what they may learn.
#[derive(Debug, Clone, Copy)]
pub enum StatusReader<'a> {
    /// Anyone: only files that were ever public (and files with a verdict).
    Anonymous,
    /// A signed-in administrator: every file, with every reason.
    Admin(&'a AdminCap),
    /// The credentials of an API request: an administrator's live unscoped token reads as
    /// [`StatusReader::Admin`], anything else as [`StatusReader::Anonymous`].
    Token(&'a Credentials),
}

/// The status a row gives, without the verdict (worst first), and its reason for an admin and
/// for everyone.
fn status_of(row: &FileStatusRow) -> (FileStatus, Option<String>, Option<String>) {
    let project_removed = row.project_status == ProjectStatus::Removed;
    let project_quarantined = row.project_status == ProjectStatus::Quarantined;
    if row.file_removed_at.is_some() || row.release_removed_at.is_some() || project_removed {
        let why = row
            .file_removed_reason
            .clone()
            .or_else(|| row.release_removed_reason.clone())
            .or_else(|| {
                project_removed
                    .then(|| row.project_reason.clone())
                    .flatten()
            });
        return (FileStatus::Removed, why, None);
    }
    if row.quarantined_at.is_some() || project_quarantined {
        let why = row.quarantine_reason.clone().or_else(|| {
            project_quarantined
                .then(|| row.project_reason.clone())
                .flatten()
        });
        return (FileStatus::Quarantined, why, None);
    }
    if row.held_at.is_some() {
        return (FileStatus::Held, row.held_reason.clone(), None);
    }
    if row.yanked_at.is_some() {
        let why = row.yanked_reason.clone().filter(|r| !r.is_empty());
        return (FileStatus::Yanked, why.clone(), why);
    }
    (FileStatus::Live, None, None)
}

impl Services {
    /// The status of each of `hashes` as `reader` may know it, in the order asked (a hash asked
    /// twice is answered twice). At most [`MAX_BATCH`] hashes.
    pub async fn file_statuses(
        &self,
        reader: StatusReader<'_>,
        hashes: &[Sha256Hex],
    ) -> Result<Vec<FileStatusReport>, CoreError> {
        if hashes.len() > MAX_BATCH {
            return Err(CoreError::Invalid(format!(
                "at most {MAX_BATCH} hashes in one request (got {})",
                hashes.len()
            )));
        }
        let admin = match reader {
            StatusReader::Anonymous => false,
            StatusReader::Admin(_) => true,
            StatusReader::Token(creds) => self.is_admin_token(creds).await?,
        };
        let mut wanted: Vec<String> = hashes.iter().map(|h| h.0.clone()).collect();
        wanted.sort();
        wanted.dedup();
        let rows: BTreeMap<String, FileStatusRow> = self
            .db
            .file_status_rows(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.sha256.clone(), r))
            .collect();
        let verdicts = self.db.verdicts_for_files(&wanted).await?;
        Ok(hashes
            .iter()
            .map(|h| report(h, rows.get(h.as_str()), verdicts.get(h.as_str()), admin))
            .collect())
    }

    /// [`Services::file_statuses`] for one hash.
    pub async fn file_status(
        &self,
        reader: StatusReader<'_>,
        sha256: &Sha256Hex,
    ) -> Result<FileStatusReport, CoreError> {
        let mut all = self
            .file_statuses(reader, std::slice::from_ref(sha256))
            .await?;
        Ok(all.pop().unwrap_or_else(|| unknown(sha256)))
    }
}

fn unknown(sha256: &Sha256Hex) -> FileStatusReport {
    FileStatusReport {
        sha256: sha256.clone(),
        status: FileStatus::Unknown,
        file: None,
        reason: None,
    }
}

/// One answer: what the row and the verdict say, as far as the reader may know it.
fn report(
    sha256: &Sha256Hex,
    row: Option<&FileStatusRow>,
    verdict: Option<&String>,
    admin: bool,
) -> FileStatusReport {
    let identity = |r: &FileStatusRow| FileIdentity {
        project: r.project.clone(),
        version: r.version.clone(),
        filename: r.filename.clone(),
    };
    if let Some(osv_id) = verdict {
        // Published in the OSV feed anyway: everyone may know it.
        return FileStatusReport {
            sha256: sha256.clone(),
            status: FileStatus::Malicious {
                osv_id: osv_id.clone(),
            },
            file: row.map(identity),
            reason: None,
        };
    }
    let Some(row) = row else {
        return unknown(sha256);
    };
    if !admin && !row.ever_public {
        return unknown(sha256);
    }
    let (status, admin_reason, public_reason) = status_of(row);
    FileStatusReport {
        sha256: sha256.clone(),
        status,
        file: Some(identity(row)),
        reason: if admin { admin_reason } else { public_reason },
    }
}

#[cfg(test)]
mod tests;
