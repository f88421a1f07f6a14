//! Claims on blob keys and announced deletions: the database side of writing a blob before the
//! row that references it (see `core::blob_collector` for the protocol and its interleavings).
//!
//! Every transaction here (and the publish transaction that settles a claim) first takes a lock
//! on the key: on PostgreSQL a transaction-scoped advisory lock on the key's hash, on SQLite the
//! one writer. So a claim, a publish and a collector's decision about one key happen one after
//! the other, each seeing what the previous one committed.

use sqlx::{Any, Row, Transaction};

use crate::{Db, Dialect, StoreError};

/// The advisory-lock class of blob keys (the two-key form; the single-key locks of the journal,
/// the migrations and the role changes live in a separate key space).
const BLOB_LOCK_CLASS: i32 = 7_265_008;

/// A claim on a blob key, recorded (and committed) before the blob is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobClaim {
    pub id: i64,
    pub blob_key: String,
}

/// What [`Db::claim_blob`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Claimed: the blob may be written now.
    Claimed(BlobClaim),
    /// A collector is deleting this very key right now (a refused upload of the same bytes a
    /// moment ago); writing it now could be undone by that delete. Try again shortly.
    DeletionInProgress,
}

/// Permission to delete one key's blobs, announced in `blob_deletions` until
/// [`Db::finish_blob_deletion`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionLease {
    pub blob_key: String,
    pub started_at: i64,
}

