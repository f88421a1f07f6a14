//! An account's incident window, and what no undo may bring back from it.
//!
//! The window runs from the account's **earliest suspicious change** within
//! `recovery.incident_lookback_days` before the moment the incident was caught (the freeze, or
//! the deletion a `restore-user` undoes; an admin's 2FA reset uses "now") **up to that moment**.
//! A suspicious change is one of [`SUSPICIOUS_CHANGES`] with the account as its subject, or a
//! login from a device the account had not used before. Changes made while the account was
//! being set up (its first `recovery.hold_hours`) are not suspicious, as they start no recovery
//! hold either. With no suspicious change the window is empty (it starts where it ends).
//!
//! Inside a window, whoever held the account may have been the attacker: what was added there
//! (addresses, factors, roles, uploads) is never handed back by an undo without someone deciding
//! about it. Windows of frozen and restored accounts are recorded (`account_incidents`).

use strongroom_store::admin::FileState;
use strongroom_store::model::{Incident, User};

use crate::clock::iso8601_seconds;
use crate::settings::{days, hours};
use crate::{CoreError, Services};

/// The actions (on the account) that start an incident window. `account:login` counts only
/// when it came from a new device (`details.new_device`).
pub const SUSPICIOUS_CHANGES: &[&str] = &[
    "account:password:reset",
    "account:password:change",
    "account:email:add",
    "account:email:verified",
    "account:email:primary",
    "account:email:remove",
    "account:2fa:totp:pending",
    "account:2fa:totp:add",
    "account:2fa:totp:remove",
    "account:2fa:webauthn:pending",
    "account:2fa:webauthn:add",
    "account:2fa:webauthn:remove",
    "account:2fa:confirmed",
    "account:recovery_codes:generate",
    "account:recovery_code:used",
    "account:hold",
    "admin:user:reset-2fa",
    "token:create",
    "account:login",
];

/// `[start, end]`, both in microseconds; empty when `start == end` and nothing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentWindow {
    pub start: i64,
    pub end: i64,
    /// The change that opened it (None: no suspicious change, the window is empty).
    pub opened_by_change: Option<&'static str>,
}

impl IncidentWindow {
    /// No suspicious change opened it: nothing inside it is suspect.
    pub fn is_empty(&self) -> bool {
        self.opened_by_change.is_none()
    }

    /// The window as the log and the admin read it.
    pub fn describe(&self) -> String {
        match self.opened_by_change {
            Some(what) => format!(
                "from {} UTC ({what}) to {} UTC",
                iso8601_seconds(self.start),
                iso8601_seconds(self.end)
            ),
            None => format!(
                "empty: no suspicious change in the lookback before {} UTC",
                iso8601_seconds(self.end)
            ),
        }
    }

    /// The window's fields for an event's details.
    pub fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "window_start": self.start,
            "window_end": self.end,
            "window_start_utc": iso8601_seconds(self.start),
            "window_end_utc": iso8601_seconds(self.end),
            "window_opened_by": self.opened_by_change,
        })
    }
}

/// A file an undo would bring back although its uploader may have been the attacker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentUpload {
    pub filename: String,
    pub version: String,
    pub uploader: String,
    pub uploaded_at: i64,
    /// Why it is suspect (the window it fell in).
    pub why: String,
}

impl Services {
    /// The incident window of `user` ending at `end` (see the module docs).
    pub async fn incident_window(
        &self,
        user: &User,
        end: i64,
    ) -> Result<IncidentWindow, CoreError> {
        let safety = &self.settings.safety;
        let lookback = end.saturating_sub(days(safety.incident_lookback_days));
        let setup_over = user
            .created_at
            .saturating_add(hours(safety.recovery_hold_hours));
        let from = lookback.max(setup_over);
        if from > end {
            return Ok(IncidentWindow {
                start: end,
                end,
                opened_by_change: None,
            });
        }
        let events = self
            .db
            .account_events_between(user.id, SUSPICIOUS_CHANGES, from, end)
            .await?;
        let first = events.iter().find(|e| {
            e.action != "account:login"
                || serde_json::from_str::<serde_json::Value>(&e.details)
                    .ok()
                    .and_then(|d| d.get("new_device").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false)
        });
        Ok(match first {
            Some(e) => IncidentWindow {
                start: e.at,
                end,
                opened_by_change: SUSPICIOUS_CHANGES.iter().copied().find(|a| *a == e.action),
            },
            None => IncidentWindow {
                start: end,
                end,
                opened_by_change: None,
            },
        })
    }

