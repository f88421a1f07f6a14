//! The download log's tables (migration 0023; policy in `core::download_log`): `download_log`
//! (one row per download, written in batches by the recorder) and `download_counts` (what the
//! retention job keeps of older rows: a count per file per UTC day, without addresses, and
//! since migration 0028 the number of distinct addresses per release per day).

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use crate::{Db, StoreError};

/// µs in a day: `download_counts.day` is the UTC midnight a download's `at` falls in.
pub const DAY_US: i64 = 86_400_000_000;

/// Where a downloaded file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A file published here.
    Local,
    /// A file served from an upstream index (cached or fetched for this request).
    Upstream,
}

impl Origin {
    /// The stored (and printed) word.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Local => "local",
            Origin::Upstream => "upstream",
        }
    }

    /// The stored word back.
    pub fn parse(s: &str) -> Option<Origin> {
        match s {
            "local" => Some(Origin::Local),
            "upstream" => Some(Origin::Upstream),
            _ => None,
        }
    }
}

/// One download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadRecord {
    /// Local or upstream.
    pub origin: Origin,
    /// Normalised project name.
    pub project: String,
    /// The release's version.
    pub version: String,
    /// The file's name.
    pub filename: String,
    /// The file's sha256 (hex).
    pub sha256: String,
    /// When (µs since the epoch, from the services' clock).
    pub at: i64,
    /// The client's address (after the trusted-proxy rule).
    pub ip: Option<String>,
    /// The client's user agent (cut to 512 bytes).
    pub user_agent: Option<String>,
}

/// Downloads of one file on one UTC day, after their rows were folded (addresses dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadCount {
    pub origin: Origin,
    pub project: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// µs of the day's UTC midnight.
    pub day: i64,
    pub count: i64,
}

/// One file of a project as the log knows it: when it was first downloaded here, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedFile {
    pub origin: Origin,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// The earliest download on record (a folded day counts from its midnight).
    pub first_seen: i64,
    /// Downloads on record, folded ones included.
    pub downloads: i64,
}

fn origin_of(r: &sqlx::any::AnyRow) -> Result<Origin, sqlx::Error> {
    let s: String = r.try_get("origin")?;
    Origin::parse(&s).ok_or_else(|| sqlx::Error::Decode(format!("unknown origin {s:?}").into()))
}

fn record_from_row(r: &sqlx::any::AnyRow) -> Result<DownloadRecord, sqlx::Error> {
    Ok(DownloadRecord {
        origin: origin_of(r)?,
        project: r.try_get("project")?,
        version: r.try_get("version")?,
        filename: r.try_get("filename")?,
        sha256: r.try_get("sha256")?,
        at: r.try_get("at")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
    })
}

/// The day (UTC midnight, µs) `at` falls in.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(DAY_US) * DAY_US
}

type CountKey = (Origin, String, String, String, String, i64);
/// (origin, project, version, day) of the distinct-address counts.
type AddressKey = (Origin, String, String, i64);

impl Db {
    /// Write a batch of downloads in one transaction; returns how many rows were written.
    pub async fn insert_downloads(&self, batch: &[DownloadRecord]) -> Result<u64, StoreError> {
        self.insert_downloads_counted(batch, &[]).await
    }

    /// Write a batch of downloads and their counts per client kind (`download_kinds`,
    /// migration 0028) in one transaction; returns how many download rows were written.
    pub async fn insert_downloads_counted(
        &self,
        batch: &[DownloadRecord],
        kinds: &[crate::page_hits::DownloadKindCount],
    ) -> Result<u64, StoreError> {
        if batch.is_empty() && kinds.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        crate::page_hits::add_download_kinds(&mut tx, self.dialect, kinds).await?;
        let mut written = 0;
        for chunk in batch.chunks(self.dialect.rows_per_insert(8)) {
            let values = (0..chunk.len())
                .map(|i| {
                    let b = i * 8;
                    format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO download_log (origin, project, version, filename, sha256, at, ip, user_agent) VALUES {values}"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(d.origin.as_str())
                    .bind(d.project.clone())
                    .bind(d.version.clone())
                    .bind(d.filename.clone())
                    .bind(d.sha256.clone())
                    .bind(d.at)
                    .bind(d.ip.clone())
                    .bind(d.user_agent.clone());
            }
            written += q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    }

    /// The downloads of `project` at or after `since` (µs), newest first, at most `limit`.
    pub async fn downloads_of(
        &self,
        project: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<DownloadRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, project, version, filename, sha256, at, ip, user_agent FROM download_log \
             WHERE project = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3",
        )
        .bind(project.to_owned())
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(record_from_row).collect::<Result<_, _>>()?)
    }

