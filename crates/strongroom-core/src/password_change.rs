//! Changing and resetting passwords. A reset link goes only to verified addresses, answers the
//! same whether or not the account exists, dies on any later login or password change, and never
//! logs in (the next login still asks for the second factor). A new password ends every other
//! session and every API token.

use strongroom_store::model::User;

use crate::accounts::{BREACHED_NEW, purpose};
use crate::mail::{notice, notice_recipients};
use crate::passwords::check_new_password;
use crate::ratelimit;
use crate::sessions::SessionInfo;
use crate::{CoreError, RequestMeta, Services};

impl Services {
    async fn check_new(&self, user: &User, pw: &str) -> Result<String, CoreError> {
        let primary = self
            .db
            .emails_of(user.id)
            .await?
            .into_iter()
            .next()
            .map(|e| e.address)
            .unwrap_or_default();
        check_new_password(pw, &user.username, &primary)?;
        if crate::breached::is_breached(&self.settings, pw).await {
            return Err(CoreError::Invalid(BREACHED_NEW.into()));
        }
        self.hash_secret_pooled(pw).await
    }

    /// Ask for a reset link by username or address. Always `Ok(())` (unless rate-limited, which
    /// also happens for unknown names): the answer never tells whether the account exists.
    pub async fn request_password_reset(
        &self,
        username_or_email: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        // An address is looked up in its canonical form (as stored); a username as typed.
        let typed = match crate::email_address::canonical_address(username_or_email) {
            Ok(addr) if username_or_email.contains('@') => addr.to_lowercase(),
            _ => username_or_email.trim().to_lowercase(),
        };
        if typed.is_empty() || typed.len() > 254 {
            return Ok(());
        }
        self.rate_take(
            &format!("reset:name:{typed}"),
            ratelimit::Limit::PasswordReset,
            "Too many password reset requests.",
        )
        .await?;
        let user = match self.db.user_by_name(&typed).await? {
            Some(u) => Some(u),
            None => match self.db.email_by_address(&typed).await? {
                Some(e) => self.db.user_by_id(e.user_id).await?,
                None => None,
            },
        }
        .filter(|u| u.deleted_at.is_none() && u.frozen_at.is_none());
        let mut tx = self.db.begin_account().await?;
        // Decided again on the row held by the transaction (`crate::credential_gate`): a link
        // issued after a freeze committed would outlive the links the freeze killed.
        let user = match user {
            Some(u) => tx
                .lock_user(u.id)
                .await?
                .filter(|u| u.deleted_at.is_none() && u.frozen_at.is_none()),
            None => None,
        };
        let mut mails = Vec::new();
        let mut event = strongroom_store::NewEvent {
            at: self.now(),
            action: "account:password:reset_request".into(),
            subject_kind: "user".into(),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({"found": user.is_some()}),
            ..Default::default()
        };
        // The same work either way: a token and a transaction, a mail only when there is
        // somewhere verified to send it and the account's own budget allows.
        let link = match &user {
            Some(u) => {
                event.subject_id = Some(u.id);
                event.subject_name = Some(u.username.clone());
                self.issue_mail_token(&mut tx, u.id, None, purpose::RESET_PASSWORD)
                    .await?
            }
            None => {
                let _ = crate::secrets::random_secret(32);
                String::new()
            }
        };
        if let Some(u) = &user {
            let verified: Vec<String> = tx
                .emails(u.id)
                .await?
                .into_iter()
                .filter(|e| e.verified_recipient())
                .map(|e| e.address)
                .collect();
            let budget = self
                .rate_check(
                    &format!("reset:user:{}", u.id),
                    ratelimit::Limit::PasswordReset,
                    "",
                )
                .await
                .is_ok();
            if budget && !verified.is_empty() {
                mails = notice(
                    &verified[..1],
                    "Reset your password",
                    &format!(
                        "Someone asked to reset the password of the account {}. If it was you, follow this link (it expires in 1 hour and works once):\n\n{link}\n\nIf it was not you, ignore this mail: your password is unchanged.",
                        u.username
                    ),
                );
            }
            event.details = serde_json::json!({"found": true, "mailed": !mails.is_empty()});
        }
        tx.commit(&[event], &mails).await?;
        if let Some(u) = &user {
            self.rate_hit(&format!("reset:user:{}", u.id)).await?;
        }
        Ok(())
    }

