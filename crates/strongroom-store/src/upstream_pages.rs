//! The gateway's stored upstream project pages (migration 0021) and the reserved names someone
//! asked for. A page is kept as the JSON the core gives (the store does not read it); its
//! `revision` goes up exactly when what it says changes, and never repeats for a project (it is
//! time-derived: at least the storing time in µs), so every server's page cache and every
//! client's ETag can key on it. Rows are bounded by [`Db::evict_upstream_pages`].

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Db, StoreError};

/// One stored answer of an upstream about a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpstreamPage {
    /// The normalised project name.
    pub project: String,
    /// The upstream that answered (its configured URL without credentials).
    pub upstream_url: String,
    /// False: every upstream answered "not found" (kept for the TTL only).
    pub found: bool,
    /// The page (the core's JSON), when found.
    pub page: Option<String>,
    /// The upstream's ETag, for the next revalidation.
    pub etag: Option<String>,
    /// When the content was last fetched (µs).
    pub fetched_at: i64,
    /// When the upstream last confirmed it (a 200 or a 304; µs).
    pub confirmed_at: i64,
    /// Bumped whenever upstream, found or page change: strictly increasing, never below the
    /// time it was stored (µs), so a row deleted and stored again never reuses one.
    pub revision: i64,
    /// The upstream answered for the name once: a later "not found" from it is kept as a
    /// tombstone bound to it (never forgotten with the TTL), so the name is not walked on to
    /// the next upstream.
    pub bound: bool,
    /// When the page was last served (µs; moved at most once per period).
    pub last_used_at: i64,
}

/// What to store after an upstream answered.
#[derive(Debug, Clone)]
pub struct NewUpstreamPage<'a> {
    /// The normalised project name.
    pub project: &'a str,
    /// The upstream that answered.
    pub upstream_url: &'a str,
    /// The page's JSON, or `None` for "not found".
    pub page: Option<&'a str>,
    /// The answer's ETag.
    pub etag: Option<&'a str>,
    /// Now (µs).
    pub now: i64,
}

/// A reserved name someone asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedName {
    /// The normalised name.
    pub name: String,
    /// When it was first asked for (µs).
    pub first_requested_at: i64,
}

const COLS: &str = "project, upstream_url, found, page, etag, fetched_at, confirmed_at, revision, \
                    bound, last_used_at";

fn page_from_row(r: &AnyRow) -> Result<StoredUpstreamPage, sqlx::Error> {
    Ok(StoredUpstreamPage {
        project: r.try_get("project")?,
        upstream_url: r.try_get("upstream_url")?,
        found: r.try_get::<i64, _>("found")? != 0,
        page: r.try_get("page")?,
        etag: r.try_get("etag")?,
        fetched_at: r.try_get("fetched_at")?,
        confirmed_at: r.try_get("confirmed_at")?,
        revision: r.try_get("revision")?,
        bound: r.try_get::<i64, _>("bound")? != 0,
        last_used_at: r.try_get("last_used_at")?,
    })
}

impl Db {
    /// The stored page of `project`, if any upstream was ever asked about it.
    pub async fn upstream_page(
        &self,
        project: &str,
    ) -> Result<Option<StoredUpstreamPage>, StoreError> {
        let sql = format!("SELECT {COLS} FROM upstream_pages WHERE project = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(page_from_row).transpose()?)
    }

    /// Store an upstream's answer (a page or "not found"), confirmed and used now. The revision
    /// goes up in the same statement when the upstream, found or page differ from the stored
    /// ones (so two servers storing at once never give two contents one revision), and stays
    /// otherwise; a new revision is at least `now`, so it never repeats one a deleted row had.
    /// A page binds the name to its upstream; a "not found" from the upstream it is bound to
    /// keeps the binding (a tombstone).
    pub async fn save_upstream_page(
        &self,
        new: &NewUpstreamPage<'_>,
    ) -> Result<StoredUpstreamPage, StoreError> {
        let sql = format!(
            "INSERT INTO upstream_pages ({COLS}, page_bytes) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $3, $6, $7) \
             ON CONFLICT (project) DO UPDATE SET upstream_url = excluded.upstream_url, \
             found = excluded.found, page = excluded.page, etag = excluded.etag, \
             fetched_at = excluded.fetched_at, confirmed_at = excluded.confirmed_at, \
             last_used_at = excluded.last_used_at, page_bytes = excluded.page_bytes, \
             bound = CASE WHEN excluded.found = 1 OR (upstream_pages.bound = 1 \
                 AND upstream_pages.upstream_url = excluded.upstream_url) THEN 1 ELSE 0 END, \
             revision = CASE WHEN upstream_pages.upstream_url = excluded.upstream_url \
                 AND upstream_pages.found = excluded.found \
                 AND COALESCE(upstream_pages.page, '') = COALESCE(excluded.page, '') \
               THEN upstream_pages.revision \
               WHEN upstream_pages.revision + 1 > excluded.revision \
               THEN upstream_pages.revision + 1 ELSE excluded.revision END \
             RETURNING {COLS}"
        );
        let bytes = new.page.map_or(0, str::len);
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.project.to_owned())
            .bind(new.upstream_url.to_owned())
            .bind(i64::from(new.page.is_some()))
            .bind(new.page.map(str::to_owned))
            .bind(new.etag.map(str::to_owned))
            .bind(new.now)
            .bind(i64::try_from(bytes).unwrap_or(i64::MAX))
            .fetch_one(&self.write)
            .await?;
        Ok(page_from_row(&r)?)
    }

