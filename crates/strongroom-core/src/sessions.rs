//! Server-side sessions: a random secret in the cookie, its SHA-256 in the database; idle and
//! absolute timeouts; a re-authentication time for sensitive changes.

use strongroom_store::model::{Session, User};
use strongroom_store::{AccountTx, NewSession};

use crate::secrets::hash_token;
use crate::secrets::random_secret;
use crate::{CoreError, RequestMeta, Services};

/// What a completed login hands the web layer.
#[derive(Debug, Clone)]
pub struct SessionGrant {
    /// The cookie value (shown once; only its hash is stored).
    pub secret: String,
    pub user: User,
    /// Addresses or factors an incident left suspect wait for the owner's decision: show the
    /// review page (`/manage/account/review/`) first.
    pub review_pending: bool,
}

/// A live session, as the web layer sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: i64,
    pub user: User,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub reauth_at: i64,
    /// The login passed a second factor (or a passkey).
    pub two_factor_ok: bool,
    /// 2FA is required and the account has none: only enrolment is allowed.
    pub restricted_to_2fa_enrolment: bool,
}

/// The message when a sensitive change needs a fresh password or code.
pub const REAUTH_REQUIRED: &str = "Confirm your password to continue.";

/// Failed re-authentications one session may make before it is ended.
pub const REAUTH_FAILURES_PER_SESSION: i64 = 5;

/// How far back a session's failed re-authentications are counted (one day, in microseconds).
const REAUTH_FAILURE_WINDOW: i64 = 86_400_000_000;

/// Name of the web UI's signing key in `server_secrets`.
const WEB_SIGNING_KEY: &str = "web-csrf-key";

impl Services {
    /// Create a session inside an account change; returns the cookie secret and the row id.
    pub(crate) async fn open_session(
        &self,
        tx: &mut AccountTx,
        user_id: i64,
        two_factor_ok: bool,
        meta: &RequestMeta,
    ) -> Result<(String, i64), CoreError> {
        let secret = random_secret(32);
        let id = tx
            .insert_session(&NewSession {
                secret_hash: hash_token(&secret),
                user_id,
                csrf_token: random_secret(32),
                at: self.now(),
                two_factor_ok,
                ip: meta.ip.clone(),
                user_agent: meta.user_agent.clone(),
            })
            .await?;
        Ok((secret, id))
    }

    fn session_alive(&self, s: &Session, now: i64) -> bool {
        let idle = i64::try_from(self.settings.session_idle_minutes)
            .unwrap_or(i64::MAX / 60_000_000)
            .saturating_mul(60_000_000);
        let absolute = i64::try_from(self.settings.session_absolute_hours)
            .unwrap_or(i64::MAX / 3_600_000_000)
            .saturating_mul(3_600_000_000);
        s.ended_at.is_none()
            && now.saturating_sub(s.last_seen_at) < idle
            && now.saturating_sub(s.created_at) < absolute
    }

    /// The live session behind a cookie value, with timeouts applied and activity recorded.
    /// Frozen or deleted accounts have no sessions.
    pub async fn session(&self, secret: &str) -> Result<Option<SessionInfo>, CoreError> {
        if secret.is_empty() || secret.len() > 200 {
            return Ok(None);
        }
        let Some(s) = self.db.session_by_hash(&hash_token(secret)).await? else {
            return Ok(None);
        };
        let now = self.now();
        if !self.session_alive(&s, now) {
            return Ok(None);
        }
        let Some(user) = self.db.user_by_id(s.user_id).await? else {
            return Ok(None);
        };
        if user.frozen_at.is_some() || user.deleted_at.is_some() {
            return Ok(None);
        }
        self.db.touch_session(s.id, now).await?;
        let restricted = self.settings.require_2fa && !self.has_two_factor(user.id).await?;
        Ok(Some(SessionInfo {
            id: s.id,
            user,
            csrf_token: s.csrf_token,
            created_at: s.created_at,
            last_seen_at: now,
            reauth_at: s.reauth_at,
            two_factor_ok: s.two_factor_ok,
            restricted_to_2fa_enrolment: restricted,
        }))
    }

