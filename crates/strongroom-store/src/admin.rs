//! Interventions on the index and on accounts (admin actions, and an Owner removing releases,
//! files or the project): one [`AdminTx`] per action, whose rows, journal entries, events and
//! mails commit together. Removal is soft: rows get `removed_at`, blobs and filenames stay.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::events::{NewEvent, append, lock_tail};
use crate::model::{Email, User};
use crate::publish::write_journal;
use crate::rows::{all, optional, query};
use crate::states::{ProjectRole, ProjectStatus};
use crate::users::{USER_COLS, user_from_row};
use crate::{Db, Dialect, NewMail, StoreError};

/// A project as interventions see it (any status).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProjectState {
    pub id: i64,
    pub name: String,
    pub normalized_name: String,
    pub ultranormalized_name: String,
    pub status: ProjectStatus,
    /// What releasing (or restoring) the project brings back.
    pub status_before: Option<ProjectStatus>,
    pub status_reason: Option<String>,
    pub status_changed_at: Option<i64>,
    pub created_at: i64,
    pub last_serial: i64,
}

/// A release in any state (quarantined, removed, visible).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReleaseState {
    pub id: i64,
    pub project_id: i64,
    pub version: String,
    pub canonical_version: String,
    pub created_at: i64,
    pub yanked_at: Option<i64>,
    pub quarantined_at: Option<i64>,
    pub quarantine_reason: Option<String>,
    pub removed_at: Option<i64>,
    pub removed_reason: Option<String>,
}

/// A file in any state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileState {
    pub id: i64,
    pub release_id: i64,
    pub project_id: i64,
    pub version: String,
    pub filename: String,
    pub packagetype: String,
    pub python_version: String,
    pub size: i64,
    pub sha256: String,
    pub blob_key: String,
    pub uploaded_at: i64,
    /// The account whose token uploaded it.
    pub uploaded_by: Option<i64>,
    pub removed_at: Option<i64>,
    pub removed_reason: Option<String>,
    /// Held for an administrator's review (added to an existing release by a watched account).
    pub held_at: Option<i64>,
    pub held_reason: Option<String>,
}

const PROJECT_STATE_COLS: &str = "id, name, normalized_name, ultranormalized_name, status, status_before, status_reason, status_changed_at, created_at, last_serial";
const RELEASE_STATE_COLS: &str = "r.id, r.project_id, r.version, r.canonical_version, r.created_at, r.yanked_at, r.quarantined_at, r.quarantine_reason, r.removed_at, r.removed_reason";
const FILE_STATE_COLS: &str = "f.id, f.release_id, f.project_id, r.version, f.filename, f.packagetype, f.python_version, f.size, f.sha256, f.blob_key, f.uploaded_at, f.uploaded_by, f.removed_at, f.removed_reason, f.held_at, f.held_reason";

fn project_state(r: &AnyRow) -> Result<ProjectState, sqlx::Error> {
    Ok(ProjectState {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        normalized_name: r.try_get("normalized_name")?,
        ultranormalized_name: r.try_get("ultranormalized_name")?,
        status: ProjectStatus::decode("projects.status", &r.try_get::<String, _>("status")?)?,
        status_before: r
            .try_get::<Option<String>, _>("status_before")?
            .map(|s| ProjectStatus::decode("projects.status_before", &s))
            .transpose()?,
        status_reason: r.try_get("status_reason")?,
        status_changed_at: r.try_get("status_changed_at")?,
        created_at: r.try_get("created_at")?,
        last_serial: r.try_get("last_serial")?,
    })
}

fn release_state(r: &AnyRow) -> Result<ReleaseState, sqlx::Error> {
    Ok(ReleaseState {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        version: r.try_get("version")?,
        canonical_version: r.try_get("canonical_version")?,
        created_at: r.try_get("created_at")?,
        yanked_at: r.try_get("yanked_at")?,
        quarantined_at: r.try_get("quarantined_at")?,
        quarantine_reason: r.try_get("quarantine_reason")?,
        removed_at: r.try_get("removed_at")?,
        removed_reason: r.try_get("removed_reason")?,
    })
}

fn file_state(r: &AnyRow) -> Result<FileState, sqlx::Error> {
    Ok(FileState {
        id: r.try_get("id")?,
        release_id: r.try_get("release_id")?,
        project_id: r.try_get("project_id")?,
        version: r.try_get("version")?,
        filename: r.try_get("filename")?,
        packagetype: r.try_get("packagetype")?,
        python_version: r.try_get("python_version")?,
        size: r.try_get("size")?,
        sha256: r.try_get("sha256")?,
        blob_key: r.try_get("blob_key")?,
        uploaded_at: r.try_get("uploaded_at")?,
        uploaded_by: r.try_get("uploaded_by")?,
        removed_at: r.try_get("removed_at")?,
        removed_reason: r.try_get("removed_reason")?,
        held_at: r.try_get("held_at")?,
        held_reason: r.try_get("held_reason")?,
    })
}

