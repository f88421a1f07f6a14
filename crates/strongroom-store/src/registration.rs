//! Registration's rows: invitation links made by administrators (migration 0010), found by the
//! SHA-256 of their secret, used up once by a conditional UPDATE (so two servers racing with one
//! link cannot both win), expiring and revocable; and the reads self-registration makes inside
//! its own transaction (is the name or the address taken).

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::error::conflict_or;
use crate::model::Email;
use crate::rows::{all, optional, query};
use crate::users::{EMAIL_COLS, email_from_row};
use crate::{Db, StoreError};

/// An invitation to register, as admins list it (never its secret: only the hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistrationInvite {
    pub id: i64,
    /// The address it was made for, as the admin typed it.
    pub email: String,
    /// Who made it (`cli:<user>` or an admin's username).
    pub created_by: String,
    pub created_by_id: Option<i64>,
    pub reason: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by_id: Option<i64>,
    /// The account registered with it.
    pub used_by: Option<String>,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
}

/// A new invitation row.
#[derive(Debug, Clone)]
pub struct NewRegistrationInvite {
    pub token_hash: String,
    pub email: String,
    pub created_by: String,
    pub created_by_id: Option<i64>,
    pub reason: String,
    pub at: i64,
    pub expires_at: i64,
}

const INVITE_COLS: &str = "i.id, i.email, i.created_by, i.created_by_id, i.reason, i.created_at, i.expires_at, i.used_at, i.used_by_id, u.username AS used_by, i.revoked_at, i.revoked_by";
const INVITE_FROM: &str = "registration_invites i LEFT JOIN users u ON u.id = i.used_by_id";

fn invite_from_row(r: &AnyRow) -> Result<RegistrationInvite, sqlx::Error> {
    Ok(RegistrationInvite {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        created_by: r.try_get("created_by")?,
        created_by_id: r.try_get("created_by_id")?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        used_by_id: r.try_get("used_by_id")?,
        used_by: r.try_get("used_by")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_by: r.try_get("revoked_by")?,
    })
}

impl Db {
    /// The newest invitations first (at most `limit`).
    pub async fn registration_invites(
        &self,
        limit: i64,
    ) -> Result<Vec<RegistrationInvite>, StoreError> {
        all(
            query(format!(
                "SELECT {INVITE_COLS} FROM {INVITE_FROM} ORDER BY i.id DESC LIMIT $1"
            ))
            .bind(limit),
            &self.read,
            invite_from_row,
        )
        .await
    }

    /// The invitation whose secret hashes to `token_hash`, whatever its state.
    pub async fn registration_invite_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<RegistrationInvite>, StoreError> {
        optional(
            query(format!(
                "SELECT {INVITE_COLS} FROM {INVITE_FROM} WHERE i.token_hash = $1"
            ))
            .bind(token_hash.to_owned()),
            &self.read,
            invite_from_row,
        )
        .await
    }

    /// One invitation by its number.
    pub async fn registration_invite(
        &self,
        id: i64,
    ) -> Result<Option<RegistrationInvite>, StoreError> {
        optional(
            query(format!(
                "SELECT {INVITE_COLS} FROM {INVITE_FROM} WHERE i.id = $1"
            ))
            .bind(id),
            &self.read,
            invite_from_row,
        )
        .await
    }

    /// The invitations for this address (case-insensitive) that can still be used at `now`.
    pub async fn live_registration_invites_for(
        &self,
        email: &str,
        now: i64,
    ) -> Result<Vec<RegistrationInvite>, StoreError> {
        all(
            query(format!(
                "SELECT {INVITE_COLS} FROM {INVITE_FROM} WHERE i.email_lower = $1 \
                 AND i.used_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2 ORDER BY i.id"
            ))
            .bind(email.to_lowercase())
            .bind(now),
            &self.read,
            invite_from_row,
        )
        .await
    }
}

impl AccountTx {
    /// Store a new invitation; returns its number.
    pub async fn insert_registration_invite(
        &mut self,
        n: &NewRegistrationInvite,
    ) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "INSERT INTO registration_invites (token_hash, email, email_lower, created_by, created_by_id, reason, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(n.token_hash.clone())
        .bind(n.email.clone())
        .bind(n.email.to_lowercase())
        .bind(n.created_by.clone())
        .bind(n.created_by_id)
        .bind(n.reason.clone())
        .bind(n.at)
        .bind(n.expires_at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "invitation"))
    }

    /// Use an invitation up: only if it is unused, unrevoked, unexpired at `now` and made for
    /// `email` (case-insensitive). Returns its number, or None (nothing changed).
    pub async fn use_registration_invite(
        &mut self,
        token_hash: &str,
        email: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "UPDATE registration_invites SET used_at = $1 WHERE token_hash = $2 AND email_lower = $3 \
             AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 RETURNING id",
        )
        .bind(now)
        .bind(token_hash.to_owned())
        .bind(email.to_lowercase())
        .fetch_optional(&mut *self.tx)
        .await?)
    }

    /// Record the account an invitation created.
    pub async fn set_registration_invite_user(
        &mut self,
        id: i64,
        user_id: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE registration_invites SET used_by_id = $1 WHERE id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Revoke an invitation that is neither used nor revoked; false if there is none such.
    pub async fn revoke_registration_invite(
        &mut self,
        id: i64,
        by: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE registration_invites SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(by.to_owned())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Revoke every invitation made by the account `user_id` that could still be used at `now`
    /// (unused, unrevoked, unexpired), as `by`; returns (id, address) of each. A freeze and a
    /// deletion do this for good: nothing un-revokes an invitation.
    pub async fn revoke_registration_invites_by(
        &mut self,
        user_id: i64,
        by: &str,
        now: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "UPDATE registration_invites SET revoked_at = $1, revoked_by = $2 \
             WHERE created_by_id = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
             RETURNING id, email",
        )
        .bind(now)
        .bind(by.to_owned())
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("email")?)))
            .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
        out.sort();
        Ok(out)
    }

    /// Whether an account (live or deleted: a deleted account keeps its name) has this username
    /// (case-insensitive), read inside the transaction.
    pub async fn username_taken(&mut self, username: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username_lower = $1")
            .bind(username.to_lowercase())
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(n > 0)
    }

    /// The address row with this (case-insensitive) address, read inside the transaction.
    pub async fn email_by_address(&mut self, address: &str) -> Result<Option<Email>, StoreError> {
        optional(
            query(format!(
                "SELECT {EMAIL_COLS} FROM emails WHERE address_lower = $1"
            ))
            .bind(address.to_lowercase()),
            &mut *self.tx,
            email_from_row,
        )
        .await
    }
}
