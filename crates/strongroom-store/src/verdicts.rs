//! The index's own malicious-package verdicts (`malicious_verdicts`, migration 0027, issue 13):
//! one row per release rejected as malicious, with every file's name and sha256, an id
//! `<prefix>-<year>-<n>` from a per-year counter, and a withdrawal that keeps the row. Core turns
//! a row into an OSV record; the store keeps the facts.

use sqlx::{Any, Row, Transaction};

use crate::events::{NewEvent, append, lock_tail};
use crate::{Db, StoreError};

/// One file a verdict names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerdictFile {
    pub filename: String,
    /// Lowercase hex.
    pub sha256: String,
}

/// What core records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVerdict {
    /// The id's prefix (`osv.id_prefix`): the id is `<prefix>-<year>-<n>`.
    pub prefix: String,
    /// The year in the id (of `at`, UTC).
    pub year: i64,
    pub project: String,
    pub normalized_project: String,
    pub version: String,
    pub details: String,
    pub created_by: String,
    pub at: i64,
    pub files: Vec<VerdictFile>,
}

/// A stored verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictRow {
    pub id: String,
    pub project: String,
    pub normalized_project: String,
    pub version: String,
    pub details: String,
    pub created_at: i64,
    pub created_by: String,
    pub modified_at: i64,
    pub withdrawn_at: Option<i64>,
    pub withdrawn_reason: Option<String>,
    /// By filename.
    pub files: Vec<VerdictFile>,
}

/// What a withdrawal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WithdrawOutcome {
    Withdrawn,
    /// It was withdrawn before (at this time); nothing changed.
    AlreadyWithdrawn(i64),
}

const COLS: &str = "id, project, normalized_project, version, details, created_at, created_by, \
     modified_at, withdrawn_at, withdrawn_reason";

fn verdict(r: &sqlx::any::AnyRow) -> Result<VerdictRow, sqlx::Error> {
    Ok(VerdictRow {
        id: r.try_get(0)?,
        project: r.try_get(1)?,
        normalized_project: r.try_get(2)?,
        version: r.try_get(3)?,
        details: r.try_get(4)?,
        created_at: r.try_get(5)?,
        created_by: r.try_get(6)?,
        modified_at: r.try_get(7)?,
        withdrawn_at: r.try_get(8)?,
        withdrawn_reason: r.try_get(9)?,
        files: Vec::new(),
    })
}

/// The next number of `year` (1 for the year's first verdict).
async fn next_number(tx: &mut Transaction<'_, Any>, year: i64) -> Result<i64, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "INSERT INTO malicious_verdict_counters (year, last_number) VALUES ($1, 1) \
         ON CONFLICT (year) DO UPDATE SET last_number = malicious_verdict_counters.last_number + 1 \
         RETURNING last_number",
    )
    .bind(year)
    .fetch_one(&mut **tx)
    .await?;
    Ok(n)
}

