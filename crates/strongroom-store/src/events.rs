//! The append-only, hash-chained security event log and the serialised "tail" it shares with the journal.

use sha2::{Digest, Sha256};
use sqlx::{Any, Executor, Row, Transaction};

use crate::model::Event;
use crate::{Db, Dialect, StoreError};

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append; the store assigns `seq`, `prev_hash` and `hash`.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<i64>,
    pub subject_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The HTTP request that caused it (`X-Request-Id`), if one did.
    pub request_id: Option<String>,
    /// JSON object with the action's details; never a secret.
    pub details: serde_json::Value,
}

/// Serialise appends to the journal and the event log for the rest of this transaction.
///
/// SQLite write transactions begin IMMEDIATE (the file's write lock, across processes, see
/// [`Db::begin_write`]); PostgreSQL takes a transaction-scoped
/// advisory lock so serials are assigned in commit order, without gaps.
pub(crate) async fn lock_tail(
    tx: &mut Transaction<'_, Any>,
    dialect: Dialect,
) -> Result<(), StoreError> {
    if dialect == Dialect::Postgres {
        tx.execute("SELECT pg_advisory_xact_lock(7265001)").await?;
    }
    Ok(())
}

/// The canonical bytes an event's hash covers.
pub(crate) fn canonical_bytes(seq: i64, e: &NewEvent, details: &str) -> Vec<u8> {
    let mut v = serde_json::json!([
        seq,
        e.at,
        e.actor_id,
        e.actor_name,
        e.action,
        e.subject_kind,
        e.subject_id,
        e.subject_name,
        e.ip,
        e.user_agent,
        details,
    ]);
    // Covered when present (migration 0018); events without one hash as they always did.
    if let (Some(id), Some(items)) = (&e.request_id, v.as_array_mut()) {
        items.push(serde_json::json!(id));
    }
    v.to_string().into_bytes()
}

pub(crate) fn chain_hash(prev: &str, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(bytes);
    hex::encode(h.finalize())
}

/// Append one event inside `tx` (the caller has called [`lock_tail`]).
pub(crate) async fn append(tx: &mut Transaction<'_, Any>, e: &NewEvent) -> Result<i64, StoreError> {
    let last = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (seq, prev) = match last {
        Some(r) => (r.try_get::<i64, _>(0)? + 1, r.try_get::<String, _>(1)?),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let details = e.details.to_string();
    let hash = chain_hash(&prev, &canonical_bytes(seq, e, &details));
    sqlx::query(
        "INSERT INTO events (seq, at, actor_id, actor_name, action, subject_kind, subject_id, subject_name, ip, user_agent, details, prev_hash, hash, request_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(seq)
    .bind(e.at)
    .bind(e.actor_id)
    .bind(e.actor_name.clone())
    .bind(e.action.clone())
    .bind(e.subject_kind.clone())
    .bind(e.subject_id)
    .bind(e.subject_name.clone())
    .bind(e.ip.clone())
    .bind(e.user_agent.clone())
    .bind(details)
    .bind(prev)
    .bind(hash)
    .bind(e.request_id.clone())
    .execute(&mut **tx)
    .await?;
    Ok(seq)
}

pub(crate) fn event_from_row(r: &sqlx::any::AnyRow) -> Result<Event, sqlx::Error> {
    Ok(Event {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor_id: r.try_get("actor_id")?,
        actor_name: r.try_get("actor_name")?,
        action: r.try_get("action")?,
        subject_kind: r.try_get("subject_kind")?,
        subject_id: r.try_get("subject_id")?,
        subject_name: r.try_get("subject_name")?,
        ip: r.try_get("ip")?,
        user_agent: r.try_get("user_agent")?,
        request_id: r.try_get("request_id")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

impl Db {
    /// Append one event in its own transaction.
    pub async fn append_event(&self, e: &NewEvent) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_tail(&mut tx, self.dialect).await?;
        let seq = append(&mut tx, e).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Events in order, from `after_seq` (exclusive), at most `limit`.
    pub async fn events(&self, after_seq: i64, limit: i64) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    /// The newest entry's `(seq, hash)`: the anchor to keep outside the database, so that
    /// cutting entries off the end of the log is detectable later.
    pub async fn event_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        let r = sqlx::query("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(match r {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// The hash of entry `seq`, if it exists.
    pub async fn event_hash(&self, seq: i64) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT hash FROM events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.read)
            .await?)
    }

    /// Recompute the chain; `Ok(None)` when intact, `Ok(Some(seq))` names the first broken entry.
    pub async fn verify_events(&self) -> Result<Option<i64>, StoreError> {
        let mut prev = GENESIS_HASH.to_owned();
        let mut expected_seq = 1;
        let mut after = 0;
        loop {
            let batch = self.events(after, 1000).await?;
            if batch.is_empty() {
                return Ok(None);
            }
            for ev in &batch {
                let ne = NewEvent {
                    at: ev.at,
                    actor_id: ev.actor_id,
                    actor_name: ev.actor_name.clone(),
                    action: ev.action.clone(),
                    subject_kind: ev.subject_kind.clone(),
                    subject_id: ev.subject_id,
                    subject_name: ev.subject_name.clone(),
                    ip: ev.ip.clone(),
                    user_agent: ev.user_agent.clone(),
                    request_id: ev.request_id.clone(),
                    details: serde_json::Value::Null,
                };
                let h = chain_hash(&prev, &canonical_bytes(ev.seq, &ne, &ev.details));
                if ev.seq != expected_seq || ev.prev_hash != prev || ev.hash != h {
                    return Ok(Some(ev.seq));
                }
                prev = ev.hash.clone();
                expected_seq += 1;
                after = ev.seq;
            }
        }
    }
}
