//! OSV advisories (migration 0024): a source's records replaced as one snapshot per import
//! (with the upstream generation bumped and the import's event, in one transaction), the records
//! of one project, the local files a live malicious record about that same project names by
//! sha256 (and, apart, those named under another project's name: a signal only), and the local
//! releases an advisory quarantined (`advisory_holds`), so a retraction releases exactly those.

use std::collections::HashMap;

use sqlx::Row;

use crate::admin::AdminTx;
use crate::events::{NewEvent, append, lock_tail};
use crate::upstream_generation::bump_upstream_generation_in;
use crate::{Db, StoreError};

/// One record for one project, as the importer hands it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryRow {
    pub id: String,
    /// Normalised project name.
    pub project: String,
    pub malicious: bool,
    pub withdrawn: bool,
    /// The record as strongroom reads it (JSON).
    pub doc: String,
    /// The record file's path inside the feed (what an import that cannot read that file
    /// again keeps the row by).
    pub path: String,
    /// File sha256s the record names (used only when malicious and not withdrawn).
    pub sha256: Vec<String>,
}

/// What one import changed in its source.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    /// Rows new to the source.
    pub added: u64,
    /// Rows whose record changed.
    pub updated: u64,
    /// Rows unchanged.
    pub unchanged: u64,
    /// Rows that were live and now are withdrawn or gone from the source.
    pub withdrawn: u64,
    /// The upstream generation after the import.
    pub generation: i64,
    /// (id, project) of the rows new to the source.
    #[serde(skip)]
    pub added_keys: Vec<(String, String)>,
}

/// A local file a live malicious record names by sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedLocalFile {
    pub project: String,
    pub release_id: i64,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub source: String,
    pub record: String,
}

/// A local file whose sha256 a live malicious record names under another project's name (an
/// admin signal, never an action: every local file's sha256 is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignHashMatch {
    /// The local project (normalised).
    pub project: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub source: String,
    pub record: String,
    /// The project the record names (normalised).
    pub named_project: String,
}

/// One stored row of a source, as a re-import that cannot read its file keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAdvisory {
    pub id: String,
    pub project: String,
    pub path: String,
    pub doc: String,
}

/// A local release an advisory quarantined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryHold {
    pub release_id: i64,
    pub project: String,
    pub version: String,
    pub source: String,
    pub record: String,
    pub sha256: String,
    /// Whether a live malicious record still names one of the release's files.
    pub still_named: bool,
}

