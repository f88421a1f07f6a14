//! Accounts, their email addresses and API tokens.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::conflict_or;
use crate::events::{NewEvent, append, lock_tail};
use crate::model::{ApiToken, Email, User};
use crate::{Db, StoreError};

/// A new account with its first (primary) address.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub at: i64,
}

/// A new API token row.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub project_id: Option<i64>,
    pub expires_at: Option<i64>,
    pub at: i64,
}

/// The columns [`email_from_row`] reads.
pub(crate) const EMAIL_COLS: &str =
    "id, user_id, address, is_primary, verified_at, unverified_at, suspect_at";

pub(crate) fn email_from_row(r: &AnyRow) -> Result<Email, sqlx::Error> {
    Ok(Email {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        address: r.try_get("address")?,
        is_primary: r.try_get::<i64, _>("is_primary")? != 0,
        verified_at: r.try_get("verified_at")?,
        unverified_at: r.try_get("unverified_at")?,
        suspect_at: r.try_get("suspect_at")?,
    })
}

pub(crate) fn user_from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        is_admin: r.try_get::<i64, _>("is_admin")? != 0,
        created_at: r.try_get("created_at")?,
        frozen_at: r.try_get("frozen_at")?,
        deleted_at: r.try_get("deleted_at")?,
        password_changed_at: r.try_get("password_changed_at")?,
        last_login_at: r.try_get("last_login_at")?,
        password_disabled: r.try_get("password_disabled")?,
        frozen_reason: r.try_get("frozen_reason")?,
        hold_until: r.try_get("hold_until")?,
        hold_reason: r.try_get("hold_reason")?,
        recovered_at: r.try_get("recovered_at")?,
        purge_after: r.try_get("purge_after")?,
    })
}

fn token_from_row(r: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    Ok(ApiToken {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        token_hash: r.try_get("token_hash")?,
        project_id: r.try_get("project_id")?,
        project_name: r.try_get("project_name")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub(crate) const USER_COLS: &str = "id, username, password_hash, is_admin, created_at, frozen_at, deleted_at, password_changed_at, last_login_at, password_disabled, frozen_reason, hold_until, hold_reason, recovered_at, purge_after";

impl Db {
    /// Create an account and its primary address, with an event, in one transaction.
    pub async fn create_user(&self, u: &NewUser, event: NewEvent) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, username_lower, password_hash, password_changed_at, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(u.username.clone())
        .bind(u.username.to_lowercase())
        .bind(u.password_hash.clone())
        .bind(u.at)
        .bind(i64::from(u.is_admin))
        .bind(u.at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "username"))?;
        sqlx::query(
            "INSERT INTO emails (user_id, address, address_lower, is_primary, verified_at, created_at) VALUES ($1, $2, $3, 1, $4, $5)",
        )
        .bind(id)
        .bind(u.email.clone())
        .bind(u.email.to_lowercase())
        .bind(if u.email_verified { Some(u.at) } else { None })
        .bind(u.at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "email"))?;
        lock_tail(&mut tx, self.dialect).await?;
        let mut event = event;
        event.subject_id = Some(id);
        if event.actor_id.is_none() && event.actor_name.is_none() {
            event.actor_name = Some("cli".into());
        }
        append(&mut tx, &event).await?;
        tx.commit().await?;
        self.user_by_id(id)
            .await?
            .ok_or_else(|| StoreError::NotFound("user".into()))
    }

    /// Look an account up by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(user_from_row).transpose()?)
    }

    /// Look an account up by name (case-insensitive).
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username_lower = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username.to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(user_from_row).transpose()?)
    }

    /// The account's addresses, primary first.
    pub async fn emails_of(&self, user_id: i64) -> Result<Vec<Email>, StoreError> {
        let sql = format!(
            "SELECT {} FROM emails WHERE user_id = $1 ORDER BY is_primary DESC, id",
            EMAIL_COLS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(email_from_row).collect::<Result<_, _>>()?)
    }

    /// Store a new API token (hash only) with an event.
    pub async fn create_token(&self, t: &NewToken, event: NewEvent) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, project_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(t.user_id)
        .bind(t.name.clone())
        .bind(t.token_hash.clone())
        .bind(t.project_id)
        .bind(t.at)
        .bind(t.expires_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, "token"))?;
        lock_tail(&mut tx, self.dialect).await?;
        let mut event = event;
        event.details["token_id"] = serde_json::json!(id);
        append(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Find a token by the SHA-256 of its secret, with its owner.
    pub async fn token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<(ApiToken, User)>, StoreError> {
        let r = sqlx::query(
            "SELECT t.id, t.user_id, t.name, t.token_hash, t.project_id, p.name AS project_name, t.created_at, \
                    t.expires_at, t.last_used_at, t.revoked_at \
             FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id WHERE t.token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        let Some(r) = r else { return Ok(None) };
        let token = token_from_row(&r)?;
        let user = self
            .user_by_id(token.user_id)
            .await?
            .ok_or_else(|| StoreError::NotFound("token owner".into()))?;
        Ok(Some((token, user)))
    }

    /// Record that a token was used (at most once a minute, to keep reads cheap).
    pub async fn touch_token(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
            .bind(at)
            .bind(id)
            .bind(at - 60_000_000)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// A user's tokens, newest first.
    pub async fn tokens_of(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.user_id, t.name, t.token_hash, t.project_id, p.name AS project_name, t.created_at, \
                    t.expires_at, t.last_used_at, t.revoked_at \
             FROM api_tokens t LEFT JOIN projects p ON p.id = t.project_id WHERE t.user_id = $1 ORDER BY t.id DESC",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }
}
