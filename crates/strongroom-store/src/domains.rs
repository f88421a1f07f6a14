//! Email-domain checks: which verified addresses are due, every attempt recorded (answers, retries
//! with backoff, unconfirmed bad sightings), and taking the verification away from an address whose
//! domain lapsed or changed hands.

use sqlx::Row;

use crate::{AccountTx, Db, StoreError};

/// A verified address whose domain is to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainCheckAddress {
    pub email_id: i64,
    pub user_id: i64,
    pub username: String,
    pub address: String,
    pub verified_at: i64,
    /// Rounds in a row that found nothing out (timeouts, SERVFAIL, RDAP down).
    pub failures: i64,
    /// The first unconfirmed bad DNS sighting (µs) and what it was, if any.
    pub suspect_at: Option<i64>,
    pub suspect_reason: Option<String>,
}

/// An address's domain-check state (for the account page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailDomainState {
    pub email_id: i64,
    /// The last attempt, whatever it found.
    pub domain_checked_at: Option<i64>,
    /// When a retry (no answer) or a confirmation (bad sighting) is due, instead of the interval.
    pub domain_retry_at: Option<i64>,
    pub domain_failures: i64,
    pub domain_suspect_at: Option<i64>,
    pub unverified_at: Option<i64>,
    pub unverified_reason: Option<String>,
}

impl Db {
    /// Verified addresses of live accounts that are due: with a retry or confirmation time, when
    /// it is at or before `retry_before`; otherwise when not attempted (nor verified) since
    /// `due_before`. Least recently attempted first, so no group of addresses can keep the
    /// others waiting. A verification counts as a check: the mail reached the address.
    pub async fn addresses_due_for_domain_check(
        &self,
        due_before: i64,
        retry_before: i64,
        limit: i64,
    ) -> Result<Vec<DomainCheckAddress>, StoreError> {
        let rows = sqlx::query(
            "SELECT e.id, e.user_id, u.username, e.address, e.verified_at, e.domain_failures, \
                    e.domain_suspect_at, e.domain_suspect_reason FROM emails e \
             JOIN users u ON u.id = e.user_id \
             WHERE e.verified_at IS NOT NULL AND u.deleted_at IS NULL \
               AND ((e.domain_retry_at IS NULL AND COALESCE(e.domain_checked_at, e.verified_at) <= $1) \
                    OR e.domain_retry_at <= $2) \
             ORDER BY COALESCE(e.domain_checked_at, e.verified_at), e.id LIMIT $3",
        )
        .bind(due_before)
        .bind(retry_before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DomainCheckAddress {
                    email_id: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    username: r.try_get(2)?,
                    address: r.try_get(3)?,
                    verified_at: r.try_get(4)?,
                    failures: r.try_get(5)?,
                    suspect_at: r.try_get(6)?,
                    suspect_reason: r.try_get(7)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// How many addresses of live accounts are verified: what the domain check's circuit
    /// breaker takes its share of.
    pub async fn count_verified_addresses(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM emails e JOIN users u ON u.id = e.user_id \
             WHERE e.verified_at IS NOT NULL AND u.deleted_at IS NULL",
        )
        .fetch_one(&self.read)
        .await?)
    }

    /// How many addresses of live accounts a domain check unverified at or after `since` and
    /// that are still unverified: the breaker counts them with a round's own, so that a resolver
    /// failing for everyone cannot unverify a few addresses per round, all day long.
    pub async fn count_unverified_since(&self, since: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM emails e JOIN users u ON u.id = e.user_id \
             WHERE e.verified_at IS NULL AND e.unverified_at >= $1 AND u.deleted_at IS NULL",
        )
        .bind(since)
        .fetch_one(&self.read)
        .await?)
    }

    /// Record that these addresses' domains were found healthy at `at`: no retry, no failures,
    /// no suspicion; due again after the interval.
    pub async fn mark_domain_checked(&self, email_ids: &[i64], at: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for id in email_ids {
            sqlx::query(
                "UPDATE emails SET domain_checked_at = $1, domain_retry_at = NULL, domain_failures = 0, \
                 domain_suspect_at = NULL, domain_suspect_reason = NULL WHERE id = $2",
            )
            .bind(at)
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Record an attempt at `at` that gave no final answer for the address (verified at
    /// `verified_at`, so a re-verification since the round read it is left alone): due again at
    /// `retry_at`, with `failures` rounds in a row without an answer and the first unconfirmed
    /// bad sighting `suspect` (time, what was seen), if any.
    pub async fn record_domain_attempt(
        &self,
        email_id: i64,
        verified_at: i64,
        at: i64,
        retry_at: i64,
        failures: i64,
        suspect: Option<(i64, &str)>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE emails SET domain_checked_at = $1, domain_retry_at = $2, domain_failures = $3, \
             domain_suspect_at = $4, domain_suspect_reason = $5 WHERE id = $6 AND verified_at = $7",
        )
        .bind(at)
        .bind(retry_at)
        .bind(failures)
        .bind(suspect.map(|(t, _)| t))
        .bind(suspect.map(|(_, r)| r.to_owned()))
        .bind(email_id)
        .bind(verified_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// The domain-check state of the account's addresses.
    pub async fn email_domain_states(
        &self,
        user_id: i64,
    ) -> Result<Vec<EmailDomainState>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, domain_checked_at, domain_retry_at, domain_failures, domain_suspect_at, \
             unverified_at, unverified_reason FROM emails WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EmailDomainState {
                    email_id: r.try_get(0)?,
                    domain_checked_at: r.try_get(1)?,
                    domain_retry_at: r.try_get(2)?,
                    domain_failures: r.try_get(3)?,
                    domain_suspect_at: r.try_get(4)?,
                    unverified_at: r.try_get(5)?,
                    unverified_reason: r.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

impl AccountTx {
    /// Take the verification away from an address whose domain check failed. Only if it is still
    /// verified as of `verified_at` (a re-verification since the check read it wins); returns
    /// whether it changed.
    pub async fn unverify_email(
        &mut self,
        email_id: i64,
        verified_at: i64,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE emails SET verified_at = NULL, unverified_at = $1, unverified_reason = $2, domain_checked_at = $1, \
             domain_retry_at = NULL, domain_failures = 0, domain_suspect_at = NULL, domain_suspect_reason = NULL \
             WHERE id = $3 AND verified_at = $4",
        )
        .bind(at)
        .bind(reason.to_owned())
        .bind(email_id)
        .bind(verified_at)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
