//! What the index knows of files named by their sha256 (issue 13, `strongroom audit`): each
//! file's own state, its release's and its project's, and whether it was ever public (a journal
//! entry announced it: an upload that published it, or an approval or restore). Core turns the
//! rows into a status and decides who may read which.

use std::collections::BTreeMap;

use sqlx::Row;

use crate::states::ProjectStatus;
use crate::{Db, StoreError};

/// One file found by its sha256, with what decides its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatusRow {
    pub sha256: String,
    pub filename: String,
    pub version: String,
    pub project: String,
    pub project_status: ProjectStatus,
    pub project_reason: Option<String>,
    pub file_removed_at: Option<i64>,
    pub file_removed_reason: Option<String>,
    pub held_at: Option<i64>,
    pub held_reason: Option<String>,
    pub release_removed_at: Option<i64>,
    pub release_removed_reason: Option<String>,
    pub quarantined_at: Option<i64>,
    pub quarantine_reason: Option<String>,
    pub yanked_at: Option<i64>,
    pub yanked_reason: Option<String>,
    /// The journal announced the file at some point (`add … file FILENAME`): it was public then,
    /// whatever it is now. A file held or quarantined at upload and never approved has none.
    pub ever_public: bool,
}

/// `$1, $2, … $n`.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// The files among `sha256s` (lower-case hex) that the index holds a row for, in no
    /// particular order; a hash with no row is simply absent.
    pub async fn file_status_rows(
        &self,
        sha256s: &[String],
    ) -> Result<Vec<FileStatusRow>, StoreError> {
        let mut out = Vec::new();
        for chunk in sha256s.chunks(self.dialect.values_per_list()) {
            // Only placeholders are formatted in; the values are bound.
            let sql = format!(
                "SELECT f.sha256, f.filename, r.version, p.name, p.status, p.status_reason, \
                 f.removed_at, f.removed_reason, f.held_at, f.held_reason, \
                 r.removed_at, r.removed_reason, r.quarantined_at, r.quarantine_reason, \
                 r.yanked_at, r.yanked_reason, \
                 CAST(CASE WHEN EXISTS (SELECT 1 FROM journal j WHERE j.project_id = f.project_id \
                   AND j.filename = f.filename AND j.action LIKE 'add %') THEN 1 ELSE 0 END AS BIGINT) \
                 FROM files f JOIN releases r ON r.id = f.release_id \
                 JOIN projects p ON p.id = f.project_id \
                 WHERE f.sha256 IN ({})",
                placeholders(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q.bind(h.clone());
            }
            for r in q.fetch_all(&self.read).await? {
                let status: String = r.try_get(4)?;
                let ever: i64 = r.try_get(16)?;
                out.push(FileStatusRow {
                    sha256: r.try_get(0)?,
                    filename: r.try_get(1)?,
                    version: r.try_get(2)?,
                    project: r.try_get(3)?,
                    project_status: ProjectStatus::decode("projects.status", &status)
                        .map_err(sqlx::Error::from)?,
                    project_reason: r.try_get(5)?,
                    file_removed_at: r.try_get(6)?,
                    file_removed_reason: r.try_get(7)?,
                    held_at: r.try_get(8)?,
                    held_reason: r.try_get(9)?,
                    release_removed_at: r.try_get(10)?,
                    release_removed_reason: r.try_get(11)?,
                    quarantined_at: r.try_get(12)?,
                    quarantine_reason: r.try_get(13)?,
                    yanked_at: r.try_get(14)?,
                    yanked_reason: r.try_get(15)?,
                    ever_public: ever != 0,
                });
            }
        }
        Ok(out)
    }

    /// The id of the index's own malicious-package verdict (OSV record, not withdrawn) naming
    /// each of `sha256s` that one names (`malicious_verdict_files`, migration 0027); the oldest
    /// verdict when several do. One query per `Dialect::values_per_list` hashes.
    pub async fn verdicts_for_files(
        &self,
        sha256s: &[String],
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut found = BTreeMap::new();
        for chunk in sha256s.chunks(self.dialect.values_per_list()) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT f.sha256, v.id FROM malicious_verdict_files f \
                 JOIN malicious_verdicts v ON v.id = f.verdict_id \
                 WHERE v.withdrawn_at IS NULL AND f.sha256 IN ({}) \
                 ORDER BY v.created_at DESC, v.id DESC",
                marks.join(", ")
            );
            // placeholders only; the values are bound
            let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
            for sha in chunk {
                q = q.bind(sha.to_ascii_lowercase());
            }
            // newest first: the oldest verdict of a file is inserted last and stays
            for (sha, id) in q.fetch_all(&self.read).await? {
                found.insert(sha, id);
            }
        }
        Ok(found)
    }

    /// [`Db::verdicts_for_files`] for one file.
    pub async fn verdict_for_file(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .verdicts_for_files(&[sha256.to_owned()])
            .await?
            .remove(sha256))
    }
}
