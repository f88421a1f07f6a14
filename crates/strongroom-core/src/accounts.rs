//! Accounts: creation by operators (CLI; self-registration is `registration`), addresses and
//! their verification, freezing from a mail link, tokens and the account's event history.

use strongroom_store::model::{ApiToken, EmailToken, Event, User};
use strongroom_store::{AccountTx, NewEvent, NewMail, NewUser, StoreError};

use crate::mail::{notice, notice_recipients};
use crate::ratelimit;
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::sessions::SessionInfo;
use crate::{CoreError, RequestMeta, Services};

/// What a mail token is for.
pub mod purpose {
    /// Prove an address belongs to the account.
    pub const VERIFY_EMAIL: &str = "verify_email";
    /// Set a new password without the old one.
    pub const RESET_PASSWORD: &str = "reset_password";
    /// Complete the first 2FA enrolment (re-confirms the primary address).
    pub const CONFIRM_2FA_EMAIL: &str = "confirm_2fa_email";
    /// "This wasn't me": freeze the account.
    pub const FREEZE_ACCOUNT: &str = "freeze_account";
    /// The mailed links that let someone into the account (a new password, a new verified
    /// address, a confirmed factor): they all die when its password, factors or standing change.
    pub const ACCESS_LINKS: &[&str] = &[RESET_PASSWORD, VERIFY_EMAIL, CONFIRM_2FA_EMAIL];
}

const HOUR: i64 = 3_600_000_000;

/// Usernames: PyPI's rule (ASCII letters, digits, `.`, `_`, `-`; starts and ends alphanumeric; ≤ 50).
pub fn validate_username(name: &str) -> Result<(), CoreError> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(CoreError::Invalid(
            "The username is invalid. Usernames must be composed of letters, numbers, periods, underscores and hyphens, start and finish with a letter or number, and be at most 50 characters."
                .into(),
        ))
    }
}

/// A plausible email address at a DNS name (see [`crate::email_address::canonical_address`],
/// which callers use to get the form that is stored).
pub fn validate_email(addr: &str) -> Result<(), CoreError> {
    crate::email_address::canonical_address(addr).map(|_| ())
}

pub use crate::passwords::validate_password;

/// Hash a password with Argon2id at the configured cost.
pub fn hash_password(settings: &crate::Settings, pw: &str) -> Result<String, CoreError> {
    crate::passwords::hash_secret(settings, pw)
}

impl Services {
    /// Create an account (from the CLI: its address counts as verified).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        validate_username(username)?;
        let email = &crate::email_address::canonical_address(email)?;
        validate_password(password)?;
        let hash = self.hash_secret_pooled(password).await?;
        let now = self.now();
        let event = NewEvent {
            at: now,
            action: "account:create".into(),
            subject_kind: "user".into(),
            subject_name: Some(username.to_owned()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({"email": email, "admin": is_admin, "via": "cli"}),
            ..NewEvent::default()
        };
        let new = NewUser {
            username: username.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            password_hash: Some(hash),
            is_admin,
            at: now,
        };
        self.db.create_user(&new, event).await.map_err(|e| match e {
            StoreError::Conflict(what) if what == "username" => {
                CoreError::Conflict("This username is already being used by another account. Choose a different username.".into())
            }
            StoreError::Conflict(_) => {
                CoreError::Conflict("This email address is already being used by another account. Use a different email.".into())
            }
            other => other.into(),
        })
    }
}

