//! The upload's release: found by canonical version or created, and whether it (or the file
//! joining it) is held: a scan hold, a dormant project's new release, a file joining a
//! quarantined release or added by a watched account.

use std::ops::ControlFlow;

use sqlx::{Any, Row, Transaction};

use super::project_row::ProjectRow;
use super::{NewFile, PublishOutcome, Refusal, UploadPolicy};
use crate::{NewMail, StoreError};

/// The release an upload's file joins.
pub(super) struct ReleaseRow {
    pub id: i64,
    /// Created by this upload.
    pub created: bool,
    /// Quarantined, by an earlier upload or by this one.
    pub quarantined: bool,
    /// Quarantined by this upload (a scan hold or a dormant project).
    pub newly_quarantined: bool,
    /// Quarantined by this upload because of its content scan.
    pub scan_quarantined: bool,
}

/// The release by canonical version, or a new one (indexed for search); then quarantined when
/// this upload's scan holds it or, for an existing project, when the project is dormant.
pub(super) async fn find_or_create(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    policy: &UploadPolicy,
    project: &ProjectRow,
) -> Result<ControlFlow<PublishOutcome, ReleaseRow>, StoreError> {
    let burned = ControlFlow::Break(PublishOutcome::Refused(Refusal::FilenamePreviouslyUsed));
    let found = sqlx::query(
        "SELECT id, created_at, removed_at, quarantined_at FROM releases WHERE project_id = $1 AND canonical_version = $2",
    )
    .bind(project.id)
    .bind(f.canonical_version.clone())
    .fetch_optional(&mut **tx)
    .await?;
    let (id, created, quarantined) = match found {
        Some(r) => {
            // A removed release's version is burned like its filenames.
            if r.try_get::<Option<i64>, _>(2)?.is_some() {
                return Ok(burned);
            }
            let created_at: i64 = r.try_get(1)?;
            if f.at.saturating_sub(created_at) > f.release_window_micros {
                return Ok(ControlFlow::Break(PublishOutcome::Refused(
                    Refusal::ReleaseTooOld,
                )));
            }
            // Files added to a quarantined release stay in quarantine with it.
            (
                r.try_get(0)?,
                false,
                r.try_get::<Option<i64>, _>(3)?.is_some(),
            )
        }
        None => match insert(tx, f, policy, project).await? {
            Some(id) => (id, true, false),
            None => {
                // A concurrent upload created it first: take its state as well as its id, so
                // a file never joins a quarantined or removed release as a published one.
                let r = sqlx::query(
                    "SELECT id, removed_at, quarantined_at FROM releases WHERE project_id = $1 AND canonical_version = $2",
                )
                .bind(project.id)
                .bind(f.canonical_version.clone())
                .fetch_one(&mut **tx)
                .await?;
                if r.try_get::<Option<i64>, _>(1)?.is_some() {
                    return Ok(burned);
                }
                (
                    r.try_get(0)?,
                    false,
                    r.try_get::<Option<i64>, _>(2)?.is_some(),
                )
            }
        },
    };
    // A scan hold quarantines the new release whatever the project's age (a new project's
    // first release too); otherwise a dormant project's new release may be.
    let scan_quarantined = created
        && match &policy.scan_hold {
            Some(reason) => {
                quarantine(tx, id, reason, f.at).await?;
                true
            }
            None => false,
        };
    let newly_quarantined = scan_quarantined
        || (created
            && !project.created
            && quarantine_if_dormant(tx, policy, project.id, id, f.at).await?);
    Ok(ControlFlow::Continue(ReleaseRow {
        id,
        created,
        quarantined: quarantined || newly_quarantined,
        newly_quarantined,
        scan_quarantined,
    }))
}

