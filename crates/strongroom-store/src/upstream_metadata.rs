//! PEP 658 metadata of upstream files, kept (migration 0030): beside a kept file (its
//! `upstream_files` row) or on its own when the file is not kept (an `upstream_metadata` row),
//! at `<blob_key>.metadata` either way. Written under the blob claim protocol like a file; a key
//! has a row in at most one of the two tables (keeping the file takes the metadata over). The
//! eviction order and byte count span both tables.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::blob_claims::{BlobClaim, lock_key, settle};
use crate::{Db, StoreError};

/// The metadata of an upstream file that is not kept itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamMetadataRow {
    /// The file's sha256 (lower-case hex).
    pub sha256: String,
    /// The key the file has (or would have) when kept; the metadata is at `<blob_key>.metadata`.
    pub blob_key: String,
    /// Normalised project name.
    pub project: String,
    /// The distribution filename.
    pub filename: String,
    /// The metadata's sha256 (checked against the page's).
    pub metadata_sha256: String,
    /// The metadata's bytes.
    pub size: i64,
    /// When it was kept (µs).
    pub first_seen_at: i64,
    /// When it was last downloaded (µs).
    pub last_download_at: i64,
}

/// What [`Db::keep_upstream_metadata`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataKept {
    /// Recorded on the kept file's row.
    OnFile,
    /// Recorded on its own (the file is not kept).
    Alone,
    /// Already recorded (another server, or an earlier fetch); nothing changed.
    Already,
    /// The claim had expired and was taken by a collector: nothing recorded.
    ClaimExpired,
    /// Asked for the kept file only, and it is not kept (evicted meanwhile): nothing recorded,
    /// the claim still held (its release deletes what was written).
    FileGone,
}

/// Which table an entry of the eviction order is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEntryKind {
    /// A kept file (`upstream_files`; its metadata goes with it).
    File,
    /// Metadata kept on its own (`upstream_metadata`).
    Metadata,
}

/// One entry of the upstream cache's eviction order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamEntry {
    pub kind: UpstreamEntryKind,
    /// The file's sha256.
    pub sha256: String,
    pub blob_key: String,
    /// Bytes counted against the cap.
    pub size: i64,
    pub last_download_at: i64,
}

const COLS: &str =
    "sha256, blob_key, project, filename, metadata_sha256, size, first_seen_at, last_download_at";

fn map(r: &AnyRow) -> Result<UpstreamMetadataRow, sqlx::Error> {
    Ok(UpstreamMetadataRow {
        sha256: r.try_get("sha256")?,
        blob_key: r.try_get("blob_key")?,
        project: r.try_get("project")?,
        filename: r.try_get("filename")?,
        metadata_sha256: r.try_get("metadata_sha256")?,
        size: r.try_get("size")?,
        first_seen_at: r.try_get("first_seen_at")?,
        last_download_at: r.try_get("last_download_at")?,
    })
}

fn map_entry(r: &AnyRow) -> Result<UpstreamEntry, sqlx::Error> {
    Ok(UpstreamEntry {
        kind: if r.try_get::<i64, _>("kind")? == 0 {
            UpstreamEntryKind::File
        } else {
            UpstreamEntryKind::Metadata
        },
        sha256: r.try_get("sha256")?,
        blob_key: r.try_get("blob_key")?,
        size: r.try_get("size")?,
        last_download_at: r.try_get("last_download_at")?,
    })
}

impl Db {
    /// The metadata kept on its own for the upstream file with this sha256, if any.
    pub async fn upstream_metadata(
        &self,
        sha256: &str,
    ) -> Result<Option<UpstreamMetadataRow>, StoreError> {
        crate::rows::optional(
            crate::rows::query(format!(
                "SELECT {COLS} FROM upstream_metadata WHERE sha256 = $1"
            ))
            .bind(sha256.to_owned()),
            &self.read,
            map,
        )
        .await
    }

