//! Verify-first registration's rows (migration 0013): a pending registration reserves its
//! username until it expires and becomes an account only when its link is followed (taken once,
//! by a conditional DELETE, so two clicks cannot make two accounts); and the expiry of addresses
//! that were added but never verified, so they squat neither an address nor an invitation.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::error::conflict_or;
use crate::model::Email;
use crate::rows::{all, optional, query};
use crate::users::{EMAIL_COLS, email_from_row};
use crate::{Db, StoreError};

/// A new pending registration.
#[derive(Debug, Clone)]
pub struct NewPendingRegistration {
    pub username: String,
    /// Canonical form.
    pub address: String,
    pub password_hash: String,
    /// SHA-256 of the link's secret.
    pub token_hash: String,
    /// The invitation it used up, if any.
    pub invite_id: Option<i64>,
    pub at: i64,
    pub expires_at: i64,
}

/// A pending registration taken by its link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRegistration {
    pub id: i64,
    pub username: String,
    pub address: String,
    pub password_hash: String,
    pub invite_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

fn pending_from_row(r: &AnyRow) -> Result<PendingRegistration, sqlx::Error> {
    Ok(PendingRegistration {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        address: r.try_get("address")?,
        password_hash: r.try_get("password_hash")?,
        invite_id: r.try_get("invite_id")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

const PENDING_COLS: &str =
    "id, username, address, password_hash, invite_id, created_at, expires_at";

/// An address that was never verified (nor unverified by a domain check, which keeps it as the
/// account's) and is not an account's primary one: a claim, not a proof.
const UNPROVEN: &str = "verified_at IS NULL AND unverified_at IS NULL AND is_primary = 0";

impl AccountTx {
    /// Whether `username` (case-insensitive) is an account's (live or deleted) or reserved by a
    /// pending registration that has not expired at `now`.
    pub async fn username_reserved(
        &mut self,
        username: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let lower = username.to_lowercase();
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users WHERE username_lower = $1) \
                  + (SELECT COUNT(*) FROM pending_registrations WHERE username_lower = $2 AND expires_at > $3)",
        )
        .bind(lower.clone())
        .bind(lower)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n > 0)
    }

    /// Store a pending registration (an expired one of the same username is dropped first);
    /// `Conflict("username")` when a live one has the name.
    pub async fn insert_pending_registration(
        &mut self,
        n: &NewPendingRegistration,
    ) -> Result<i64, StoreError> {
        let lower = n.username.to_lowercase();
        sqlx::query(
            "DELETE FROM pending_registrations WHERE username_lower = $1 AND expires_at <= $2",
        )
        .bind(lower.clone())
        .bind(n.at)
        .execute(&mut *self.tx)
        .await?;
        sqlx::query_scalar(
            "INSERT INTO pending_registrations (username, username_lower, address, password_hash, token_hash, invite_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(n.username.clone())
        .bind(lower)
        .bind(n.address.clone())
        .bind(n.password_hash.clone())
        .bind(n.token_hash.clone())
        .bind(n.invite_id)
        .bind(n.at)
        .bind(n.expires_at)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| conflict_or(e, "username"))
    }

    /// Take (delete and return) the live pending registration whose link hashes to
    /// `token_hash`; `None` when there is none, it expired, or another request took it first.
    pub async fn take_pending_registration(
        &mut self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<PendingRegistration>, StoreError> {
        let found = optional(
            query(format!(
                "SELECT {PENDING_COLS} FROM pending_registrations WHERE token_hash = $1 AND expires_at > $2"
            ))
            .bind(token_hash.to_owned())
            .bind(now),
            &mut *self.tx,
            pending_from_row,
        )
        .await?;
        let Some(p) = found else { return Ok(None) };
        let gone = sqlx::query("DELETE FROM pending_registrations WHERE id = $1")
            .bind(p.id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok((gone == 1).then_some(p))
    }

    /// Whether `address` is held only by a claim (an address added to another account and
    /// never verified), which a proof of the address (a followed registration link) overrides.
    pub async fn address_held_by_claim(
        &mut self,
        address: &str,
    ) -> Result<Option<Email>, StoreError> {
        optional(
            query(format!(
                "SELECT {EMAIL_COLS} FROM emails WHERE address_lower = $1 AND {UNPROVEN}"
            ))
            .bind(address.to_lowercase()),
            &mut *self.tx,
            email_from_row,
        )
        .await
    }

    /// Remove never-verified, non-primary addresses: those created before `cutoff` (`address`
    /// `None`), or the one with this address (a proof overrides the claim). Their unused mail
    /// tokens die with them. Returns the rows removed.
    pub async fn drop_unproven_addresses(
        &mut self,
        address: Option<&str>,
        cutoff: i64,
        now: i64,
    ) -> Result<Vec<Email>, StoreError> {
        let rows = match address {
            Some(a) => all(
                query(format!(
                    "SELECT {EMAIL_COLS} FROM emails WHERE address_lower = $1 AND {UNPROVEN}"
                ))
                .bind(a.to_lowercase()),
                &mut *self.tx,
                email_from_row,
            )
            .await?,
            None => all(
                query(format!(
                    "SELECT {EMAIL_COLS} FROM emails WHERE created_at < $1 AND {UNPROVEN} ORDER BY id LIMIT 500"
                ))
                .bind(cutoff),
                &mut *self.tx,
                email_from_row,
            )
            .await?,
        };
        let mut dropped = Vec::new();
        for e in rows {
            let n = sqlx::query(
                "DELETE FROM emails WHERE id = $1 AND verified_at IS NULL AND unverified_at IS NULL AND is_primary = 0",
            )
            .bind(e.id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(
                    "UPDATE email_tokens SET used_at = $1 WHERE email_id = $2 AND used_at IS NULL",
                )
                .bind(now)
                .bind(e.id)
                .execute(&mut *self.tx)
                .await?;
                dropped.push(e);
            }
        }
        Ok(dropped)
    }
}

impl Db {
    /// Delete pending registrations expired at `now` (their usernames are free again); returns
    /// how many.
    pub async fn purge_pending_registrations(&self, now: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query("DELETE FROM pending_registrations WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// How many pending registrations are live at `now` (for tests and the admin's view).
    pub async fn live_pending_registrations(&self, now: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM pending_registrations WHERE expires_at > $1")
                .bind(now)
                .fetch_one(&self.read)
                .await?,
        )
    }
}
