//! Event log queries for investigations: everything about one account or one project, in order,
//! and the role history replayed to restore a deleted account's roles.

use crate::events::event_from_row;
use crate::model::Event;
use crate::{Db, StoreError};

/// Role events (subject `project`), replayed to know who held which role when.
pub const ROLE_ACTIONS: &[&str] = &["project:create", "role:add", "role:change", "role:remove"];

fn details(e: &Event) -> serde_json::Value {
    serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null)
}

/// Whether the event's details name this user id (`user_id`, or `target_id`/`actor_id` of
/// role changes).
pub fn details_mention_user(e: &Event, user_id: i64) -> bool {
    let d = details(e);
    ["user_id", "target_id", "inviter_id", "invitee_id"]
        .iter()
        .any(|k| d.get(k).and_then(serde_json::Value::as_i64) == Some(user_id))
}

fn details_mention_project(e: &Event, project_id: i64, names: &[String]) -> bool {
    let d = details(e);
    if d.get("project_id").and_then(serde_json::Value::as_i64) == Some(project_id) {
        return true;
    }
    ["project", "project_name"].iter().any(|k| {
        d.get(k)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| {
                let n = strongroom_protocol::name::normalize(v);
                names.contains(&n)
            })
    })
}

impl Db {
    /// The newest `limit` events whose action is one of `actions`, newest first.
    pub async fn recent_events_of(
        &self,
        actions: &[&str],
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (2..actions.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT * FROM events WHERE action IN ({}) ORDER BY seq DESC LIMIT $1",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(limit);
        for a in actions {
            q = q.bind((*a).to_owned());
        }
        let rows = q.fetch_all(&self.read).await?;
        rows.iter()
            .map(event_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Per action among `actions`, the events since `since` (µs, inclusive): `(action, count,
    /// newest time)`. The admin start page groups its signals with it (the index on
    /// `(action, seq)` serves it).
    pub async fn event_counts_since(
        &self,
        actions: &[&str],
        since: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (2..actions.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT action, COUNT(*), MAX(at) FROM events WHERE at >= $1 AND action IN ({}) GROUP BY action",
            marks.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(since);
        for a in actions {
            q = q.bind((*a).to_owned());
        }
        let rows = q.fetch_all(&self.read).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            use sqlx::Row;
            out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
        Ok(out)
    }

    /// The event `seq`.
    pub async fn event_at(&self, seq: i64) -> Result<Option<Event>, StoreError> {
        let r = sqlx::query("SELECT * FROM events WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(event_from_row).transpose()?)
    }

    /// Events of `action` since `since` (µs, inclusive), newest first, at most `limit`.
    pub async fn events_of_since(
        &self,
        action: &str,
        since: i64,
        limit: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE action = $1 AND at >= $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(action.to_owned())
        .bind(since)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }

    /// Events by or about the account (actor, subject, or named in the details), from
    /// `since` (µs, inclusive), in log order.
    pub async fn events_about_user(
        &self,
        user_id: i64,
        since: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE at >= $1 AND ((subject_kind = 'user' AND subject_id = $2) OR actor_id = $2 \
             OR details LIKE $3) ORDER BY seq",
        )
        .bind(since)
        .bind(user_id)
        .bind(format!("%{user_id}%"))
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let e = event_from_row(r)?;
            let direct = (e.subject_kind == "user" && e.subject_id == Some(user_id))
                || e.actor_id == Some(user_id);
            if direct || details_mention_user(&e, user_id) {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Events about the project (its subject, or naming it in the details), from `since`
    /// (µs, inclusive), in log order. `normalized_names` are the names it went by.
    pub async fn events_about_project(
        &self,
        project_id: i64,
        normalized_names: &[String],
        since: i64,
    ) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE at >= $1 AND ((subject_kind = 'project' AND subject_id = $2) \
             OR details LIKE '%project%') ORDER BY seq",
        )
        .bind(since)
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let e = event_from_row(r)?;
            if (e.subject_kind == "project" && e.subject_id == Some(project_id))
                || details_mention_project(&e, project_id, normalized_names)
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Role events (see [`ROLE_ACTIONS`]) up to `until` (µs, inclusive), in log order.
    pub async fn role_events_until(&self, until: i64) -> Result<Vec<Event>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM events WHERE subject_kind = 'project' AND at <= $1 \
             AND action IN ('project:create', 'role:add', 'role:change', 'role:remove') ORDER BY seq",
        )
        .bind(until)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.iter().map(event_from_row).collect::<Result<_, _>>()?)
    }
}