    /// The page of `project` was served now: move `last_used_at` only when it is older than
    /// `older_than`, so serving a page costs at most one write per period. True when it moved.
    pub async fn touch_upstream_page(
        &self,
        project: &str,
        now: i64,
        older_than: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE upstream_pages SET last_used_at = $2 WHERE project = $1 AND last_used_at < $3",
        )
        .bind(project.to_owned())
        .bind(now)
        .bind(older_than)
        .execute(&self.write)
        .await?
        .rows_affected()
            > 0)
    }

    /// Delete the stored pages (and tombstones) not served since `unused_before`, then the least
    /// recently served ones past `max_rows` rows or `max_bytes` bytes of pages. Returns how many
    /// went.
    pub async fn evict_upstream_pages(
        &self,
        unused_before: i64,
        max_rows: i64,
        max_bytes: i64,
    ) -> Result<u64, StoreError> {
        let old = sqlx::query("DELETE FROM upstream_pages WHERE last_used_at < $1")
            .bind(unused_before)
            .execute(&self.write)
            .await?
            .rows_affected();
        let over = sqlx::query(
            "DELETE FROM upstream_pages WHERE project IN (SELECT project FROM ( \
               SELECT project, \
                 SUM(page_bytes) OVER (ORDER BY last_used_at DESC, project) AS running_bytes, \
                 ROW_NUMBER() OVER (ORDER BY last_used_at DESC, project) AS rn \
               FROM upstream_pages) ranked \
             WHERE running_bytes > $1 OR rn > $2)",
        )
        .bind(max_bytes)
        .bind(max_rows)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(old + over)
    }

    /// The upstream confirmed the stored page (a 304): only `confirmed_at` moves, so the
    /// revision, and every server's cached rendering, stay. `None` when no page is stored.
    pub async fn confirm_upstream_page(
        &self,
        project: &str,
        now: i64,
    ) -> Result<Option<StoredUpstreamPage>, StoreError> {
        let sql = format!(
            "UPDATE upstream_pages SET confirmed_at = $2 WHERE project = $1 RETURNING {COLS}"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project.to_owned())
            .bind(now)
            .fetch_optional(&self.write)
            .await?;
        Ok(r.as_ref().map(page_from_row).transpose()?)
    }

    /// Delete the "not found" answers confirmed before `before` (expired: they are asked again
    /// anyway), except tombstones of names bound to an upstream. Called each time a new one is stored, so anyone asking for made-up names keeps
    /// at most one TTL's worth of them; returns how many went.
    pub async fn forget_unknown_upstream_names(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM upstream_pages WHERE found = 0 AND bound = 0 AND confirmed_at < $1",
        )
        .bind(before)
        .execute(&self.write)
        .await?
        .rows_affected())
    }

    /// Remember that someone asked for the reserved name `name`, unless it is remembered
    /// already or `cap` names are (the table never grows past `cap`: anyone can ask for
    /// made-up names). True when the name is remembered after the call. Reads first, so a name
    /// asked for again costs no write.
    pub async fn remember_requested_name(
        &self,
        name: &str,
        now: i64,
        cap: i64,
    ) -> Result<bool, StoreError> {
        let known: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM upstream_requested_names WHERE name = $1")
                .bind(name.to_owned())
                .fetch_optional(&self.read)
                .await?;
        if known.is_some() {
            return Ok(true);
        }
        let inserted = sqlx::query(
            "INSERT INTO upstream_requested_names (name, first_requested_at) \
             SELECT $1, $2 WHERE (SELECT COUNT(*) FROM upstream_requested_names) < $3 \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(now)
        .bind(cap)
        .execute(&self.write)
        .await?
        .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        let known: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM upstream_requested_names WHERE name = $1")
                .bind(name.to_owned())
                .fetch_optional(&self.write)
                .await?;
        Ok(known.is_some())
    }

    /// The reserved names someone asked for, oldest first, at most `limit` (the name-conflict
    /// job asks the upstreams about them).
    pub async fn requested_reserved_names(
        &self,
        limit: i64,
    ) -> Result<Vec<RequestedName>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, first_requested_at FROM upstream_requested_names \
             ORDER BY first_requested_at, name LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(RequestedName {
                    name: r.try_get("name")?,
                    first_requested_at: r.try_get("first_requested_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }
}
