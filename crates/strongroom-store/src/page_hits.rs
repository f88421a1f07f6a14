//! The impact report's counts (migration 0028; policy in `core::download_log` and
//! `core::impact`): `page_hits` (page reads per project per day and client kind),
//! `download_kinds` (downloads per file per day and client kind, written with the download
//! log's rows) and `download_addresses` (distinct client addresses per release per day, kept
//! by the retention job when it folds a day), and the reads the report makes of them and of
//! the download log. Client kinds are core's words; the store keeps them as text.

use sqlx::Row;

use crate::download_log::{DAY_US, Origin, day_of};
use crate::{Db, StoreError};

/// Page reads of one project on one UTC day by one client kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHitCount {
    /// Normalised project name.
    pub project: String,
    /// µs of the day's UTC midnight.
    pub day: i64,
    /// core's client-kind word.
    pub client_kind: String,
    pub count: i64,
}

/// Downloads of one file on one UTC day by one client kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadKindCount {
    pub origin: Origin,
    pub project: String,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// µs of the day's UTC midnight.
    pub day: i64,
    /// core's client-kind word.
    pub client_kind: String,
    pub count: i64,
}

/// Downloads of one file on one UTC day (rows on record and folded counts together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDay {
    pub origin: Origin,
    pub version: String,
    pub filename: String,
    pub sha256: String,
    /// µs of the day's UTC midnight.
    pub day: i64,
    pub count: i64,
}

/// One client address's downloads of one release, while the address is on record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress {
    pub ip: String,
    pub version: String,
    pub downloads: i64,
    /// µs of the first and last download.
    pub first: i64,
    pub last: i64,
}

/// Distinct client addresses of one release on one UTC day, counted when the day was folded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressCount {
    pub origin: Origin,
    pub version: String,
    /// µs of the day's UTC midnight.
    pub day: i64,
    pub addresses: i64,
}

fn origin_of(r: &sqlx::any::AnyRow) -> Result<Origin, sqlx::Error> {
    let s: String = r.try_get("origin")?;
    Origin::parse(&s).ok_or_else(|| sqlx::Error::Decode(format!("unknown origin {s:?}").into()))
}

