//! Rate-limit hits, kept in the database so that every server sees the same counts.
//!
//! A limit is a moving window: `hit` records one attempt in a bucket (`login:user:alice`),
//! `window` counts the hits since a time and returns the oldest, from which the caller computes
//! when the next attempt will be allowed. `reserve` is the one a limit is enforced with: it counts
//! and records in one transaction under a per-bucket lock (the one writer on SQLite, an advisory
//! lock on PostgreSQL), so attempts arriving at once cannot all see room that only one of them
//! has; `refund` gives a reserved hit back when the attempt turned out not to count.

use sqlx::Row;

use crate::{Db, Dialect, StoreError};

/// The advisory-lock class of rate-limit buckets (the two-key form, like blob keys).
const RATE_LOCK_CLASS: i32 = 7_265_020;

/// What [`Db::rate_reserve`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateReservation {
    /// There was room in every window: one hit is recorded, with this id (for `rate_refund`).
    Taken(i64),
    /// A window is full and nothing was recorded: per window (in the order given), the hits in
    /// it and the time of its `max`-th newest hit, as [`Db::rate_window`] returns them.
    Full(Vec<(i64, Option<i64>)>),
}

impl Db {
    /// Record one hit in `bucket` at `at` if, for every `(since, max)` of `windows`, fewer than
    /// `max` hits are newer than `since`; count and record atomically, so N concurrent callers
    /// against a window of `max` succeed exactly `max` times between them.
    pub async fn rate_reserve(
        &self,
        bucket: &str,
        windows: &[(i64, i64)],
        at: i64,
    ) -> Result<RateReservation, StoreError> {
        let mut tx = self.begin_write().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(RATE_LOCK_CLASS)
                .bind(bucket.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        let mut seen = Vec::with_capacity(windows.len());
        let mut full = false;
        for &(since, max) in windows {
            let count: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM rate_hits WHERE bucket = $1 AND at > $2")
                    .bind(bucket.to_owned())
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await?;
            let nth_at = if count >= max {
                full = true;
                sqlx::query(
                    "SELECT at FROM rate_hits WHERE bucket = $1 AND at > $2 ORDER BY at DESC LIMIT 1 OFFSET $3",
                )
                .bind(bucket.to_owned())
                .bind(since)
                .bind((max - 1).max(0))
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get::<i64, _>(0))
                .transpose()?
            } else {
                None
            };
            seen.push((count, nth_at));
        }
        if full {
            tx.rollback().await?;
            return Ok(RateReservation::Full(seen));
        }
        let id: i64 =
            sqlx::query_scalar("INSERT INTO rate_hits (bucket, at) VALUES ($1, $2) RETURNING id")
                .bind(bucket.to_owned())
                .bind(at)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(RateReservation::Taken(id))
    }

    /// Give back a hit taken by [`Db::rate_reserve`] (gone already, e.g. cleared: nothing to do).
    pub async fn rate_refund(&self, hit: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM rate_hits WHERE id = $1")
            .bind(hit)
            .execute(&self.write)
            .await?;
        Ok(())
    }

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
