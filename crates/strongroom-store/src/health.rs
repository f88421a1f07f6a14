//! What readiness asks of the database: can it write, and is its schema the one this binary
//! knows. Each check is one small query bounded by the caller's timeout; nothing is left behind.

use crate::{Db, Dialect, StoreError};

/// Where the schema stands against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration this binary knows is applied.
    Current,
    /// Migrations this binary knows are not applied yet (their numbers).
    Behind(Vec<i64>),
}

impl Db {
    /// Whether a write commits: one row of `schema_migrations` is rewritten with its own values
    /// in a write transaction that is then rolled back. A read-only database (a PostgreSQL
    /// standby, a read-only SQLite file) or one that cannot take the write lock fails.
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE schema_migrations SET applied_at = applied_at \
             WHERE version = (SELECT MAX(version) FROM schema_migrations)",
        )
        .execute(&mut *tx)
        .await?;
        if self.dialect == Dialect::Postgres {
            // A standby refuses the UPDATE already; this also refuses a read-only session.
            sqlx::query("SELECT txid_current()")
                .execute(&mut *tx)
                .await?;
        }
        tx.rollback().await?;
        Ok(())
    }

    /// Where the schema stands (see [`SchemaState`]).
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&self.read)
            .await?;
        let missing: Vec<i64> = crate::migrations::MIGRATIONS
            .iter()
            .map(|m| m.version)
            .filter(|v| !done.contains(v))
            .collect();
        Ok(if missing.is_empty() {
            SchemaState::Current
        } else {
            SchemaState::Behind(missing)
        })
    }
}
