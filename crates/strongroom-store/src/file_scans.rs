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

/// The release a new upload is compared with: the project's newest release created before it
/// (at or before `at` for a release not yet created) that is published (neither quarantined
/// nor removed), with the scans of its live, unheld files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousRelease {
    pub release_id: i64,
    pub version: String,
    pub created_at: i64,
    /// Its files' scans (files uploaded before scanning existed have none).
    pub scans: Vec<FileScanRow>,
}

/// A live malicious-package record that names a sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaliciousHashRecord {
    pub source: String,
    pub id: String,
    /// The project the record names (normalised).
    pub project: String,
}

impl Db {
    /// The previous release of `canonical_version` of the project (see [`PreviousRelease`]).
    pub async fn previous_release_scans(
        &self,
        project_id: i64,
        canonical_version: &str,
        at: i64,
    ) -> Result<Option<PreviousRelease>, StoreError> {
        let r = sqlx::query(
            "SELECT id, version, created_at FROM releases WHERE project_id = $1 \
             AND canonical_version <> $2 AND quarantined_at IS NULL AND removed_at IS NULL \
             AND created_at <= COALESCE((SELECT created_at FROM releases WHERE project_id = $1 \
             AND canonical_version = $2), $3) ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(project_id)
        .bind(canonical_version.to_owned())
        .bind(at)
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let release_id: i64 = r.try_get(0)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE f.release_id = $1 AND f.removed_at IS NULL AND f.held_at IS NULL \
             ORDER BY f.uploaded_at, f.id"
        )))
        .bind(release_id)
        .fetch_all(&self.read)
        .await?;
        Ok(Some(PreviousRelease {
            release_id,
            version: r.try_get(1)?,
            created_at: r.try_get(2)?,
            scans: rows.iter().map(row).collect::<Result<_, _>>()?,
        }))
    }

    /// The live malicious-package records (ingested OSV advisories) that name `sha256`, under
    /// any project's name: an upload of that exact file is refused.
    pub async fn malicious_records_naming(
        &self,
        sha256: &str,
    ) -> Result<Vec<MaliciousHashRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, id, project FROM advisory_hashes WHERE sha256 = $1 \
             ORDER BY source, id, project",
        )
        .bind(sha256.to_ascii_lowercase())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MaliciousHashRecord {
                    source: r.try_get(0)?,
                    id: r.try_get(1)?,
                    project: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The core metadata of each local project's newest published release (normalised name,
    /// metadata), at most `limit` projects (the most recently released first): what the
    /// typosquat check counts Requires-Dist over.
    pub async fn latest_release_metadata(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.normalized_name, r.core_metadata FROM releases r \
             JOIN projects p ON p.id = r.project_id \
             WHERE r.id = (SELECT r2.id FROM releases r2 WHERE r2.project_id = r.project_id \
             AND r2.quarantined_at IS NULL AND r2.removed_at IS NULL \
             ORDER BY r2.created_at DESC, r2.id DESC LIMIT 1) \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The upstream projects the gateway served, at most `limit`: most downloaded first (in the
    /// log and in the daily counts), then those whose page it served (a stored page that found
    /// the project) without a download.
    pub async fn upstream_names_served(&self, limit: i64) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT project FROM (\
             SELECT project, COUNT(*) AS n FROM download_log WHERE origin = 'upstream' GROUP BY project \
             UNION ALL \
             SELECT project, SUM(count) AS n FROM download_counts WHERE origin = 'upstream' GROUP BY project \
             UNION ALL \
             SELECT project, 0 AS n FROM upstream_pages WHERE found = 1\
             ) t GROUP BY project ORDER BY SUM(n) DESC, project LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(names)
    }
}

impl Db {
    /// How many releases there are and the newest id: what a cache of names derived from
    /// releases checks it is still current by.
    pub async fn releases_fingerprint(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM releases")
            .fetch_one(&self.read)
            .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }
}
