//! The file row of an upload, with its scan, its name in the filename registry and its bytes on
//! the project's total.

use std::ops::ControlFlow;

use sqlx::{Any, Transaction};

use super::{NewFile, PublishOutcome, Refusal, duplicates};
use crate::StoreError;

/// Insert the file into `release_id` (held with `hold_reason` when set); a concurrent winner
/// shows up as "nothing inserted" and is answered as the duplicate or refusal it is.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    project_id: i64,
    release_id: i64,
    hold_reason: Option<&str>,
) -> Result<ControlFlow<PublishOutcome, i64>, StoreError> {
    let file_id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO files (release_id, project_id, filename, packagetype, python_version, size, md5, sha256, blake2_256, \
         blob_key, metadata_sha256, metadata_blake2_256, comment_text, uploaded_at, uploaded_by, user_agent, held_at, held_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(release_id)
    .bind(project_id)
    .bind(f.filename.clone())
    .bind(f.packagetype.clone())
    .bind(f.python_version.clone())
    .bind(f.size)
    .bind(f.md5.clone())
    .bind(f.sha256.clone())
    .bind(f.blake2_256.clone())
    .bind(f.blob_key.clone())
    .bind(f.metadata_sha256.clone())
    .bind(f.metadata_blake2_256.clone())
    .bind(f.comment_text.clone())
    .bind(f.at)
    .bind(f.user_id)
    .bind(f.user_agent.clone())
    .bind(hold_reason.map(|_| f.at))
    .bind(hold_reason.map(str::to_owned))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(file_id) = file_id else {
        if let Some(outcome) = duplicates::existing_file(tx, f).await? {
            return Ok(ControlFlow::Break(outcome));
        }
        if f.packagetype == "sdist" {
            return Ok(ControlFlow::Break(PublishOutcome::Refused(
                Refusal::OnlyOneSdist,
            )));
        }
        return Err(StoreError::Conflict("file".into()));
    };
    if let Some(scan) = &f.scan {
        crate::file_scans::insert(tx, file_id, scan, f.at).await?;
    }
    sqlx::query(
        "INSERT INTO filename_registry (filename, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(f.filename.clone())
    .bind(f.at)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE projects SET total_size = total_size + $1 WHERE id = $2")
        .bind(f.size)
        .bind(project_id)
        .execute(&mut **tx)
        .await?;
    Ok(ControlFlow::Continue(file_id))
}
