//! Rate-limit hits, kept in the database so that every server sees the same counts.
//!
//! A limit is a moving window: `hit` records one attempt in a bucket (`login:user:alice`),
//! `window` counts the hits since a time and returns the oldest, from which the caller computes
//! when the next attempt will be allowed.

use sqlx::Row;

use crate::{Db, StoreError};

impl Db {
    /// Record one hit in `bucket`.
    pub async fn rate_hit(&self, bucket: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO rate_hits (bucket, at) VALUES ($1, $2)")
            .bind(bucket.to_owned())
            .bind(at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// The hits in `bucket` after `since`: how many, and the time of the `nth` newest one
    /// (counting from 1), so a caller allowing `n` hits knows when the oldest of them expires.
    pub async fn rate_window(
        &self,
        bucket: &str,
        since: i64,
        nth: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM rate_hits WHERE bucket = $1 AND at > $2")
                .bind(bucket.to_owned())
                .bind(since)
                .fetch_one(&self.read)
                .await?;
        let nth_at = sqlx::query(
            "SELECT at FROM rate_hits WHERE bucket = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
        )
        .bind(bucket.to_owned())
        .bind(since)
        .bind((nth - 1).max(0))
        .fetch_optional(&self.read)
        .await?
        .map(|r| r.try_get::<i64, _>(0))
        .transpose()?;
        Ok((count, nth_at))
    }

    /// Forget a bucket (a successful login clears its failures).
    pub async fn rate_clear(&self, bucket: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_hits WHERE bucket = $1")
            .bind(bucket.to_owned())
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Delete hits older than `before` (no window is longer than a day).
    pub async fn rate_prune(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM rate_hits WHERE at < $1")
            .bind(before)
            .execute(&self.write)
            .await?
            .rows_affected())
    }
}
