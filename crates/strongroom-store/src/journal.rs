//! Yanking and the journal read side (the mirror-facing change feed).

use sqlx::Row;

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
        let mut tx = self.begin_write().await?;
        let r = sqlx::query(
            "SELECT r.id, r.version, p.name FROM releases r JOIN projects p ON p.id = r.project_id \
             WHERE r.project_id = $1 AND r.canonical_version = $2 AND r.removed_at IS NULL",
        )
        .bind(project_id)
        .bind(canonical_version.to_owned())
        .fetch_optional(&mut *tx)
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
            .execute(&mut *tx)
            .await?;
        lock_tail(&mut tx, self.dialect).await?;
        let action = if yanked.is_some() {
            "yank release"
        } else {
            "unyank release"
        };
        let serial = write_journal(
            &mut tx,
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
        append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(serial)
    }

    /// Journal entries after `since` (exclusive), oldest first, at most `limit`.
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
