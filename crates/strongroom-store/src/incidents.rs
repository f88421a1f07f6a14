//! Incidents on an account and their undo: a freeze that ends every credential for good, the
//! incident window recorded with it (or with a restore), and the addresses and factors added
//! inside that window, which stay suspect (no mail, no sign-in) until the owner keeps or drops
//! them. Every write here runs inside the caller's [`AccountTx`].

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::account_tx::AccountTx;
use crate::admin::AdminTx;
use crate::model::{Event, Incident, IncidentKind, SuspectItem, SuspectKind};
use crate::rows::{all, optional, query};
use crate::{Db, StoreError};

/// What a freeze ended, for its event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreezeEffects {
    /// Sessions ended.
    pub sessions_ended: u64,
    /// API tokens revoked for good: (id, name).
    pub tokens_revoked: Vec<(i64, String)>,
    /// Unused mail links killed.
    pub links_killed: u64,
    /// Login tickets and WebAuthn ceremonies dropped.
    pub states_dropped: u64,
    /// Second factors still waiting for their confirmation mail, removed.
    pub pending_factors_removed: u64,
}

const INCIDENT_COLS: &str =
    "id, user_id, kind, window_start, window_end, opened_at, opened_by, returned_at, returned_by";

fn incident_from_row(r: &AnyRow) -> Result<Incident, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    Ok(Incident {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        kind: IncidentKind::parse(&kind).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "kind".into(),
            source: format!("unknown incident kind {kind:?}").into(),
        })?,
        window_start: r.try_get("window_start")?,
        window_end: r.try_get("window_end")?,
        opened_at: r.try_get("opened_at")?,
        opened_by: r.try_get("opened_by")?,
        returned_at: r.try_get("returned_at")?,
        returned_by: r.try_get("returned_by")?,
    })
}

fn suspect_address(r: &AnyRow) -> Result<SuspectItem, sqlx::Error> {
    let created: i64 = r.try_get("created_at")?;
    let verified: Option<i64> = r.try_get("verified_at")?;
    Ok(SuspectItem {
        kind: SuspectKind::Address,
        id: r.try_get("id")?,
        label: r.try_get("address")?,
        added_at: verified.map_or(created, |v| v.max(created)),
        flagged_at: r.try_get("suspect_at")?,
    })
}

fn suspect_key(r: &AnyRow) -> Result<SuspectItem, sqlx::Error> {
    Ok(SuspectItem {
        kind: SuspectKind::SecurityKey,
        id: r.try_get("id")?,
        label: r.try_get("label")?,
        added_at: r.try_get("created_at")?,
        flagged_at: r.try_get("suspect_at")?,
    })
}

/// The label the TOTP application is listed under.
pub const TOTP_LABEL: &str = "authentication app (TOTP)";

async fn suspect_items_on(
    exec: &mut sqlx::AnyConnection,
    user_id: i64,
) -> Result<Vec<SuspectItem>, StoreError> {
    let mut items = all(
        query(
            "SELECT id, address, created_at, verified_at, suspect_at FROM emails \
             WHERE user_id = $1 AND suspect_at IS NOT NULL ORDER BY id"
                .into(),
        )
        .bind(user_id),
        &mut *exec,
        suspect_address,
    )
    .await?;
    let totp = sqlx::query(
        "SELECT created_at, suspect_at FROM totp_secrets WHERE user_id = $1 AND suspect_at IS NOT NULL",
    )
    .bind(user_id)
    .fetch_optional(&mut *exec)
    .await?;
    if let Some(r) = totp {
        items.push(SuspectItem {
            kind: SuspectKind::Totp,
            id: 0,
            label: TOTP_LABEL.into(),
            added_at: r.try_get("created_at")?,
            flagged_at: r.try_get("suspect_at")?,
        });
    }
    items.extend(
        all(
            query(
                "SELECT id, label, created_at, suspect_at FROM webauthn_credentials \
                 WHERE user_id = $1 AND suspect_at IS NOT NULL ORDER BY id"
                    .into(),
            )
            .bind(user_id),
            &mut *exec,
            suspect_key,
        )
        .await?,
    );
    let codes = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS created_at, MIN(suspect_at) AS suspect_at FROM recovery_codes \
         WHERE user_id = $1 AND suspect_at IS NOT NULL AND burned_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(&mut *exec)
    .await?;
    let n: i64 = codes.try_get("n")?;
    if n > 0 {
        items.push(SuspectItem {
            kind: SuspectKind::RecoveryCodes,
            id: 0,
            label: format!("recovery codes ({n} unused)"),
            added_at: codes.try_get::<Option<i64>, _>("created_at")?.unwrap_or(0),
            flagged_at: codes.try_get::<Option<i64>, _>("suspect_at")?.unwrap_or(0),
        });
    }
    Ok(items)
}

