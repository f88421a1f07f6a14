//! What the gateway remembers of a name at its upstreams (read-only, across the gateway's
//! tables): whether it ever served the name from an upstream (a stored page that found it,
//! kept files, logged or counted upstream downloads), and where the name watch found it.
//! The core asks before a name becomes local (a new project) or stops being local (an admin
//! frees it).

use crate::{Db, StoreError};

impl Db {
    /// True when the gateway has served `project` (normalised) from an upstream: a stored page
    /// that found it, an upstream file of it kept, or an upstream download of it logged or
    /// counted. Every table is read by its key or an index on the project but `upstream_files`
    /// (bounded by the cache's byte cap).
    pub async fn served_from_upstream(&self, project: &str) -> Result<bool, StoreError> {
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM upstream_pages WHERE project = $1 AND found = 1) \
             OR EXISTS (SELECT 1 FROM upstream_files WHERE project = $1) \
             OR EXISTS (SELECT 1 FROM download_log WHERE project = $1 AND origin = 'upstream') \
             OR EXISTS (SELECT 1 FROM download_counts WHERE project = $1 AND origin = 'upstream')",
        )
        .bind(project.to_owned())
        .fetch_optional(&self.read)
        .await?;
        Ok(hit.is_some())
    }

    /// The upstreams (their configured URLs) at which the name watch found `name`, oldest
    /// finding first.
    pub async fn name_found_upstream(&self, name: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT upstream_url FROM upstream_name_checks \
             WHERE name = $1 AND found_at IS NOT NULL ORDER BY found_at, upstream_url",
        )
        .bind(name.to_owned())
        .fetch_all(&self.read)
        .await?)
    }
}