/// `$a, $b, ...` placeholders for `rows` rows of `width` binds each.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|i| {
            let cols = (1..=width)
                .map(|c| format!("${}", i * width + c))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({cols})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Add download counts per client kind inside a write transaction (the download log's batch).
pub(crate) async fn add_download_kinds(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    dialect: crate::Dialect,
    counts: &[DownloadKindCount],
) -> Result<(), StoreError> {
    for chunk in counts.chunks(dialect.rows_per_insert(8)) {
        let sql = format!(
            "INSERT INTO download_kinds (origin, project, version, filename, sha256, day, client_kind, count) \
             VALUES {} ON CONFLICT (project, day, origin, filename, sha256, client_kind) \
             DO UPDATE SET count = download_kinds.count + excluded.count",
            placeholders(chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q
                .bind(c.origin.as_str())
                .bind(c.project.clone())
                .bind(c.version.clone())
                .bind(c.filename.clone())
                .bind(c.sha256.clone())
                .bind(c.day)
                .bind(c.client_kind.clone())
                .bind(c.count);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

impl Db {
    /// Add page reads to the daily counts, in one transaction (a count already there for the
    /// same project, day and kind grows).
    pub async fn add_page_hits(&self, hits: &[PageHitCount]) -> Result<(), StoreError> {
        if hits.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for chunk in hits.chunks(self.dialect.rows_per_insert(4)) {
            let sql = format!(
                "INSERT INTO page_hits (project, day, client_kind, count) VALUES {} \
                 ON CONFLICT (project, day, client_kind) \
                 DO UPDATE SET count = page_hits.count + excluded.count",
                placeholders(chunk.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for h in chunk {
                q = q
                    .bind(h.project.clone())
                    .bind(day_of(h.day))
                    .bind(h.client_kind.clone())
                    .bind(h.count);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Page reads of `project` for the days from `since`'s day on, by day then kind.
    pub async fn page_hits_of(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<PageHitCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT project, day, client_kind, count FROM page_hits \
             WHERE project = $1 AND day >= $2 ORDER BY day, client_kind",
        )
        .bind(project.to_owned())
        .bind(day_of(since))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PageHitCount {
                    project: r.try_get("project")?,
                    day: r.try_get("day")?,
                    client_kind: r.try_get("client_kind")?,
                    count: r.try_get("count")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Downloads of `project` per file, day and client kind for the days from `since`'s day
    /// on, by day, file, kind.
    pub async fn download_kinds_of(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<DownloadKindCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, project, version, filename, sha256, day, client_kind, count \
             FROM download_kinds WHERE project = $1 AND day >= $2 \
             ORDER BY day, filename, client_kind",
        )
        .bind(project.to_owned())
        .bind(day_of(since))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DownloadKindCount {
                    origin: origin_of(r)?,
                    project: r.try_get("project")?,
                    version: r.try_get("version")?,
                    filename: r.try_get("filename")?,
                    sha256: r.try_get("sha256")?,
                    day: r.try_get("day")?,
                    client_kind: r.try_get("client_kind")?,
                    count: r.try_get("count")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Downloads of `project` per file per UTC day from `since`'s day on: the rows on record
    /// (at or after `since`) and the folded counts together, by day then file.
    pub async fn downloads_per_file_day(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<FileDay>, StoreError> {
        // The day is computed in SQL with a literal (both engines divide integers exactly).
        let sql = format!(
            "SELECT origin, version, filename, sha256, day, CAST(SUM(n) AS BIGINT) AS count FROM ( \
               SELECT origin, version, filename, sha256, (at / {DAY_US}) * {DAY_US} AS day, COUNT(*) AS n \
               FROM download_log WHERE project = $1 AND at >= $2 \
               GROUP BY origin, version, filename, sha256, (at / {DAY_US}) * {DAY_US} \
               UNION ALL \
               SELECT origin, version, filename, sha256, day, count AS n \
               FROM download_counts WHERE project = $1 AND day >= $3 \
             ) AS t GROUP BY origin, version, filename, sha256, day ORDER BY day, filename"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project.to_owned())
            .bind(since)
            .bind(day_of(since))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FileDay {
                    origin: origin_of(r)?,
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

    /// The client addresses on record that downloaded `project` at or after `since`, per
    /// release, most downloads first, at most `limit`.
    pub async fn download_clients_of(
        &self,
        project: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<ClientAddress>, StoreError> {
        let rows = sqlx::query(
            "SELECT ip, version, COUNT(*) AS downloads, MIN(at) AS first, MAX(at) AS last \
             FROM download_log WHERE project = $1 AND at >= $2 AND ip IS NOT NULL \
             GROUP BY ip, version ORDER BY COUNT(*) DESC, ip, version LIMIT $3",
        )
        .bind(project.to_owned())
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ClientAddress {
                    ip: r.try_get("ip")?,
                    version: r.try_get("version")?,
                    downloads: r.try_get("downloads")?,
                    first: r.try_get("first")?,
                    last: r.try_get("last")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The distinct client addresses of `project` on record at or after `since`, per release.
    pub async fn distinct_clients_of(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, COUNT(DISTINCT ip) AS n FROM download_log \
             WHERE project = $1 AND at >= $2 AND ip IS NOT NULL GROUP BY version ORDER BY version",
        )
        .bind(project.to_owned())
        .bind(since)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("version")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The distinct-address counts the retention job kept for `project`'s folded days from
    /// `since`'s day on.
    pub async fn address_counts_of(
        &self,
        project: &str,
        since: i64,
    ) -> Result<Vec<AddressCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT origin, version, day, addresses FROM download_addresses \
             WHERE project = $1 AND day >= $2 ORDER BY day, version",
        )
        .bind(project.to_owned())
        .bind(day_of(since))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AddressCount {
                    origin: origin_of(r)?,
                    version: r.try_get("version")?,
                    day: r.try_get("day")?,
                    addresses: r.try_get("addresses")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

/// A file of a local project in any state, with what bounds its installable window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactFile {
    pub version: String,
    pub filename: String,
    pub sha256: String,
    pub uploaded_at: i64,
    pub yanked_at: Option<i64>,
    /// The release is held for review (since then) now.
    pub quarantined_at: Option<i64>,
    pub release_removed_at: Option<i64>,
    /// The file is held for review (since then) now.
    pub held_at: Option<i64>,
    pub file_removed_at: Option<i64>,
}

/// The latest public release of a project whose core metadata may name a dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependentCandidate {
    pub project: String,
    pub version: String,
    pub core_metadata: String,
}

/// Files of one project read for the impact report at most.
pub const IMPACT_FILES_MAX: i64 = 10_000;

impl Db {
    /// Every file of the project (removed and held ones too), oldest first, at most
    /// [`IMPACT_FILES_MAX`].
    pub async fn impact_files(&self, project_id: i64) -> Result<Vec<ImpactFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.version, f.filename, f.sha256, f.uploaded_at, r.yanked_at, r.quarantined_at, \
             r.removed_at AS release_removed_at, f.held_at, f.removed_at AS file_removed_at \
             FROM files f JOIN releases r ON r.id = f.release_id WHERE f.project_id = $1 \
             ORDER BY f.uploaded_at, f.filename LIMIT $2",
        )
        .bind(project_id)
        .bind(IMPACT_FILES_MAX)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ImpactFile {
                    version: r.try_get("version")?,
                    filename: r.try_get("filename")?,
                    sha256: r.try_get("sha256")?,
                    uploaded_at: r.try_get("uploaded_at")?,
                    yanked_at: r.try_get("yanked_at")?,
                    quarantined_at: r.try_get("quarantined_at")?,
                    release_removed_at: r.try_get("release_removed_at")?,
                    held_at: r.try_get("held_at")?,
                    file_removed_at: r.try_get("file_removed_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The latest public release (by upload time) of each public project other than
    /// `exclude_project_id` whose core metadata contains `like` (a lower-case SQL `LIKE`
    /// pattern, compared with the lower-cased metadata), by project name, at most `limit`.
    pub async fn dependent_candidates(
        &self,
        exclude_project_id: i64,
        like: &str,
        limit: i64,
    ) -> Result<Vec<DependentCandidate>, StoreError> {
        use crate::visibility::{PUBLIC_PROJECT, PUBLIC_RELEASE};
        let sql = format!(
            "SELECT name, version, core_metadata FROM ( \
               SELECT p.name AS name, r.version AS version, r.core_metadata AS core_metadata, \
               ROW_NUMBER() OVER (PARTITION BY r.project_id ORDER BY r.created_at DESC, r.id DESC) AS rn \
               FROM releases r JOIN projects p ON p.id = r.project_id \
               WHERE p.id <> $1 AND {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} \
             ) AS t WHERE rn = 1 AND LOWER(core_metadata) LIKE $2 ORDER BY name LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(exclude_project_id)
            .bind(like.to_owned())
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DependentCandidate {
                    project: r.try_get("name")?,
                    version: r.try_get("version")?,
                    core_metadata: r.try_get("core_metadata")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}