    /// The folded daily counts of `project` for the days from `since`'s day on, newest first,
    /// at most `limit`.
    pub async fn download_counts_of(
        &self,
        project: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<DownloadCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, project, version, filename, sha256, day, count FROM download_counts \
             WHERE project = $1 AND day >= $2 ORDER BY day DESC, filename LIMIT $3",
        )
        .bind(project.to_owned())
        .bind(day_of(since))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DownloadCount {
                    origin: origin_of(r)?,
                    project: r.try_get("project")?,
                    version: r.try_get("version")?,
                    filename: r.try_get("filename")?,
                    sha256: r.try_get("sha256")?,
                    day: r.try_get("day")?,
                    count: r.try_get("count")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Every file of `project` the log knows (rows and folded counts together): first seen and
    /// downloads, earliest first.
    pub async fn downloaded_files(&self, project: &str) -> Result<Vec<DownloadedFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, version, filename, sha256, MIN(first) AS first_seen, \
             CAST(SUM(n) AS BIGINT) AS downloads FROM ( \
               SELECT origin, version, filename, sha256, MIN(at) AS first, COUNT(*) AS n \
               FROM download_log WHERE project = $1 GROUP BY origin, version, filename, sha256 \
               UNION ALL \
               SELECT origin, version, filename, sha256, MIN(day) AS first, SUM(count) AS n \
               FROM download_counts WHERE project = $1 GROUP BY origin, version, filename, sha256 \
             ) AS t GROUP BY origin, version, filename, sha256 ORDER BY first_seen, filename",
        )
        .bind(project.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DownloadedFile {
                    origin: origin_of(r)?,
                    version: r.try_get("version")?,
                    filename: r.try_get("filename")?,
                    sha256: r.try_get("sha256")?,
                    first_seen: r.try_get("first_seen")?,
                    downloads: r.try_get("downloads")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Fold at most `limit` rows older than `before` (µs) into `download_counts` and delete
    /// them, in one transaction; returns how many rows were folded (less than `limit` = done).
    /// The rows are taken by `DELETE ... RETURNING`, so two servers folding at once never count
    /// a row twice (the second one's delete finds it gone).
    pub async fn fold_downloads(&self, before: i64, limit: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "DELETE FROM download_log WHERE id IN \
             (SELECT id FROM download_log WHERE at < $1 ORDER BY at LIMIT $2) \
             RETURNING origin, project, version, filename, sha256, at, ip",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut counts: BTreeMap<CountKey, i64> = BTreeMap::new();
        let mut addresses: BTreeMap<AddressKey, BTreeSet<String>> = BTreeMap::new();
        for r in &rows {
            let ip: Option<String> = r.try_get("ip")?;
            let set = addresses
                .entry((
                    origin_of(r)?,
                    r.try_get("project")?,
                    r.try_get("version")?,
                    day_of(r.try_get("at")?),
                ))
                .or_default();
            set.extend(ip);
            let key = (
                origin_of(r)?,
                r.try_get("project")?,
                r.try_get("version")?,
                r.try_get("filename")?,
                r.try_get("sha256")?,
                day_of(r.try_get("at")?),
            );
            *counts.entry(key).or_default() += 1;
        }
        for ((origin, project, version, filename, sha256, day), n) in counts {
            sqlx::query(
                "INSERT INTO download_counts (origin, project, version, filename, sha256, day, count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (project, day, origin, filename, sha256) \
                 DO UPDATE SET count = download_counts.count + excluded.count",
            )
            .bind(origin.as_str())
            .bind(project)
            .bind(version)
            .bind(filename)
            .bind(sha256)
            .bind(day)
            .bind(n)
            .execute(&mut *tx)
            .await?;
        }
        // The distinct addresses of each release's day, counted when the fold first reaches
        // the day: the day's other rows are all still in the log then (the fold takes rows
        // oldest first and a past day gets no new rows), so the count is exact; a later batch
        // of the same day finds the count there and leaves it.
        for ((origin, project, version, day), mut set) in addresses {
            let known = sqlx::query(
                "SELECT addresses FROM download_addresses \
                 WHERE project = $1 AND day = $2 AND origin = $3 AND version = $4",
            )
            .bind(project.clone())
            .bind(day)
            .bind(origin.as_str())
            .bind(version.clone())
            .fetch_optional(&mut *tx)
            .await?;
            if known.is_some() {
                continue;
            }
            let rest = sqlx::query(
                "SELECT DISTINCT ip FROM download_log WHERE project = $1 AND origin = $2 \
                 AND version = $3 AND at >= $4 AND at < $5 AND ip IS NOT NULL",
            )
            .bind(project.clone())
            .bind(origin.as_str())
            .bind(version.clone())
            .bind(day)
            .bind(day.saturating_add(DAY_US))
            .fetch_all(&mut *tx)
            .await?;
            for r in &rest {
                set.insert(r.try_get("ip")?);
            }
            sqlx::query(
                "INSERT INTO download_addresses (origin, project, version, day, addresses) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project, day, origin, version) DO NOTHING",
            )
            .bind(origin.as_str())
            .bind(project)
            .bind(version)
            .bind(day)
            .bind(i64::try_from(set.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
