//! The content scanner's rows (`file_scans`, issue 13): written in the upload's transaction
//! beside the file row, read by the review queue, the capability diff and the file pages.
//! The scan itself is JSON that core encodes and decodes; the store keeps it opaque.

use sqlx::{Any, Row, Transaction};

use crate::{Db, StoreError};

/// What the upload stores about its file's scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScan {
    pub scanner_version: i64,
    /// `strongroom_scan::ArchiveScan` as JSON.
    pub scan: String,
    pub score: i64,
    /// `strongroom_scan::diff::CapabilityDiff` as JSON, against the previous release.
    pub diff: Option<String>,
    /// Why core held the file or its release, when it did.
    pub held_reason: Option<String>,
}

/// One stored scan with the file it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileScanRow {
    pub file_id: i64,
    pub filename: String,
    pub sha256: String,
    pub version: String,
    pub scanner_version: i64,
    pub scan: String,
    pub score: i64,
    pub diff: Option<String>,
    pub held_reason: Option<String>,
    pub scanned_at: i64,
}

const SELECT: &str = "SELECT s.file_id, f.filename, f.sha256, r.version, s.scanner_version, \
     s.scan, s.score, s.diff, s.held_reason, s.scanned_at \
     FROM file_scans s JOIN files f ON f.id = s.file_id JOIN releases r ON r.id = f.release_id";

fn row(r: &sqlx::any::AnyRow) -> Result<FileScanRow, StoreError> {
    Ok(FileScanRow {
        file_id: r.try_get(0)?,
        filename: r.try_get(1)?,
        sha256: r.try_get(2)?,
        version: r.try_get(3)?,
        scanner_version: r.try_get(4)?,
        scan: r.try_get(5)?,
        score: r.try_get(6)?,
        diff: r.try_get(7)?,
        held_reason: r.try_get(8)?,
        scanned_at: r.try_get(9)?,
    })
}

/// Store `scan` for `file_id` (inside the publish transaction).
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Any>,
    file_id: i64,
    scan: &NewScan,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO file_scans (file_id, scanner_version, scan, score, diff, held_reason, scanned_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(file_id)
    .bind(scan.scanner_version)
    .bind(scan.scan.clone())
    .bind(scan.score)
    .bind(scan.diff.clone())
    .bind(scan.held_reason.clone())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// The scans of every file of `version` (canonical or as stored) of the project, removed
    /// files included, in upload order.
    pub async fn scans_of_release(
        &self,
        project_id: i64,
        version: &str,
    ) -> Result<Vec<FileScanRow>, StoreError> {
        // SELECT is a constant; the values are bound.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE r.project_id = $1 AND (r.version = $2 OR r.canonical_version = $2) \
             ORDER BY f.uploaded_at, f.id"
        )))
        .bind(project_id)
        .bind(version.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(row).collect()
    }

    /// The scan of one file.
    pub async fn scan_of_file(&self, file_id: i64) -> Result<Option<FileScanRow>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE s.file_id = $1"
        )))
        .bind(file_id)
        .fetch_optional(&self.read)
        .await?;
        r.as_ref().map(row).transpose()
    }
}