impl Db {
    /// Start an intervention.
    pub async fn begin_admin(&self) -> Result<AdminTx, StoreError> {
        Ok(AdminTx {
            tx: self.begin_write().await?,
            dialect: self.dialect,
            tail_locked: false,
            keyring: self.keyring.clone(),
        })
    }

    /// A project by normalised name, whatever its status.
    pub async fn project_state(
        &self,
        normalized: &str,
    ) -> Result<Option<ProjectState>, StoreError> {
        let sql = format!("SELECT {PROJECT_STATE_COLS} FROM projects WHERE normalized_name = $1");
        optional(
            query(sql).bind(normalized.to_owned()),
            &self.read,
            project_state,
        )
        .await
    }

    /// A project by confusable (ultranormalised) name, whatever its status.
    pub async fn project_state_by_ultra(
        &self,
        ultra: &str,
    ) -> Result<Option<ProjectState>, StoreError> {
        let sql =
            format!("SELECT {PROJECT_STATE_COLS} FROM projects WHERE ultranormalized_name = $1");
        optional(query(sql).bind(ultra.to_owned()), &self.read, project_state).await
    }

    /// Every release of the project, in any state, oldest first.
    pub async fn releases_any_state(
        &self,
        project_id: i64,
    ) -> Result<Vec<ReleaseState>, StoreError> {
        let sql = format!(
            "SELECT {RELEASE_STATE_COLS} FROM releases r WHERE r.project_id = $1 ORDER BY r.created_at, r.id"
        );
        all(query(sql).bind(project_id), &self.read, release_state).await
    }

    /// Every file of the project, in any state, by filename.
    pub async fn files_any_state(&self, project_id: i64) -> Result<Vec<FileState>, StoreError> {
        let sql = format!(
            "SELECT {FILE_STATE_COLS} FROM files f JOIN releases r ON r.id = f.release_id \
             WHERE f.project_id = $1 ORDER BY f.filename"
        );
        all(query(sql).bind(project_id), &self.read, file_state).await
    }

    /// One file by id, in any state (the admin download).
    pub async fn file_any_state(&self, file_id: i64) -> Result<Option<FileState>, StoreError> {
        let sql = format!(
            "SELECT {FILE_STATE_COLS} FROM files f JOIN releases r ON r.id = f.release_id WHERE f.id = $1"
        );
        optional(query(sql).bind(file_id), &self.read, file_state).await
    }

    /// Releases held for review (not removed), with their project's name, oldest first.
    pub async fn quarantined_releases(&self) -> Result<Vec<(String, ReleaseState)>, StoreError> {
        let sql = format!(
            "SELECT {RELEASE_STATE_COLS}, p.name AS project_name FROM releases r JOIN projects p ON p.id = r.project_id \
             WHERE r.quarantined_at IS NOT NULL AND r.removed_at IS NULL ORDER BY r.quarantined_at, r.id"
        );
        all(query(sql), &self.read, |r| {
            Ok((r.try_get("project_name")?, release_state(r)?))
        })
        .await
    }

    /// Files held for review (not removed), with their project's name, oldest first.
    pub async fn held_files(&self) -> Result<Vec<(String, FileState)>, StoreError> {
        let sql = format!(
            "SELECT {FILE_STATE_COLS}, p.name AS project_name FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = f.project_id \
             WHERE f.held_at IS NOT NULL AND f.removed_at IS NULL ORDER BY f.held_at, f.id"
        );
        all(query(sql), &self.read, |r| {
            Ok((r.try_get("project_name")?, file_state(r)?))
        })
        .await
    }

    /// Projects not active (quarantined, removed, ...), by name.
    pub async fn projects_not_active(&self) -> Result<Vec<ProjectState>, StoreError> {
        let sql = format!(
            "SELECT {PROJECT_STATE_COLS} FROM projects WHERE status <> 'active' ORDER BY normalized_name"
        );
        all(query(sql), &self.read, project_state).await
    }
}

/// An open intervention transaction. Nothing is visible until [`AdminTx::commit`]; dropping
/// it rolls everything back.
pub struct AdminTx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) dialect: Dialect,
    tail_locked: bool,
    /// Seals the bodies of the mails this intervention queues.
    pub(crate) keyring: Option<std::sync::Arc<crate::Keyring>>,
}

