//! Logging in: password first (rate-limited per user, IP and globally, the last two only for
//! password-only logins: see `login_password`; breached passwords are disabled on the spot), then a second factor through a short-lived single-use ticket, then a
//! fresh session. A login from a new IP/device mails a "this wasn't me" link.

use sha2::{Digest, Sha256};
use strongroom_store::model::AuthState;
use strongroom_store::model::User;
use strongroom_store::{AccountTx, NewMail};

use crate::accounts::purpose;
use crate::mail::{notice, notice_recipients};
use crate::passwords::validate_password;
use crate::ratelimit::{self, Limit};
use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::sessions::SessionGrant;
use crate::{CoreError, RequestMeta, Services};

/// The one refusal for a wrong username or password (no hint which).
pub const BAD_CREDENTIALS: &str = "The username or password is incorrect.";
/// The refusal for a frozen account (only after a correct password).
pub const FROZEN: &str = "Your account has been frozen. Contact the index administrators.";
/// The refusal when the password was found in a breach.
pub const PASSWORD_COMPROMISED: &str = "Your password appears in a security breach, so it has been disabled. Reset your password to log in: we sent you an email.";
/// The refusal when the password is disabled for another reason.
pub const PASSWORD_DISABLED: &str =
    "Your password has been disabled. Reset your password to log in.";

/// Which second factors the account can use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TwoFactorMethods {
    pub totp: bool,
    pub webauthn: bool,
    pub recovery_codes: bool,
}

/// The outcome of the password step.
#[derive(Debug, Clone)]
pub enum LoginStep {
    /// Logged in (2FA not required and not set up).
    Done(SessionGrant),
    /// Ask for a second factor, then call `login_totp`/`login_recovery_code`/`webauthn_login_*`
    /// with `ticket` (valid 5 minutes, single use).
    NeedTwoFactor {
        ticket: String,
        methods: TwoFactorMethods,
    },
    /// 2FA is required and the account has none: a session that may only enrol.
    EnrolTwoFactor(SessionGrant),
}

pub(crate) const TICKET_KIND: &str = "login_ticket";
const TICKET_TTL: i64 = 5 * 60_000_000;

