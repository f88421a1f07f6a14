//! An administrator's two-factor reset, for an owner who lost every factor and their recovery
//! codes: the factors go, the password stops working, sessions end, and the way back in is a
//! password reset through a verified address, then a new enrolment, all under a recovery hold.
//!
//! It is the support path an attacker would most like to talk an administrator into, so it is
//! deliberately loud: every verified address is told (with the reset link), the account is held
//! (reason "two-factor reset") and the reset is one event with the admin as actor and a reason.
//! API tokens stay: they are the owner's and the hold stops new ones; freeze the account instead
//! when a takeover is suspected.

use strongroom_store::model::{Email, User};

use crate::accounts::purpose;
use crate::admin::{require_reason, user_subject};
use crate::hold::is_held;
use crate::hold::reason::TWO_FACTOR_RESET;
use crate::mail::notice;
use crate::{Actor, CoreError, RequestMeta, Services};

/// What an administrator's 2FA reset removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwoFactorReset {
    pub totp: bool,
    pub security_keys: u64,
    pub sessions_ended: u64,
}

impl Services {
    /// Wipe `username`'s second factors and recovery codes (see the module docs).
    pub async fn admin_reset_two_factor(
        &self,
        actor: &Actor,
        username: &str,
        reason: &str,
        meta: &RequestMeta,
    ) -> Result<TwoFactorReset, CoreError> {
        let reason = require_reason(reason)?;
        self.check_writable().await?;
        let user: User = self.user_named(username).await?;
        if user.deleted_at.is_some() {
            return Err(CoreError::NotFound(format!(
                "{} is deleted; restore the account first (strongroom admin restore-user).",
                user.username
            )));
        }
        if user.frozen_at.is_some() {
            // The hold would run out during the freeze and the account come back without
            // factors and without a hold.
            return Err(CoreError::Conflict(format!(
                "{} is frozen: unfreeze it first, then reset its two-factor authentication.",
                user.username
            )));
        }
        if !self.has_two_factor(user.id).await? {
            return Err(CoreError::Conflict(format!(
                "{} has no second factor to reset.",
                user.username
            )));
        }
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        let emails = tx.emails(user.id).await?;
        let (to, doubtful) = reset_link_recipients(&emails, &user, now);
        if to.is_empty() {
            // Nobody trustworthy could use the reset link: refuse rather than lock the account
            // for good or hand it to whoever added an address during a recovery.
            return Err(CoreError::Invalid(format!(
                "{} has no verified email address that predates its current recovery hold to send the password reset to.",
                user.username
            )));
        }
        // An address verified during the current recovery hold may be the attacker's: with the
        // factors gone, "Forgot password" to it would hand the account over. It loses its
        // verification (the owner can verify it again, which holds the account again).
        let mut unverified = Vec::new();
        for e in doubtful {
            if let Some(v) = e.verified_at
                && tx.unverify_email(e.id, v, UNVERIFY_REASON, now).await?
            {
                unverified.push(e.address.clone());
            }
        }
        // Links mailed before the reset die with it: an address added from a hijacked session
        // must not be verified (and then sent a reset) afterwards.
        tx.invalidate_email_tokens(user.id, purpose::ACCESS_LINKS, now)
            .await?;
        let totp = tx.delete_totp(user.id).await?;
        let security_keys = tx.delete_all_credentials(user.id).await?;
        tx.delete_recovery_codes(user.id).await?;
        tx.disable_password(user.id, "two-factor reset").await?;
        let sessions_ended = tx.end_sessions(user.id, None, now).await?;
        let link = self
            .issue_mail_token(&mut tx, user.id, None, purpose::RESET_PASSWORD)
            .await?;
        let mut mails = self
            .start_hold(&mut tx, &user, TWO_FACTOR_RESET, &[], meta)
            .await?;
        mails.extend(notice(
            &to,
            "Your two-factor authentication was reset",
            &format!(
                "The index administrators removed every second factor and recovery code of the account {} (reason: {reason}), ended its sessions and disabled its password. To get back in, set a new password here (the link expires in 1 hour; \"Forgot password\" sends a new one to your verified addresses), then enrol two-factor authentication again:\n\n{link}\n\nIf you did not ask for this, reply to the administrators at once.",
                user.username
            ),
        ));
        let until = tx
            .user(user.id)
            .await?
            .and_then(|u| u.hold_until)
            .unwrap_or_default();
        let details = serde_json::json!({
            "reason": reason,
            "totp": totp,
            "security_keys": security_keys,
            "sessions_ended": sessions_ended,
            "hold_until": until,
            "addresses_unverified": unverified,
        });
        let reset = self.event(
            actor,
            "admin:user:reset-2fa",
            user_subject(&user),
            meta,
            details,
        );
        let hold = self.event(
            actor,
            "account:hold",
            user_subject(&user),
            meta,
            serde_json::json!({"reason": TWO_FACTOR_RESET, "until": until, "until_utc": crate::clock::iso8601_seconds(until)}),
        );
        tx.commit(&[reset, hold], &mails).await?;
        Ok(TwoFactorReset {
            totp,
            security_keys,
            sessions_ended,
        })
    }
}

const UNVERIFY_REASON: &str =
    "verified during a recovery hold that an administrator's two-factor reset interrupted";

/// Who may receive the reset link, and which verified addresses are doubtful. Only verified
/// addresses (never a domain-unverified or never-verified one); while the account is on a
/// recovery hold, only those verified before that recovery: one verified since is doubtful.
fn reset_link_recipients<'a>(
    emails: &'a [Email],
    user: &User,
    now: i64,
) -> (Vec<String>, Vec<&'a Email>) {
    let recovery = user.recovered_at.filter(|_| is_held(user, now));
    let (trusted, doubtful): (Vec<&Email>, Vec<&Email>) = emails
        .iter()
        .filter(|e| e.unverified_at.is_none() && e.verified_at.is_some())
        .partition(|e| {
            e.verified_at
                .is_some_and(|v| recovery.is_none_or(|r| v < r))
        });
    (
        trusted.iter().map(|e| e.address.clone()).collect(),
        doubtful,
    )
}
