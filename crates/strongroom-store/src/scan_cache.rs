//! The scanner's per-member results by content (migration 0029; policy in `core::scan_cache`):
//! a row per key (the hex sha256 of the rules version, the member's role and path and its
//! bytes) holding the JSON of what scanning those bytes gave. Bounded in rows: each write prunes
//! the least recently used rows beyond the bound it is given.

use sqlx::Row;

use crate::{Db, StoreError};

impl Db {
    /// The remembered result of `key`, if any.
    pub async fn scan_cache_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT result FROM scan_member_cache WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Remember `new` results (key, JSON), mark `used` keys as used at `at` (µs), and keep at
    /// most `max_rows` rows (the least recently used go). One transaction.
    pub async fn scan_cache_put(
        &self,
        new: &[(String, String)],
        used: &[String],
        at: i64,
        max_rows: i64,
    ) -> Result<(), StoreError> {
        if new.is_empty() && used.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (key, result) in new {
            sqlx::query(
                "INSERT INTO scan_member_cache (key, result, used_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (key) DO UPDATE SET used_at = excluded.used_at",
            )
            .bind(key.clone())
            .bind(result.clone())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in used.chunks(self.dialect.values_per_list()) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE scan_member_cache SET used_at = $1 WHERE key IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
            for k in chunk {
                q = q.bind(k.clone());
            }
            q.execute(&mut *tx).await?;
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM scan_member_cache")
            .fetch_one(&mut *tx)
            .await?;
        if rows > max_rows {
            sqlx::query(
                "DELETE FROM scan_member_cache WHERE key IN \
                 (SELECT key FROM scan_member_cache ORDER BY used_at, key LIMIT $1)",
            )
            .bind(rows - max_rows.max(0))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// How many results are remembered.
    pub async fn scan_cache_rows(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM scan_member_cache")
            .fetch_one(&self.read)
            .await?)
    }
}