    /// The windows an account's uploads are judged by: every recorded incident, plus (for an
    /// account frozen or deleted without a recorded window, e.g. before this was recorded, or
    /// deleted and not yet restored) the window that would be recorded now.
    async fn upload_windows(&self, user: &User) -> Result<Vec<Incident>, CoreError> {
        let mut windows = self.db.incidents_of(user.id).await?;
        let pending_end = match (user.frozen_at, user.deleted_at) {
            (Some(f), _) if !windows.iter().any(|w| w.returned_at.is_none()) => Some(f),
            (_, Some(d)) if !windows.iter().any(|w| w.window_end >= d) => Some(d),
            _ => None,
        };
        if let Some(end) = pending_end {
            let w = self.incident_window(user, end).await?;
            windows.push(Incident {
                id: 0,
                user_id: user.id,
                kind: strongroom_store::model::IncidentKind::Freeze,
                window_start: w.start,
                window_end: w.end,
                opened_at: end,
                opened_by: String::new(),
                returned_at: None,
                returned_by: None,
            });
        }
        Ok(windows)
    }

    /// Of `files`, those an undo must not bring back: uploaded inside one of their uploader's
    /// incident windows (recorded, or, for an account frozen or deleted now, the one that would
    /// be recorded).
    pub async fn incident_uploads<'a>(
        &self,
        files: impl IntoIterator<Item = &'a FileState>,
    ) -> Result<Vec<IncidentUpload>, CoreError> {
        let mut seen: std::collections::BTreeMap<i64, Option<(User, Vec<Incident>)>> =
            std::collections::BTreeMap::new();
        let mut kept: std::collections::BTreeMap<i64, Vec<i64>> = std::collections::BTreeMap::new();
        let mut out = Vec::new();
        for f in files {
            let Some(uid) = f.uploaded_by else { continue };
            if let std::collections::btree_map::Entry::Vacant(slot) = seen.entry(uid) {
                let entry = match self.db.user_by_id(uid).await? {
                    Some(u) => {
                        let w = self.upload_windows(&u).await?;
                        Some((u, w))
                    }
                    None => None,
                };
                slot.insert(entry);
            }
            let Some(Some((u, windows))) = seen.get(&uid) else {
                continue;
            };
            let lookback = days(self.settings.safety.incident_lookback_days);
            let why = windows.iter().find_map(|w| {
                if w.covers(f.uploaded_at) {
                    return Some(format!(
                        "uploaded inside {}'s incident window ({} to {} UTC)",
                        u.username,
                        iso8601_seconds(w.window_start),
                        iso8601_seconds(w.window_end)
                    ));
                }
                // Whatever the computed window says (a stolen token's uploads change nothing
                // on the account; a sock's first hours are setup), the account's own uploads
                // from the lookback before the incident until it was handed back are suspect.
                let from = w.window_end.saturating_sub(lookback);
                let to = w.returned_at.unwrap_or(i64::MAX);
                (from <= f.uploaded_at && f.uploaded_at <= to).then(|| {
                    format!(
                        "uploaded by {} in the {} days before its incident window closed at {} UTC{}",
                        u.username,
                        self.settings.safety.incident_lookback_days,
                        iso8601_seconds(w.window_end),
                        match w.returned_at {
                            Some(r) => format!(", or before it was handed back at {} UTC", iso8601_seconds(r)),
                            None => ", or since".into(),
                        }
                    )
                })
            });
            if let Some(why) = why {
                let ids = match kept.entry(f.project_id) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(self.db.files_kept(f.project_id).await?)
                    }
                };
                if ids.contains(&f.id) {
                    continue; // an administrator reviewed it and kept it
                }
                out.push(IncidentUpload {
                    filename: f.filename.clone(),
                    version: f.version.clone(),
                    uploader: u.username.clone(),
                    uploaded_at: f.uploaded_at,
                    why,
                });
            }
        }
        Ok(out)
    }

    /// Refuse an undo that would bring back `found` (see [`Services::incident_uploads`]).
    pub(crate) fn refuse_incident_uploads(
        &self,
        what: &str,
        found: &[IncidentUpload],
    ) -> Result<(), CoreError> {
        if found.is_empty() {
            return Ok(());
        }
        let list = found
            .iter()
            .map(|u| format!("{} ({} {}: {})", u.filename, u.version, u.uploader, u.why))
            .collect::<Vec<_>>()
            .join("; ");
        Err(CoreError::Conflict(format!(
            "{what} would bring back files whoever held their uploader's account may have put there: {list}. Remove them first (strongroom admin remove PROJECT VERSION [FILENAME]), or, having reviewed one, keep it (strongroom admin keep-file PROJECT VERSION FILENAME --reason ...); an undo never brings back on its own what was uploaded inside an incident window."
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_describe_themselves() {
        let w = IncidentWindow {
            start: 1_767_225_600_000_000,
            end: 1_767_225_600_000_000 + 3_600_000_000,
            opened_by_change: Some("account:email:add"),
        };
        assert_eq!(
            w.describe(),
            "from 2026-01-01T00:00:00 UTC (account:email:add) to 2026-01-01T01:00:00 UTC"
        );
        assert_eq!(w.details()["window_opened_by"], "account:email:add");
    }
}