impl Db {
    /// Record a verdict and append `event` (its details get the `id`) in one transaction; the
    /// new id. A live (not withdrawn) verdict on the same release is a
    /// [`StoreError::Conflict`] naming it.
    pub async fn record_verdict(
        &self,
        v: &NewVerdict,
        event: &NewEvent,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let live: Option<String> = sqlx::query_scalar(
            "SELECT id FROM malicious_verdicts WHERE normalized_project = $1 AND version = $2 \
             AND withdrawn_at IS NULL ORDER BY created_at LIMIT 1",
        )
        .bind(v.normalized_project.clone())
        .bind(v.version.clone())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = live {
            return Err(StoreError::Conflict(format!(
                "{} {} already has the verdict {id}",
                v.project, v.version
            )));
        }
        let n = next_number(&mut tx, v.year).await?;
        let id = format!("{}-{}-{n}", v.prefix, v.year);
        sqlx::query(
            "INSERT INTO malicious_verdicts (id, project, normalized_project, version, details, \
             created_at, created_by, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $6)",
        )
        .bind(id.clone())
        .bind(v.project.clone())
        .bind(v.normalized_project.clone())
        .bind(v.version.clone())
        .bind(v.details.clone())
        .bind(v.at)
        .bind(v.created_by.clone())
        .execute(&mut *tx)
        .await?;
        for f in &v.files {
            sqlx::query(
                "INSERT INTO malicious_verdict_files (verdict_id, filename, sha256) VALUES ($1, $2, $3) \
                 ON CONFLICT (verdict_id, filename) DO NOTHING",
            )
            .bind(id.clone())
            .bind(f.filename.clone())
            .bind(f.sha256.to_ascii_lowercase())
            .execute(&mut *tx)
            .await?;
        }
        lock_tail(&mut tx, self.dialect).await?;
        let mut ev = event.clone();
        ev.details["id"] = id.clone().into();
        append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Withdraw verdict `id` with `reason` at `at` and append `event`, in one transaction. An
    /// unknown id is [`StoreError::NotFound`]; a second withdrawal changes nothing (and
    /// appends no event).
    pub async fn withdraw_verdict(
        &self,
        id: &str,
        reason: &str,
        at: i64,
        event: &NewEvent,
    ) -> Result<WithdrawOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Option<Option<i64>> =
            sqlx::query_scalar("SELECT withdrawn_at FROM malicious_verdicts WHERE id = $1")
                .bind(id.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        match before {
            None => return Err(StoreError::NotFound(format!("no verdict {id}"))),
            Some(Some(t)) => return Ok(WithdrawOutcome::AlreadyWithdrawn(t)),
            Some(None) => {}
        }
        sqlx::query(
            "UPDATE malicious_verdicts SET withdrawn_at = $2, withdrawn_reason = $3, modified_at = $2 \
             WHERE id = $1 AND withdrawn_at IS NULL",
        )
        .bind(id.to_owned())
        .bind(at)
        .bind(reason.to_owned())
        .execute(&mut *tx)
        .await?;
        lock_tail(&mut tx, self.dialect).await?;
        append(&mut tx, event).await?;
        tx.commit().await?;
        Ok(WithdrawOutcome::Withdrawn)
    }

    /// One verdict with its files.
    pub async fn verdict(&self, id: &str) -> Result<Option<VerdictRow>, StoreError> {
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM malicious_verdicts WHERE id = $1"
        )))
        .bind(id.to_owned())
        .fetch_optional(&self.read)
        .await?
        else {
            return Ok(None);
        };
        let mut v = verdict(&r)?;
        v.files = self
            .verdict_files(Some(id))
            .await?
            .into_values()
            .next()
            .unwrap_or_default();
        Ok(Some(v))
    }

    /// Every verdict with its files, oldest first.
    pub async fn verdicts(&self) -> Result<Vec<VerdictRow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM malicious_verdicts ORDER BY created_at, id"
        )))
        .fetch_all(&self.read)
        .await?;
        let mut files = self.verdict_files(None).await?;
        rows.iter()
            .map(|r| {
                let mut v = verdict(r)?;
                v.files = files.remove(&v.id).unwrap_or_default();
                Ok(v)
            })
            .collect()
    }

    /// The files of one verdict (`Some(id)`) or of all, by verdict id, each list by filename.
    async fn verdict_files(
        &self,
        id: Option<&str>,
    ) -> Result<std::collections::HashMap<String, Vec<VerdictFile>>, StoreError> {
        let rows = match id {
            Some(id) => {
                sqlx::query(
                    "SELECT verdict_id, filename, sha256 FROM malicious_verdict_files \
                     WHERE verdict_id = $1 ORDER BY filename",
                )
                .bind(id.to_owned())
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT verdict_id, filename, sha256 FROM malicious_verdict_files \
                     ORDER BY verdict_id, filename",
                )
                .fetch_all(&self.read)
                .await?
            }
        };
        let mut out: std::collections::HashMap<String, Vec<VerdictFile>> =
            std::collections::HashMap::new();
        for r in &rows {
            out.entry(r.try_get(0)?).or_default().push(VerdictFile {
                filename: r.try_get(1)?,
                sha256: r.try_get(2)?,
            });
        }
        Ok(out)
    }

    /// The live verdicts naming `sha256` (lowercase hex): their ids, oldest first.
    pub async fn verdicts_of_sha256(&self, sha256: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT v.id FROM malicious_verdict_files f JOIN malicious_verdicts v ON v.id = f.verdict_id \
             WHERE f.sha256 = $1 AND v.withdrawn_at IS NULL ORDER BY v.created_at, v.id",
        )
        .bind(sha256.to_ascii_lowercase())
        .fetch_all(&self.read)
        .await?)
    }
}