impl Db {
    /// The files of the project an administrator kept after reviewing them (`admin:file:keep`
    /// events, whose details carry `file_id`): an undo may bring those back although they were
    /// uploaded while their uploader's account may have been someone else's.
    pub async fn files_kept(&self, project_id: i64) -> Result<Vec<i64>, StoreError> {
        let events = all(
            query(
                "SELECT * FROM events WHERE action = 'admin:file:keep' AND subject_kind = 'project' \
                 AND subject_id = $1 ORDER BY seq"
                    .to_owned(),
            )
            .bind(project_id),
            &self.read,
            crate::events::event_from_row,
        )
        .await?;
        Ok(events
            .iter()
            .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
            .filter_map(|d| d.get("file_id").and_then(serde_json::Value::as_i64))
            .collect())
    }

    /// Every incident window recorded for the account, oldest first.
    pub async fn incidents_of(&self, user_id: i64) -> Result<Vec<Incident>, StoreError> {
        let sql =
            format!("SELECT {INCIDENT_COLS} FROM account_incidents WHERE user_id = $1 ORDER BY id");
        all(query(sql).bind(user_id), &self.read, incident_from_row).await
    }

    /// The account's addresses and factors waiting for the owner's decision.
    pub async fn suspect_items(&self, user_id: i64) -> Result<Vec<SuspectItem>, StoreError> {
        let mut conn = self.read.acquire().await?;
        suspect_items_on(&mut conn, user_id).await
    }

    /// The account's events (as their subject) with one of `actions`, in `[from, to]`, in log
    /// order.
    pub async fn account_events_between(
        &self,
        user_id: i64,
        actions: &[&str],
        from: i64,
        to: i64,
    ) -> Result<Vec<Event>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let list = (0..actions.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT * FROM events WHERE subject_kind = 'user' AND subject_id = $1 AND at >= $2 AND at <= $3 \
             AND action IN ({list}) ORDER BY seq"
        );
        let mut q = query(sql).bind(user_id).bind(from).bind(to);
        for a in actions {
            q = q.bind((*a).to_owned());
        }
        all(q, &self.read, crate::events::event_from_row).await
    }
}

impl AdminTx {
    /// Go on with this intervention as an account change (an undo that hands an account back
    /// needs both: roles and projects, then the account's addresses, factors and mail links).
    pub fn into_account(self) -> AccountTx {
        AccountTx::from_parts(self.tx, self.dialect, self.keyring)
    }
}