impl Db {
    /// Replace `source`'s records with `rows` (a snapshot: rows of the source not in `rows` are
    /// gone), bump the upstream generation and append `event`, in one transaction.
    pub async fn import_advisories(
        &self,
        source: &str,
        rows: &[AdvisoryRow],
        event: &NewEvent,
    ) -> Result<ImportCounts, StoreError> {
        let mut tx = self.begin_write().await?;
        let before: HashMap<(String, String), (String, bool)> =
            sqlx::query("SELECT id, project, doc, withdrawn FROM advisories WHERE source = $1")
                .bind(source.to_owned())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| {
                    Ok((
                        (r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?),
                        (r.try_get::<String, _>(2)?, r.try_get::<i64, _>(3)? != 0),
                    ))
                })
                .collect::<Result<_, sqlx::Error>>()?;
        let mut counts = ImportCounts::default();
        let mut seen = std::collections::HashSet::new();
        for row in rows {
            let key = (row.id.clone(), row.project.clone());
            match before.get(&key) {
                None => {
                    counts.added += 1;
                    counts.added_keys.push(key.clone());
                }
                Some((doc, _)) if *doc == row.doc => counts.unchanged += 1,
                Some(_) => counts.updated += 1,
            }
            if row.withdrawn && before.get(&key).is_some_and(|(_, w)| !w) {
                counts.withdrawn += 1;
            }
            seen.insert(key);
        }
        counts.withdrawn += before
            .iter()
            .filter(|(k, (_, w))| !w && !seen.contains(*k))
            .count() as u64;
        for sql in [
            "DELETE FROM advisories WHERE source = $1",
            "DELETE FROM advisory_hashes WHERE source = $1",
        ] {
            sqlx::query(sql)
                .bind(source.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        for row in rows {
            sqlx::query(
                "INSERT INTO advisories (source, id, project, malicious, withdrawn, doc, path) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (source, id, project) DO UPDATE SET malicious = excluded.malicious, \
                 withdrawn = excluded.withdrawn, doc = excluded.doc, path = excluded.path",
            )
            .bind(source.to_owned())
            .bind(row.id.clone())
            .bind(row.project.clone())
            .bind(i64::from(row.malicious))
            .bind(i64::from(row.withdrawn))
            .bind(row.doc.clone())
            .bind(row.path.clone())
            .execute(&mut *tx)
            .await?;
            if row.malicious && !row.withdrawn {
                for h in &row.sha256 {
                    sqlx::query(
                        "INSERT INTO advisory_hashes (sha256, source, id, project) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (sha256, source, id, project) DO NOTHING",
                    )
                    .bind(h.clone())
                    .bind(source.to_owned())
                    .bind(row.id.clone())
                    .bind(row.project.clone())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        sqlx::query(
            "INSERT INTO advisory_sources (name, imported_at, records) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET imported_at = excluded.imported_at, records = excluded.records",
        )
        .bind(source.to_owned())
        .bind(event.at)
        .bind(rows.len() as i64)
        .execute(&mut *tx)
        .await?;
        counts.generation = bump_upstream_generation_in(&mut tx).await?;
        lock_tail(&mut tx, self.dialect).await?;
        let mut ev = event.clone();
        ev.details["added"] = counts.added.into();
        ev.details["updated"] = counts.updated.into();
        ev.details["withdrawn"] = counts.withdrawn.into();
        append(&mut tx, &ev).await?;
        tx.commit().await?;
        Ok(counts)
    }

    /// Whether any advisory source was ever imported.
    pub async fn any_advisory_source(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM advisory_sources")
            .fetch_one(&self.read)
            .await?;
        Ok(n > 0)
    }

    /// The stored records (`doc`s) naming `project` (normalised), every source, by id.
    pub async fn advisories_of_project(&self, project: &str) -> Result<Vec<String>, StoreError> {
        let docs: Vec<String> =
            sqlx::query_scalar("SELECT doc FROM advisories WHERE project = $1 ORDER BY id, source")
                .bind(project.to_owned())
                .fetch_all(&self.read)
                .await?;
        Ok(docs)
    }

    /// A source's stored rows (what a re-import keeps of the record files it cannot read).
    pub async fn advisories_of_source(
        &self,
        source: &str,
    ) -> Result<Vec<StoredAdvisory>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, project, path, doc FROM advisories WHERE source = $1 ORDER BY id, project",
        )
        .bind(source.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredAdvisory {
                    id: r.try_get(0)?,
                    project: r.try_get(1)?,
                    path: r.try_get(2)?,
                    doc: r.try_get(3)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The sha256s of the live files of `project` `version` (normalised name).
    pub async fn local_file_hashes(
        &self,
        project: &str,
        version: &str,
    ) -> Result<Vec<String>, StoreError> {
        let hashes: Vec<String> = sqlx::query_scalar(
            "SELECT f.sha256 FROM files f JOIN releases r ON r.id = f.release_id \
             JOIN projects p ON p.id = r.project_id \
             WHERE p.normalized_name = $1 AND r.version = $2 AND f.removed_at IS NULL \
             AND r.removed_at IS NULL ORDER BY f.sha256",
        )
        .bind(project.to_owned())
        .bind(version.to_owned())
        .fetch_all(&self.read)
        .await?;
        Ok(hashes)
    }

    /// Local files (not removed, in releases not removed) a live malicious record about the
    /// same project names. A hash named under another project's name does not count: every
    /// local file's sha256 is public, so anyone could list it under a name of their own.
    pub async fn local_files_named_by_advisories(&self) -> Result<Vec<NamedLocalFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.normalized_name, r.id, r.version, f.filename, f.sha256, h.source, h.id \
             FROM advisory_hashes h JOIN files f ON f.sha256 = h.sha256 \
             JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id \
             WHERE h.project = p.normalized_name \
             AND f.removed_at IS NULL AND r.removed_at IS NULL ORDER BY r.id, f.filename, h.source, h.id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NamedLocalFile {
                    project: r.try_get(0)?,
                    release_id: r.try_get(1)?,
                    version: r.try_get(2)?,
                    filename: r.try_get(3)?,
                    sha256: r.try_get(4)?,
                    source: r.try_get(5)?,
                    record: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Local files (not removed, in releases not removed) whose sha256 a live malicious record
    /// names under another project's name, `source`'s records only.
    pub async fn local_files_hashed_under_other_names(
        &self,
        source: &str,
    ) -> Result<Vec<ForeignHashMatch>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.normalized_name, r.version, f.filename, f.sha256, h.source, h.id, h.project \
             FROM advisory_hashes h JOIN files f ON f.sha256 = h.sha256 \
             JOIN releases r ON r.id = f.release_id JOIN projects p ON p.id = r.project_id \
             WHERE h.source = $1 AND h.project <> p.normalized_name \
             AND f.removed_at IS NULL AND r.removed_at IS NULL ORDER BY r.id, f.filename, h.id",
        )
        .bind(source.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ForeignHashMatch {
                    project: r.try_get(0)?,
                    version: r.try_get(1)?,
                    filename: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    source: r.try_get(4)?,
                    record: r.try_get(5)?,
                    named_project: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every release an advisory holds, and whether a live record still names one of its files.
    pub async fn advisory_holds(&self) -> Result<Vec<AdvisoryHold>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.release_id, p.normalized_name, r.version, h.source, h.id, h.sha256, \
             (SELECT COUNT(*) FROM files f JOIN advisory_hashes a ON a.sha256 = f.sha256 \
              WHERE f.release_id = h.release_id AND f.removed_at IS NULL \
              AND a.project = p.normalized_name) \
             FROM advisory_holds h JOIN releases r ON r.id = h.release_id \
             JOIN projects p ON p.id = r.project_id ORDER BY h.release_id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AdvisoryHold {
                    release_id: r.try_get(0)?,
                    project: r.try_get(1)?,
                    version: r.try_get(2)?,
                    source: r.try_get(3)?,
                    record: r.try_get(4)?,
                    sha256: r.try_get(5)?,
                    still_named: r.try_get::<i64, _>(6)? > 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

impl AdminTx {
    /// Quarantine the release for the advisory and remember why; `false` (and nothing written)
    /// when it is already quarantined (by review or an earlier advisory) or removed.
    pub async fn hold_release_for_advisory(
        &mut self,
        release_id: i64,
        source: &str,
        record: &str,
        sha256: &str,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        // A hold already on record (an administrator may have approved the release since):
        // the administrator's decision stands until the record is retracted.
        let held: Option<i64> =
            sqlx::query_scalar("SELECT release_id FROM advisory_holds WHERE release_id = $1")
                .bind(release_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        if held.is_some() {
            return Ok(false);
        }
        let n = sqlx::query(
            "UPDATE releases SET quarantined_at = $1, quarantine_reason = $2 \
             WHERE id = $3 AND quarantined_at IS NULL AND removed_at IS NULL",
        )
        .bind(at)
        .bind(reason.to_owned())
        .bind(release_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO advisory_holds (release_id, source, id, sha256, reason, held_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(release_id)
        .bind(source.to_owned())
        .bind(record.to_owned())
        .bind(sha256.to_owned())
        .bind(reason.to_owned())
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// End the advisory's hold of the release: the quarantine is cleared only when it is still
    /// the advisory's (an administrator may have re-quarantined it for another reason since);
    /// `true` when the release was published again.
    pub async fn end_advisory_hold(&mut self, release_id: i64) -> Result<bool, StoreError> {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT reason FROM advisory_holds WHERE release_id = $1")
                .bind(release_id)
                .fetch_optional(&mut *self.tx)
                .await?;
        let Some(reason) = reason else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM advisory_holds WHERE release_id = $1")
            .bind(release_id)
            .execute(&mut *self.tx)
            .await?;
        let n = sqlx::query(
            "UPDATE releases SET quarantined_at = NULL, quarantine_reason = NULL \
             WHERE id = $1 AND quarantine_reason = $2",
        )
        .bind(release_id)
        .bind(reason)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
