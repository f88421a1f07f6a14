//! Refusals counted per source per window (migration 0017, policy in `core::refusal_log`): the
//! first refusal of a bucket (kind + source) in a window is appended to the event log, the rest
//! only add to the window's row, and a closed window with more than one refusal leaves one
//! summary event carrying its count. The event log is hash-chained, so nothing is edited: the
//! summary is appended when the window closes.

use sqlx::Row;

use crate::events::{append, event_from_row, lock_tail};
use crate::model::Event;
use crate::{Db, NewEvent, StoreError};

/// One window of a bucket: open (a row) or just closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalWindow {
    pub bucket: String,
    /// The refusal's event action (`token:use:refused`, ...).
    pub action: String,
    /// `account:ID`, `token:ID` or `ip:ADDRESS`.
    pub source: String,
    pub opened_at: i64,
    pub last_at: i64,
    /// Refusals in the window, the logged first one included.
    pub count: i64,
    /// The logged first refusal's event.
    pub first_seq: i64,
}

/// What became of one refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalCounted {
    /// The first of a new window: appended as `seq` (after the summary of the bucket's previous
    /// window, when that one had closed with more than one refusal and was still open here).
    Logged { seq: i64 },
    /// Counted into the open window (now `count` refusals).
    Counted { count: i64 },
}

/// Builds a closed window's summary event from the window and its first event.
pub type Summary<'a> = &'a (dyn Fn(&RefusalWindow, Option<&Event>) -> NewEvent + Sync);

fn window_from_row(r: &sqlx::any::AnyRow) -> Result<RefusalWindow, sqlx::Error> {
    Ok(RefusalWindow {
        bucket: r.try_get("bucket")?,
        action: r.try_get("action")?,
        source: r.try_get("source")?,
        opened_at: r.try_get("opened_at")?,
        last_at: r.try_get("last_at")?,
        count: r.try_get("count")?,
        first_seq: r.try_get("first_seq")?,
    })
}

const COLS: &str = "bucket, action, source, opened_at, last_at, count, first_seq";

async fn summarise(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    w: &RefusalWindow,
    summary: Summary<'_>,
) -> Result<(), StoreError> {
    if w.count <= 1 {
        return Ok(());
    }
    let first = sqlx::query("SELECT * FROM events WHERE seq = $1")
        .bind(w.first_seq)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| event_from_row(&r))
        .transpose()?;
    append(tx, &summary(w, first.as_ref())).await?;
    Ok(())
}

impl Db {
    /// One refusal `ev` in `bucket` (from `source`) at `now`: counted into the bucket's window
    /// when one opened after `opened_after` is open, else appended as the first of a new window
    /// (closing the old one, with its summary). One transaction under the log's tail lock, so
    /// concurrent refusals of one bucket open one window.
    pub async fn count_refusal(
        &self,
        bucket: &str,
        source: &str,
        ev: &NewEvent,
        now: i64,
        opened_after: i64,
        summary: Summary<'_>,
    ) -> Result<RefusalCounted, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_tail(&mut tx, self.dialect).await?;
        let counted = sqlx::query(
            "UPDATE refusal_windows SET count = count + 1, last_at = $1 \
             WHERE bucket = $2 AND opened_at > $3 RETURNING count",
        )
        .bind(now)
        .bind(bucket.to_owned())
        .bind(opened_after)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = counted {
            let count: i64 = r.try_get(0)?;
            tx.commit().await?;
            return Ok(RefusalCounted::Counted { count });
        }
        let closed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM refusal_windows WHERE bucket = $1 RETURNING {COLS}"
        )))
        .bind(bucket.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| window_from_row(&r))
        .transpose()?;
        if let Some(w) = &closed {
            summarise(&mut tx, w, summary).await?;
        }
        let seq = append(&mut tx, ev).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO refusal_windows ({COLS}) VALUES ($1, $2, $3, $4, $4, 1, $5)"
        )))
        .bind(bucket.to_owned())
        .bind(ev.action.clone())
        .bind(source.to_owned())
        .bind(now)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(RefusalCounted::Logged { seq })
    }

    /// Close every window opened at or before `opened_until`: the rows go, and each window with
    /// more than one refusal leaves its summary event. Returns the closed windows.
    pub async fn close_refusal_windows(
        &self,
        opened_until: i64,
        summary: Summary<'_>,
    ) -> Result<Vec<RefusalWindow>, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_tail(&mut tx, self.dialect).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM refusal_windows WHERE opened_at <= $1 RETURNING {COLS}"
        )))
        .bind(opened_until)
        .fetch_all(&mut *tx)
        .await?;
        let mut closed = rows
            .iter()
            .map(window_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // In the order they opened, so the summaries read in order.
        closed.sort_by_key(|w| (w.opened_at, w.first_seq));
        for w in &closed {
            summarise(&mut tx, w, summary).await?;
        }
        tx.commit().await?;
        Ok(closed)
    }

    /// The open windows, oldest first (for the admin start page's live counts).
    pub async fn open_refusal_windows(&self) -> Result<Vec<RefusalWindow>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLS} FROM refusal_windows ORDER BY opened_at, first_seq"
        )))
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(window_from_row).collect::<Result<_, _>>()?)
    }
}
