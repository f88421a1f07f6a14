//! Admins' rules for upstream projects (`upstream_rules`, migration 0025: block, allow early)
//! and the name watch (`upstream_name_checks`: which local or reserved name was asked about at
//! which upstream, and when a project of that name was first found there). Every rule change
//! bumps the upstream generation in its own transaction, so no server keeps serving a page
//! built before it.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::admin::AdminTx;
use crate::states::UnknownValue;
use crate::{Db, StoreError};

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamRuleKind {
    /// Served before the cooldown ends.
    Allow,
    /// Never served (the project as PEP 792 `quarantined`, files 403).
    Block,
}

impl UpstreamRuleKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamRuleKind::Allow => "allow",
            UpstreamRuleKind::Block => "block",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Result<UpstreamRuleKind, UnknownValue> {
        match s {
            "allow" => Ok(UpstreamRuleKind::Allow),
            "block" => Ok(UpstreamRuleKind::Block),
            other => Err(UnknownValue {
                column: "upstream_rules.kind",
                value: other.to_owned(),
            }),
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UpstreamRule {
    /// The normalised project name.
    pub project: String,
    /// One version (canonical form), or `None` for the whole project.
    pub version: Option<String>,
    pub kind: UpstreamRuleKind,
    pub reason: String,
    /// Microseconds.
    pub created_at: i64,
    /// Who made it (event log actor name).
    pub created_by: String,
}

/// What a name-watch row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCheck {
    /// The normalised name.
    pub name: String,
    /// When it was last asked about (µs).
    pub checked_at: i64,
    /// When the upstream was first seen to have it (µs), if it ever was.
    pub found_at: Option<i64>,
}

const COLS: &str = "project, version, kind, reason, created_at, created_by";

fn rule_from_row(r: &AnyRow) -> Result<UpstreamRule, StoreError> {
    let version: String = r.try_get("version")?;
    let kind: String = r.try_get("kind")?;
    Ok(UpstreamRule {
        project: r.try_get("project")?,
        version: (!version.is_empty()).then_some(version),
        kind: UpstreamRuleKind::parse(&kind)?,
        reason: r.try_get("reason")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
    })
}

impl Db {
    /// The rules of one project (whole-project rules first).
    pub async fn upstream_rules_of(&self, project: &str) -> Result<Vec<UpstreamRule>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM upstream_rules WHERE project = $1 ORDER BY kind, version");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project.to_owned())
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// Every rule, by project, kind and version (at most `limit`).
    pub async fn upstream_rules_all(&self, limit: i64) -> Result<Vec<UpstreamRule>, StoreError> {
        let sql =
            format!("SELECT {COLS} FROM upstream_rules ORDER BY project, kind, version LIMIT $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(rule_from_row).collect()
    }

    /// The normalised names of every local project row, in any state.
    pub async fn all_project_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT normalized_name FROM projects ORDER BY normalized_name")
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// What the name watch knows about `upstream_url`.
    pub async fn name_checks(&self, upstream_url: &str) -> Result<Vec<NameCheck>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, checked_at, found_at FROM upstream_name_checks WHERE upstream_url = $1",
        )
        .bind(upstream_url.to_owned())
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NameCheck {
                    name: r.try_get("name")?,
                    checked_at: r.try_get("checked_at")?,
                    found_at: r.try_get("found_at")?,
                })
            })
            .collect()
    }

    /// Every name found at an upstream: `(name, upstream_url, found_at)`, newest first.
    pub async fn name_conflicts(
        &self,
        limit: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, upstream_url, found_at FROM upstream_name_checks \
             WHERE found_at IS NOT NULL ORDER BY found_at DESC, name LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("name")?,
                    r.try_get("upstream_url")?,
                    r.try_get("found_at")?,
                ))
            })
            .collect()
    }

    /// Record that `name` was asked about at `upstream_url` (and not found) at `at`.
    pub async fn record_name_check(
        &self,
        name: &str,
        upstream_url: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO upstream_name_checks (name, upstream_url, checked_at, found_at) \
             VALUES ($1, $2, $3, NULL) \
             ON CONFLICT (upstream_url, name) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(name.to_owned())
        .bind(upstream_url.to_owned())
        .bind(at)
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

impl AdminTx {
    /// Add a rule, or replace the reason of the same one; bumps the upstream generation.
    /// Returns the rule it replaced.
    pub async fn put_upstream_rule(
        &mut self,
        rule: &UpstreamRule,
    ) -> Result<Option<UpstreamRule>, StoreError> {
        let version = rule.version.clone().unwrap_or_default();
        let sql = format!(
            "SELECT {COLS} FROM upstream_rules WHERE project = $1 AND kind = $2 AND version = $3"
        );
        let old = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rule.project.clone())
            .bind(rule.kind.as_str())
            .bind(version.clone())
            .fetch_optional(&mut *self.tx)
            .await?
            .as_ref()
            .map(rule_from_row)
            .transpose()?;
        sqlx::query(
            "INSERT INTO upstream_rules (project, version, kind, reason, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, kind, version) DO UPDATE SET reason = excluded.reason, \
             created_at = excluded.created_at, created_by = excluded.created_by",
        )
        .bind(rule.project.clone())
        .bind(version)
        .bind(rule.kind.as_str())
        .bind(rule.reason.clone())
        .bind(rule.created_at)
        .bind(rule.created_by.clone())
        .execute(&mut *self.tx)
        .await?;
        crate::bump_upstream_generation_in(&mut self.tx).await?;
        Ok(old)
    }

    /// Delete a rule; bumps the upstream generation when there was one. Returns it.
    pub async fn delete_upstream_rule(
        &mut self,
        project: &str,
        kind: UpstreamRuleKind,
        version: Option<&str>,
    ) -> Result<Option<UpstreamRule>, StoreError> {
        let sql = format!(
            "DELETE FROM upstream_rules WHERE project = $1 AND kind = $2 AND version = $3 \
             RETURNING {COLS}"
        );
        let gone = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(project.to_owned())
            .bind(kind.as_str())
            .bind(version.unwrap_or_default().to_owned())
            .fetch_optional(&mut *self.tx)
            .await?
            .as_ref()
            .map(rule_from_row)
            .transpose()?;
        if gone.is_some() {
            crate::bump_upstream_generation_in(&mut self.tx).await?;
        }
        Ok(gone)
    }

    /// Mark `name` found at `upstream_url` at `at`; true only the first time (the caller
    /// signals then, and never again for this name and upstream).
    pub async fn mark_name_found(
        &mut self,
        name: &str,
        upstream_url: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO upstream_name_checks (name, upstream_url, checked_at, found_at) \
             VALUES ($1, $2, $3, $3) \
             ON CONFLICT (upstream_url, name) DO UPDATE SET checked_at = excluded.checked_at, \
             found_at = excluded.found_at WHERE upstream_name_checks.found_at IS NULL",
        )
        .bind(name.to_owned())
        .bind(upstream_url.to_owned())
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() > 0)
    }
}