impl Services {
    /// An event about `user`, done by `user`, from this request.
    pub(crate) fn user_event(
        &self,
        action: &str,
        user: &User,
        meta: &RequestMeta,
        details: serde_json::Value,
    ) -> NewEvent {
        NewEvent {
            at: self.now(),
            actor_id: Some(user.id),
            actor_name: Some(user.username.clone()),
            action: action.into(),
            subject_kind: "user".into(),
            subject_id: Some(user.id),
            subject_name: Some(user.username.clone()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details,
        }
    }

    pub(crate) async fn user_or_404(&self, user_id: i64) -> Result<User, CoreError> {
        self.db
            .user_by_id(user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(|| CoreError::NotFound("No such user.".into()))
    }

    /// Whether the account has a usable second factor (TOTP or WebAuthn: enabled, and not left
    /// suspect by an incident).
    pub async fn has_two_factor(&self, user_id: i64) -> Result<bool, CoreError> {
        if self.db.totp_usable(user_id).await? {
            return Ok(true);
        }
        Ok(self
            .db
            .webauthn_of(user_id)
            .await?
            .iter()
            .any(|c| c.enabled_at.is_some() && c.suspect_at.is_none()))
    }

    /// The link a mail token is sent in.
    pub(crate) fn token_link(&self, purpose: &str, secret: &str) -> String {
        let path = match purpose {
            purpose::VERIFY_EMAIL => "/account/verify-email/",
            purpose::RESET_PASSWORD => "/account/reset-password/",
            purpose::CONFIRM_2FA_EMAIL => "/account/confirm-two-factor/",
            _ => "/account/freeze/",
        };
        format!("{}{path}?token={secret}", self.settings.link_base())
    }

    /// Create a mail token inside an account change; returns its link.
    pub(crate) async fn issue_mail_token(
        &self,
        tx: &mut AccountTx,
        user_id: i64,
        email_id: Option<i64>,
        purpose: &str,
    ) -> Result<String, CoreError> {
        let ttl = match purpose {
            purpose::VERIFY_EMAIL => 6 * HOUR,
            purpose::FREEZE_ACCOUNT => 7 * 24 * HOUR,
            _ => HOUR,
        };
        let secret = random_secret(32);
        let now = self.now();
        tx.insert_email_token(
            &hash_token(&secret),
            user_id,
            email_id,
            purpose,
            now,
            now + ttl,
        )
        .await?;
        Ok(self.token_link(purpose, &secret))
    }

    /// Use a mail token up: found by the hash of the secret (no comparison touches the secret),
    /// of the right purpose, unexpired, unused, and (reset tokens) younger than the account's
    /// last login and password change. Returns the open change, for the caller to finish.
    pub(crate) async fn consume_mail_token(
        &self,
        secret: &str,
        wanted: &str,
    ) -> Result<(EmailToken, User, AccountTx), CoreError> {
        let invalid =
            || CoreError::Invalid("This link is invalid or has expired. Request a new one.".into());
        if secret.is_empty() || secret.len() > 200 {
            return Err(invalid());
        }
        let Some(t) = self.db.email_token_by_hash(&hash_token(secret)).await? else {
            return Err(invalid());
        };
        let now = self.now();
        if t.purpose != wanted || t.used_at.is_some() || t.expires_at <= now {
            return Err(invalid());
        }
        // The account's row is held first (`crate::credential_gate`), the order a freeze takes
        // too (its account, then its links), and the link is judged on it.
        let mut tx = self.db.begin_account().await?;
        let user = tx
            .lock_user(t.user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or_else(invalid)?;
        if wanted == purpose::RESET_PASSWORD
            && (user.last_login_at.is_some_and(|l| l >= t.created_at)
                || user.password_changed_at.is_some_and(|p| p > t.created_at))
        {
            return Err(invalid());
        }
        if !tx.use_email_token(t.id, now).await? {
            return Err(invalid());
        }
        Ok((t, user, tx))
    }

    /// Follow a verification link: a pending registration's (the account is made now, see
    /// `pending_registration`) or an added address's.
    pub async fn verify_email(&self, token: &str, meta: &RequestMeta) -> Result<User, CoreError> {
        if let Some(user) = self.confirm_pending_registration(token, meta).await? {
            return Ok(user);
        }
        let (t, user, mut tx) = self
            .consume_mail_token(token, purpose::VERIFY_EMAIL)
            .await?;
        let email_id = t.email_id.unwrap_or(-1);
        // The address must still belong to the account (a link for a removed address is dead).
        let emails = tx.emails(user.id).await?;
        let Some(email) = emails.iter().find(|e| e.id == email_id).cloned() else {
            return Err(CoreError::Invalid(
                "This link is invalid or has expired. Request a new one.".into(),
            ));
        };
        tx.verify_email(email.id, self.now()).await?;
        let ev = self.user_event(
            "account:email:verified",
            &user,
            meta,
            serde_json::json!({"email": email.address}),
        );
        // A newly verified address is an email change (recovery hold), except the first address
        // of an account still being set up.
        let had_other = emails
            .iter()
            .any(|e| e.id != email.id && e.verified_at.is_some());
        if email.verified_at.is_none() && (had_other || !self.is_setup(&user)) {
            let (mails, hold) = self
                .start_hold_logged(&mut tx, &user, crate::hold::reason::EMAIL_CHANGE, &[], meta)
                .await?;
            tx.commit(&[ev, hold], &mails).await?;
            return Ok(user);
        }
        tx.commit(&[ev], &[]).await?;
        Ok(user)
    }

    /// Send another verification mail for one of the user's unverified addresses.
    pub async fn resend_verification(
        &self,
        user_id: i64,
        email_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let user = self.user_or_404(user_id).await?;
        let email = self
            .db
            .emails_of(user_id)
            .await?
            .into_iter()
            .find(|e| e.id == email_id)
            .ok_or_else(|| CoreError::NotFound("No such email address.".into()))?;
        if email.verified_at.is_some() {
            return Err(CoreError::Invalid(
                "This email address is already verified.".into(),
            ));
        }
        if email.suspect_at.is_some() {
            return Err(suspect_address(&email.address));
        }
        self.rate_take(
            &format!("verify:user:{user_id}"),
            ratelimit::Limit::VerifyEmail,
            "Too many verification mails were sent.",
        )
        .await?;
        let mut tx = self.db.begin_account().await?;
        let link = self
            .issue_mail_token(&mut tx, user_id, Some(email_id), purpose::VERIFY_EMAIL)
            .await?;
        let ev = self.user_event(
            "account:email:verification_sent",
            &user,
            meta,
            serde_json::json!({"email": email.address}),
        );
        tx.commit(&[ev], &[verification_mail(&email.address, &link)])
            .await?;
        Ok(())
    }

    /// Add an address (unverified; a verification mail goes to it and a notice to the others).
    pub async fn add_email(
        &self,
        session: &SessionInfo,
        address: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let address = &crate::email_address::canonical_address(address)?;
        let user = &session.user;
        let ip = meta.ip.clone().unwrap_or_default();
        // Both places are taken before any work (`crate::ratelimit`); every attempt counts.
        let mut hold = self
            .rate_reserve(
                &format!("email:add:ip:{ip}"),
                ratelimit::Limit::EmailAddIp,
                "Too many email addresses were added.",
            )
            .await?;
        match self
            .rate_reserve(
                &format!("email:change:user:{}", user.id),
                ratelimit::Limit::EmailChangeUser,
                "Too many email changes.",
            )
            .await
        {
            Ok(h) => hold.join(h),
            Err(e) => {
                self.rate_refund(hold).await?;
                return Err(e);
            }
        }
        drop(hold);
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        // The session was checked before; a freeze or deletion since refuses the address here
        // (`crate::credential_gate`), and one committing later flags it with the rest.
        self.lock_live_account(&mut tx, user.id).await?;
        let others = notice_recipients(&tx.emails(user.id).await?);
        let email_id = match tx.add_email(user.id, address, false, now).await {
            Ok(id) => id,
            // Another account has it: the same answer as for a free address (the address is
            // told instead), counted against the same limits.
            Err(StoreError::Conflict(_)) => {
                drop(tx);
                self.email_add_taken(user, address, meta).await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let link = self
            .issue_mail_token(&mut tx, user.id, Some(email_id), purpose::VERIFY_EMAIL)
            .await?;
        let mut mails = vec![verification_mail(address, &link)];
        mails.extend(notice(
            &others,
            "An email address was added to your account",
            &format!(
                "The address {address} was added to the account {}.",
                user.username
            ),
        ));
        let ev = self.user_event(
            "account:email:add",
            user,
            meta,
            serde_json::json!({"email": address}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    /// Remove an address (not the primary one); the removed and the remaining addresses are told.
    pub async fn remove_email(
        &self,
        session: &SessionInfo,
        email_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let mut tx = self.db.begin_account().await?;
        // The account as it is now, held until the change commits (`crate::credential_gate`).
        let now_user = self.lock_live_account(&mut tx, session.user.id).await?;
        let user = &now_user;
        let emails = tx.emails(user.id).await?;
        let Some(email) = emails.iter().find(|e| e.id == email_id).cloned() else {
            return Err(CoreError::NotFound("No such email address.".into()));
        };
        if email.is_primary {
            return Err(CoreError::Invalid(
                "Cannot remove the primary email address. Make another address primary first."
                    .into(),
            ));
        }
        // Removing an address that is or was verified changes who hears about the account.
        let was_verified = email.verified_at.is_some()
            || self
                .db
                .email_domain_states(user.id)
                .await?
                .iter()
                .any(|s| s.email_id == email.id && s.unverified_at.is_some());
        tx.remove_email(user.id, email_id).await?;
        let mut to = notice_recipients(&emails);
        // A suspect address (left by an incident) hears nothing, not even of its removal.
        let tell_removed = email.suspect_at.is_none();
        if tell_removed && !to.contains(&email.address) {
            to.push(email.address.clone());
        }
        let mut mails = notice(
            &to,
            "An email address was removed from your account",
            &format!(
                "The address {} was removed from the account {}.",
                email.address, user.username
            ),
        );
        let mut events = vec![self.user_event(
            "account:email:remove",
            user,
            meta,
            // Whether it was verified: an unfreeze refuses to hand back by the oldest address
            // left when a verified one was removed after it (`crate::handback`).
            serde_json::json!({"email": email.address, "verified": was_verified}),
        )];
        if was_verified {
            let (hold_mails, hold) = self
                .start_hold_logged(
                    &mut tx,
                    user,
                    crate::hold::reason::EMAIL_CHANGE,
                    if tell_removed {
                        std::slice::from_ref(&email.address)
                    } else {
                        &[]
                    },
                    meta,
                )
                .await?;
            mails.extend(hold_mails);
            events.push(hold);
        }
        tx.commit(&events, &mails).await?;
        Ok(())
    }

    /// Make a verified address the primary one; the old primary is told.
    pub async fn make_primary(
        &self,
        session: &SessionInfo,
        email_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let mut tx = self.db.begin_account().await?;
        // The account as it is now, held until the change commits (`crate::credential_gate`).
        let now_user = self.lock_live_account(&mut tx, session.user.id).await?;
        let user = &now_user;
        let emails = tx.emails(user.id).await?;
        let Some(email) = emails.iter().find(|e| e.id == email_id).cloned() else {
            return Err(CoreError::NotFound("No such email address.".into()));
        };
        if email.verified_at.is_none() {
            return Err(CoreError::Invalid(
                "Verify this email address before making it primary.".into(),
            ));
        }
        if email.suspect_at.is_some() {
            return Err(suspect_address(&email.address));
        }
        let old: Vec<String> = emails
            .iter()
            .filter(|e| e.is_primary && e.id != email_id)
            .map(|e| e.address.clone())
            .collect();
        tx.set_primary_email(user.id, email_id).await?;
        let mut to = old.clone();
        to.push(email.address.clone());
        let mut mails = notice(
            &to,
            "Your primary email address changed",
            &format!(
                "The primary address of the account {} is now {}.",
                user.username, email.address
            ),
        );
        let ev = self.user_event(
            "account:email:primary",
            user,
            meta,
            serde_json::json!({"email": email.address}),
        );
        let (hold_mails, hold) = self
            .start_hold_logged(&mut tx, user, crate::hold::reason::EMAIL_CHANGE, &old, meta)
            .await?;
        mails.extend(hold_mails);
        tx.commit(&[ev, hold], &mails).await?;
        Ok(())
    }

    /// The user's API tokens, newest first.
    pub async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, CoreError> {
        Ok(self.db.tokens_of(user_id).await?)
    }

    /// Revoke one of the session user's tokens (404 for anyone else's).
    pub async fn revoke_token(
        &self,
        session: &SessionInfo,
        token_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.require_recent_auth(session)?;
        let mut tx = self.db.begin_account().await?;
        // The account as it is now (`crate::credential_gate`): a frozen or deleted account's
        // session does not act, even to revoke.
        let now_user = self.lock_live_account(&mut tx, session.user.id).await?;
        let user = &now_user;
        if !tx.revoke_token(user.id, token_id, self.now()).await? {
            return Err(CoreError::NotFound("No such token.".into()));
        }
        let ev = self.user_event(
            "token:revoke",
            user,
            meta,
            serde_json::json!({"token_id": token_id}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(())
    }

    /// The account's security history, newest first.
    pub async fn account_events(&self, user_id: i64, limit: i64) -> Result<Vec<Event>, CoreError> {
        Ok(self
            .db
            .events_of_user(user_id, limit.clamp(1, 1000))
            .await?)
    }

    /// Every account (admin).
    pub async fn list_users(&self) -> Result<Vec<User>, CoreError> {
        Ok(self.db.list_users().await?)
    }

    /// Every project: (display name, normalised name, last serial) (admin).
    pub async fn list_projects(&self) -> Result<Vec<(String, String, i64)>, CoreError> {
        Ok(self.db.index_projects().await?)
    }
}

/// The refusal to use an address an incident left suspect before the owner kept it.
fn suspect_address(address: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "{address} was added while someone else may have held your account: keep it on the review page (/manage/account/review/) before using it."
    ))
}

/// The refusal of a new password found in a breach.
pub const BREACHED_NEW: &str = "This password appears in a security breach or has been compromised and cannot be used. Choose a different password.";

pub(crate) fn verification_mail(to: &str, link: &str) -> NewMail {
    NewMail {
        to: to.to_owned(),
        subject: "Verify your email address".into(),
        body: format!(
            "Follow this link to verify that {to} is yours (it expires in 6 hours):\n\n{link}\n\n-- strongroom\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["alice", "a", "a.b-c_d", "A1"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "ålice", "a b", &"x".repeat(51), "a/b"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_and_passwords() {
        assert!(validate_email("a@example.org").is_ok());
        for bad in ["a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
