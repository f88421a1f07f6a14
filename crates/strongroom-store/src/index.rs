//! Reads that build the simple and JSON indexes and serve downloads: public rows only, through
//! the fragments of [`crate::visibility`].

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{DistFile, PublicDownload, ReleaseSummary};
use crate::visibility::{PUBLIC_FILE, PUBLIC_PROJECT, PUBLIC_RELEASE};
use crate::{Db, StoreError};

/// The columns of a [`ReleaseSummary`] (never `core_metadata`: lists do not carry it).
const SUMMARY_COLS: &str = "r.id, r.project_id, r.version, r.canonical_version, r.created_at, r.requires_python, r.yanked_at, r.yanked_reason, r.quarantined_at, r.quarantine_reason";
const FILE_COLS: &str = "f.id, f.release_id, f.project_id, f.filename, f.packagetype, f.python_version, f.size, f.md5, f.sha256, f.blake2_256, f.blob_key, f.metadata_sha256, f.comment_text, f.uploaded_at";

/// The one SQL form of "releases the public sees": `cols` of the releases `r` matching `filter`
/// (over `r`, with its own parameters) that are public and whose project `p` is. Every
/// public read of releases (the list, one release, one release's metadata or description) is
/// built here, so none can drift from the rule.
pub(crate) fn public_releases_sql(cols: &str, filter: &str) -> String {
    format!(
        "SELECT {cols} FROM releases r JOIN projects p ON p.id = r.project_id \
         WHERE ({filter}) AND {PUBLIC_PROJECT} AND {PUBLIC_RELEASE}"
    )
}

fn summary_from_row(r: &AnyRow) -> Result<ReleaseSummary, sqlx::Error> {
    Ok(ReleaseSummary {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        version: r.try_get("version")?,
        canonical_version: r.try_get("canonical_version")?,
        created_at: r.try_get("created_at")?,
        requires_python: r.try_get("requires_python")?,
        yanked_at: r.try_get("yanked_at")?,
        yanked_reason: r.try_get("yanked_reason")?,
        quarantined_at: r.try_get("quarantined_at")?,
        quarantine_reason: r.try_get("quarantine_reason")?,
    })
}

pub(crate) fn file_from_row(r: &AnyRow) -> Result<DistFile, sqlx::Error> {
    Ok(DistFile {
        id: r.try_get("id")?,
        release_id: r.try_get("release_id")?,
        project_id: r.try_get("project_id")?,
        filename: r.try_get("filename")?,
        packagetype: r.try_get("packagetype")?,
        python_version: r.try_get("python_version")?,
        size: r.try_get("size")?,
        md5: r.try_get("md5")?,
        sha256: r.try_get("sha256")?,
        blake2_256: r.try_get("blake2_256")?,
        blob_key: r.try_get("blob_key")?,
        metadata_sha256: r.try_get("metadata_sha256")?,
        comment_text: r.try_get("comment_text")?,
        uploaded_at: r.try_get("uploaded_at")?,
    })
}

impl Db {
    /// The project's public releases (the project, and each release, public), in no particular
    /// order, without their core metadata. Empty for a project the public does not see.
    pub async fn releases_of(&self, project_id: i64) -> Result<Vec<ReleaseSummary>, StoreError> {
        let sql = public_releases_sql(SUMMARY_COLS, "r.project_id = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// One public release of the project, by id (`None` when it is not the project's, or the
    /// public does not see it or its project).
    pub async fn public_release(
        &self,
        project_id: i64,
        release_id: i64,
    ) -> Result<Option<ReleaseSummary>, StoreError> {
        let sql = public_releases_sql(SUMMARY_COLS, "r.project_id = $1 AND r.id = $2");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project_id)
            .bind(release_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(summary_from_row).transpose()?)
    }

    /// The stored core metadata of one public release (`None` when the public does not see it):
    /// what a page or document describing that release parses.
    pub async fn release_core_metadata(
        &self,
        release_id: i64,
    ) -> Result<Option<String>, StoreError> {
        let sql = public_releases_sql("r.core_metadata", "r.id = $1");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(release_id)
            .fetch_optional(&self.read)
            .await?)
    }

    /// The project's public files (project, release and file public), ordered by filename.
    pub async fn files_of(&self, project_id: i64) -> Result<Vec<DistFile>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLS} FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = f.project_id \
             WHERE f.project_id = $1 AND {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} AND {PUBLIC_FILE} \
             ORDER BY f.filename"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(file_from_row).collect::<Result<_, _>>()?)
    }

    /// The public file stored under `blob_key` (a download): none for a file the public does
    /// not see, whether the file, its release or its project is what hides it.
    pub async fn file_by_blob_key(&self, blob_key: &str) -> Result<Option<DistFile>, StoreError> {
        Ok(self.public_download(blob_key).await?.map(|d| d.file))
    }

    /// [`Db::file_by_blob_key`] with the project's normalised name and the release's version
    /// (what the download log records), in the same one query.
    pub async fn public_download(
        &self,
        blob_key: &str,
    ) -> Result<Option<PublicDownload>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLS}, p.normalized_name AS download_project, r.version AS download_version \
             FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = f.project_id \
             WHERE f.blob_key = $1 AND {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} AND {PUBLIC_FILE}"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(blob_key.to_owned())
            .fetch_optional(&self.read)
            .await?;
        let Some(r) = r else { return Ok(None) };
        Ok(Some(PublicDownload {
            file: file_from_row(&r)?,
            project: r.try_get("download_project")?,
            version: r.try_get("download_version")?,
        }))
    }

    /// The highest journal serial (0 for an empty index).
    pub async fn global_serial(&self) -> Result<i64, StoreError> {
        let s: Option<i64> = sqlx::query_scalar("SELECT MAX(serial) FROM journal")
            .fetch_one(&self.read)
            .await?;
        Ok(s.unwrap_or(0))
    }
}
