//! Rate limits (moving windows over hits stored in the database, so every server shares them),
//! each set by its own `ratelimit.<name>` key (`crate::limits`). A check refuses with the seconds
//! until the next attempt is allowed and names the limit, so an operator knows which key to raise.
//!
//! A limit is enforced by *reserving* a place before the work it guards (`rate_reserve`, one
//! atomic store operation that counts and records), never by checking and recording apart: a
//! burst of attempts sent at once would all pass a check made before any of them recorded. An
//! attempt the limit does not count (a correct password) gives its place back (`rate_refund`).

use strongroom_store::RateReservation;

use crate::{CoreError, Services};

/// Places taken in limits' buckets by an attempt in progress. Dropping it keeps them (the
/// attempt counts); [`Services::rate_refund`] gives them back.
#[must_use = "a reserved place is kept unless given back with rate_refund"]
#[derive(Debug, Default)]
pub struct RateHold {
    hits: Vec<i64>,
}

impl RateHold {
    /// Add the places of `other` to this one.
    pub fn join(&mut self, other: RateHold) {
        self.hits.extend(other.hits);
    }
}

pub use crate::limits::{Limit, Limits, Rate, Window};

const HOUR: i64 = 3_600_000_000;

impl Services {
    /// Refuse with `message` when `bucket` is at any of its limits.
    pub async fn rate_check(
        &self,
        bucket: &str,
        limit: Limit,
        message: &str,
    ) -> Result<(), CoreError> {
        match self.rate_full(bucket, limit).await? {
            None => Ok(()),
            Some(secs) => Err(self.too_many(limit, message, secs)),
        }
    }

    /// Whether `bucket` is at `limit` now: the seconds until it has room again, or None.
    pub async fn rate_full(&self, bucket: &str, limit: Limit) -> Result<Option<u64>, CoreError> {
        if !self.settings.rate_limits {
            return Ok(None);
        }
        let rate = self.limits().rate(limit).clone();
        let now = self.now();
        let mut wait: i64 = 0;
        for l in rate.windows() {
            let (count, nth_at) = self.db.rate_window(bucket, now - l.window, l.max).await?;
            if count >= l.max {
                // The max-th newest hit leaves the window first among those that keep us full.
                let until = nth_at.map_or(now + l.window, |t| t + l.window);
                wait = wait.max(until - now);
            }
        }
        if wait > 0 {
            let secs = u64::try_from((wait + 999_999) / 1_000_000)
                .unwrap_or(1)
                .max(1);
            return Ok(Some(secs));
        }
        Ok(None)
    }

    /// Count one hit in `bucket`.
    pub async fn rate_hit(&self, bucket: &str) -> Result<(), CoreError> {
        if self.settings.rate_limits {
            self.db.rate_hit(bucket, self.now()).await?;
        }
        Ok(())
    }

    /// Count an attempt, refusing when `bucket` is already at `limit` (for limits on every
    /// attempt, not only failures). Atomic: see [`Services::rate_reserve`].
    pub async fn rate_take(
        &self,
        bucket: &str,
        limit: Limit,
        message: &str,
    ) -> Result<(), CoreError> {
        // Kept: every attempt counts.
        let _kept = self.rate_reserve(bucket, limit, message).await?;
        Ok(())
    }

    /// Take a place in `bucket` under `limit` before the work the limit guards, or refuse with
    /// `message` (and the wait) when it is full. Counting and recording are one store operation,
    /// so of N attempts arriving at once against room for k exactly k get a place.
    pub async fn rate_reserve(
        &self,
        bucket: &str,
        limit: Limit,
        message: &str,
    ) -> Result<RateHold, CoreError> {
        match self.rate_try_reserve(bucket, limit).await? {
            Ok(hold) => Ok(hold),
            Err(secs) => Err(self.too_many(limit, message, secs)),
        }
    }

    /// Like [`Services::rate_reserve`], but a full bucket is an answer (the seconds until it has
    /// room), not an error: for limits that hold back only some attempts.
    pub async fn rate_try_reserve(
        &self,
        bucket: &str,
        limit: Limit,
    ) -> Result<Result<RateHold, u64>, CoreError> {
        if !self.settings.rate_limits {
            return Ok(Ok(RateHold::default()));
        }
        let rate = self.limits().rate(limit).clone();
        let now = self.now();
        let windows: Vec<(i64, i64)> = rate
            .windows()
            .iter()
            .map(|l| (now - l.window, l.max))
            .collect();
        match self.db.rate_reserve(bucket, &windows, now).await? {
            RateReservation::Taken(id) => Ok(Ok(RateHold { hits: vec![id] })),
            RateReservation::Full(seen) => {
                let mut wait: i64 = 1;
                for (l, (count, nth_at)) in rate.windows().iter().zip(seen) {
                    if count >= l.max {
                        let until = nth_at.map_or(now + l.window, |t| t + l.window);
                        wait = wait.max(until - now);
                    }
                }
                Ok(Err(u64::try_from((wait + 999_999) / 1_000_000)
                    .unwrap_or(1)
                    .max(1)))
            }
        }
    }

    /// Give back the places of an attempt that turned out not to count.
    pub async fn rate_refund(&self, hold: RateHold) -> Result<(), CoreError> {
        for id in hold.hits {
            self.db.rate_refund(id).await?;
        }
        Ok(())
    }

    /// The refusal of a full `limit`, `secs` seconds from having room.
    pub(crate) fn too_many(&self, limit: Limit, message: &str, secs: u64) -> CoreError {
        CoreError::TooMany {
            message: format!(
                "{message} Try again in {}. (Limit ratelimit.{}: {}.)",
                human_wait(secs),
                limit.name(),
                self.limits().rate(limit)
            ),
            retry_after_secs: secs,
        }
    }

    /// Count one state change (`what`: yank, unyank, invite, ...) of `user` against
    /// [`Limit::StateChangesUser`], refusing with 429 when a loop is at the limit. A refused one is
    /// logged as `account:rate-limited` through `crate::refusal_log` (the first per window, the
    /// rest counted), so the loop leaves one event per window, not one per attempt.
    pub(crate) async fn take_state_change(
        &self,
        user: &strongroom_store::model::User,
        what: &str,
        meta: &crate::RequestMeta,
    ) -> Result<(), CoreError> {
        let bucket = format!("state:user:{}", user.id);
        let message = format!(
            "Too many changes from the account {} in a short time ({what}).",
            user.username
        );
        if let Err(e) = self
            .rate_reserve(&bucket, Limit::StateChangesUser, &message)
            .await
        {
            if matches!(e, CoreError::TooMany { .. }) {
                let ev = self.user_event(
                    crate::refusal_log::RefusalKind::RateLimited.action(),
                    user,
                    meta,
                    serde_json::json!({"limited": what, "user_id": user.id}),
                );
                self.log_refusal(
                    crate::refusal_log::RefusalKind::RateLimited,
                    crate::refusal_log::Source::Account(user.id),
                    ev,
                )
                .await;
            }
            return Err(e);
        }
        // The place taken is the count: every state change counts.
        Ok(())
    }

    /// Forget old hits (called now and then by the delivery loop).
    pub async fn rate_prune(&self) -> Result<u64, CoreError> {
        Ok(self
            .db
            .rate_prune(self.now() - self.limits().longest() - HOUR)
            .await?)
    }
}

fn human_wait(secs: u64) -> String {
    match secs {
        0..=90 => format!("{secs} seconds"),
        91..=5399 => format!("{} minutes", secs.div_ceil(60)),
        _ => format!("{} hours", secs.div_ceil(3600)),
    }
}