/// A new release row (`None`: a concurrent upload created it first), indexed for search.
async fn insert(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    policy: &UploadPolicy,
    project: &ProjectRow,
) -> Result<Option<i64>, StoreError> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO releases (project_id, version, canonical_version, created_at, requires_python, core_metadata, description_html, description_renderer, uploader_watched) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(project.id)
    .bind(f.version.clone())
    .bind(f.canonical_version.clone())
    .bind(f.at)
    .bind(f.requires_python.clone())
    .bind(f.core_metadata.clone())
    .bind(f.description.as_ref().map(|d| d.html.clone()))
    .bind(f.description.as_ref().map(|d| d.renderer))
    .bind(i64::from(policy.uploader_watched))
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = id {
        crate::search::index_release(tx, id, project.id, &project.name, &f.core_metadata).await?;
    }
    Ok(id)
}

/// Whether the file itself is held for review, and the mails that tell of it.
pub(super) struct FileHold<'a> {
    pub reason: Option<String>,
    pub mails: &'a [NewMail],
}

/// A file added to a release that is not held (published, or approved after review) by a
/// watched account waits for its own review, and so does any file joining a quarantined release
/// after the upload that quarantined it: approval is per file. A new release's files are held
/// with the release, not one by one.
pub(super) fn file_hold<'a>(
    f: &NewFile,
    policy: &'a UploadPolicy,
    release: &ReleaseRow,
) -> FileHold<'a> {
    if release.created {
        FileHold {
            reason: None,
            mails: &[],
        }
    } else if let Some(reason) = &policy.scan_hold {
        // The scan holds a file joining an existing release, held or not: its own review item.
        FileHold {
            reason: Some(reason.clone()),
            mails: &policy.scan_hold_mails,
        }
    } else if release.quarantined {
        match &policy.hold_joined_file {
            Some((reason, mails)) => FileHold {
                reason: Some(reason.clone()),
                mails,
            },
            None => FileHold {
                reason: Some(format!(
                    "file added to the quarantined release {} by {}",
                    f.version, f.username
                )),
                mails: &[],
            },
        }
    } else {
        FileHold {
            reason: policy.hold_added_file.clone(),
            mails: &policy.held_file_mails,
        }
    }
}

/// Whether the release already has an sdist (one per release).
pub(super) async fn has_sdist(
    tx: &mut Transaction<'_, Any>,
    release_id: i64,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM files WHERE release_id = $1 AND packagetype = 'sdist'",
    )
    .bind(release_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n > 0)
}

/// Quarantine the release just created when the policy says so and the project is dormant: its
/// newest release that is not itself quarantined and was not created by a watched account
/// (removed ones count: removing old releases must not make a project look fresh; a sock's
/// release must not either) is older than `dormant_before`; without such a release, the project
/// itself is; with `first_release_since`, only when that newest release came before it. True
/// when quarantined.
async fn quarantine_if_dormant(
    tx: &mut Transaction<'_, Any>,
    policy: &UploadPolicy,
    project_id: i64,
    release_id: i64,
    at: i64,
) -> Result<bool, StoreError> {
    let Some(before) = policy.dormant_before else {
        return Ok(false);
    };
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(created_at) FROM releases WHERE project_id = $1 AND id <> $2 AND quarantined_at IS NULL \
         AND uploader_watched = 0",
    )
    .bind(project_id)
    .bind(release_id)
    .fetch_one(&mut **tx)
    .await?;
    // No release by an unwatched account: the project's own age decides (an old project whose
    // every release came from watched accounts is dormant; a project made minutes ago is not).
    let newest = match newest {
        Some(n) => Some(n),
        None => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT created_at FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_one(&mut **tx)
                .await?
        }
    };
    if newest.is_none_or(|n| n >= before) {
        return Ok(false);
    }
    // A member's recovery counts, however long ago, until the project's first release after it
    // is published by an unwatched account (or approved: then it is that release).
    if let (Some(since), Some(n)) = (policy.first_release_since, newest)
        && n >= since
    {
        return Ok(false);
    }
    quarantine(tx, release_id, &policy.quarantine_reason, at).await?;
    Ok(true)
}

/// Mark the release just created quarantined, with `reason`.
async fn quarantine(
    tx: &mut Transaction<'_, Any>,
    release_id: i64,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE releases SET quarantined_at = $1, quarantine_reason = $2 WHERE id = $3")
        .bind(at)
        .bind(reason.to_owned())
        .bind(release_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
