//! The queries `strongroom admin fsck`, the start check and the sampled blob job read: the
//! database's own integrity check, the blobs every file row names, journal gaps, and whether a
//! blob signal was raised recently (so a loop of downloads raises one, not thousands).

use sqlx::Row;

use crate::{Db, Dialect, NewEvent, StoreError};

/// How many events `$1` about `$2` were logged at or after `$3` (read alone, and again under
/// the log's tail lock by `Db::append_event_unless_since`).
const LOGGED_SINCE: &str =
    "SELECT COUNT(*) FROM events WHERE action = $1 AND subject_name = $2 AND at >= $3";

/// What a file row says its blobs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBlob {
    pub id: i64,
    pub project_name: String,
    pub filename: String,
    pub blob_key: String,
    pub size: i64,
    pub sha256: String,
    pub blake2_256: String,
    /// The `.metadata` companion's sha256, when the file has one.
    pub metadata_sha256: Option<String>,
}

/// A run of journal serials that is not there: `after` is present, `next` is the next present
/// one (`after` is 0 when the journal does not start at 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalGap {
    pub after: i64,
    pub next: i64,
}

/// Below this span of file ids, [`Db::sample_file_blobs`] sorts them all at random.
pub const SMALL_SPAN: i64 = 10_000;

const FILE_BLOB_COLUMNS: &str =
    "f.id, p.name, f.filename, f.blob_key, f.size, f.sha256, f.metadata_sha256, f.blake2_256";

fn file_blob(r: &sqlx::any::AnyRow) -> Result<FileBlob, sqlx::Error> {
    Ok(FileBlob {
        id: r.try_get(0)?,
        project_name: r.try_get(1)?,
        filename: r.try_get(2)?,
        blob_key: r.try_get(3)?,
        size: r.try_get(4)?,
        sha256: r.try_get(5)?,
        metadata_sha256: r.try_get(6)?,
        blake2_256: r.try_get(7)?,
    })
}

impl Db {
    /// What the database itself finds wrong with its storage: SQLite's `PRAGMA quick_check`
    /// (`thorough`: `integrity_check`, which also checks every index against its table);
    /// PostgreSQL checks its pages as it reads them, so there the thorough check looks for rows
    /// whose parent is gone (only possible when constraints were bypassed) and the quick one is
    /// empty. Empty: nothing found. A check that fails
    /// with a corruption error reports that error as its finding.
    pub async fn integrity_problems(&self, thorough: bool) -> Result<Vec<String>, StoreError> {
        match self.dialect {
            Dialect::Sqlite => {
                let sql = if thorough {
                    "PRAGMA integrity_check(100)"
                } else {
                    "PRAGMA quick_check(100)"
                };
                match sqlx::query(sql).fetch_all(&self.read).await {
                    Ok(rows) => {
                        let lines = rows
                            .iter()
                            .map(|r| r.try_get::<String, _>(0))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(lines.into_iter().filter(|l| l != "ok").collect())
                    }
                    Err(e) => {
                        let e = StoreError::from(e);
                        if e.is_corruption() {
                            Ok(vec![e.to_string()])
                        } else {
                            Err(e)
                        }
                    }
                }
            }
            // PostgreSQL checksums and checks its pages as it reads them: a quick check at
            // start adds nothing there.
            Dialect::Postgres if !thorough => Ok(Vec::new()),
            Dialect::Postgres => {
                let checks = [
                    (
                        "file rows whose release is gone",
                        "SELECT COUNT(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM releases r WHERE r.id = f.release_id)",
                    ),
                    (
                        "file rows whose project is gone",
                        "SELECT COUNT(*) FROM files f WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = f.project_id)",
                    ),
                    (
                        "release rows whose project is gone",
                        "SELECT COUNT(*) FROM releases r WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = r.project_id)",
                    ),
                    (
                        "projects whose last serial is past the journal's end",
                        "SELECT COUNT(*) FROM projects p WHERE p.last_serial > (SELECT COALESCE(MAX(serial), 0) FROM journal)",
                    ),
                ];
                let mut out = Vec::new();
                for (what, sql) in checks {
                    let n: i64 = sqlx::query_scalar(sql).fetch_one(&self.read).await?;
                    if n > 0 {
                        out.push(format!("{n} {what}"));
                    }
                }
                Ok(out)
            }
        }
    }

    /// File rows (removed ones included: their blobs are kept for a restore) with id above
    /// `after_id`, by id, at most `limit`.
    pub async fn file_blobs_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<FileBlob>, StoreError> {
        crate::rows::all(
            crate::rows::query(format!(
                "SELECT {FILE_BLOB_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id \
                 WHERE f.id > $1 ORDER BY f.id LIMIT $2"
            ))
            .bind(after_id)
            .bind(limit),
            &self.read,
            file_blob,
        )
        .await
    }

