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
    /// The stored HTML of a release's description; None when it was never rendered.
    pub async fn release_description(
        &self,
        release_id: i64,
    ) -> Result<Option<RenderedDescription>, StoreError> {
        let row = sqlx::query(
            "SELECT description_html, description_renderer FROM releases WHERE id = $1",
        )
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

    /// Up to `limit` releases with an id above `after_id` whose description was never rendered
    /// or was rendered by a version older than `current`, in id order: `(id, core_metadata)`.
    /// Every release counts (quarantined and removed ones may come back).
    pub async fn releases_to_render(
        &self,
        current: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, core_metadata FROM releases \
             WHERE (description_renderer IS NULL OR description_renderer < $1) AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(current)
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
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
