//! Server-side login sessions, found by the SHA-256 of the cookie secret.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::model::Session;
use crate::{Db, StoreError};

/// A session to create.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret_hash: String,
    pub user_id: i64,
    pub csrf_token: String,
    pub at: i64,
    pub two_factor_ok: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

const SESSION_COLS: &str = "id, user_id, csrf_token, created_at, last_seen_at, reauth_at, two_factor_ok, ip, user_agent, ended_at";

fn session_from_row(r: &AnyRow) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        csrf_token: r.try_get("csrf_token")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        reauth_at: r.try_get("reauth_at")?,
        two_factor_ok: r.try_get::<i64, _>("two_factor_ok")? != 0,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        ended_at: r.try_get("ended_at")?,
    })
}

impl Db {
    /// The session whose secret hashes to `secret_hash` (ended ones included: the caller checks).
    pub async fn session_by_hash(&self, secret_hash: &str) -> Result<Option<Session>, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE secret_hash = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(secret_hash.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(session_from_row).transpose()?)
    }

    /// The user's live sessions, newest first.
    pub async fn sessions_of(&self, user_id: i64) -> Result<Vec<Session>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL ORDER BY id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
        Ok(rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()?)
    }

    /// Record activity (at most once a minute, to keep requests from writing).
    pub async fn touch_session(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL AND last_seen_at < $3",
        )
        .bind(at)
        .bind(id)
        .bind(at - 60_000_000)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

impl AccountTx {
    /// Create a session; returns its id.
    pub async fn insert_session(&mut self, s: &NewSession) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO sessions (secret_hash, user_id, csrf_token, created_at, last_seen_at, reauth_at, two_factor_ok, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(s.secret_hash.clone())
        .bind(s.user_id)
        .bind(s.csrf_token.clone())
        .bind(s.at)
        .bind(s.at)
        .bind(s.at)
        .bind(i64::from(s.two_factor_ok))
        .bind(s.ip.clone())
        .bind(s.user_agent.clone())
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// End one of the user's sessions; false when it is not theirs or already ended.
    pub async fn end_session(
        &mut self,
        user_id: i64,
        session_id: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE id = $2 AND user_id = $3 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(session_id)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// End every live session of the user except `keep`; returns how many.
    pub async fn end_sessions(
        &mut self,
        user_id: i64,
        keep: Option<i64>,
        at: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL AND id <> $3",
        )
        .bind(at)
        .bind(user_id)
        .bind(keep.unwrap_or(-1))
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// Record a fresh proof of identity for the session.
    pub async fn set_reauth(&mut self, session_id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET reauth_at = $1, last_seen_at = $1 WHERE id = $2")
            .bind(at)
            .bind(session_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