    /// The file row that names `blob_key`.
    pub async fn file_blob_by_key(&self, blob_key: &str) -> Result<Option<FileBlob>, StoreError> {
        crate::rows::optional(
            crate::rows::query(format!(
                "SELECT {FILE_BLOB_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id \
                 WHERE f.blob_key = $1"
            ))
            .bind(blob_key.to_owned()),
            &self.read,
            file_blob,
        )
        .await
    }

    /// Whether a claim made at or after `live_after` protects `key` (an upload in flight).
    pub async fn has_live_blob_claim(
        &self,
        key: &str,
        live_after: i64,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blob_claims WHERE blob_key = $1 AND claimed_at >= $2",
        )
        .bind(key.to_owned())
        .bind(live_after)
        .fetch_one(&self.read)
        .await?;
        Ok(n > 0)
    }

    /// Up to `n` distinct file rows picked at random. Among few files (ids spanning at most
    /// [`SMALL_SPAN`]) each is as likely; among many, each of `seeds` (random numbers from the
    /// caller, at least `n` of them) picks the first file at or after a random id, one indexed
    /// lookup each: `ORDER BY RANDOM()` read and sorted the whole table (4.9 s at 10M files, at
    /// every jobs run). A file after a gap in the ids (deleted rows) is picked more often.
    pub async fn sample_file_blobs(
        &self,
        n: i64,
        seeds: &[u64],
    ) -> Result<Vec<FileBlob>, StoreError> {
        let (lo, hi): (Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT MIN(id), MAX(id) FROM files")
                .fetch_one(&self.read)
                .await?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(Vec::new());
        };
        if hi - lo < SMALL_SPAN {
            return crate::rows::all(
                crate::rows::query(format!(
                    "SELECT {FILE_BLOB_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id \
                     ORDER BY RANDOM() LIMIT $1"
                ))
                .bind(n),
                &self.read,
                file_blob,
            )
            .await;
        }
        let span = u64::try_from(hi - lo).unwrap_or(0) + 1;
        let mut picked: Vec<FileBlob> = Vec::new();
        for seed in seeds {
            if picked.len() as i64 >= n {
                break;
            }
            let at = lo + i64::try_from(seed % span).unwrap_or(0);
            let row = crate::rows::all(
                crate::rows::query(format!(
                    "SELECT {FILE_BLOB_COLUMNS} FROM files f JOIN projects p ON p.id = f.project_id \
                     WHERE f.id >= $1 ORDER BY f.id LIMIT 1"
                ))
                .bind(at),
                &self.read,
                file_blob,
            )
            .await?;
            for f in row {
                if !picked.iter().any(|p| p.id == f.id) {
                    picked.push(f);
                }
            }
        }
        Ok(picked)
    }

    /// The first `limit` gaps in the journal's serials (entries are never deleted, and each
    /// takes the previous serial plus one, so any gap is lost or deleted rows).
    pub async fn journal_gaps(&self, limit: i64) -> Result<Vec<JournalGap>, StoreError> {
        let mut out = Vec::new();
        let first: Option<i64> = sqlx::query_scalar("SELECT MIN(serial) FROM journal")
            .fetch_one(&self.read)
            .await?;
        if let Some(first) = first
            && first > 1
        {
            out.push(JournalGap {
                after: 0,
                next: first,
            });
        }
        let rows = sqlx::query(
            "SELECT j.serial, (SELECT MIN(k.serial) FROM journal k WHERE k.serial > j.serial) \
             FROM journal j \
             WHERE NOT EXISTS (SELECT 1 FROM journal k WHERE k.serial = j.serial + 1) \
               AND j.serial < (SELECT MAX(serial) FROM journal) \
             ORDER BY j.serial LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        for r in rows {
            out.push(JournalGap {
                after: r.try_get(0)?,
                next: r.try_get(1)?,
            });
        }
        Ok(out)
    }

    /// Whether an event `action` about `subject_name` was logged at or after `since`.
    async fn event_logged_since(
        &self,
        action: &str,
        subject_name: &str,
        since: i64,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(LOGGED_SINCE)
            .bind(action.to_owned())
            .bind(subject_name.to_owned())
            .bind(since)
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    /// Append `e` unless an event of the same action about the same subject was logged at or
    /// after `since`: `Some(seq)` when appended, `None` when one already was. A read answers
    /// the common case (logged already: every download of a damaged blob after the first)
    /// without the write lock; otherwise the look and the append are one transaction under the
    /// log's tail lock, so two servers (or two downloads of one server) that meet the same
    /// damaged blob at once log it once. An event without a subject name is always appended.
    pub async fn append_event_unless_since(
        &self,
        e: &NewEvent,
        since: i64,
    ) -> Result<Option<i64>, StoreError> {
        if let Some(name) = &e.subject_name
            && self.event_logged_since(&e.action, name, since).await?
        {
            return Ok(None);
        }
        let mut tx = self.begin_write().await?;
        crate::events::lock_tail(&mut tx, self.dialect).await?;
        let n: i64 = sqlx::query_scalar(LOGGED_SINCE)
            .bind(e.action.clone())
            .bind(e.subject_name.clone())
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let seq = crate::events::append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(Some(seq))
    }
}
