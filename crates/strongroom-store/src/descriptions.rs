//! Each release's description as sanitised HTML, with the version of the renderer that made
//! it: written in the publish transaction, read by the project page, and brought up to date by
//! the periodic job (rows from before rendering at publish, rows of an older renderer).

use sqlx::Row;

use crate::{Db, StoreError};

/// A description rendered to HTML by renderer version `renderer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedDescription {
    pub html: String,
    pub renderer: i64,
}

impl Db {
    /// The stored HTML of a public release's description; None when it was never rendered or
    /// the public does not see the release.
    pub async fn release_description(
        &self,
        release_id: i64,
    ) -> Result<Option<RenderedDescription>, StoreError> {
        let sql = crate::index::public_releases_sql(
            "r.description_html, r.description_renderer",
            "r.id = $1",
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(release_id)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let html: Option<String> = row.try_get(0)?;
        let renderer: Option<i64> = row.try_get(1)?;
        Ok(html
            .zip(renderer)
            .map(|(html, renderer)| RenderedDescription { html, renderer }))
    }

    /// The re-render job's next batch: releases with an id above `after_id` whose description
    /// was never rendered or was rendered by a version older than `current`, in id order, with
    /// their core metadata: at most `limit` of them, holding at most `max_bytes` of metadata
    /// together (but always the first one, whatever its size: the upload bounds each). Every
    /// release counts (quarantined and removed ones may come back). `(id, core_metadata)`.
    ///
    /// The sizes are read first and only the metadata that fits is fetched, so a batch of
    /// releases with megabytes of metadata each never sits in memory at once.
    pub async fn releases_to_render(
        &self,
        current: i64,
        after_id: i64,
        limit: i64,
        max_bytes: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        // One index seek per renderer version (and one for none): `renderer IS NULL OR
        // renderer < $1` made SQLite's planner walk every release by id at every jobs run
        // (1-3 s at 5M releases, with nothing to render).
        let mut sizes: Vec<(i64, i64)> = Vec::new();
        for version in std::iter::once(None).chain((0..current).map(Some)) {
            let q = match version {
                None => sqlx::query(
                    "SELECT id, octet_length(core_metadata) FROM releases \
                     WHERE id > $1 AND description_renderer IS NULL ORDER BY id LIMIT $2",
                )
                .bind(after_id)
                .bind(limit),
                Some(v) => sqlx::query(
                    "SELECT id, octet_length(core_metadata) FROM releases \
                     WHERE id > $1 AND description_renderer = $2 ORDER BY id LIMIT $3",
                )
                .bind(after_id)
                .bind(v)
                .bind(limit),
            };
            for r in q.fetch_all(&self.read).await? {
                sizes.push((r.try_get(0)?, r.try_get(1)?));
            }
        }
        sizes.sort_unstable_by_key(|&(id, _)| id);
        sizes.truncate(usize::try_from(limit).unwrap_or(0));
        let mut ids: Vec<i64> = Vec::new();
        let mut total: usize = 0;
        for &(id, size) in &sizes {
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            total = total.saturating_add(size);
            if !ids.is_empty() && total > max_bytes {
                break;
            }
            ids.push(id);
        }
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let params: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let mut q = crate::rows::query(format!(
            "SELECT id, core_metadata FROM releases WHERE id IN ({}) ORDER BY id",
            params.join(", ")
        ));
        for id in ids {
            q = q.bind(id);
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Store a release's rendered description, unless it already holds one from the same or a
    /// newer renderer (so the job is idempotent, and a server still running an older renderer
    /// never undoes a newer one's work). True when the row changed.
    pub async fn set_release_description(
        &self,
        release_id: i64,
        description: &RenderedDescription,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE releases SET description_html = $1, description_renderer = $2 \
             WHERE id = $3 AND (description_renderer IS NULL OR description_renderer < $2)",
        )
        .bind(description.html.clone())
        .bind(description.renderer)
        .bind(release_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
