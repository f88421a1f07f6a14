//! Single-use secrets: tokens sent by mail and short-lived auth states (login tickets, WebAuthn
//! ceremonies). Both are found by the SHA-256 of the secret, never by the secret itself.

use sqlx::Row;

use crate::account_tx::AccountTx;
use crate::model::{AuthState, EmailToken};
use crate::{Db, StoreError};

impl Db {
    /// The mail token whose secret hashes to `token_hash`.
    pub async fn email_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<EmailToken>, StoreError> {
        let r = sqlx::query(
            "SELECT id, user_id, email_id, purpose, created_at, expires_at, used_at FROM email_tokens WHERE token_hash = $1",
        )
        .bind(token_hash.to_owned())
        .fetch_optional(&self.read)
        .await?;
        Ok(r.map(|r| -> Result<EmailToken, sqlx::Error> {
            Ok(EmailToken {
                id: r.try_get("id")?,
                user_id: r.try_get("user_id")?,
                email_id: r.try_get("email_id")?,
                purpose: r.try_get("purpose")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                used_at: r.try_get("used_at")?,
            })
        })
        .transpose()?)
    }

    /// Read a state without using it up (a login ticket survives a wrong code).
    pub async fn peek_state(
        &self,
        state_hash: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<AuthState>, StoreError> {
        let r = sqlx::query(
            "SELECT kind, user_id, data, created_at, expires_at FROM auth_states WHERE state_hash = $1 AND kind = $2 AND expires_at > $3",
        )
        .bind(state_hash.to_owned())
        .bind(kind.to_owned())
        .bind(now)
        .fetch_optional(&self.read)
        .await?;
        Ok(r.as_ref().map(state_from_row).transpose()?)
    }

    /// Use a state up: delete it and return it if it existed and had not expired.
    pub async fn take_state(
        &self,
        state_hash: &str,
        kind: &str,
        now: i64,
    ) -> Result<Option<AuthState>, StoreError> {
        let r = sqlx::query(
            "DELETE FROM auth_states WHERE state_hash = $1 AND kind = $2 RETURNING kind, user_id, data, created_at, expires_at",
        )
        .bind(state_hash.to_owned())
        .bind(kind.to_owned())
        .fetch_optional(&self.write)
        .await?;
        Ok(r.as_ref()
            .map(state_from_row)
            .transpose()?
            .filter(|s| s.expires_at > now))
    }

    /// Store a state.
    pub async fn put_state(&self, state_hash: &str, state: &AuthState) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_states (state_hash, kind, user_id, data, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash.to_owned())
        .bind(state.kind.clone())
        .bind(state.user_id)
        .bind(state.data.clone())
        .bind(state.created_at)
        .bind(state.expires_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Delete expired states and mail tokens used or expired before `before`; returns rows removed.
    pub async fn prune_secrets(&self, now: i64, before: i64) -> Result<u64, StoreError> {
        let a = sqlx::query("DELETE FROM auth_states WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.write)
            .await?
            .rows_affected();
        let b = sqlx::query("DELETE FROM email_tokens WHERE expires_at <= $1 OR used_at <= $1")
            .bind(before)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(a + b)
    }
}

fn state_from_row(r: &sqlx::any::AnyRow) -> Result<AuthState, sqlx::Error> {
    Ok(AuthState {
        kind: r.try_get("kind")?,
        user_id: r.try_get("user_id")?,
        data: r.try_get("data")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl AccountTx {
    /// Store a mail token (hash only); returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_email_token(
        &mut self,
        token_hash: &str,
        user_id: i64,
        email_id: Option<i64>,
        purpose: &str,
        at: i64,
        expires_at: i64,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO email_tokens (token_hash, user_id, email_id, purpose, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(token_hash.to_owned())
        .bind(user_id)
        .bind(email_id)
        .bind(purpose.to_owned())
        .bind(at)
        .bind(expires_at)
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// Use a mail token up; false when it was already used (single use, even under races).
    pub async fn use_email_token(&mut self, id: i64, at: i64) -> Result<bool, StoreError> {
        let n =
            sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    /// Kill the user's unused mail tokens of these purposes; returns how many.
    pub async fn invalidate_email_tokens(
        &mut self,
        user_id: i64,
        purposes: &[&str],
        at: i64,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        for p in purposes {
            total += sqlx::query(
                "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
            )
            .bind(at)
            .bind(user_id)
            .bind((*p).to_owned())
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        Ok(total)
    }
}
