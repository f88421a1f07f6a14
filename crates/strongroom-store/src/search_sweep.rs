//! The search job's walk over releases without a `release_search` row (a binary without search,
//! 0016 to 0018, may publish on this schema): only past the mark of migration 0031, so neither a
//! start nor a round of the periodic jobs reads every release.

use sqlx::Row;

use crate::{Db, StoreError};

/// Releases whose core metadata is read together when indexing (a release's may be megabytes).
const INDEX_CHUNK: usize = 50;

/// What one batch of [`Db::index_unsearched_after`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SearchSweepBatch {
    /// The highest release id checked (`None`: no release past `after`).
    pub last_id: Option<i64>,
    /// The highest id up to which every checked release was created before `settled_before`
    /// (the mark may move this far when the walk started at the mark).
    pub settled_through: Option<i64>,
    /// Releases checked.
    pub checked: usize,
    /// Releases that had no search row and now have one.
    pub indexed: u64,
}

impl Db {
    /// The search job's mark: every release with an id at most this has its search row.
    pub async fn search_mark(&self) -> Result<i64, StoreError> {
        let mark: Option<i64> =
            sqlx::query_scalar("SELECT MAX(through_release_id) FROM search_swept")
                .fetch_one(&self.read)
                .await?;
        Ok(mark.unwrap_or(0))
    }

    /// Move the mark up to `to` (never down: several servers may run the job at once).
    pub async fn advance_search_mark(&self, to: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE search_swept SET through_release_id = $1 WHERE through_release_id < $1",
        )
        .bind(to)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Check up to `limit` releases with ids past `after`, in id order, and index those without
    /// a search row. A release created at or after `settled_before` (microseconds) ends
    /// [`SearchSweepBatch::settled_through`]: on PostgreSQL an id is taken before its release
    /// commits, so a lower id may still appear behind a recent one.
    pub async fn index_unsearched_after(
        &self,
        after: i64,
        settled_before: i64,
        limit: i64,
    ) -> Result<SearchSweepBatch, StoreError> {
        let rows = sqlx::query(
            "SELECT r.id, r.created_at, s.release_id FROM releases r \
             LEFT JOIN release_search s ON s.release_id = r.id \
             WHERE r.id > $1 ORDER BY r.id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut batch = SearchSweepBatch {
            checked: rows.len(),
            ..SearchSweepBatch::default()
        };
        let mut missing = Vec::new();
        let mut settled = true;
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let created_at: i64 = r.try_get(1)?;
            let indexed: Option<i64> = r.try_get(2)?;
            if indexed.is_none() {
                missing.push(id);
            }
            settled &= created_at < settled_before;
            if settled {
                batch.settled_through = Some(id);
            }
            batch.last_id = Some(id);
        }
        for chunk in missing.chunks(INDEX_CHUNK) {
            batch.indexed += self.index_releases(chunk).await?;
        }
        Ok(batch)
    }

    /// Index these releases (those still without a row), in one transaction.
    async fn index_releases(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let params: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let mut q = crate::rows::query(format!(
            "SELECT r.id, r.project_id, p.name, r.core_metadata FROM releases r \
             JOIN projects p ON p.id = r.project_id WHERE r.id IN ({}) \
             AND NOT EXISTS (SELECT 1 FROM release_search s WHERE s.release_id = r.id) ORDER BY r.id",
            params.join(", ")
        ));
        for id in ids {
            q = q.bind(*id);
        }
        let mut tx = self.begin_write().await?;
        let rows = q.fetch_all(&mut *tx).await?;
        for r in &rows {
            let name: String = r.try_get(2)?;
            let metadata: String = r.try_get(3)?;
            crate::search::index_release(&mut tx, r.try_get(0)?, r.try_get(1)?, &name, &metadata)
                .await?;
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }
}