impl AccountTx {
    /// Freeze the account for good: `frozen_at` (the first freeze's time is kept), every
    /// session ended, every API token revoked (an unfreeze revives none of them), the unused
    /// mail links of `kill_links` purposes killed, login tickets and WebAuthn ceremonies
    /// dropped, and factors still waiting for their confirmation mail removed.
    pub async fn freeze_account(
        &mut self,
        user_id: i64,
        reason: &str,
        by: Option<&str>,
        kill_links: &[&str],
        at: i64,
    ) -> Result<FreezeEffects, StoreError> {
        sqlx::query(
            "UPDATE users SET frozen_at = COALESCE(frozen_at, $1), frozen_reason = $2, frozen_by = $3 WHERE id = $4",
        )
        .bind(at)
        .bind(reason.to_owned())
        .bind(by.map(str::to_owned))
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?;
        let sessions_ended = sqlx::query(
            "UPDATE sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL",
        )
        .bind(at)
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        let rows = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING id, name",
        )
        .bind(at)
        .bind(user_id)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut tokens_revoked = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
        tokens_revoked.sort();
        let links_killed = self
            .invalidate_email_tokens(user_id, kill_links, at)
            .await?;
        let states_dropped = sqlx::query("DELETE FROM auth_states WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        let mut pending_factors_removed = 0;
        for table in ["totp_secrets", "webauthn_credentials"] {
            pending_factors_removed += query(format!(
                "DELETE FROM {table} WHERE user_id = $1 AND enabled_at IS NULL"
            ))
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        }
        Ok(FreezeEffects {
            sessions_ended,
            tokens_revoked,
            links_killed,
            states_dropped,
            pending_factors_removed,
        })
    }