/// Serialise everything about `key` until the transaction ends.
pub(crate) async fn lock_key(
    tx: &mut Transaction<'_, Any>,
    dialect: Dialect,
    key: &str,
) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(BLOB_LOCK_CLASS)
            .bind(key.to_owned())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Settle `claim` inside the publish transaction: true if it was still there (it is now gone,
/// the file row protects the blob from here on); false if a collector took it as expired, in
/// which case the blob may already be deleted and the publish must not commit.
pub(crate) async fn settle(
    tx: &mut Transaction<'_, Any>,
    dialect: Dialect,
    claim: &BlobClaim,
) -> Result<bool, StoreError> {
    lock_key(tx, dialect, &claim.blob_key).await?;
    let n = sqlx::query("DELETE FROM blob_claims WHERE id = $1 AND blob_key = $2")
        .bind(claim.id)
        .bind(claim.blob_key.clone())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

impl Db {
    /// Claim `key` before writing its blob. `lease_micros`: an announced deletion older than
    /// this belongs to a collector that died; it is taken over (its collector stops deleting
    /// after half the lease, see `core::blob_collector`).
    pub async fn claim_blob(
        &self,
        key: &str,
        at: i64,
        lease_micros: i64,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, key).await?;
        let deleting: Option<i64> =
            sqlx::query_scalar("SELECT started_at FROM blob_deletions WHERE blob_key = $1")
                .bind(key.to_owned())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(started) = deleting {
            if started > at.saturating_sub(lease_micros) {
                tx.rollback().await?;
                return Ok(ClaimOutcome::DeletionInProgress);
            }
            sqlx::query("DELETE FROM blob_deletions WHERE blob_key = $1")
                .bind(key.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO blob_claims (blob_key, claimed_at) VALUES ($1, $2) RETURNING id",
        )
        .bind(key.to_owned())
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Claimed(BlobClaim {
            id,
            blob_key: key.to_owned(),
        }))
    }

    /// Give up a claim (the upload was refused or failed): its key may be collected now.
    pub async fn release_blob_claim(&self, claim: &BlobClaim) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, &claim.blob_key).await?;
        sqlx::query("DELETE FROM blob_claims WHERE id = $1")
            .bind(claim.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keys of claims made before `before` (their uploads died or stalled), oldest first.
    pub async fn expired_blob_claims(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT blob_key FROM blob_claims WHERE claimed_at < $1 \
             GROUP BY blob_key ORDER BY MIN(claimed_at) LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(keys)
    }

    /// The keys among `keys` that no file row references (removed files' rows included: their
    /// blobs are kept for a restore) and no cached upstream file's or metadata's row does.
    pub async fn unreferenced_blob_keys(&self, keys: &[String]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(self.dialect.values_per_list()) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let list = params.join(", ");
            let sql = format!(
                "SELECT blob_key FROM files WHERE blob_key IN ({list}) \
                 UNION SELECT blob_key FROM upstream_files WHERE blob_key IN ({list}) \
                 UNION SELECT blob_key FROM upstream_metadata WHERE blob_key IN ({list})"
            );
            let mut q = crate::rows::query(sql);
            for k in chunk {
                q = q.bind(k.clone());
            }
            let found: std::collections::HashSet<String> = q
                .fetch_all(&self.read)
                .await?
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<Result<_, _>>()?;
            out.extend(chunk.iter().filter(|k| !found.contains(*k)).cloned());
        }
        Ok(out)
    }

    /// Decide, in one transaction under the key's lock, whether `key`'s blobs may be deleted:
    /// no file row references it, no claim made at or after `live_after` protects it, and no
    /// other collector announced a deletion less than `lease_micros` ago. If so, the deletion is
    /// announced (so a new claim waits) and the key's expired claims are dropped; the caller
    /// deletes the blobs, then calls [`Db::finish_blob_deletion`]. `None`: leave the key alone.
    ///
    /// `release`: the caller's own claim on the key, given up in the same transaction (an
    /// upload that ended without a row). Should this transaction fail, the claim stays and
    /// expires, and the collector finds the key through it.
    pub async fn begin_blob_deletion(
        &self,
        key: &str,
        now: i64,
        live_after: i64,
        lease_micros: i64,
        release: Option<&BlobClaim>,
    ) -> Result<Option<DeletionLease>, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, key).await?;
        if let Some(c) = release {
            sqlx::query("DELETE FROM blob_claims WHERE id = $1 AND blob_key = $2")
                .bind(c.id)
                .bind(key.to_owned())
                .execute(&mut *tx)
                .await?;
        }
        // A local file's row, a cached upstream file's (migration 0022), or the row of metadata
        // kept without its file (0030).
        let referenced: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM files WHERE blob_key = $1 UNION SELECT 1 FROM upstream_files WHERE blob_key = $1 \
             UNION SELECT 1 FROM upstream_metadata WHERE blob_key = $1",
        )
        .bind(key.to_owned())
        .fetch_optional(&mut *tx)
        .await?;
        if referenced.is_some() {
            // Expired claims on a published key protect nothing: drop them (a stalled upload
            // holding one then fails its publish and is retried as a duplicate).
            sqlx::query("DELETE FROM blob_claims WHERE blob_key = $1 AND claimed_at < $2")
                .bind(key.to_owned())
                .bind(live_after)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(None);
        }
        let live: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM blob_claims WHERE blob_key = $1 AND claimed_at >= $2 LIMIT 1",
        )
        .bind(key.to_owned())
        .bind(live_after)
        .fetch_optional(&mut *tx)
        .await?;
        let other: Option<i64> = sqlx::query_scalar(
            "SELECT started_at FROM blob_deletions WHERE blob_key = $1 AND started_at > $2",
        )
        .bind(key.to_owned())
        .bind(now.saturating_sub(lease_micros))
        .fetch_optional(&mut *tx)
        .await?;
        if live.is_some() || other.is_some() {
            tx.commit().await?; // the released claim, if any, is gone either way
            return Ok(None);
        }
        sqlx::query("DELETE FROM blob_deletions WHERE blob_key = $1")
            .bind(key.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO blob_deletions (blob_key, started_at) VALUES ($1, $2)")
            .bind(key.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM blob_claims WHERE blob_key = $1")
            .bind(key.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(DeletionLease {
            blob_key: key.to_owned(),
            started_at: now,
        }))
    }

    /// The blobs of an announced deletion are gone: withdraw the announcement (only this
    /// collector's own; one taken over after its lease ran out is left to its new owner).
    pub async fn finish_blob_deletion(&self, lease: &DeletionLease) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        lock_key(&mut tx, self.dialect, &lease.blob_key).await?;
        sqlx::query("DELETE FROM blob_deletions WHERE blob_key = $1 AND started_at = $2")
            .bind(lease.blob_key.clone())
            .bind(lease.started_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// How many claims and announced deletions exist (for tests and `fsck`-style checks).
    pub async fn blob_claim_counts(&self) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM blob_claims), (SELECT COUNT(*) FROM blob_deletions)",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }
}
