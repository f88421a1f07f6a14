//! Whether the uploaded file is new: an identical live file is a no-op, the same name or
//! content with other bytes is refused, a name once used (by a removed file) is burned, and the
//! project's size quota holds.

use sqlx::{Any, Row, Transaction};

use super::{NewFile, PublishOutcome, Refusal};
use crate::StoreError;
use crate::states::ProjectStatus;

/// The outcome when this file may not be added as new (`None`: it may), for a project holding
/// `total_size` bytes.
pub(super) async fn not_new(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    total_size: i64,
) -> Result<Option<PublishOutcome>, StoreError> {
    if let Some(outcome) = existing_file(tx, f).await? {
        return Ok(Some(outcome));
    }
    let used: Option<String> =
        sqlx::query_scalar("SELECT filename FROM filename_registry WHERE filename = $1")
            .bind(f.filename.clone())
            .fetch_optional(&mut **tx)
            .await?;
    if used.is_some() {
        // The registry row may belong to a concurrent upload that committed after the duplicate
        // check above: then the file is live and this is a duplicate, not a deleted name.
        if let Some(outcome) = existing_file(tx, f).await? {
            return Ok(Some(outcome));
        }
        return Ok(Some(PublishOutcome::Refused(
            Refusal::FilenamePreviouslyUsed,
        )));
    }
    if total_size.saturating_add(f.size) > f.max_project_size {
        return Ok(Some(PublishOutcome::Refused(Refusal::ProjectTooLarge)));
    }
    Ok(None)
}

/// The outcome when a file row (any state) has this name or content: a duplicate of a file the
/// public sees, or a refusal naming why not.
pub(super) async fn existing_file(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
) -> Result<Option<PublishOutcome>, StoreError> {
    use crate::visibility::{PUBLIC_FILE, PUBLIC_PROJECT, PUBLIC_RELEASE};
    let sql = format!(
        "SELECT f.filename, f.sha256, f.blake2_256, f.removed_at, p.status, r.removed_at, r.quarantined_at, r.yanked_at, \
         CAST(CASE WHEN {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} AND {PUBLIC_FILE} THEN 1 ELSE 0 END AS BIGINT), f.held_at \
         FROM files f JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = f.project_id \
         WHERE f.filename = $1 OR f.blake2_256 = $2 OR f.sha256 = $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(f.filename.clone())
        .bind(f.blake2_256.clone())
        .bind(f.sha256.clone())
        .fetch_all(&mut **tx)
        .await?;
    for r in &rows {
        let filename: String = r.try_get(0)?;
        let sha256: String = r.try_get(1)?;
        let blake2: String = r.try_get(2)?;
        if filename == f.filename && sha256 == f.sha256 && blake2 == f.blake2_256 {
            // Only a file the public sees is "already there": anything hidden refuses by its
            // state, and nothing about it changes.
            if r.try_get::<i64, _>(8)? == 1 {
                return Ok(Some(PublishOutcome::Duplicate));
            }
            return Ok(Some(PublishOutcome::Refused(Refusal::IdenticalHidden {
                file_removed: r.try_get::<Option<i64>, _>(3)?.is_some(),
                file_held: r.try_get::<Option<i64>, _>(9)?.is_some(),
                release: crate::ReleaseFlags {
                    held: r.try_get::<Option<i64>, _>(6)?.is_some(),
                    removed: r.try_get::<Option<i64>, _>(5)?.is_some(),
                    yanked: r.try_get::<Option<i64>, _>(7)?.is_some(),
                },
                project_status: ProjectStatus::decode(
                    "projects.status",
                    &r.try_get::<String, _>(4)?,
                )?,
            })));
        }
    }
    if let Some(r) = rows.first() {
        return Ok(Some(PublishOutcome::Refused(Refusal::FileExists {
            filename: r.try_get(0)?,
            blake2_256: r.try_get(2)?,
        })));
    }
    Ok(None)
}