fn fingerprint(meta: &RequestMeta) -> String {
    let mut h = Sha256::new();
    h.update(meta.ip.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(meta.user_agent.as_deref().unwrap_or("").as_bytes());
    hex::encode(h.finalize())
}

impl Services {
    /// The password step.
    pub async fn login_password(
        &self,
        username: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<LoginStep, CoreError> {
        // Huge inputs are refused before any work (and before the KDF).
        if password.len() > 4096 * 4 || username.len() > 254 {
            return Err(CoreError::Forbidden(BAD_CREDENTIALS.into()));
        }
        let ip = meta.ip.clone().unwrap_or_default();
        let user_bucket = format!("login:user:{}", username.to_lowercase());
        let ip_bucket = format!("login:ip:{ip}");
        let msg = "There have been too many unsuccessful login attempts.";
        // Every limit takes its place before the password is checked (`crate::ratelimit`):
        // attempts sent at once cannot all pass a count none of them has added to yet. A
        // correct password gives the places back: only failures count.
        // The per-account limit refuses before any work: it is what protects one account
        // from guessing, and a flood aimed at other names cannot fill it.
        let mut hold = self
            .rate_reserve(&user_bucket, Limit::LoginUser, msg)
            .await?;
        // The global and per-address limits only hold back password-only logins: a flood of
        // wrong guesses from many addresses fills them, and must not lock out everyone. While
        // one is full, a login goes on only for an account with a usable second factor or
        // passkey, and is only completed by a valid one (see `docs/operations.md`, "Limits").
        let mut crowded = None;
        for (bucket, limit) in [
            ("login:global", Limit::LoginGlobal),
            (ip_bucket.as_str(), Limit::LoginIp),
        ] {
            match self.rate_try_reserve(bucket, limit).await? {
                Ok(h) => hold.join(h),
                Err(secs) => {
                    crowded = Some((limit, secs));
                    break;
                }
            }
        }
        let user = self
            .db
            .user_by_name(username)
            .await?
            .filter(|u| u.deleted_at.is_none());
        if let Some((limit, secs)) = crowded {
            let second_factor = match &user {
                Some(u) if u.password_hash.is_some() => {
                    let m = self.two_factor_methods(u.id).await?;
                    m.totp || m.webauthn
                }
                _ => false,
            };
            if !second_factor {
                // No password is checked: refusing costs nothing, so the flood costs nothing,
                // and this attempt counts against no limit.
                self.rate_refund(hold).await?;
                return Err(self.too_many(limit, msg, secs));
            }
        }
        let ok = match (
            &user,
            user.as_ref().and_then(|u| u.password_hash.as_deref()),
        ) {
            (Some(_), Some(hash)) => self.verify_secret_pooled(hash, password).await?,
            _ => {
                self.burn_verification_pooled().await?;
                false
            }
        };
        let known = user.as_ref().map(|u| (u.id, u.username.clone()));
        let Some(user) = user.filter(|_| ok) else {
            // The places taken are the failure's count; a limit that was full (so none was
            // taken in it) still counts it, keeping a flood's window full.
            match crowded {
                Some((Limit::LoginGlobal, _)) => {
                    self.rate_hit("login:global").await?;
                    self.rate_hit(&ip_bucket).await?;
                }
                Some(_) => self.rate_hit(&ip_bucket).await?,
                None => {}
            }
            drop(hold);
            // An unknown name is not recorded: people type passwords into the username field.
            // Counted per account named (per address when none was), one event per window.
            let source = match &known {
                Some((id, _)) => crate::refusal_log::Source::Account(*id),
                None => crate::refusal_log::Source::Ip(ip.clone()),
            };
            let ev = strongroom_store::NewEvent {
                at: self.now(),
                action: "account:login:failure".into(),
                subject_kind: "user".into(),
                subject_id: known.as_ref().map(|k| k.0),
                subject_name: known.map(|k| k.1),
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
                request_id: meta.request_id.clone(),
                details: serde_json::json!({"reason": "bad credentials"}),
                ..Default::default()
            };
            self.log_refusal(crate::refusal_log::RefusalKind::LoginFailure, source, ev)
                .await;
            if let Some((limit, secs)) = crowded {
                // The same answer as for an account without a second factor: a crowded
                // limit says nothing about the password.
                return Err(self.too_many(limit, msg, secs));
            }
            return Err(CoreError::Forbidden(BAD_CREDENTIALS.into()));
        };
        // A correct password is not a failure: its places are given back.
        self.rate_refund(hold).await?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden(FROZEN.into()));
        }
        if let Some(reason) = &user.password_disabled {
            return Err(CoreError::Forbidden(if reason == "compromised" {
                PASSWORD_COMPROMISED.into()
            } else {
                PASSWORD_DISABLED.into()
            }));
        }
        if validate_password(password).is_ok()
            && crate::breached::is_breached(&self.settings, password).await
        {
            self.disable_compromised(&user, meta).await?;
            return Err(CoreError::Forbidden(PASSWORD_COMPROMISED.into()));
        }
        // Only usable factors count: one left suspect by an incident signs nobody in.
        let methods = self.two_factor_methods(user.id).await?;
        if methods.totp || methods.webauthn {
            let ticket = random_secret(32);
            let now = self.now();
            self.db
                .put_state(
                    &hash_token(&ticket),
                    &AuthState {
                        kind: TICKET_KIND.into(),
                        user_id: Some(user.id),
                        data: "{}".into(),
                        created_at: now,
                        expires_at: now + TICKET_TTL,
                    },
                )
                .await?;
            return Ok(LoginStep::NeedTwoFactor { ticket, methods });
        }
        let grant = self.complete_login(&user, false, "password", meta).await?;
        if self.settings.require_2fa {
            Ok(LoginStep::EnrolTwoFactor(grant))
        } else {
            Ok(LoginStep::Done(grant))
        }
    }

    /// The usable second factors of an account: enabled, and not left suspect by an incident
    /// (see [`crate::handback`]) until the owner keeps them.
    pub async fn two_factor_methods(&self, user_id: i64) -> Result<TwoFactorMethods, CoreError> {
        let totp = self.db.totp_usable(user_id).await?;
        let webauthn = self
            .db
            .webauthn_of(user_id)
            .await?
            .iter()
            .any(|c| c.enabled_at.is_some() && c.suspect_at.is_none());
        let recovery_codes = self
            .db
            .recovery_codes_of(user_id)
            .await?
            .iter()
            .any(|c| c.burned_at.is_none() && c.suspect_at.is_none());
        Ok(TwoFactorMethods {
            totp,
            webauthn,
            recovery_codes,
        })
    }

    async fn disable_compromised(&self, user: &User, meta: &RequestMeta) -> Result<(), CoreError> {
        let mut tx = self.db.begin_account().await?;
        tx.disable_password(user.id, "compromised").await?;
        // Someone else may know the password: nobody stays logged in with it.
        let sessions = tx.end_sessions(user.id, None, self.now()).await?;
        let link = self
            .issue_mail_token(&mut tx, user.id, None, purpose::RESET_PASSWORD)
            .await?;
        let to = notice_recipients(&tx.emails(user.id).await?);
        let mails = notice(
            &to,
            "Your password was found in a breach",
            &format!(
                "The password of the account {} appears in a public breach of another site, so it can no longer be used. Set a new one here (the link expires in 1 hour):\n\n{link}",
                user.username
            ),
        );
        let ev = self.user_event(
            "account:password:disabled",
            user,
            meta,
            serde_json::json!({"reason": "compromised", "sessions_ended": sessions}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }

    /// The user behind a live ticket (not used up: a wrong code may be retried).
    pub(crate) async fn ticket_user(&self, ticket: &str) -> Result<User, CoreError> {
        let expired = || CoreError::Forbidden("Your login has expired. Log in again.".into());
        let st = self
            .db
            .peek_state(&hash_token(ticket), TICKET_KIND, self.now())
            .await?
            .ok_or_else(expired)?;
        let user = self
            .user_or_404(st.user_id.unwrap_or(-1))
            .await
            .map_err(|_| expired())?;
        if user.frozen_at.is_some() {
            return Err(CoreError::Forbidden(FROZEN.into()));
        }
        Ok(user)
    }

    /// Use a ticket up after a correct second factor.
    pub(crate) async fn take_ticket(&self, ticket: &str, user_id: i64) -> Result<(), CoreError> {
        match self
            .db
            .take_state(&hash_token(ticket), TICKET_KIND, self.now())
            .await?
        {
            Some(st) if st.user_id == Some(user_id) => Ok(()),
            _ => Err(CoreError::Forbidden(
                "Your login has expired. Log in again.".into(),
            )),
        }
    }

    /// Take this attempt's places in the per-account and per-address two-factor limits before
    /// the code is checked (refused with 429 when one is full). The attempt counts unless the
    /// caller gives them back with `rate_refund` once the factor turned out valid.
    pub(crate) async fn two_factor_rate_check(
        &self,
        user_id: i64,
        meta: &RequestMeta,
    ) -> Result<ratelimit::RateHold, CoreError> {
        let msg = "Too many two-factor attempts.";
        let mut hold = self
            .rate_reserve(
                &format!("2fa:user:{user_id}"),
                ratelimit::Limit::TwoFactorUser,
                msg,
            )
            .await?;
        let ip = meta.ip.clone().unwrap_or_default();
        match self
            .rate_reserve(&format!("2fa:ip:{ip}"), ratelimit::Limit::TwoFactorIp, msg)
            .await
        {
            Ok(h) => {
                hold.join(h);
                Ok(hold)
            }
            Err(e) => {
                // Refused before any check: it counts against neither limit.
                self.rate_refund(hold).await?;
                Err(e)
            }
        }
    }

    /// Record a wrong second factor (its places, taken by `two_factor_rate_check`, are its count).
    pub(crate) async fn two_factor_failed(
        &self,
        user: &User,
        method: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let ev = self.user_event(
            "account:login:2fa_failure",
            user,
            meta,
            serde_json::json!({"method": method}),
        );
        self.log_refusal(
            crate::refusal_log::RefusalKind::TwoFactorFailure,
            crate::refusal_log::Source::Account(user.id),
            ev,
        )
        .await;
        Ok(())
    }

    /// The second step with a TOTP code.
    pub async fn login_totp(
        &self,
        ticket: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<SessionGrant, CoreError> {
        let user = self.ticket_user(ticket).await?;
        let hold = self.two_factor_rate_check(user.id, meta).await?;
        if !self.totp_accepts(user.id, code).await? {
            self.two_factor_failed(&user, "totp", meta).await?;
            return Err(CoreError::Forbidden("Invalid authentication code.".into()));
        }
        self.rate_refund(hold).await?;
        self.take_ticket(ticket, user.id).await?;
        self.complete_login(&user, true, "totp", meta).await
    }

    /// The second step with a recovery code (burned on use; its owner is mailed).
    pub async fn login_recovery_code(
        &self,
        ticket: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<SessionGrant, CoreError> {
        let user = self.ticket_user(ticket).await?;
        let hold = self.two_factor_rate_check(user.id, meta).await?;
        self.use_recovery_code(&user, code, meta).await?;
        self.rate_refund(hold).await?;
        self.take_ticket(ticket, user.id).await?;
        self.complete_login(&user, true, "recovery_code", meta)
            .await
    }

    /// Finish a login: a new session (new id: no fixation), last-login time, dead reset links,
    /// cleared failure counts, and a mail when the IP/device is new for the account. Every
    /// sign-in method ends here, so an account handed back after an incident signs in by none
    /// of them (a passkey included) before its password reset.
    pub(crate) async fn complete_login(
        &self,
        user: &User,
        two_factor_ok: bool,
        method: &str,
        meta: &RequestMeta,
    ) -> Result<SessionGrant, CoreError> {
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        // Decided on the row held by this transaction (`crate::credential_gate`): a freeze, a
        // deletion or an unfreeze's disabled password committed since the password or factor
        // was checked refuses the session here; one committing later sees (and ends) it.
        let current = self.lock_live_account(&mut tx, user.id).await?;
        if crate::handback::reset_required(&current) {
            return Err(CoreError::Forbidden(PASSWORD_DISABLED.into()));
        }
        let (secret, session_id) = self
            .open_session(&mut tx, user.id, two_factor_ok, meta)
            .await?;
        tx.set_last_login(user.id, now).await?;
        tx.invalidate_email_tokens(user.id, &[purpose::RESET_PASSWORD], now)
            .await?;
        let new_device = tx.remember_login(user.id, &fingerprint(meta), now).await?;
        let mut mails: Vec<NewMail> = Vec::new();
        if new_device && user.last_login_at.is_some() {
            mails = self.new_login_mail(&mut tx, user, meta).await?;
        }
        let ev = self.user_event(
            "account:login",
            user,
            meta,
            serde_json::json!({"method": method, "session_id": session_id, "new_device": new_device}),
        );
        tx.commit(&[ev], &mails).await?;
        self.db
            .rate_clear(&format!("login:user:{}", user.username.to_lowercase()))
            .await?;
        let user = self.user_or_404(user.id).await?;
        let review_pending = self.review_pending(user.id).await?;
        Ok(SessionGrant {
            secret,
            user,
            review_pending,
        })
    }

    async fn new_login_mail(
        &self,
        tx: &mut AccountTx,
        user: &User,
        meta: &RequestMeta,
    ) -> Result<Vec<NewMail>, CoreError> {
        let link = self
            .issue_mail_token(tx, user.id, None, purpose::FREEZE_ACCOUNT)
            .await?;
        let to = notice_recipients(&tx.emails(user.id).await?);
        Ok(notice(
            &to,
            "New login to your account",
            &format!(
                "The account {} logged in from a new address or device:\n\n  IP address: {}\n  Browser: {}\n\nIf this wasn't you, follow this link to freeze the account at once (it ends every session and API token):\n\n{link}",
                user.username,
                meta.ip.as_deref().unwrap_or("unknown"),
                meta.user_agent.as_deref().unwrap_or("unknown"),
            ),
        ))
    }
}
