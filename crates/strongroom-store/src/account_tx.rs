//! One account change as one transaction: the rows, its events and its mails commit together.

use std::sync::Arc;

use sqlx::{Any, Transaction};

use crate::error::conflict_or;
use crate::events::{NewEvent, append, lock_tail};
use crate::model::{Email, User};
use crate::sealing::{Keyring, SealError};
use crate::users::{EMAIL_COLS, USER_COLS, email_from_row, user_from_row};
use crate::{Db, Dialect, StoreError};

/// A mail to queue in the outbox with the change that caused it.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// An open write transaction over the account tables.
///
/// Nothing is visible to others until [`AccountTx::commit`], which also appends the events
/// (hash-chained) and queues the mails; dropping it rolls everything back.
pub struct AccountTx {
    pub(crate) tx: Transaction<'static, Any>,
    pub(crate) dialect: Dialect,
    /// Events a step of the change noted on its own (appended after the caller's at commit).
    noted: Vec<NewEvent>,
    /// Seals the secrets this change writes (TOTP seeds, mail bodies).
    pub(crate) keyring: Option<Arc<Keyring>>,
}

impl Db {
    /// Start an account change.
    pub async fn begin_account(&self) -> Result<AccountTx, StoreError> {
        Ok(AccountTx {
            tx: self.begin_write().await?,
            dialect: self.dialect,
            noted: Vec::new(),
            keyring: self.keyring.clone(),
        })
    }

    /// The address row with this (case-insensitive) address, if any.
    pub async fn email_by_address(&self, address: &str) -> Result<Option<Email>, StoreError> {
        let sql = format!("SELECT {EMAIL_COLS} FROM emails WHERE address_lower = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(address.to_lowercase())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(email_from_row).transpose()?)
    }

    /// Every account, by name (admin listing).
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY username_lower");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    /// Events whose subject or actor is this user, newest first.
    pub async fn events_of_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<crate::model::Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE (subject_kind = 'user' AND subject_id = $1) OR actor_id = $1 \
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(crate::events::event_from_row)
            .collect::<Result<_, _>>()?)
    }
}

impl AccountTx {
    /// An account change over an open write transaction (an intervention going on as one).
    pub(crate) fn from_parts(
        tx: Transaction<'static, Any>,
        dialect: Dialect,
        keyring: Option<Arc<Keyring>>,
    ) -> AccountTx {
        AccountTx {
            tx,
            dialect,
            keyring,
            noted: Vec::new(),
        }
    }

    /// Record an event that a step inside this change caused (e.g. invitations voided by a
    /// hold): it commits with the change, after the caller's own events, or not at all.
    pub fn note_event(&mut self, e: NewEvent) {
        self.noted.push(e);
    }

    /// The keyring, or [`SealError::NoKey`].
    pub(crate) fn keyring(&self) -> Result<&Keyring, SealError> {
        self.keyring.as_deref().ok_or(SealError::NoKey)
    }

