//! API tokens: random secrets shown once, stored as SHA-256, looked up by hash; and upload authentication.

use base64::Engine;
use strongroom_store::model::{ApiToken, User};
use strongroom_store::{NewEvent, NewToken};

use crate::{CoreError, RequestMeta, Services, SessionInfo};

/// Every token starts with this, so secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "strongroom-";

/// PyPI's answer to Basic auth with a real username and password.
pub const PASSWORD_AUTH_GONE: &str = "Username/Password authentication is no longer supported. Migrate to API Tokens instead: create one under Account settings, then upload with the username __token__ and the token as the password. See /help/#api-tokens for more information.";
/// PyPI's answer to a request with no usable credentials.
pub const NO_AUTH: &str = "Invalid or non-existent authentication information. Upload with the username __token__ and an API token as the password. See /help/#api-tokens for more information.";

/// Refusal of a web-created token without a verified primary address (with `require_2fa`, or
/// registration by address: `domains`, `invite`).
pub const TOKEN_NEEDS_VERIFIED_EMAIL: &str = "Verify your primary email address before creating an API token. See /help/#verified-email for more information.";
/// Refusal of a web-created token without two-factor authentication (with `require_2fa`).
pub const TOKEN_NEEDS_2FA: &str = "Enable two-factor authentication before creating an API token. See /help/#two-factor for more information.";

/// Who is uploading: the account and the token used.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub token: ApiToken,
}

pub use crate::secrets::hash_token;

fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Credentials as presented on an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic` with username `__token__`, or `token`/`Bearer` schemes.
    Token(String),
    /// Basic auth with any other username (refused, as PyPI does).
    Password,
    /// Nothing usable.
    None,
}

/// Read an `Authorization` header value.
pub fn parse_authorization(header: Option<&str>) -> Credentials {
    let Some(h) = header.map(str::trim) else {
        return Credentials::None;
    };
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let rest = rest.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => {
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return Credentials::None;
            };
            let Ok(text) = String::from_utf8(raw) else {
                return Credentials::None;
            };
            match text.split_once(':') {
                Some(("__token__", "")) => Credentials::None,
                Some(("__token__", tok)) => Credentials::Token(tok.to_owned()),
                Some((user, _)) if !user.is_empty() => Credentials::Password,
                _ => Credentials::None,
            }
        }
        "token" | "bearer" if !rest.is_empty() => Credentials::Token(rest.to_owned()),
        _ => Credentials::None,
    }
}

impl Services {
    /// Whether `creds` carry a live, unscoped API token of an admin (who may read the metrics
    /// at `/metrics` on the main listener). Read-only and polled every few seconds by a scraper,
    /// so a success is not an event; anything else is simply "no".
    pub async fn is_admin_token(&self, creds: &Credentials) -> Result<bool, CoreError> {
        let Credentials::Token(secret) = creds else {
            return Ok(false);
        };
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
            return Ok(false);
        }
        let Some((token, user)) = self.db.token_by_hash(&hash_token(secret)).await? else {
            return Ok(false);
        };
        let now = self.now();
        Ok(user.is_admin
            && token.project_name.is_none()
            && token.revoked_at.is_none()
            && token.expires_at.is_none_or(|e| e > now)
            && user.frozen_at.is_none()
            && user.deleted_at.is_none())
    }

    /// Authenticate an upload. Cookies are never consulted: uploads take tokens only.
    /// Every use of a known token is logged (`token:use`), and so is every refused use of a
    /// known token (`token:use:refused`: revoked, expired, or its account frozen or deleted) —
    /// an old token tried after a reset is evidence.
    pub async fn authenticate_upload(
        &self,
        creds: &Credentials,
        meta: &RequestMeta,
    ) -> Result<Principal, CoreError> {
        let secret = match creds {
            Credentials::Token(t) => t,
            Credentials::Password => return Err(CoreError::Forbidden(PASSWORD_AUTH_GONE.into())),
            Credentials::None => return Err(CoreError::Forbidden(NO_AUTH.into())),
        };
        let invalid = || {
            CoreError::Forbidden(
                "Invalid API Token: the token is not valid (unknown, revoked or expired). See /help/#api-tokens for more information.".into(),
            )
        };
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 200 {
            return Err(invalid());
        }
        // Looked up by the hash of the secret: the comparison never touches the secret itself.
        let Some((token, user)) = self.db.token_by_hash(&hash_token(secret)).await? else {
            return Err(invalid());
        };
        let now = self.now();
        let why = if token.revoked_at.is_some() {
            Some("revoked")
        } else if token.expires_at.is_some_and(|e| e <= now) {
            Some("expired")
        } else if user.frozen_at.is_some() {
            Some("account frozen")
        } else if user.deleted_at.is_some() {
            Some("account deleted")
        } else {
            None
        };
        let details = serde_json::json!({
            "token_id": token.id, "name": token.name, "token_scope": token.project_name, "why": why,
        });
        let event = self.user_event("token:use", &user, meta, details);
        if let Some(why) = why {
            // An old token tried in a loop is one event and a count per window.
            self.log_refusal(
                crate::refusal_log::RefusalKind::TokenUse,
                crate::refusal_log::Source::Token(token.id),
                event,
            )
            .await;
            return Err(if why.starts_with("account") {
                CoreError::Forbidden(NO_AUTH.into())
            } else {
                invalid()
            });
        }
        self.db.touch_token(token.id, now).await?;
        self.db.append_event(&event).await?;
        Ok(Principal { user, token })
    }

    /// Create an API token for `username`, optionally scoped to one project; returns the secret (shown once).
    pub async fn create_token(
        &self,
        username: &str,
        name: &str,
        project: Option<&str>,
        expires_days: Option<u32>,
        meta: &RequestMeta,
    ) -> Result<String, CoreError> {
        self.check_writable().await?;
        let user = self
            .db
            .user_by_name(username)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no such user: {username}")))?;
        // Checked here to refuse early, and again (deciding) on the row held inside the
        // transaction below: a freeze committing in between must not miss the new token.
        // Not logged as a refusal here: on this path (the CLI) an operator asked, not the
        // account; the web path checked and logged already.
        if let Some(refusal) = self.token_refusal(&user) {
            return Err(refusal);
        }
        let project_row = match project {
            Some(p) => {
                let n = strongroom_protocol::name::normalize(p);
                let row = self
                    .db
                    .project_by_normalized(&n)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("no such project: {p}")))?;
                if self.db.role_of(row.id, user.id).await?.is_none() {
                    return Err(CoreError::Forbidden(format!(
                        "{} has no role on project {}",
                        user.username, row.name
                    )));
                }
                Some(row)
            }
            None => None,
        };
        let now = self.now();
        let secret = generate_secret();
        let expires_at = expires_days.map(|d| now + i64::from(d) * 86_400_000_000);
        let event = NewEvent {
            at: now,
            actor_id: Some(user.id),
            actor_name: Some(user.username.clone()),
            action: "token:create".into(),
            subject_kind: "user".into(),
            subject_id: Some(user.id),
            subject_name: Some(user.username.clone()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({
                "name": name,
                "project": project_row.as_ref().map(|p| p.name.clone()),
                "expires_at": expires_at,
            }),
        };
        let mut tx = self.db.begin_account().await?;
        let held = tx
            .lock_user(user.id)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("no such user: {username}")))?;
        if let Some(refusal) = self.token_refusal(&held) {
            return Err(refusal);
        }
        if let Some(p) = &project_row {
            tx.lock_project_roles(p.id).await?;
            if tx.role_in(p.id, user.id).await?.is_none() {
                return Err(CoreError::Forbidden(format!(
                    "{} has no role on project {}",
                    user.username, p.name
                )));
            }
        }
        let token_id = tx
            .insert_token(&NewToken {
                user_id: user.id,
                name: name.to_owned(),
                token_hash: hash_token(&secret),
                project_id: project_row.as_ref().map(|p| p.id),
                expires_at,
                at: now,
            })
            .await?;
        let mut event = event;
        event.details["token_id"] = serde_json::json!(token_id);
        let mails = crate::mail::notice(
            &crate::mail::notice_recipients(&tx.emails(user.id).await?),
            "An API token was created",
            &format!(
                "An API token named \"{name}\" ({}) was created for the account {}.",
                project_row.as_ref().map_or_else(
                    || "all projects".to_owned(),
                    |p| format!("project {}", p.name)
                ),
                user.username
            ),
        );
        tx.commit(&[event], &mails).await?;
        Ok(secret)
    }

    /// Why no token may be made for `user` now, if so: it is deleted, frozen (a token made now
    /// would come back to life with the unfreeze) or on a recovery hold. Asked before the
    /// creating transaction and, deciding, on the row it holds ([`crate::credential_gate`]).
    fn token_refusal(&self, user: &User) -> Option<CoreError> {
        if user.deleted_at.is_some() {
            return Some(CoreError::NotFound(format!(
                "no such user: {}",
                user.username
            )));
        }
        if user.frozen_at.is_some() {
            return Some(CoreError::Conflict(format!(
                "{} is frozen: no token can be created for it until it is unfrozen and its password reset.",
                user.username
            )));
        }
        self.hold_refusal(user, crate::hold::HeldAction::CreateToken)
    }

    /// Create an API token for the session's own account (the web UI). A token is a lasting
    /// credential, so this is a sensitive change: with `require_2fa` the account needs a
    /// verified primary address and 2FA enabled (as PyPI asks before creating a token), and
    /// the session's last proof of identity must be recent (`CoreError::ReauthRequired`).
    /// Administrators creating tokens from the CLI use [`Services::create_token`].
    pub async fn create_token_for_session(
        &self,
        session: &SessionInfo,
        name: &str,
        project: Option<&str>,
        expires_days: Option<u32>,
        meta: &RequestMeta,
    ) -> Result<String, CoreError> {
        self.check_writable().await?;
        let user = &session.user;
        // Checked before the re-auth: asking for the password only to refuse anyway helps no one.
        // Registration by address (`domains`, `invite`) admits an address only once it is proven
        // (else anyone could type an address at an allowed domain), so it needs it verified too.
        if self.settings.require_2fa || self.settings.registration.needs_proven_address() {
            let verified_primary = self
                .db
                .emails_of(user.id)
                .await?
                .iter()
                .any(|e| e.is_primary && e.verified_at.is_some());
            if !verified_primary {
                return Err(CoreError::Forbidden(TOKEN_NEEDS_VERIFIED_EMAIL.into()));
            }
        }
        if self.settings.require_2fa && !self.has_two_factor(user.id).await? {
            return Err(CoreError::Forbidden(TOKEN_NEEDS_2FA.into()));
        }
        self.check_hold(user, crate::hold::HeldAction::CreateToken, None, meta)
            .await?;
        self.require_recent_auth(session)?;
        self.create_token(&user.username, name, project, expires_days, meta)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_forms() {
        let b = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert_eq!(
            parse_authorization(Some(&b("__token__:strongroom-abc"))),
            Credentials::Token("strongroom-abc".into())
        );
        assert_eq!(
            parse_authorization(Some(&b("alice:hunter2"))),
            Credentials::Password
        );
        assert_eq!(
            parse_authorization(Some(&b("__token__:"))),
            Credentials::None
        );
        assert_eq!(
            parse_authorization(Some("Bearer strongroom-x")),
            Credentials::Token("strongroom-x".into())
        );
        assert_eq!(
            parse_authorization(Some("token strongroom-y")),
            Credentials::Token("strongroom-y".into())
        );
        assert_eq!(parse_authorization(Some("Basic !!!")), Credentials::None);
        assert_eq!(parse_authorization(None), Credentials::None);
    }

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let a = generate_secret();
        let b = generate_secret();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
