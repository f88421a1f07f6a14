//! The database handle: pools for SQLite or PostgreSQL behind sqlx's `Any` driver.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::StoreError;
use crate::private_fs::{self, Tightened};
use crate::sealing::{Keyring, SealError};

/// Which SQL database is behind the pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite (one process; writes go through a single connection).
    Sqlite,
    /// PostgreSQL (several servers may share it).
    Postgres,
}

/// The metadata database.
///
/// On SQLite, writes go through a pool of exactly one connection so that write transactions are
/// serialised in-process (no `SQLITE_BUSY` on lock upgrade) while reads use WAL snapshots.
/// On PostgreSQL both pools are the same.
#[derive(Clone, Debug)]
pub struct Db {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    pub(crate) dialect: Dialect,
    /// The key sealed secrets are sealed and opened with (never stored in the database).
    pub(crate) keyring: Option<Arc<Keyring>>,
}

impl Db {
    /// Connect to `url` (`sqlite://PATH` or `postgres://...`), creating the SQLite file if needed.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL '{url}': use sqlite://PATH or postgres://..."
            )));
        };
        match dialect {
            Dialect::Sqlite => {
                // The file exists, owner-only, before SQLite opens it: SQLite gives its -wal,
                // -shm and -journal files the database file's mode.
                let file = private_fs::sqlite_file(url);
                if let Some(f) = &file {
                    let t = private_fs::prepare_sqlite_file(f).map_err(|e| {
                        StoreError::Config(format!(
                            "cannot create the database file {}: {e}",
                            f.display()
                        ))
                    })?;
                    log_tightened(&t);
                }
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let opts = AnyConnectOptions::from_str(&url)?;
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(sqlite_setup)
                    .connect_with(opts.clone())
                    .await?;
                let read = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(sqlite_setup)
                    .connect_with(opts)
                    .await?;
                // Check: the journals SQLite just made have the database file's mode.
                if let Some(f) = &file {
                    log_tightened(&private_fs::tighten_files(&private_fs::sqlite_files(f)));
                }
                Ok(Db {
                    read,
                    write,
                    dialect,
                    keyring: None,
                })
            }
            Dialect::Postgres => {
                let opts = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await?;
                Ok(Db {
                    read: pool.clone(),
                    write: pool,
                    dialect,
                    keyring: None,
                })
            }
        }
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// This handle with the keyring that seals and opens secrets (TOTP seeds, server secrets,
    /// queued mail). Without one, reading or writing them fails with [`SealError::NoKey`].
    #[must_use]
    pub fn with_keyring(mut self, keyring: Keyring) -> Db {
        self.keyring = Some(Arc::new(keyring));
        self
    }

    /// The id of the key secrets are sealed with (safe to print), when there is a keyring.
    pub fn secrets_key_id(&self) -> Option<&str> {
        self.keyring.as_deref().map(Keyring::primary_id)
    }

    /// The keyring, or [`SealError::NoKey`].
    pub(crate) fn keyring(&self) -> Result<&Keyring, SealError> {
        self.keyring.as_deref().ok_or(SealError::NoKey)
    }

    /// Bring the schema to the newest migration.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        crate::migrations::run(self).await
    }

    /// Begin a write transaction.
    ///
    /// On SQLite this is `BEGIN IMMEDIATE`: the database's write lock is taken up front, so a
    /// second process on the same file (the CLI beside a running server) waits out
    /// `busy_timeout` instead of failing with `SQLITE_BUSY_SNAPSHOT` (517) when a deferred
    /// transaction that has already read tries to upgrade to a writer.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.write.begin().await?,
        })
    }

    /// Cheap liveness check.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Say what was tightened (group/world-readable database files left by an older version).
fn log_tightened(t: &Tightened) {
    for c in &t.changed {
        tracing::warn!(change = %c, "the database file was readable by others: made owner-only");
    }
    for (p, why) in &t.left_alone {
        tracing::warn!(path = %p.display(), reason = %why, "database file left as it was");
    }
}

fn sqlite_setup<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        conn.execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;

    /// Two processes on one SQLite file (a server and the admin CLI) must both get their writes
    /// in: the event log reads its tail then appends, which under a deferred `BEGIN` fails with
    /// `SQLITE_BUSY_SNAPSHOT` as soon as the other handle commits in between.
    #[tokio::test]
    async fn two_handles_on_one_sqlite_file_interleave_writes_without_busy_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let a = Db::connect(&url).await.expect("connect a");
        a.migrate().await.expect("migrate");
        let b = Db::connect(&url).await.expect("connect b");
        let writer = |db: Db, who: &'static str| async move {
            for i in 0..40 {
                let e = NewEvent {
                    at: i,
                    action: format!("test:{who}"),
                    subject_kind: "site".into(),
                    details: serde_json::json!({ "i": i }),
                    ..NewEvent::default()
                };
                db.append_event(&e)
                    .await
                    .map_err(|e| format!("{who} #{i}: {e}"))?;
            }
            Ok::<(), String>(())
        };
        let (ra, rb) = tokio::join!(
            tokio::spawn(writer(a.clone(), "a")),
            tokio::spawn(writer(b.clone(), "b"))
        );
        ra.expect("join a").expect("writer a");
        rb.expect("join b").expect("writer b");
        assert_eq!(a.event_head().await.expect("head").map(|h| h.0), Some(80));
        assert_eq!(
            a.verify_events().await.expect("verify"),
            None,
            "chain intact"
        );
    }
}