    /// Append the events, queue the mails (bodies sealed: they may carry live links) and commit.
    pub async fn commit(
        mut self,
        events: &[NewEvent],
        mails: &[NewMail],
    ) -> Result<(), StoreError> {
        let at = events
            .first()
            .map_or_else(crate::model::now_micros, |e| e.at);
        crate::outbox::queue(&mut self.tx, self.keyring.as_deref(), mails, at).await?;
        if !events.is_empty() || !self.noted.is_empty() {
            lock_tail(&mut self.tx, self.dialect).await?;
            for e in events.iter().chain(self.noted.iter()) {
                append(&mut self.tx, e).await?;
            }
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// The account, read inside the transaction.
    pub async fn user(&mut self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(r.as_ref().map(user_from_row).transpose()?)
    }

    /// The account, read inside the transaction **and held** until it ends: what a change
    /// decides on this row stays true until it commits. On PostgreSQL the row is locked (`FOR
    /// NO KEY UPDATE`, the lock every `UPDATE users` takes, so foreign-key inserts elsewhere
    /// are not held up): a concurrent freeze, deletion or hold either committed first and is
    /// read here, or waits for this change and then sees what it made (a freeze's later
    /// statements then revoke the token or end the session it created). On SQLite the single
    /// write connection and `BEGIN IMMEDIATE` already give that.
    pub async fn lock_user(&mut self, id: i64) -> Result<Option<User>, StoreError> {
        let lock = match self.dialect {
            Dialect::Postgres => " FOR NO KEY UPDATE",
            Dialect::Sqlite => "",
        };
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1{lock}");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(r.as_ref().map(user_from_row).transpose()?)
    }

    /// Create an account with an unverified primary address; returns (user id, email id).
    pub async fn insert_user(
        &mut self,
        username: &str,
        email: &str,
        password_hash: &str,
        at: i64,
    ) -> Result<(i64, i64), StoreError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (username, username_lower, password_hash, password_changed_at, is_admin, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(username.to_owned())
        .bind(username.to_lowercase())
        .bind(password_hash.to_owned())
        .bind(at)
        .bind(at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "username"))?;
        let email_id = self.add_email(id, email, true, at).await?;
        Ok((id, email_id))
    }

    /// Set a new password hash: clears a disabled password and records the change time.
    pub async fn set_password(
        &mut self,
        user_id: i64,
        hash: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2, password_disabled = NULL WHERE id = $3",
        )
        .bind(hash.to_owned())
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Refuse the password until it is reset (`reason`: `compromised`, `frozen`, …).
    pub async fn disable_password(&mut self, user_id: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_disabled = $1 WHERE id = $2")
            .bind(reason.to_owned())
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Record a completed login.
    pub async fn set_last_login(&mut self, user_id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Start (or extend) the recovery hold: until `until` the account may not publish to projects
    /// it did not create during the hold, change owners or create tokens. `at` is the recovery
    /// event's time (kept as `recovered_at` for the dormant-project quarantine).
    pub async fn set_hold(
        &mut self,
        user_id: i64,
        until: i64,
        reason: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE users SET hold_until = CASE WHEN hold_until IS NULL OR hold_until < $1 THEN $1 ELSE hold_until END, \
             hold_reason = $2, recovered_at = $3 WHERE id = $4",
        )
        .bind(until)
        .bind(reason.to_owned())
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The account's addresses, primary first.
    pub async fn emails(&mut self, user_id: i64) -> Result<Vec<Email>, StoreError> {
        let sql = format!(
            "SELECT {EMAIL_COLS} FROM emails WHERE user_id = $1 ORDER BY is_primary DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.iter().map(email_from_row).collect::<Result<_, _>>()?)
    }

    /// Add an unverified address; `Conflict("email")` when any account already has it.
    pub async fn add_email(
        &mut self,
        user_id: i64,
        address: &str,
        primary: bool,
        at: i64,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO emails (user_id, address, address_lower, is_primary, verified_at, created_at) \
             VALUES ($1, $2, $3, $4, NULL, $5) RETURNING id",
        )
        .bind(user_id)
        .bind(address.to_owned())
        .bind(address.to_lowercase())
        .bind(i64::from(primary))
        .bind(at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "email"))
    }

    /// Remove one of the user's addresses; false when it is not theirs.
    pub async fn remove_email(&mut self, user_id: i64, email_id: i64) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM emails WHERE id = $1 AND user_id = $2")
            .bind(email_id)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Make one of the user's addresses the primary one; false when it is not theirs.
    pub async fn set_primary_email(
        &mut self,
        user_id: i64,
        email_id: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE emails SET is_primary = 1 WHERE id = $1 AND user_id = $2")
            .bind(email_id)
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE emails SET is_primary = 0 WHERE user_id = $1 AND id <> $2")
            .bind(user_id)
            .bind(email_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(true)
    }

    /// Mark an address verified (keeps the first verification time). An address verified
    /// afresh (never, or no longer, verified) starts the domain check's clock again: the
    /// verification is a check (the mail reached it, or an operator vouched for it), and an
    /// earlier round's sighting or failures say nothing about it any more.
    pub async fn verify_email(&mut self, email_id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE emails SET \
               domain_checked_at = CASE WHEN verified_at IS NULL THEN NULL ELSE domain_checked_at END, \
               domain_retry_at = CASE WHEN verified_at IS NULL THEN NULL ELSE domain_retry_at END, \
               domain_failures = CASE WHEN verified_at IS NULL THEN 0 ELSE domain_failures END, \
               domain_suspect_at = CASE WHEN verified_at IS NULL THEN NULL ELSE domain_suspect_at END, \
               domain_suspect_reason = CASE WHEN verified_at IS NULL THEN NULL ELSE domain_suspect_reason END, \
               verified_at = COALESCE(verified_at, $1) \
             WHERE id = $2",
        )
            .bind(at)
            .bind(email_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Store a new API token (hash only); returns its id.
    pub async fn insert_token(&mut self, t: &crate::NewToken) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, name, token_hash, project_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(t.user_id)
        .bind(t.name.clone())
        .bind(t.token_hash.clone())
        .bind(t.project_id)
        .bind(t.at)
        .bind(t.expires_at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "token"))
    }

    /// Revoke every live API token of the user; returns how many.
    pub async fn revoke_all_tokens(&mut self, user_id: i64, at: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected())
    }

    /// Revoke one of the user's tokens; false when it is not theirs (or already revoked).
    pub async fn revoke_token(
        &mut self,
        user_id: i64,
        token_id: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(token_id)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Remember a login fingerprint (IP + user agent hash); true when it is new for the user.
    pub async fn remember_login(
        &mut self,
        user_id: i64,
        fingerprint: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "INSERT INTO known_logins (user_id, fingerprint, first_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(fingerprint.to_owned())
        .bind(at)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
