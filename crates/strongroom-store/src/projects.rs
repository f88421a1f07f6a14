//! Projects and the roles people hold on them.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::{Project, Role};
use crate::rows::{all, query};
use crate::states::{ProjectRole, ProjectStatus};
use crate::visibility::PUBLIC_PROJECT;
use crate::{Db, StoreError};

pub(crate) const PROJECT_COLS: &str =
    "id, name, normalized_name, created_at, status, last_serial, total_size, status_reason";

pub(crate) fn project_from_row(r: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        normalized_name: r.try_get("normalized_name")?,
        created_at: r.try_get("created_at")?,
        status: ProjectStatus::decode("projects.status", &r.try_get::<String, _>("status")?)?,
        last_serial: r.try_get("last_serial")?,
        total_size: r.try_get("total_size")?,
        status_reason: r.try_get("status_reason")?,
    })
}

pub(crate) const ROLE_SELECT: &str = "SELECT r.project_id, r.user_id, u.username, r.role, r.granted_at, r.granted_by, r.watch_until \
     FROM roles r JOIN users u ON u.id = r.user_id";

pub(crate) fn role_from_row(r: &AnyRow) -> Result<Role, sqlx::Error> {
    Ok(Role {
        project_id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        username: r.try_get(2)?,
        role: ProjectRole::decode("roles.role", &r.try_get::<String, _>(3)?)?,
        granted_at: r.try_get(4)?,
        granted_by: r.try_get(5)?,
        watch_until: r.try_get(6)?,
    })
}

impl Db {
    /// Look a project up by its normalised name.
    pub async fn project_by_normalized(
        &self,
        normalized: &str,
    ) -> Result<Option<Project>, StoreError> {
        let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE normalized_name = $1");
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(normalized.to_owned())
            .fetch_optional(&self.read)
            .await?;
        Ok(r.as_ref().map(project_from_row).transpose()?)
    }

    /// Whether a project with this ultranormalised (confusable) name exists, and its name.
    pub async fn project_by_ultranormalized(
        &self,
        ultra: &str,
    ) -> Result<Option<String>, StoreError> {
        let r: Option<String> =
            sqlx::query_scalar("SELECT name FROM projects WHERE ultranormalized_name = $1")
                .bind(ultra.to_owned())
                .fetch_optional(&self.read)
                .await?;
        Ok(r)
    }

    /// Every public project (the root index, the XML-RPC list, the web lists): (display name,
    /// normalised name, last serial), by normalised name.
    pub async fn index_projects(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let sql = format!(
            "SELECT p.name, p.normalized_name, p.last_serial FROM projects p WHERE {PUBLIC_PROJECT} ORDER BY p.normalized_name"
        );
        // Streamed: each row becomes its three values as it arrives, so at a million projects
        // the driver's rows are never all held beside the list.
        use futures_util::TryStreamExt;
        let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&self.read);
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
        Ok(out)
    }

    /// At most `limit` public projects after `after` (by normalized name; `""` from the
    /// first), in that order: one run of the index page, read by a key rather than an
    /// offset, so each run costs the same however far into a million names it starts.
    pub async fn index_projects_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let sql = format!(
            "SELECT p.name, p.normalized_name, p.last_serial FROM projects p \
             WHERE {PUBLIC_PROJECT} AND p.normalized_name > $1 \
             ORDER BY p.normalized_name LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// The role `user_id` holds on `project_id`, if any.
    pub async fn role_of(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> Result<Option<ProjectRole>, StoreError> {
        let r: Option<String> =
            sqlx::query_scalar("SELECT role FROM roles WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_optional(&self.read)
                .await?;
        Ok(r.map(|r| ProjectRole::decode("roles.role", &r))
            .transpose()?)
    }

    /// Everyone with a role on the project.
    pub async fn roles_of_project(&self, project_id: i64) -> Result<Vec<Role>, StoreError> {
        let sql =
            format!("{ROLE_SELECT} WHERE r.project_id = $1 ORDER BY r.role DESC, u.username_lower");
        all(query(sql).bind(project_id), &self.read, role_from_row).await
    }
}
