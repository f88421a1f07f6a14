//! What readiness asks of the database: can it write (its schema state is
//! `migrations::state`). The check is one small query bounded by the caller's timeout; nothing
//! is left behind.

use crate::{Db, Dialect, StoreError};

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
}
