//! The gateway's stored upstream project pages (migration 0021) and the reserved names someone
//! asked for. A page is kept as the JSON the core gives (the store does not read it); its
//! `revision` goes up exactly when what it says changes, so every server's page cache can key
//! on it.

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
    /// Bumped whenever upstream, found or page change.
    pub revision: i64,
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

const COLS: &str = "project, upstream_url, found, page, etag, fetched_at, confirmed_at, revision";

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

    /// Store an upstream's answer (a page or "not found"), confirmed now. The revision goes up
    /// in the same statement when the upstream, found or page differ from the stored ones (so
    /// two servers storing at once never give two contents one revision), and stays otherwise.
    pub async fn save_upstream_page(
        &self,
        new: &NewUpstreamPage<'_>,
    ) -> Result<StoredUpstreamPage, StoreError> {
        let sql = format!(
            "INSERT INTO upstream_pages ({COLS}) VALUES ($1, $2, $3, $4, $5, $6, $6, 1) \
             ON CONFLICT (project) DO UPDATE SET upstream_url = excluded.upstream_url, \
             found = excluded.found, page = excluded.page, etag = excluded.etag, \
             fetched_at = excluded.fetched_at, confirmed_at = excluded.confirmed_at, \
             revision = CASE WHEN upstream_pages.upstream_url = excluded.upstream_url \
                 AND upstream_pages.found = excluded.found \
                 AND COALESCE(upstream_pages.page, '') = COALESCE(excluded.page, '') \
               THEN upstream_pages.revision ELSE upstream_pages.revision + 1 END \
             RETURNING {COLS}"
        );
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new.project.to_owned())
            .bind(new.upstream_url.to_owned())
            .bind(i64::from(new.page.is_some()))
            .bind(new.page.map(str::to_owned))
            .bind(new.etag.map(str::to_owned))
            .bind(new.now)
            .fetch_one(&self.write)
            .await?;
        Ok(page_from_row(&r)?)
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
    /// anyway). Called each time a new one is stored, so anyone asking for made-up names keeps
    /// at most one TTL's worth of them; returns how many went.
    pub async fn forget_unknown_upstream_names(&self, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM upstream_pages WHERE found = 0 AND confirmed_at < $1")
                .bind(before)
                .execute(&self.write)
                .await?
                .rows_affected(),
        )
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
