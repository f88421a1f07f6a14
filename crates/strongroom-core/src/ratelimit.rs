//! Rate limits with PyPI's defaults (moving windows over hits stored in the database, so every
//! server shares them). A check refuses with the seconds until the next attempt is allowed.

use crate::{CoreError, Services};

const MINUTE: i64 = 60_000_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// One limit: at most `max` hits per `window` microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub max: i64,
    pub window: i64,
}

const fn w(max: i64, window: i64) -> Window {
    Window { max, window }
}

/// Failed logins per username (unknown usernames count too).
pub const LOGIN_USER: &[Window] = &[w(10, 5 * MINUTE)];
/// Failed logins per IP.
pub const LOGIN_IP: &[Window] = &[w(10, 5 * MINUTE)];
/// Failed logins on the whole service.
pub const LOGIN_GLOBAL: &[Window] = &[w(1000, 5 * MINUTE)];
/// Failed second-factor attempts per user (TOTP, WebAuthn and recovery codes share it).
pub const TWO_FACTOR_USER: &[Window] = &[w(5, 5 * MINUTE), w(20, HOUR), w(50, DAY)];
/// Failed second-factor attempts per IP.
pub const TWO_FACTOR_IP: &[Window] = &[w(10, 5 * MINUTE), w(50, HOUR)];
/// Password reset requests per account or per typed name/address.
pub const PASSWORD_RESET: &[Window] = &[w(5, DAY)];
/// Verification mails per user.
pub const VERIFY_EMAIL: &[Window] = &[w(3, 6 * HOUR)];
/// Addresses added per IP.
pub const EMAIL_ADD_IP: &[Window] = &[w(2, DAY)];
/// Address changes per user.
pub const EMAIL_CHANGE_USER: &[Window] = &[w(5, 5 * MINUTE), w(20, HOUR)];
/// Registrations per IP (not a PyPI number: PyPI relies on a captcha).
pub const REGISTER_IP: &[Window] = &[w(10, HOUR)];
/// Mails telling an address that someone tried to register it (or add it to another account):
/// a few a day, so registration cannot be used to flood someone's mailbox.
pub const TAKEN_ADDRESS_NOTICE: &[Window] = &[w(3, DAY)];
/// New projects per user.
pub const PROJECT_CREATE_USER: &[Window] = &[w(20, HOUR)];
/// New projects per IP.
pub const PROJECT_CREATE_IP: &[Window] = &[w(40, HOUR)];
/// Repeated state changes of one account that each write to the log and mail the Owners (yank,
/// unyank, invite, revoke an invitation, change a member's role): a loop of them must not flood
/// the event log and the Owners' mail. Not a PyPI number.
pub const STATE_CHANGES_USER: &[Window] = &[w(20, MINUTE), w(200, HOUR)];

impl Services {
    /// Refuse with `message` when `bucket` is at any of its limits.
    pub async fn rate_check(
        &self,
        bucket: &str,
        limits: &[Window],
        message: &str,
    ) -> Result<(), CoreError> {
        if !self.settings.rate_limits {
            return Ok(());
        }
        let now = self.now();
        let mut wait: i64 = 0;
        for l in limits {
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
            return Err(CoreError::TooMany {
                message: format!("{message} Try again in {}.", human_wait(secs)),
                retry_after_secs: secs,
            });
        }
        Ok(())
    }

    /// Count one hit in `bucket`.
    pub async fn rate_hit(&self, bucket: &str) -> Result<(), CoreError> {
        if self.settings.rate_limits {
            self.db.rate_hit(bucket, self.now()).await?;
        }
        Ok(())
    }

    /// Check, then count a hit (for limits on every attempt, not only failures).
    pub async fn rate_take(
        &self,
        bucket: &str,
        limits: &[Window],
        message: &str,
    ) -> Result<(), CoreError> {
        self.rate_check(bucket, limits, message).await?;
        self.rate_hit(bucket).await
    }

    /// Count one state change (`what`: yank, unyank, invite, ...) of `user` against
    /// [`STATE_CHANGES_USER`], refusing with 429 when a loop is at the limit. A refused one is
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
        if let Err(e) = self.rate_check(&bucket, STATE_CHANGES_USER, &message).await {
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
        self.rate_hit(&bucket).await
    }

    /// Forget old hits (called now and then by the delivery loop).
    pub async fn rate_prune(&self) -> Result<u64, CoreError> {
        Ok(self.db.rate_prune(self.now() - DAY - HOUR).await?)
    }
}

fn human_wait(secs: u64) -> String {
    match secs {
        0..=90 => format!("{secs} seconds"),
        91..=5399 => format!("{} minutes", secs.div_ceil(60)),
        _ => format!("{} hours", secs.div_ceil(3600)),
    }
}