    /// Set a new password from a reset link. Does not log in.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: &str,
        meta: &RequestMeta,
    ) -> Result<User, CoreError> {
        // Check the token's account first (without using it up), so a weak password can be retried.
        let probe = self
            .db
            .email_token_by_hash(&crate::tokens::hash_token(token))
            .await?
            .filter(|t| t.purpose == purpose::RESET_PASSWORD && t.used_at.is_none());
        let Some(probe) = probe else {
            return Err(CoreError::Invalid(
                "This link is invalid or has expired. Request a new one.".into(),
            ));
        };
        let owner = self.user_or_404(probe.user_id).await?;
        let hash = self.check_new(&owner, new_password).await?;
        let (_t, user, mut tx) = self
            .consume_mail_token(token, purpose::RESET_PASSWORD)
            .await?;
        if user.frozen_at.is_some() {
            // A link that escaped the freeze (issued just before it committed) sets nothing:
            // the unfreeze mails its own.
            return Err(CoreError::Forbidden(crate::login::FROZEN.into()));
        }
        let now = self.now();
        tx.set_password(user.id, &hash, now).await?;
        let sessions = tx.end_sessions(user.id, None, now).await?;
        let tokens = tx.revoke_all_tokens(user.id, now).await?;
        tx.invalidate_email_tokens(user.id, purpose::ACCESS_LINKS, now)
            .await?;
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Your password was changed",
            &format!(
                "The password of the account {} was reset. Every session was logged out and {tokens} API token(s) were revoked.",
                user.username
            ),
        );
        let ev = self.user_event(
            "account:password:reset",
            &user,
            meta,
            serde_json::json!({"sessions_ended": sessions, "tokens_revoked": tokens}),
        );
        let (hold_mails, hold_ev) = self
            .start_hold_logged(
                &mut tx,
                &user,
                crate::hold::reason::PASSWORD_RESET,
                &[],
                meta,
            )
            .await?;
        mails.extend(hold_mails);
        tx.commit(&[ev, hold_ev], &mails).await?;
        Ok(user)
    }

    /// Change the password while logged in (the current session stays; all others and every API
    /// token end).
    pub async fn change_password(
        &self,
        session: &SessionInfo,
        old: &str,
        new: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let user = self.user_or_404(session.user.id).await?;
        let bucket = format!("login:user:{}", user.username.to_lowercase());
        // The place is taken before the check (`crate::ratelimit`) and given back on success.
        let hold = self
            .rate_reserve(
                &bucket,
                ratelimit::Limit::LoginUser,
                "There have been too many unsuccessful attempts.",
            )
            .await?;
        let ok = match user.password_hash.as_deref() {
            Some(h) => self.verify_secret_pooled(h, old).await?,
            None => false,
        };
        if !ok {
            drop(hold);
            return Err(CoreError::Forbidden(
                "The current password is incorrect.".into(),
            ));
        }
        self.rate_refund(hold).await?;
        let hash = self.check_new(&user, new).await?;
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        let user = self.lock_live_account(&mut tx, user.id).await?;
        tx.set_password(user.id, &hash, now).await?;
        let sessions = tx.end_sessions(user.id, Some(session.id), now).await?;
        let tokens = tx.revoke_all_tokens(user.id, now).await?;
        tx.invalidate_email_tokens(user.id, purpose::ACCESS_LINKS, now)
            .await?;
        tx.set_reauth(session.id, now).await?;
        let mut mails = notice(
            &notice_recipients(&tx.emails(user.id).await?),
            "Your password was changed",
            &format!(
                "The password of the account {} was changed. Other sessions were logged out and {tokens} API token(s) were revoked.",
                user.username
            ),
        );
        let mut events = vec![self.user_event(
            "account:password:change",
            &user,
            meta,
            serde_json::json!({"sessions_ended": sessions, "tokens_revoked": tokens}),
        )];
        // The owner's password no longer works: whoever changed it (a stolen session with a
        // phished password) holds the account, so the change holds like a reset.
        self.credential_hold(
            &mut tx,
            &user,
            crate::hold::reason::PASSWORD_CHANGE,
            meta,
            &mut mails,
            &mut events,
        )
        .await?;
        tx.commit(&events, &mails).await?;
        Ok(())
    }
}
