//! An administrator's two-factor reset, for an owner who lost every factor and their recovery
//! codes: the factors go, the password stops working, sessions end, and the way back in is a
//! password reset through a verified address, then a new enrolment, all under a recovery hold.
//!
//! It is the support path an attacker would most like to talk an administrator into, so it is
//! deliberately loud: every verified address is told (with the reset link), the account is held
//! (reason "two-factor reset") and the reset is one event with the admin as actor and a reason.
//!
//! Nothing an attacker may have added comes back with it: the reset link goes only to addresses
//! verified before the account's incident window as of now (`crate::incident`; during a
//! recovery hold, before that recovery too); addresses added or verified since are left suspect
//! (no mail, listed for the owner to keep or drop after signing in), and API tokens created in
//! that window are revoked. Older tokens stay: they are the owner's and the hold stops new
//! ones; freeze the account instead when a takeover is suspected.

use strongroom_store::model::User;

use crate::accounts::purpose;
use crate::admin::{require_reason, user_subject};
use crate::handback::{anchor, move_suspect_primary};
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
    /// Tokens created inside the incident window, revoked: (id, name).
    pub tokens_revoked: Vec<(i64, String)>,
    /// Addresses left suspect (verified or added inside the window).
    pub addresses_suspect: Vec<String>,
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
        let window = self.incident_window(&user, now).await?;
        // During a hold, the recovery that started it counts too, however long ago.
        let since = match user.recovered_at.filter(|_| is_held(&user, now)) {
            Some(r) => r.min(window.start),
            None => window.start,
        };
        let mut tx = self.db.begin_account().await?;
        let emails = tx.emails(user.id).await?;
        // The same choice as an unfreeze's (`crate::handback`): the account's anchor alone, so
        // an address the attacker added and let age past the lookback gets no link.
        let trusted: Vec<&strongroom_store::model::Email> = anchor(&emails)
            .filter(|a| a.trusted_before(since))
            .into_iter()
            .collect();
        if let Some(a) = trusted.first() {
            let removed = self
                .verified_addresses_removed_since(user.id, a.verified_at.unwrap_or(i64::MIN))
                .await?;
            if !removed.is_empty() {
                return Err(CoreError::Invalid(format!(
                    "{} had verified email addresses removed after its oldest remaining one, {}, was added ({}): whoever held the account may have removed the owner's address and kept one of theirs, so a reset link could reach them. Nothing was changed. Freeze the account instead, confirm the owner out of band, and unfreeze it naming the address they control (--trust-address).",
                    user.username,
                    a.address,
                    removed.join(", ")
                )));
            }
        }
        let to: Vec<String> = trusted.iter().map(|e| e.address.clone()).collect();
        if to.is_empty() {
            // Nobody trustworthy could use the reset link: refuse rather than lock the account
            // for good or hand it to whoever added an address during a recovery.
            return Err(CoreError::Invalid(format!(
                "{} has no verified email address that predates its recent account changes ({}) to send the password reset to.",
                user.username,
                window.describe()
            )));
        }
        // An address verified (or added) inside the window may be the attacker's: with the
        // factors gone, "Forgot password" to it would hand the account over. It stays on the
        // account but gets no mail until the owner keeps it.
        let suspect_since = trusted.first().and_then(|a| a.verified_at).unwrap_or(since);
        let suspect = tx
            .flag_suspect(user.id, suspect_since, now, trusted.first().map(|a| a.id))
            .await?;
        let addresses_suspect: Vec<String> = suspect
            .iter()
            .filter(|s| s.kind == strongroom_store::model::SuspectKind::Address)
            .map(|s| s.label.clone())
            .collect();
        // The first enrolment's confirmation goes to the primary address: a trusted one.
        move_suspect_primary(&mut tx, user.id, &emails, &suspect, &trusted).await?;
        let tokens_revoked = tx.revoke_tokens_since(user.id, since, now).await?;
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
            "addresses_suspect": addresses_suspect,
            "tokens_revoked": tokens_revoked.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        });
        let mut details = details;
        crate::handback::merge(&mut details, window.details());
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
        let mut events = vec![reset, hold];
        for (id, name) in &tokens_revoked {
            events.push(self.event(
                actor,
                "token:revoke",
                user_subject(&user),
                meta,
                serde_json::json!({"token_id": id, "name": name,
                    "reason": "created inside the window an administrator's two-factor reset distrusts"}),
            ));
        }
        tx.commit(&events, &mails).await?;
        Ok(TwoFactorReset {
            totp,
            security_keys,
            sessions_ended,
            tokens_revoked,
            addresses_suspect,
        })
    }
}