impl AdminTx {
    pub(crate) async fn lock_tail(&mut self) -> Result<(), StoreError> {
        if !self.tail_locked {
            lock_tail(&mut self.tx, self.dialect).await?;
            self.tail_locked = true;
        }
        Ok(())
    }

    /// Append the events, queue the mails and commit.
    pub async fn commit(
        mut self,
        events: &[NewEvent],
        mails: &[NewMail],
    ) -> Result<(), StoreError> {
        let at = events
            .first()
            .map_or_else(crate::model::now_micros, |e| e.at);
        crate::outbox::queue(&mut self.tx, self.keyring.as_deref(), mails, at).await?;
        if !events.is_empty() {
            self.lock_tail().await?;
            for e in events {
                append(&mut self.tx, e).await?;
            }
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// The journal entry of a file appearing on the index again or for the first time (approved
    /// after review, restored), as an upload writes it; returns its serial.
    pub async fn journal_file_added(
        &mut self,
        project: &ProjectState,
        file: &FileState,
        by: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        let action = crate::publish::file_added_action(&file.python_version, &file.filename);
        self.journal(
            project,
            Some(&file.version),
            Some(&file.filename),
            &action,
            by,
            at,
        )
        .await
    }

    /// Add a journal entry (mirrors see the change); returns its serial.
    #[allow(clippy::too_many_arguments)]
    pub async fn journal(
        &mut self,
        project: &ProjectState,
        version: Option<&str>,
        filename: Option<&str>,
        action: &str,
        by: &str,
        at: i64,
    ) -> Result<i64, StoreError> {
        self.lock_tail().await?;
        write_journal(
            &mut self.tx,
            project.id,
            &project.name,
            version,
            filename,
            action,
            by,
            at,
        )
        .await
    }

    // ---- projects ----

    /// A project by normalised name, read inside the transaction.
    pub async fn project(&mut self, normalized: &str) -> Result<Option<ProjectState>, StoreError> {
        let sql = format!("SELECT {PROJECT_STATE_COLS} FROM projects WHERE normalized_name = $1");
        optional(
            query(sql).bind(normalized.to_owned()),
            &mut *self.tx,
            project_state,
        )
        .await
    }

    /// Move the project from status `from` to `to`, recording `before` (what a later release
    /// or restore brings back). `false` when its status was no longer `from` (a race lost).
    pub async fn set_project_status(
        &mut self,
        project_id: i64,
        from: ProjectStatus,
        to: ProjectStatus,
        before: Option<ProjectStatus>,
        reason: Option<&str>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE projects SET status = $1, status_before = $2, status_reason = $3, status_changed_at = $4 \
             WHERE id = $5 AND status = $6",
        )
        .bind(to.as_str())
        .bind(before.map(ProjectStatus::as_str))
        .bind(reason.map(str::to_owned))
        .bind(at)
        .bind(project_id)
        .bind(from.as_str())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Free a removed project's names (its row and filenames stay): the normalised and
    /// confusable names get `suffix` appended so a new project may take them.
    pub async fn rename_names_away(
        &mut self,
        project_id: i64,
        suffix: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE projects SET normalized_name = normalized_name || $1, ultranormalized_name = ultranormalized_name || $1 \
             WHERE id = $2",
        )
        .bind(suffix.to_owned())
        .bind(project_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Removed projects whose normalised or confusable name is this one.
    pub async fn removed_projects_named(
        &mut self,
        normalized: &str,
        ultra: &str,
    ) -> Result<Vec<ProjectState>, StoreError> {
        let sql = format!(
            "SELECT {PROJECT_STATE_COLS} FROM projects WHERE status = 'removed' AND (normalized_name = $1 OR ultranormalized_name = $2)"
        );
        all(
            query(sql)
                .bind(normalized.to_owned())
                .bind(ultra.to_owned()),
            &mut *self.tx,
            project_state,
        )
        .await
    }

    // ---- releases ----

    /// A release of the project by canonical version, in any state.
    pub async fn release(
        &mut self,
        project_id: i64,
        canonical_version: &str,
    ) -> Result<Option<ReleaseState>, StoreError> {
        let sql = format!(
            "SELECT {RELEASE_STATE_COLS} FROM releases r WHERE r.project_id = $1 AND r.canonical_version = $2"
        );
        optional(
            query(sql)
                .bind(project_id)
                .bind(canonical_version.to_owned()),
            &mut *self.tx,
            release_state,
        )
        .await
    }

    /// Mark the release removed (`Some((at, reason))`) or restore it (`None`).
    pub async fn set_release_removed(
        &mut self,
        release_id: i64,
        removed: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE releases SET removed_at = $1, removed_reason = $2 WHERE id = $3")
            .bind(removed.map(|r| r.0))
            .bind(removed.map(|r| r.1.to_owned()))
            .bind(release_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Publish a quarantined release (clear its hold); `false` when it was not held.
    pub async fn clear_release_quarantine(&mut self, release_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE releases SET quarantined_at = NULL, quarantine_reason = NULL WHERE id = $1 AND quarantined_at IS NOT NULL",
        )
        .bind(release_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    // ---- files ----

    /// The files of a release, in any state, by filename.
    pub async fn files_of_release(
        &mut self,
        release_id: i64,
    ) -> Result<Vec<FileState>, StoreError> {
        let sql = format!(
            "SELECT {FILE_STATE_COLS} FROM files f JOIN releases r ON r.id = f.release_id WHERE f.release_id = $1 ORDER BY f.filename"
        );
        all(query(sql).bind(release_id), &mut *self.tx, file_state).await
    }

    /// Mark the file removed (`Some((at, reason))`) or restore it (`None`).
    pub async fn set_file_removed(
        &mut self,
        file_id: i64,
        removed: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE files SET removed_at = $1, removed_reason = $2 WHERE id = $3")
            .bind(removed.map(|r| r.0))
            .bind(removed.map(|r| r.1.to_owned()))
            .bind(file_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Publish a file held for review (clear its hold); `false` when it was not held.
    pub async fn clear_file_hold(&mut self, file_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE files SET held_at = NULL, held_reason = NULL WHERE id = $1 AND held_at IS NOT NULL",
        )
        .bind(file_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Delete a file held for review (rejected): its row goes and the project's size shrinks;
    /// the caller deletes its blob once this commits. Its filename stays used (burned), as
    /// every filename once uploaded does. `false` when it was not held.
    pub async fn delete_held_file(&mut self, file_id: i64) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT project_id, size FROM files WHERE id = $1 AND held_at IS NOT NULL")
                .bind(file_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        let Some(row) = row else { return Ok(false) };
        let (project_id, size): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        sqlx::query("DELETE FROM file_scans WHERE file_id = $1")
            .bind(file_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("DELETE FROM files WHERE id = $1")
            .bind(file_id)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("UPDATE projects SET total_size = total_size - $1 WHERE id = $2")
            .bind(size)
            .bind(project_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }

    // ---- accounts ----

    /// The account, read inside the transaction.
    pub async fn user(&mut self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        optional(query(sql).bind(id), &mut *self.tx, user_from_row).await
    }

    /// The account, read inside the intervention **and held** until it ends (see
    /// [`crate::AccountTx::lock_user`]): an Owner's removal decided on this row cannot commit
    /// after a freeze, a deletion or a hold of the same account that it did not see.
    pub async fn lock_user(&mut self, id: i64) -> Result<Option<User>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR NO KEY UPDATE",
            Dialect::Sqlite => "",
        };
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1{lock}");
        optional(query(sql).bind(id), &mut *self.tx, user_from_row).await
    }

    /// The account's addresses, primary first.
    pub async fn emails(&mut self, user_id: i64) -> Result<Vec<Email>, StoreError> {
        let sql = format!(
            "SELECT {} FROM emails WHERE user_id = $1 ORDER BY is_primary DESC, id",
            crate::users::EMAIL_COLS
        );
        all(
            query(sql).bind(user_id),
            &mut *self.tx,
            crate::users::email_from_row,
        )
        .await
    }

    /// Undo a soft deletion: the account comes back with its password disabled
    /// (`restored`: it must be reset). `false` when the account was not deleted.
    pub async fn undelete_user(&mut self, user_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET deleted_at = NULL, delete_reason = NULL, purge_after = NULL, password_disabled = 'restored' \
             WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Grant a role unless the user already holds one on the project; `false` when it did.
    pub async fn grant_role(
        &mut self,
        project_id: i64,
        user_id: i64,
        role: ProjectRole,
        granted_by: Option<i64>,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO roles (project_id, user_id, role, granted_at, granted_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(project_id)
        .bind(user_id)
        .bind(role.as_str())
        .bind(at)
        .bind(granted_by)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// A project by id (any status), read inside the transaction.
    pub async fn project_by_id(&mut self, id: i64) -> Result<Option<ProjectState>, StoreError> {
        let sql = format!("SELECT {PROJECT_STATE_COLS} FROM projects WHERE id = $1");
        optional(query(sql).bind(id), &mut *self.tx, project_state).await
    }
}
