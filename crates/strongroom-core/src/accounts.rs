//! Accounts: creation with a hashed password and a primary address.

use argon2::{Argon2, PasswordHasher};
use strongroom_store::model::User;
use strongroom_store::{NewEvent, NewUser, StoreError};

use crate::{CoreError, RequestMeta, Services};

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

/// A syntactically plausible email address (one `@`, a dotted domain, no spaces or controls).
pub fn validate_email(addr: &str) -> Result<(), CoreError> {
    let bad = || {
        CoreError::Invalid(format!(
            "The email address '{addr}' isn't valid. Try again."
        ))
    };
    if addr.len() > 254 || addr.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = addr.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

/// Password length rule: 8–4096 characters, no NUL (the full strength rules come with the web UI).
pub fn validate_password(pw: &str) -> Result<(), CoreError> {
    let n = pw.chars().count();
    if n < 8 {
        return Err(CoreError::Invalid(
            "Password too short: use at least 8 characters.".into(),
        ));
    }
    if n > 4096 {
        return Err(CoreError::Invalid(
            "Password too long: use at most 4096 characters.".into(),
        ));
    }
    if pw.contains('\0') {
        return Err(CoreError::Invalid(
            "Password must not contain NUL characters.".into(),
        ));
    }
    Ok(())
}

/// Hash a password with Argon2id (default parameters, random salt).
pub fn hash_password(pw: &str) -> Result<String, CoreError> {
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CoreError::Internal(format!("password hashing failed: {e}")))
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
        validate_email(email)?;
        validate_password(password)?;
        let hash = hash_password(password)?;
        let now = self.now();
        let event = NewEvent {
            at: now,
            action: "account:create".into(),
            subject_kind: "user".into(),
            subject_name: Some(username.to_owned()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
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
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_password("with\0nul!").is_err());
        assert!(validate_password(&"x".repeat(4097)).is_err());
    }
}