    /// Record metadata whose blob (`<row.blob_key>.metadata`) is durable, settling `claim` in
    /// the same transaction: on the kept file's row when there is one, else on its own when
    /// `alone` (a metadata request for a file not kept), else not at all
    /// ([`MetadataKept::FileGone`]: the metadata of a file just kept, evicted meanwhile; its
    /// key's blobs are to go, not to be held by a metadata row).
    pub async fn keep_upstream_metadata(
        &self,
        row: &UpstreamMetadataRow,
        claim: &BlobClaim,
        alone: bool,
    ) -> Result<MetadataKept, StoreError> {
        let mut tx = self.begin_write().await?;
        if !settle(&mut tx, self.dialect, claim).await? {
            tx.rollback().await?;
            return Ok(MetadataKept::ClaimExpired);
        }
        let on_file: Option<i64> =
            sqlx::query_scalar("SELECT has_metadata FROM upstream_files WHERE sha256 = $1")
                .bind(row.sha256.clone())
                .fetch_optional(&mut *tx)
                .await?;
        if on_file.is_none() && !alone {
            tx.rollback().await?;
            return Ok(MetadataKept::FileGone);
        }
        let outcome = match on_file {
            Some(0) => {
                sqlx::query(
                    "UPDATE upstream_files SET metadata_sha256 = $1, has_metadata = 1 WHERE sha256 = $2",
                )
                .bind(row.metadata_sha256.clone())
                .bind(row.sha256.clone())
                .execute(&mut *tx)
                .await?;
                MetadataKept::OnFile
            }
            Some(_) => MetadataKept::Already,
            None => {
                let n = crate::rows::query(format!(
                    "INSERT INTO upstream_metadata ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT DO NOTHING"
                ))
                .bind(row.sha256.clone())
                .bind(row.blob_key.clone())
                .bind(row.project.clone())
                .bind(row.filename.clone())
                .bind(row.metadata_sha256.clone())
                .bind(row.size)
                .bind(row.first_seen_at)
                .bind(row.last_download_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    MetadataKept::Alone
                } else {
                    MetadataKept::Already
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Bytes the upstream cache holds: kept files and metadata kept on its own.
    pub async fn upstream_cache_bytes(&self) -> Result<i64, StoreError> {
        // PostgreSQL's SUM of a BIGINT is a NUMERIC: cast back.
        let n: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE((SELECT SUM(size) FROM upstream_files), 0) \
             + COALESCE((SELECT SUM(size) FROM upstream_metadata), 0) AS BIGINT)",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    /// The `limit` least recently downloaded entries of the upstream cache (files and metadata
    /// kept on its own), oldest first.
    pub async fn least_recent_upstream_entries(
        &self,
        limit: i64,
    ) -> Result<Vec<UpstreamEntry>, StoreError> {
        crate::rows::all(
            crate::rows::query(
                "SELECT kind, sha256, blob_key, size, last_download_at FROM ( \
                 SELECT 0 AS kind, sha256, blob_key, size, last_download_at FROM upstream_files \
                 UNION ALL \
                 SELECT 1 AS kind, sha256, blob_key, size, last_download_at FROM upstream_metadata \
                 ) e ORDER BY last_download_at, sha256, kind LIMIT $1"
                    .to_owned(),
            )
            .bind(limit),
            &self.read,
            map_entry,
        )
        .await
    }

    /// Forget an entry (eviction), under its blob key's lock, if it was not downloaded after
    /// `downloaded_before`. True when the row went; the key's blobs are then unreferenced and
    /// the collector's step for the key deletes them.
    pub async fn forget_upstream_entry(
        &self,
        entry: &UpstreamEntry,
        downloaded_before: i64,
    ) -> Result<bool, StoreError> {
        let table = match entry.kind {
            UpstreamEntryKind::File => "upstream_files",
            UpstreamEntryKind::Metadata => "upstream_metadata",
        };
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, &entry.blob_key).await?;
        let n = crate::rows::query(format!(
            "DELETE FROM {table} WHERE sha256 = $1 AND last_download_at <= $2"
        ))
        .bind(entry.sha256.clone())
        .bind(downloaded_before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Up to `limit` metadata rows whose file sha256 sorts after `after` (fsck's pages).
    pub async fn upstream_metadata_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<UpstreamMetadataRow>, StoreError> {
        crate::rows::all(
            crate::rows::query(format!(
                "SELECT {COLS} FROM upstream_metadata WHERE sha256 > $1 ORDER BY sha256 LIMIT $2"
            ))
            .bind(after.to_owned())
            .bind(limit),
            &self.read,
            map,
        )
        .await
    }
}
