//! The mail outbox: mails are queued in the transaction of the change that caused them and
//! delivered later, with retries; a mail leaves the table's pending set only when sent. Bodies
//! are stored sealed (they carry live reset, freeze and veto links).

use sqlx::Row;

use crate::model::OutboxMail;
use crate::sealing::{Binding, Keyring, SealError};
use crate::{Db, NewMail, StoreError};

/// Queue mails inside an open write transaction: the one way mail enters the outbox. Each row is
/// inserted first for its id, then its body is sealed for that row and recipient. Mails of one
/// change are due `at`, one microsecond apart (so they go out in order).
pub(crate) async fn queue(
    conn: &mut sqlx::AnyConnection,
    keyring: Option<&Keyring>,
    mails: &[NewMail],
    at: i64,
) -> Result<(), StoreError> {
    if mails.is_empty() {
        return Ok(());
    }
    let keyring = keyring.ok_or(SealError::NoKey)?;
    for (i, m) in mails.iter().enumerate() {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (to_addr, subject, body, created_at, next_attempt_at) VALUES ($1, $2, '', $3, $4) RETURNING id",
        )
        .bind(m.to.clone())
        .bind(m.subject.clone())
        .bind(at)
        .bind(at + i64::try_from(i).unwrap_or(0))
        .fetch_one(&mut *conn)
        .await?;
        let body = keyring.seal(Binding::MailBody { id, to: &m.to }, &m.body)?;
        sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2")
            .bind(body)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A mail row with its body still sealed.
fn mail_from_row(r: &sqlx::any::AnyRow) -> Result<OutboxMail, sqlx::Error> {
    Ok(OutboxMail {
        id: r.try_get("id")?,
        to_addr: r.try_get("to_addr")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        created_at: r.try_get("created_at")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        sent_at: r.try_get("sent_at")?,
        last_error: r.try_get("last_error")?,
    })
}

/// Where a queued mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// Not sent yet, no attempt has failed.
    Pending,
    /// Not sent yet, the last attempt failed (it is retried at `next_attempt_at`).
    Failing,
    /// Delivered (to the SMTP relay, or written to a server's outbox folder).
    Sent,
}

impl MailState {
    pub fn as_str(self) -> &'static str {
        match self {
            MailState::Pending => "pending",
            MailState::Failing => "failing",
            MailState::Sent => "sent",
        }
    }
}

/// A queued mail as operators list it: never its body (it may carry a live reset link).
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub created_at: i64,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    pub state: MailState,
}

impl Db {
    /// The newest `limit` mails of the outbox, whichever server queued or sent them, oldest
    /// first; bodies are not read.
    pub async fn outbox_entries(&self, limit: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, to_addr, subject, created_at, attempts, next_attempt_at, sent_at, last_error FROM outbox ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| {
                let sent_at: Option<i64> = r.try_get("sent_at")?;
                let last_error: Option<String> = r.try_get("last_error")?;
                let state = match (&sent_at, &last_error) {
                    (Some(_), _) => MailState::Sent,
                    (None, Some(_)) => MailState::Failing,
                    (None, None) => MailState::Pending,
                };
                Ok(OutboxEntry {
                    id: r.try_get("id")?,
                    to_addr: r.try_get("to_addr")?,
                    subject: r.try_get("subject")?,
                    created_at: r.try_get("created_at")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    sent_at,
                    last_error,
                    state,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        out.reverse();
        Ok(out)
    }

    /// How many mails wait to be sent (the mail queue depth).
    pub async fn outbox_pending_count(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                .fetch_one(&self.read)
                .await?,
        )
    }

    /// Open a mail's sealed body in place.
    fn open_mail(&self, mut m: OutboxMail) -> Result<OutboxMail, SealError> {
        m.body = self.keyring()?.open(
            Binding::MailBody {
                id: m.id,
                to: &m.to_addr,
            },
            &m.body,
        )?;
        Ok(m)
    }

    /// Unsent mails whose next attempt is due, oldest first, bodies opened.
    ///
    /// A mail whose body does not open (altered, or moved from another row) is never sent: it
    /// is set aside for an hour with the reason as its last error, and the others go out.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let m = mail_from_row(r)?;
            let id = m.id;
            match self.open_mail(m) {
                Ok(m) => out.push(m),
                Err(SealError::NoKey) => return Err(SealError::NoKey.into()),
                Err(e) => {
                    tracing::error!(mail = id, error = %e, "a queued mail cannot be opened; not sending it");
                    self.outbox_failed(id, &e.to_string(), now.saturating_add(3_600_000_000))
                        .await?;
                }
            }
        }
        Ok(out)
    }

    /// Every mail, newest first (sent or not), bodies opened.
    pub async fn outbox_recent(&self, limit: i64) -> Result<Vec<OutboxMail>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok(self.open_mail(mail_from_row(r)?)?))
            .collect()
    }

    /// Claim a due mail for sending by pushing its next attempt to `retry_at` (so another server
    /// does not send it at the same time); false when someone else claimed it first.
    pub async fn outbox_claim(&self, id: i64, now: i64, retry_at: i64) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1, attempts = attempts + 1 WHERE id = $2 AND sent_at IS NULL AND next_attempt_at <= $3",
        )
        .bind(retry_at)
        .bind(id)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Mark a mail sent.
    pub async fn outbox_sent(&self, id: i64, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET sent_at = $1, last_error = NULL WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Record a failed attempt (the mail stays pending until `retry_at`).
    pub async fn outbox_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET last_error = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(error.to_owned())
            .bind(retry_at)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
