//! Soft account deletion and the later purge of personal data. The `users` row stays (the
//! username stays reserved, events keep pointing at it); the purge removes addresses, second
//! factors, recovery codes, the password hash, sessions and mail links, never events.

use sqlx::Row;

use crate::{AccountTx, Db, StoreError};

/// A deleted account whose retention period is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePurge {
    pub user_id: i64,
    pub username: String,
    pub deleted_at: i64,
}

/// What a purge removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub emails: u64,
    pub second_factors: u64,
    pub recovery_codes: u64,
    pub sessions: u64,
    /// Invitations to register whose address was cleared: made by the account, used by it to
    /// register, or made for one of its addresses.
    pub registration_invites: u64,
}

impl Db {
    /// Deleted, not yet purged accounts whose `purge_after` is at or before `now`.
    pub async fn accounts_due_for_purge(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DuePurge>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, username, deleted_at FROM users \
             WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND purge_after IS NOT NULL AND purge_after <= $1 \
             ORDER BY purge_after, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DuePurge {
                    user_id: r.try_get(0)?,
                    username: r.try_get(1)?,
                    deleted_at: r.try_get(2)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// `(deleted_at, delete_reason, purge_after, purged_at)` of an account.
    pub async fn deletion_state(
        &self,
        user_id: i64,
    ) -> Result<Option<(Option<i64>, Option<String>, Option<i64>, Option<i64>)>, StoreError> {
        let r = sqlx::query(
            "SELECT deleted_at, delete_reason, purge_after, purged_at FROM users WHERE id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(match r {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)),
            None => None,
        })
    }
}

impl AccountTx {
    /// Mark the account deleted; false when it already was.
    pub async fn soft_delete_user(
        &mut self,
        user_id: i64,
        reason: &str,
        purge_after: i64,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET deleted_at = $1, delete_reason = $2, purge_after = $3, purged_at = NULL \
             WHERE id = $4 AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(reason.to_owned())
        .bind(purge_after)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Void every pending invitation addressed to the user; returns their ids.
    pub async fn void_invitations_to(
        &mut self,
        user_id: i64,
        at: i64,
    ) -> Result<Vec<(i64, i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.project_id, p.name FROM role_invitations i JOIN projects p ON p.id = i.project_id \
             WHERE i.invitee_id = $1 AND i.status = 'pending' ORDER BY i.id",
        )
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            if self
                .end_invitation(id, crate::InvitationStatus::Voided, at)
                .await?
            {
                out.push((id, r.try_get(1)?, r.try_get(2)?));
            }
        }
        Ok(out)
    }

    /// Purge a deleted account's personal data (only if it is deleted, due and not yet purged);
    /// None when there was nothing to do.
    pub async fn purge_user(
        &mut self,
        user_id: i64,
        at: i64,
    ) -> Result<Option<Purged>, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET password_hash = NULL, purged_at = $1 \
             WHERE id = $2 AND deleted_at IS NOT NULL AND purged_at IS NULL AND purge_after <= $1",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if n != 1 {
            return Ok(None);
        }
        let mut gone = Purged::default();
        let mut delete = async |sql: &'static str| -> Result<u64, StoreError> {
            Ok(sqlx::query(sql)
                .bind(user_id)
                .execute(&mut *self.tx)
                .await?
                .rows_affected())
        };
        // Before its addresses go: the invitations naming one of them are found through them.
        // The row stays (who invited whom, by account number); the address does not.
        gone.registration_invites = delete(
            "UPDATE registration_invites SET email = '(purged)', email_lower = '(purged)' \
             WHERE email_lower <> '(purged)' AND (created_by_id = $1 OR used_by_id = $1 \
             OR email_lower IN (SELECT address_lower FROM emails WHERE user_id = $1))",
        )
        .await?;
        gone.emails = delete("DELETE FROM emails WHERE user_id = $1").await?;
        gone.second_factors = delete("DELETE FROM totp_secrets WHERE user_id = $1").await?
            + delete("DELETE FROM webauthn_credentials WHERE user_id = $1").await?;
        gone.recovery_codes = delete("DELETE FROM recovery_codes WHERE user_id = $1").await?;
        gone.sessions = delete("DELETE FROM sessions WHERE user_id = $1").await?;
        delete("DELETE FROM email_tokens WHERE user_id = $1").await?;
        delete("DELETE FROM known_logins WHERE user_id = $1").await?;
        delete("DELETE FROM auth_states WHERE user_id = $1").await?;
        Ok(Some(gone))
    }
}
