//! The upload's project: found (its row locked on PostgreSQL) or created with the uploader as
//! Owner, and whether this upload may add to it (credentials still live, the token's scope, a
//! role, an active project, no recovery hold covering it).

use std::ops::ControlFlow;

use sqlx::{Any, Row, Transaction};

use super::{NewFile, PublishOutcome, Refusal};
use crate::states::ProjectStatus;
use crate::{Db, Dialect, StoreError};

/// The project row an upload goes to.
pub(super) struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub status: ProjectStatus,
    /// Bytes of its files so far (the size quota).
    pub total_size: i64,
    /// Created by this upload (with the uploader as Owner).
    pub created: bool,
}

/// The project by normalised name, or a new one with the uploader as Owner. On PostgreSQL the
/// row is locked (FOR NO KEY UPDATE) before anything else touches it: uploads to one project
/// then take turns from here, so the size quota is checked against the total this transaction
/// will update (two uploads can no longer both fit under it), and no transaction upgrades the
/// key-share lock of its own foreign-key checks into an update while others hold theirs
/// (PostgreSQL 15 failed such an upgrade under 16 parallel uploads with "new multixact has more
/// than one updating member"). SQLite's single writer already serialises the whole transaction.
pub(super) async fn find_or_create(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    f: &NewFile,
) -> Result<ControlFlow<PublishOutcome, ProjectRow>, StoreError> {
    if let Some(found) = locked_row(tx, db, f).await? {
        return Ok(ControlFlow::Continue(found));
    }
    if f.token_project_id.is_some() {
        return Ok(refused(Refusal::TokenNotAllowed {
            project: f.project_name.clone(),
        }));
    }
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(f.project_name.clone())
    .bind(f.normalized_name.clone())
    .bind(f.ultranormalized_name.clone())
    .bind(f.at)
    .bind(f.user_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(id) = id {
        sqlx::query(
            "INSERT INTO roles (project_id, user_id, role, granted_at) VALUES ($1, $2, 'Owner', $3)",
        )
        .bind(id)
        .bind(f.user_id)
        .bind(f.at)
        .execute(&mut **tx)
        .await?;
        return Ok(ControlFlow::Continue(ProjectRow {
            id,
            name: f.project_name.clone(),
            status: ProjectStatus::Active,
            total_size: 0,
            created: true,
        }));
    }
    // Lost a race, or a confusable name exists.
    if let Some(found) = locked_row(tx, db, f).await? {
        return Ok(ControlFlow::Continue(found));
    }
    let existing: String =
        sqlx::query_scalar("SELECT name FROM projects WHERE ultranormalized_name = $1")
            .bind(f.ultranormalized_name.clone())
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or_default();
    Ok(refused(Refusal::TooSimilar { existing }))
}

/// An existing project's row by normalised name (locked on PostgreSQL).
async fn locked_row(
    tx: &mut Transaction<'_, Any>,
    db: &Db,
    f: &NewFile,
) -> Result<Option<ProjectRow>, StoreError> {
    let row = sqlx::query(row_sql(db.dialect))
        .bind(f.normalized_name.clone())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(ProjectRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        status: ProjectStatus::decode("projects.status", &r.try_get::<String, _>(2)?)?,
        total_size: r.try_get(3)?,
        created: false,
    }))
}

/// The upload's project row by normalised name, locked against other writers on PostgreSQL.
fn row_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SELECT id, name, status, total_size FROM projects WHERE normalized_name = $1 FOR NO KEY UPDATE"
        }
        Dialect::Sqlite => {
            "SELECT id, name, status, total_size FROM projects WHERE normalized_name = $1"
        }
    }
}

fn refused<T>(refusal: Refusal) -> ControlFlow<PublishOutcome, T> {
    ControlFlow::Break(PublishOutcome::Refused(refusal))
}

/// Why this upload may not add to `project`, by database identity (`None`: it may). The
/// account and the token are read again here: a freeze, a deletion or a revocation that landed
/// while the body streamed wins.
pub(super) async fn refusal(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    project: &ProjectRow,
) -> Result<Option<Refusal>, StoreError> {
    if credentials_gone(tx, f).await? {
        return Ok(Some(Refusal::CredentialsGone));
    }
    if project.created {
        return Ok(None);
    }
    if let Some(scope) = f.token_project_id
        && scope != project.id
    {
        return Ok(Some(Refusal::TokenNotAllowed {
            project: project.name.clone(),
        }));
    }
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM roles WHERE project_id = $1 AND user_id = $2")
            .bind(project.id)
            .bind(f.user_id)
            .fetch_optional(&mut **tx)
            .await?;
    if role.is_none() {
        return Ok(Some(Refusal::UserNotAllowed {
            project: project.name.clone(),
        }));
    }
    if project.status != ProjectStatus::Active {
        return Ok(Some(Refusal::ProjectNotActive {
            project: project.name.clone(),
            status: project.status,
        }));
    }
    if held_out(tx, f, project.id).await? {
        return Ok(Some(Refusal::Held));
    }
    Ok(None)
}

/// Whether the uploading account is no longer live (frozen, deleted) or its token no longer
/// valid (revoked, expired), read inside the publish transaction.
async fn credentials_gone(tx: &mut Transaction<'_, Any>, f: &NewFile) -> Result<bool, StoreError> {
    let user = sqlx::query("SELECT frozen_at, deleted_at FROM users WHERE id = $1")
        .bind(f.user_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(user) = user else {
        return Ok(true);
    };
    if user.try_get::<Option<i64>, _>(0)?.is_some() || user.try_get::<Option<i64>, _>(1)?.is_some()
    {
        return Ok(true);
    }
    let Some(token_id) = f.token_id else {
        return Ok(false);
    };
    let token = sqlx::query("SELECT revoked_at, expires_at FROM api_tokens WHERE id = $1")
        .bind(token_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(match token {
        None => true,
        Some(t) => {
            t.try_get::<Option<i64>, _>(0)?.is_some()
                || t.try_get::<Option<i64>, _>(1)?.is_some_and(|e| e <= f.at)
        }
    })
}

/// Whether the uploader is on a recovery hold that covers this (existing) project: held, and the
/// project was not created by the uploader since the hold began.
async fn held_out(
    tx: &mut Transaction<'_, Any>,
    f: &NewFile,
    project_id: i64,
) -> Result<bool, StoreError> {
    let hold = sqlx::query("SELECT hold_until, recovered_at FROM users WHERE id = $1")
        .bind(f.user_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(hold) = hold else { return Ok(false) };
    let until: Option<i64> = hold.try_get(0)?;
    if until.is_none_or(|u| u <= f.at) {
        return Ok(false);
    }
    let since: i64 = hold.try_get::<Option<i64>, _>(1)?.unwrap_or(i64::MIN);
    let origin = sqlx::query("SELECT created_by, created_at FROM projects WHERE id = $1")
        .bind(project_id)
        .fetch_one(&mut **tx)
        .await?;
    let created_by: Option<i64> = origin.try_get(0)?;
    let created_at: i64 = origin.try_get(1)?;
    Ok(!(created_by == Some(f.user_id) && created_at >= since))
}
