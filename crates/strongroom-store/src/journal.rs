//! Yanking and the journal read side (the mirror-facing change feed).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::events::{NewEvent, append, lock_tail};
use crate::model::JournalEntry;
use crate::publish::write_journal;
use crate::{Db, StoreError};

impl Db {
    /// Set or clear the yank flag of a release (PEP 592); returns the new serial, or
    /// `NotFound` when the project or release does not exist.
    pub async fn set_yanked(
        &self,
        project_id: i64,
        canonical_version: &str,
        yanked: Option<&str>,
        by: &str,
        event: NewEvent,
    ) -> Result<i64, StoreError> {
        self.set_yanked_noticed(project_id, canonical_version, yanked, by, event, None)
            .await
    }

    /// [`Db::set_yanked`], telling the project's Owners in the same transaction (batched,
    /// `owner_notices`).
    pub async fn set_yanked_noticed(
        &self,
        project_id: i64,
        canonical_version: &str,
        yanked: Option<&str>,
        by: &str,
        event: NewEvent,
        notice: Option<&crate::owner_notices::OwnerNotice>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let serial = yank_in(
            &mut tx,
            self.dialect,
            self.keyring.as_deref(),
            project_id,
            canonical_version,
            yanked,
            by,
            event,
            notice,
        )
        .await?;
        tx.commit().await?;
        Ok(serial)
    }

    /// Journal entries after `since` (exclusive), oldest first, at most `limit`, as written:
    /// the full record, for admins and tests. The public changelog reads
    /// [`Db::changelog_since`], whose entries core filters by what they name.
    pub async fn journal_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, project_name, version, filename, action, at FROM journal WHERE serial > $1 ORDER BY serial LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(JournalEntry {
                    serial: r.try_get(0)?,
                    project_name: r.try_get(1)?,
                    version: r.try_get(2)?,
                    filename: r.try_get(3)?,
                    action: r.try_get(4)?,
                    at: r.try_get(5)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// What a release is now, as a journal entry that names it finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseFlags {
    /// Held for review (`releases.quarantined_at`).
    pub held: bool,
    pub removed: bool,
    pub yanked: bool,
}

/// A journal entry with the present state of what it names, for the public changelog: core
/// decides from these what of the entry a reader may see.
#[derive(Debug, Clone)]
pub struct ChangelogRow {
    pub entry: JournalEntry,
    /// `projects.status` now (`None` if the row is gone, which strongroom never does).
    pub project_status: Option<crate::states::ProjectStatus>,
    /// The release the entry names (its file's release, or the one with its version), if any.
    pub release: Option<ReleaseFlags>,
    /// Whether the file the entry names is removed; `None` when it names no (known) file.
    pub file_removed: Option<bool>,
}

fn release_flags(r: &AnyRow, prefix: &str) -> Result<Option<ReleaseFlags>, sqlx::Error> {
    let id: Option<i64> = r.try_get(format!("{prefix}_id").as_str())?;
    if id.is_none() {
        return Ok(None);
    }
    let set = |col: &str| -> Result<bool, sqlx::Error> {
        Ok(
            r.try_get::<Option<i64>, _>(format!("{prefix}_{col}").as_str())?
                .is_some(),
        )
    };
    Ok(Some(ReleaseFlags {
        held: set("held")?,
        removed: set("removed")?,
        yanked: set("yanked")?,
    }))
}

fn changelog_row(r: &AnyRow) -> Result<ChangelogRow, sqlx::Error> {
    let filename: Option<String> = r.try_get("filename")?;
    let file_id: Option<i64> = r.try_get("f_id")?;
    let file_removed = match file_id {
        Some(_) => Some(r.try_get::<Option<i64>, _>("f_removed")?.is_some()),
        None => None,
    };
    let release = if filename.is_some() {
        release_flags(r, "rf")?
    } else {
        release_flags(r, "rv")?
    };
    Ok(ChangelogRow {
        entry: JournalEntry {
            serial: r.try_get("serial")?,
            project_name: r.try_get("project_name")?,
            version: r.try_get("version")?,
            filename,
            action: r.try_get("action")?,
            at: r.try_get("at")?,
        },
        project_status: r
            .try_get::<Option<String>, _>("p_status")?
            .map(|s| crate::states::ProjectStatus::decode("projects.status", &s))
            .transpose()?,
        release,
        file_removed,
    })
}

impl Db {
    /// Journal entries after `since` (exclusive), oldest first, at most `limit`, each with the
    /// present state of the project, release and file it names (the file by its unique name,
    /// a release without a file by its exact version string, as every writer records it).
    pub async fn changelog_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ChangelogRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.serial, j.project_name, j.version, j.filename, j.action, j.at, \
                    p.status AS p_status, f.id AS f_id, f.removed_at AS f_removed, \
                    rf.id AS rf_id, rf.quarantined_at AS rf_held, rf.removed_at AS rf_removed, rf.yanked_at AS rf_yanked, \
                    rv.id AS rv_id, rv.quarantined_at AS rv_held, rv.removed_at AS rv_removed, rv.yanked_at AS rv_yanked \
             FROM journal j \
             LEFT JOIN projects p ON p.id = j.project_id \
             LEFT JOIN files f ON j.filename IS NOT NULL AND f.filename = j.filename AND f.project_id = j.project_id \
             LEFT JOIN releases rf ON rf.id = f.release_id \
             LEFT JOIN releases rv ON j.filename IS NULL AND rv.project_id = j.project_id AND rv.version = j.version \
             WHERE j.serial > $1 ORDER BY j.serial LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(changelog_row).collect::<Result<_, _>>()?)
    }
}

