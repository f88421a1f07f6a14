//! Prohibited project names: normalised and confusable forms nobody may register until an
//! admin allows them again.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::admin::AdminTx;
use crate::error::conflict_or;
use crate::model::ProhibitedName;
use crate::{Db, StoreError};

fn prohibited_from_row(r: &AnyRow) -> Result<ProhibitedName, sqlx::Error> {
    Ok(ProhibitedName {
        name: r.try_get("name")?,
        normalized_name: r.try_get("normalized_name")?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

const COLS: &str = "name, normalized_name, reason, created_at, created_by";

impl Db {
    /// Every prohibited name, by normalised name.
    pub async fn prohibited_names(&self) -> Result<Vec<ProhibitedName>, StoreError> {
        let sql = format!("SELECT {COLS} FROM prohibited_names ORDER BY normalized_name");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(prohibited_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// The prohibited name this name is, or is confusable with (exact normalised match first).
    pub async fn prohibited_match(
        &self,
        normalized: &str,
        ultra: &str,
    ) -> Result<Option<ProhibitedName>, StoreError> {
        let sql = format!(
            "SELECT {COLS} FROM prohibited_names WHERE normalized_name = $1 OR ultranormalized_name = $2 \
             ORDER BY CASE WHEN normalized_name = $1 THEN 0 ELSE 1 END, normalized_name LIMIT 1"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalized.to_owned())
            .bind(ultra.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(prohibited_from_row).transpose()?)
    }
}

impl AdminTx {
    /// Prohibit a name; `Conflict("prohibited name")` when it already is.
    pub async fn prohibit_name(
        &mut self,
        name: &str,
        normalized: &str,
        ultra: &str,
        reason: &str,
        by: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO prohibited_names (normalized_name, ultranormalized_name, name, reason, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(normalized.to_owned())
        .bind(ultra.to_owned())
        .bind(name.to_owned())
        .bind(reason.to_owned())
        .bind(at)
        .bind(by.to_owned())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "prohibited name"))?;
        // an upstream page of the name may be cached: every page cache forgets its pages
        crate::upstream_generation::bump_upstream_generation_in(&mut self.tx).await?;
        Ok(())
    }

    /// Lift the prohibition of a normalised name; returns what was lifted.
    pub async fn allow_name(
        &mut self,
        normalized: &str,
    ) -> Result<Option<ProhibitedName>, StoreError> {
        let sql =
            format!("DELETE FROM prohibited_names WHERE normalized_name = $1 RETURNING {COLS}");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalized.to_owned())
            .fetch_optional(&mut *self.tx)
            .await?;
        if r.is_some() {
            crate::upstream_generation::bump_upstream_generation_in(&mut self.tx).await?;
        }
        Ok(r.as_ref().map(prohibited_from_row).transpose()?)
    }
}