    /// Lift a freeze, leaving the password disabled (`password_disabled` = the given reason)
    /// until it is reset; `false` when the account was not frozen.
    pub async fn unfreeze_account(
        &mut self,
        user_id: i64,
        password_disabled: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE users SET frozen_at = NULL, frozen_reason = NULL, frozen_by = NULL, password_disabled = $1 \
             WHERE id = $2 AND frozen_at IS NOT NULL",
        )
        .bind(password_disabled.to_owned())
        .bind(user_id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Record an incident window; returns its id.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_incident(
        &mut self,
        user_id: i64,
        kind: IncidentKind,
        window_start: i64,
        window_end: i64,
        at: i64,
        by: &str,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO account_incidents (user_id, kind, window_start, window_end, opened_at, opened_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(user_id)
        .bind(kind.as_str().to_owned())
        .bind(window_start)
        .bind(window_end)
        .bind(at)
        .bind(by.to_owned())
        .fetch_one(&mut *self.tx)
        .await?)
    }

    /// The newest incident of `kind` not yet handed back, if any.
    pub async fn open_incident(
        &mut self,
        user_id: i64,
        kind: IncidentKind,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLS} FROM account_incidents WHERE user_id = $1 AND kind = $2 AND returned_at IS NULL \
             ORDER BY id DESC LIMIT 1"
        );
        optional(
            query(sql).bind(user_id).bind(kind.as_str().to_owned()),
            &mut *self.tx,
            incident_from_row,
        )
        .await
    }

    /// Mark the incident's account handed back.
    pub async fn mark_incident_returned(
        &mut self,
        id: i64,
        at: i64,
        by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE account_incidents SET returned_at = $1, returned_by = $2 WHERE id = $3 AND returned_at IS NULL",
        )
        .bind(at)
        .bind(by.to_owned())
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Leave suspect (`suspect_at` = `at`) every address added or verified, and every factor
    /// and unused recovery code added, at or after `since` — except the address `trusted`
    /// (one an administrator vouched for). Returns everything now waiting for a decision.
    pub async fn flag_suspect(
        &mut self,
        user_id: i64,
        since: i64,
        at: i64,
        trusted: Option<i64>,
    ) -> Result<Vec<SuspectItem>, StoreError> {
        sqlx::query(
            "UPDATE emails SET suspect_at = $1 WHERE user_id = $2 AND suspect_at IS NULL \
             AND (created_at >= $3 OR verified_at >= $3) AND id <> $4",
        )
        .bind(at)
        .bind(user_id)
        .bind(since)
        .bind(trusted.unwrap_or(-1))
        .execute(&mut *self.tx)
        .await?;
        for (table, extra) in [
            ("totp_secrets", ""),
            ("webauthn_credentials", ""),
            ("recovery_codes", " AND burned_at IS NULL"),
        ] {
            query(format!(
                "UPDATE {table} SET suspect_at = $1 WHERE user_id = $2 AND suspect_at IS NULL AND created_at >= $3{extra}"
            ))
            .bind(at)
            .bind(user_id)
            .bind(since)
            .execute(&mut *self.tx)
            .await?;
        }
        self.suspect_items(user_id).await
    }

    /// The account's addresses and factors waiting for the owner's decision (read in the change).
    pub async fn suspect_items(&mut self, user_id: i64) -> Result<Vec<SuspectItem>, StoreError> {
        suspect_items_on(&mut self.tx, user_id).await
    }

    /// The owner keeps a suspect item: it is an ordinary address or factor again. `false` when
    /// there was no such suspect item.
    pub async fn keep_suspect(
        &mut self,
        user_id: i64,
        kind: SuspectKind,
        id: i64,
    ) -> Result<bool, StoreError> {
        let sql = match kind {
            SuspectKind::Address => {
                "UPDATE emails SET suspect_at = NULL WHERE user_id = $1 AND id = $2 AND suspect_at IS NOT NULL"
            }
            SuspectKind::Totp => {
                "UPDATE totp_secrets SET suspect_at = NULL WHERE user_id = $1 AND $2 = 0 AND suspect_at IS NOT NULL"
            }
            SuspectKind::SecurityKey => {
                "UPDATE webauthn_credentials SET suspect_at = NULL WHERE user_id = $1 AND id = $2 AND suspect_at IS NOT NULL"
            }
            SuspectKind::RecoveryCodes => {
                "UPDATE recovery_codes SET suspect_at = NULL WHERE user_id = $1 AND $2 = 0 AND suspect_at IS NOT NULL"
            }
        };
        let n = sqlx::query(sql)
            .bind(user_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// The owner drops a suspect item: it is deleted (a suspect primary address never is: the
    /// unfreeze moved the primary to a trusted address). `false` when there was no such item.
    pub async fn drop_suspect(
        &mut self,
        user_id: i64,
        kind: SuspectKind,
        id: i64,
    ) -> Result<bool, StoreError> {
        let sql = match kind {
            SuspectKind::Address => {
                "DELETE FROM emails WHERE user_id = $1 AND id = $2 AND suspect_at IS NOT NULL AND is_primary = 0"
            }
            SuspectKind::Totp => {
                "DELETE FROM totp_secrets WHERE user_id = $1 AND $2 = 0 AND suspect_at IS NOT NULL"
            }
            SuspectKind::SecurityKey => {
                "DELETE FROM webauthn_credentials WHERE user_id = $1 AND id = $2 AND suspect_at IS NOT NULL"
            }
            SuspectKind::RecoveryCodes => {
                "DELETE FROM recovery_codes WHERE user_id = $1 AND $2 = 0 AND suspect_at IS NOT NULL"
            }
        };
        let n = sqlx::query(sql)
            .bind(user_id)
            .bind(id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Forget the devices first seen at or after `since` (a later login from them mails the
    /// owner again); returns how many.
    pub async fn forget_logins_since(
        &mut self,
        user_id: i64,
        since: i64,
    ) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM known_logins WHERE user_id = $1 AND first_at >= $2")
                .bind(user_id)
                .bind(since)
                .execute(&mut *self.tx)
                .await?
                .rows_affected(),
        )
    }

    /// Revoke the user's live API tokens created at or after `since`; returns (id, name) of each.
    pub async fn revoke_tokens_since(
        &mut self,
        user_id: i64,
        since: i64,
        at: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL AND created_at >= $3 \
             RETURNING id, name",
        )
        .bind(at)
        .bind(user_id)
        .bind(since)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut out = rows
            .iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
            .collect::<Result<Vec<(i64, String)>, sqlx::Error>>()?;
        out.sort();
        Ok(out)
    }

    /// Who granted the member's role (the inviter), if recorded.
    pub async fn role_granted_by(
        &mut self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<i64>, StoreError> {
        let r: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT granted_by FROM roles WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(r.flatten())
    }
}