impl crate::AccountTx {
    /// [`Db::set_yanked`] inside an account change: the actor's row, locked by the caller
    /// ([`crate::AccountTx::lock_user`]), stays as the yank read it until the yank commits.
    pub async fn set_yanked(
        &mut self,
        project_id: i64,
        canonical_version: &str,
        yanked: Option<&str>,
        by: &str,
        event: NewEvent,
        notice: Option<&crate::owner_notices::OwnerNotice>,
    ) -> Result<i64, StoreError> {
        let dialect = self.dialect;
        let keyring = self.keyring.clone();
        yank_in(
            &mut self.tx,
            dialect,
            keyring.as_deref(),
            project_id,
            canonical_version,
            yanked,
            by,
            event,
            notice,
        )
        .await
    }
}

/// Set or clear the yank flag inside `tx`, with its journal entry and event.
#[allow(clippy::too_many_arguments)]
async fn yank_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: crate::Dialect,
    keyring: Option<&crate::Keyring>,
    project_id: i64,
    canonical_version: &str,
    yanked: Option<&str>,
    by: &str,
    event: NewEvent,
    notice: Option<&crate::owner_notices::OwnerNotice>,
) -> Result<i64, StoreError> {
    let r = sqlx::query(
        "SELECT r.id, r.version, p.name FROM releases r JOIN projects p ON p.id = r.project_id \
             WHERE r.project_id = $1 AND r.canonical_version = $2 AND r.removed_at IS NULL",
    )
    .bind(project_id)
    .bind(canonical_version.to_owned())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| StoreError::NotFound("release".into()))?;
    let release_id: i64 = r.try_get(0)?;
    let version: String = r.try_get(1)?;
    let project_name: String = r.try_get(2)?;
    let (at, reason) = match yanked {
        Some(reason) => (Some(event.at), Some(reason.to_owned())),
        None => (None, None),
    };
    sqlx::query("UPDATE releases SET yanked_at = $1, yanked_reason = $2 WHERE id = $3")
        .bind(at)
        .bind(reason)
        .bind(release_id)
        .execute(&mut **tx)
        .await?;
    lock_tail(tx, dialect).await?;
    let action = if yanked.is_some() {
        "yank release"
    } else {
        "unyank release"
    };
    let serial = write_journal(
        tx,
        project_id,
        &project_name,
        Some(&version),
        None,
        action,
        by,
        event.at,
    )
    .await?;
    let mut event = event;
    event.subject_id = Some(project_id);
    event.subject_name = Some(project_name);
    event.details["version"] = serde_json::json!(version);
    append(tx, &event).await?;
    if let Some(n) = notice {
        crate::owner_notices::record(tx, keyring, project_id, n).await?;
    }
    Ok(serial)
}
