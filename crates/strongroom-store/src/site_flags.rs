//! Site-wide switches (`read_only`, `no_new_projects`), shared by every server on the database.

use sqlx::Row;

use crate::events::{NewEvent, append, lock_tail};
use crate::{Db, StoreError};

/// Refuse every change to the index (uploads, yanks, role changes, registrations).
pub const READ_ONLY: &str = "read_only";
/// Refuse uploads that would create a project.
pub const NO_NEW_PROJECTS: &str = "no_new_projects";

/// A switch's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteFlag {
    pub name: String,
    pub enabled: bool,
    pub reason: Option<String>,
    pub updated_at: i64,
    pub updated_by: String,
}

impl Db {
    /// Whether the switch is on (off when never set).
    pub async fn site_flag(&self, name: &str) -> Result<bool, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT enabled FROM site_flags WHERE name = $1")
            .bind(name.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(v.unwrap_or(0) != 0)
    }

    /// Every switch ever set.
    pub async fn site_flags(&self) -> Result<Vec<SiteFlag>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, enabled, reason, updated_at, updated_by FROM site_flags ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SiteFlag {
                    name: r.try_get(0)?,
                    enabled: r.try_get::<i64, _>(1)? != 0,
                    reason: r.try_get(2)?,
                    updated_at: r.try_get(3)?,
                    updated_by: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Turn a switch on or off, with its event, in one transaction.
    pub async fn set_site_flag(
        &self,
        name: &str,
        enabled: bool,
        reason: Option<&str>,
        by: &str,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO site_flags (name, enabled, reason, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, reason = excluded.reason, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(name.to_owned())
        .bind(i64::from(enabled))
        .bind(reason.map(str::to_owned))
        .bind(event.at)
        .bind(by.to_owned())
        .execute(&mut *tx)
        .await?;
        lock_tail(&mut tx, self.dialect).await?;
        append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }
}