    /// End the session behind a cookie value (nothing happens for an unknown one).
    pub async fn logout(&self, secret: &str, meta: &RequestMeta) -> Result<(), CoreError> {
        let Some(s) = self.db.session_by_hash(&hash_token(secret)).await? else {
            return Ok(());
        };
        let Some(user) = self.db.user_by_id(s.user_id).await? else {
            return Ok(());
        };
        let mut tx = self.db.begin_account().await?;
        if tx.end_session(user.id, s.id, self.now()).await? {
            let ev = self.user_event(
                "account:logout",
                &user,
                meta,
                serde_json::json!({"session_id": s.id}),
            );
            tx.commit(&[ev], &[]).await?;
        }
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub async fn list_sessions(&self, user_id: i64) -> Result<Vec<Session>, CoreError> {
        let now = self.now();
        Ok(self
            .db
            .sessions_of(user_id)
            .await?
            .into_iter()
            .filter(|s| self.session_alive(s, now))
            .collect())
    }

    /// End one of the user's sessions (404 for anyone else's).
    pub async fn end_session(
        &self,
        user_id: i64,
        session_id: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let user = self.user_or_404(user_id).await?;
        let mut tx = self.db.begin_account().await?;
        if !tx.end_session(user_id, session_id, self.now()).await? {
            return Err(CoreError::NotFound("No such session.".into()));
        }
        let ev = self.user_event(
            "account:session:end",
            &user,
            meta,
            serde_json::json!({"session_id": session_id}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(())
    }

    /// Whether a sensitive change in this session needs a fresh password or code first.
    pub fn needs_reauth(&self, session: &SessionInfo) -> bool {
        let window = i64::try_from(self.settings.reauth_minutes)
            .unwrap_or(0)
            .saturating_mul(60_000_000);
        self.now().saturating_sub(session.reauth_at) >= window
    }

    /// Refuse a sensitive change when the session's proof of identity is too old.
    pub(crate) fn require_recent_auth(&self, session: &SessionInfo) -> Result<(), CoreError> {
        if self.needs_reauth(session) {
            return Err(CoreError::ReauthRequired);
        }
        Ok(())
    }

    /// The web UI's key for signing anonymous-form CSRF tokens: 32 random bytes created once
    /// and kept in the database, so every server (and every restart) signs with the same key.
    pub async fn web_signing_key(&self) -> Result<[u8; 32], CoreError> {
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let stored = self
            .db
            .server_secret(WEB_SIGNING_KEY, &candidate, self.now())
            .await?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(stored.trim(), &mut key).map_err(|_| {
            CoreError::Internal(format!(
                "the stored server secret {WEB_SIGNING_KEY:?} is not 32 bytes of hex"
            ))
        })?;
        Ok(key)
    }

    /// Prove identity again with the password or a TOTP code; sets `reauth_at`.
    ///
    /// Failures are counted per *session*, never in the account's login buckets: the person
    /// at this prompt already holds a session, and may be the thief the prompt exists to stop,
    /// so their failures must not lock the owner out of signing in (and ending that session).
    /// After [`REAUTH_FAILURES_PER_SESSION`] failures the session is ended and the owner told;
    /// more guesses need a fresh login, which has its own limits. An empty answer is refused
    /// without counting.
    pub async fn reauthenticate(
        &self,
        session: &SessionInfo,
        password_or_code: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let user = &session.user;
        if password_or_code.is_empty() {
            return Err(CoreError::Invalid(
                "Enter your password or a code from your authentication app.".into(),
            ));
        }
        // Always on (not an operator's rate limit): the place is taken before the check, so a
        // burst cannot pass together, and given back on success.
        let bucket = format!("reauth:session:{}", session.id);
        let now = self.now();
        let windows = [(now - REAUTH_FAILURE_WINDOW, REAUTH_FAILURES_PER_SESSION)];
        let hold = match self.db.rate_reserve(&bucket, &windows, now).await? {
            strongroom_store::RateReservation::Taken(id) => Some(id),
            strongroom_store::RateReservation::Full(_) => None,
        };
        let by_password = match user.password_hash.as_deref() {
            Some(h) if hold.is_some() && user.password_disabled.is_none() => {
                self.verify_secret_pooled(h, password_or_code).await?
            }
            _ => false,
        };
        let ok =
            hold.is_some() && (by_password || self.totp_accepts(user.id, password_or_code).await?);
        if !ok {
            // A stolen session guessing the password is what this gate exists to stop.
            let ev = self.user_event(
                "account:reauthenticate:failed",
                user,
                meta,
                serde_json::json!({"session_id": session.id}),
            );
            self.log_refusal(
                crate::refusal_log::RefusalKind::Reauthenticate,
                crate::refusal_log::Source::Account(user.id),
                ev,
            )
            .await;
            let (failures, _) = self
                .db
                .rate_window(&bucket, now - REAUTH_FAILURE_WINDOW, 1)
                .await?;
            if failures >= REAUTH_FAILURES_PER_SESSION {
                self.end_session_after_failed_reauth(session, failures, meta)
                    .await?;
                return Err(CoreError::Forbidden(
                    "The password or code is incorrect. After too many failed attempts this session has been ended; sign in again.".into(),
                ));
            }
            return Err(CoreError::Forbidden(
                "The password or code is incorrect.".into(),
            ));
        }
        if let Some(id) = hold {
            self.db.rate_refund(id).await?;
        }
        let mut tx = self.db.begin_account().await?;
        tx.set_reauth(session.id, self.now()).await?;
        let ev = self.user_event(
            "account:reauthenticate",
            user,
            meta,
            serde_json::json!({"session_id": session.id, "with": if by_password { "password" } else { "totp" }}),
        );
        tx.commit(&[ev], &[]).await?;
        Ok(())
    }

    /// End `session` after its failed re-authentications, log it and tell the owner.
    async fn end_session_after_failed_reauth(
        &self,
        session: &SessionInfo,
        failures: i64,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let user = &session.user;
        let mut tx = self.db.begin_account().await?;
        if !tx.end_session(user.id, session.id, self.now()).await? {
            // Already ended (a concurrent failure got here first): nothing more to say.
            return Ok(());
        }
        let to = crate::mail::notice_recipients(&tx.emails(user.id).await?);
        let mails = crate::mail::notice(
            &to,
            "A session was ended after failed password checks",
            &format!(
                "A signed-in session of the account {} failed to confirm the password {failures} times, so it has been ended:\n\n  IP address: {}\n  Browser: {}\n\nIf this wasn't you, someone may have had access to a signed-in browser. Review your sessions and change your password.",
                user.username,
                meta.ip.as_deref().unwrap_or("unknown"),
                meta.user_agent.as_deref().unwrap_or("unknown"),
            ),
        );
        let ev = self.user_event(
            "account:session:end",
            user,
            meta,
            serde_json::json!({"session_id": session.id, "reason": "reauthenticate:failed", "failures": failures}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(())
    }
}
