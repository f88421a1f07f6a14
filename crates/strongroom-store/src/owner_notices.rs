//! Notices to a project's Owners of files added to existing releases, yanks and unyanks,
//! batched per recipient: the first of a project is mailed at once and opens a window; later ones
//! inside it wait for the job, which mails them as one digest at the window's end (core decides
//! the words, the window and the bound; `core::owner_notices`).

use sqlx::{Any, Row, Transaction};

use crate::{Db, Keyring, NewMail, StoreError};

/// One Owner to tell: the account, and its addresses that receive mail now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecipient {
    pub user_id: i64,
    pub addresses: Vec<String>,
}

/// What happened, for every Owner but the one who did it (core leaves the actor out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerNotice {
    pub recipients: Vec<NoticeRecipient>,
    /// The subject of the mail sent at once.
    pub subject: String,
    /// Its body (the line below is stored for a later digest).
    pub body: String,
    /// One line for a digest.
    pub line: String,
    pub at: i64,
    /// How long (µs) after a notice mailed at once later ones wait to go as one digest.
    pub window_micros: i64,
}

/// Notices waiting for one recipient on one project, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDigest {
    pub project_id: i64,
    pub project_name: String,
    pub user_id: i64,
    /// `(id, created_at, line)`.
    pub items: Vec<(i64, i64, String)>,
}

/// Record the notice for each recipient inside the caller's transaction: mailed at once (and
/// the window opened) when no notice of this project went to the recipient at once within the
/// window, else left for the digest.
pub(crate) async fn record(
    tx: &mut Transaction<'_, Any>,
    keyring: Option<&Keyring>,
    project_id: i64,
    n: &OwnerNotice,
) -> Result<(), StoreError> {
    for r in &n.recipients {
        let opened: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM owner_notices WHERE project_id = $1 AND user_id = $2 AND immediate = 1",
        )
        .bind(project_id)
        .bind(r.user_id)
        .fetch_one(&mut **tx)
        .await?;
        let at_once = opened.is_none_or(|o| n.at.saturating_sub(o) >= n.window_micros);
        sqlx::query(
            "INSERT INTO owner_notices (project_id, user_id, created_at, line, immediate, sent_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(project_id)
        .bind(r.user_id)
        .bind(n.at)
        .bind(n.line.clone())
        .bind(i32::from(at_once))
        .bind(at_once.then_some(n.at))
        .execute(&mut **tx)
        .await?;
        if at_once {
            let mails: Vec<NewMail> = r
                .addresses
                .iter()
                .map(|a| NewMail {
                    to: a.clone(),
                    subject: n.subject.clone(),
                    body: n.body.clone(),
                })
                .collect();
            crate::outbox::queue(tx, keyring, &mails, n.at).await?;
        }
    }
    Ok(())
}

impl Db {
    /// Notices waiting whose window has ended by `now`: grouped per project and recipient,
    /// where the recipient's last notice mailed at once is at least `window_micros` old.
    pub async fn due_notice_digests(
        &self,
        now: i64,
        window_micros: i64,
    ) -> Result<Vec<PendingDigest>, StoreError> {
        let rows = sqlx::query(
            "SELECT n.id, n.project_id, p.name, n.user_id, n.created_at, n.line FROM owner_notices n \
             JOIN projects p ON p.id = n.project_id WHERE n.sent_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM owner_notices o WHERE o.project_id = n.project_id \
               AND o.user_id = n.user_id AND o.immediate = 1 AND o.created_at > $1) \
             ORDER BY n.project_id, n.user_id, n.created_at, n.id",
        )
        .bind(now.saturating_sub(window_micros))
        .fetch_all(&self.read)
        .await?;
        let mut out: Vec<PendingDigest> = Vec::new();
        for r in rows {
            let (project_id, user_id): (i64, i64) = (r.try_get(1)?, r.try_get(3)?);
            let item = (r.try_get(0)?, r.try_get(4)?, r.try_get(5)?);
            match out.last_mut() {
                Some(d) if d.project_id == project_id && d.user_id == user_id => d.items.push(item),
                _ => out.push(PendingDigest {
                    project_id,
                    project_name: r.try_get(2)?,
                    user_id,
                    items: vec![item],
                }),
            }
        }
        Ok(out)
    }

    /// Forget notices sent before `before` (the event log keeps what happened; a row only
    /// matters while its window is open or it waits for a digest). Returns how many went.
    pub async fn prune_owner_notices(&self, before: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM owner_notices WHERE sent_at IS NOT NULL AND created_at < $1")
                .bind(before)
                .execute(&self.write)
                .await?
                .rows_affected(),
        )
    }

    /// Mark the digest's notices sent and queue its mails, in one transaction (a notice already
    /// sent by a concurrent job is not sent again: nothing is queued then).
    pub async fn send_notice_digest(
        &self,
        digest: &PendingDigest,
        mails: &[NewMail],
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut marked = 0u64;
        for (id, _, _) in &digest.items {
            marked += sqlx::query(
                "UPDATE owner_notices SET sent_at = $1 WHERE id = $2 AND sent_at IS NULL",
            )
            .bind(at)
            .bind(*id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if marked != digest.items.len() as u64 {
            tx.rollback().await?;
            return Ok(false);
        }
        crate::outbox::queue(&mut tx, self.keyring.as_deref(), mails, at).await?;
        tx.commit().await?;
        Ok(true)
    }
}
