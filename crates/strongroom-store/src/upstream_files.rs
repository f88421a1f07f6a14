//! Upstream files kept in the blob store (migration 0022): one row per cached upstream file,
//! keyed by its checked sha256. A row is written only after its blob is durable, settling the
//! blob claim in the same transaction (the protocol of `core::blob_collector`); eviction
//! deletes the row first, then the collector's own step deletes the unreferenced blobs.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::blob_claims::{BlobClaim, lock_key, settle};
use crate::{Db, StoreError};

/// One cached upstream file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFileRow {
    /// Lower-case hex sha256 (checked against the upstream's advertised one).
    pub sha256: String,
    /// `upstream/<aa>/<sha256>-<filename>` (or the earlier `upstream/<aa>/<bb>/<rest>/<filename>`).
    pub blob_key: String,
    /// Normalised project name.
    pub project: String,
    /// The release's version.
    pub version: String,
    /// The distribution filename.
    pub filename: String,
    /// Bytes.
    pub size: i64,
    /// The upstream index it came from (its simple URL, without credentials).
    pub upstream_url: String,
    /// When it was first kept (µs).
    pub first_seen_at: i64,
    /// When it was last downloaded (µs; eviction takes the oldest first).
    pub last_download_at: i64,
    /// The sha256 of the PEP 658 metadata kept beside it (`<blob_key>.metadata`).
    pub metadata_sha256: Option<String>,
}

/// What [`Db::keep_upstream_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepOutcome {
    /// The row is new.
    Kept,
    /// Another server (or an earlier fetch) kept the same file first; nothing changed.
    AlreadyKept,
    /// The claim had expired and was taken by a collector: the blob may be gone, nothing was
    /// recorded.
    ClaimExpired,
}

const COLS: &str = "sha256, blob_key, project, version, filename, size, upstream_url, first_seen_at, last_download_at, metadata_sha256, has_metadata";

fn map(r: &AnyRow) -> Result<UpstreamFileRow, sqlx::Error> {
    let has_metadata = r.try_get::<i64, _>("has_metadata")? != 0;
    Ok(UpstreamFileRow {
        sha256: r.try_get("sha256")?,
        blob_key: r.try_get("blob_key")?,
        project: r.try_get("project")?,
        version: r.try_get("version")?,
        filename: r.try_get("filename")?,
        size: r.try_get("size")?,
        upstream_url: r.try_get("upstream_url")?,
        first_seen_at: r.try_get("first_seen_at")?,
        last_download_at: r.try_get("last_download_at")?,
        metadata_sha256: if has_metadata {
            r.try_get("metadata_sha256")?
        } else {
            None
        },
    })
}

impl Db {
    /// The cached upstream file with this sha256, if any.
    pub async fn upstream_file(&self, sha256: &str) -> Result<Option<UpstreamFileRow>, StoreError> {
        crate::rows::optional(
            crate::rows::query(format!(
                "SELECT {COLS} FROM upstream_files WHERE sha256 = $1"
            ))
            .bind(sha256.to_owned()),
            &self.read,
            map,
        )
        .await
    }

    /// Record a kept upstream file whose blob (and metadata, if `row.metadata_sha256`) is
    /// durable, settling `claim` in the same transaction.
    pub async fn keep_upstream_file(
        &self,
        row: &UpstreamFileRow,
        claim: &BlobClaim,
    ) -> Result<KeepOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        if !settle(&mut tx, self.dialect, claim).await? {
            tx.rollback().await?;
            return Ok(KeepOutcome::ClaimExpired);
        }
        let n = sqlx::query(
            "INSERT INTO upstream_files (sha256, blob_key, project, version, filename, size, upstream_url, first_seen_at, last_download_at, metadata_sha256, has_metadata) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(row.sha256.clone())
        .bind(row.blob_key.clone())
        .bind(row.project.clone())
        .bind(row.version.clone())
        .bind(row.filename.clone())
        .bind(row.size)
        .bind(row.upstream_url.clone())
        .bind(row.first_seen_at)
        .bind(row.last_download_at)
        .bind(row.metadata_sha256.clone())
        .bind(i64::from(row.metadata_sha256.is_some()))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            adopt_metadata(&mut tx, &row.sha256, &row.blob_key).await?;
        }
        tx.commit().await?;
        Ok(if n == 1 {
            KeepOutcome::Kept
        } else {
            KeepOutcome::AlreadyKept
        })
    }

    /// Downloads of kept files and of metadata kept on its own, `(sha256, at)` each (the server's batched touches), in one
    /// transaction; a time never moves back. Returns the rows moved.
    pub async fn touch_upstream_files(&self, touches: &[(String, i64)]) -> Result<u64, StoreError> {
        if touches.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut moved = 0;
        for (sha256, at) in touches {
            // a kept file, or metadata kept on its own (at most one of the two has the sha256)
            for sql in [
                "UPDATE upstream_files SET last_download_at = $1 WHERE sha256 = $2 AND last_download_at < $1",
                "UPDATE upstream_metadata SET last_download_at = $1 WHERE sha256 = $2 AND last_download_at < $1",
            ] {
                moved += sqlx::query(sql)
                    .bind(*at)
                    .bind(sha256.clone())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
        }
        tx.commit().await?;
        Ok(moved)
    }

    /// Up to `limit` kept files whose sha256 sorts after `after` (fsck's pages).
    pub async fn upstream_files_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<UpstreamFileRow>, StoreError> {
        crate::rows::all(
            crate::rows::query(format!(
                "SELECT {COLS} FROM upstream_files WHERE sha256 > $1 ORDER BY sha256 LIMIT $2"
            ))
            .bind(after.to_owned())
            .bind(limit),
            &self.read,
            map,
        )
        .await
    }

    /// Forget a kept file (eviction), under its blob key's lock, if it was not downloaded after
    /// `downloaded_before` (a download in between keeps it). True when the row went; its blobs
    /// are then unreferenced and the collector's step for the key deletes them.
    pub async fn forget_upstream_file(
        &self,
        row: &UpstreamFileRow,
        downloaded_before: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, &row.blob_key).await?;
        let n =
            sqlx::query("DELETE FROM upstream_files WHERE sha256 = $1 AND last_download_at <= $2")
                .bind(row.sha256.clone())
                .bind(downloaded_before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }
}

/// A file just kept takes over the metadata kept on its own for it (its blob is already at
/// `<key>.metadata`): the file's row records it and the metadata row goes, in the keep's
/// transaction (under the key's lock, taken by the claim's settling). Metadata kept under
/// another key (the earlier key layout) is not the file's: its row goes, its blob is then
/// unreferenced (the collector's), and the file's metadata is fetched again.
async fn adopt_metadata(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    sha256: &str,
    blob_key: &str,
) -> Result<(), StoreError> {
    let meta: Option<String> = sqlx::query_scalar(
        "SELECT metadata_sha256 FROM upstream_metadata WHERE sha256 = $1 AND blob_key = $2",
    )
    .bind(sha256.to_owned())
    .bind(blob_key.to_owned())
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(m) = meta {
        sqlx::query(
            "UPDATE upstream_files SET metadata_sha256 = $1, has_metadata = 1 WHERE sha256 = $2",
        )
        .bind(m)
        .bind(sha256.to_owned())
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("DELETE FROM upstream_metadata WHERE sha256 = $1")
        .bind(sha256.to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
