//! What changed, for the servers' page caches (issue 14: no database read per cached page).
//! Three sources, all about the journal (every change the public can see writes a journal
//! entry through `publish::write_journal`, the one place it is appended) and the upstream
//! generation (`upstream_generation`):
//! - in this process: [`JournalHook`]s subscribed here hear of each journal entry and each
//!   generation bump while its transaction is still open (so they can stop caching the project
//!   until the commit is seen by [`Db::change_marks`]);
//! - on PostgreSQL, other servers: `NOTIFY` on [`NOTIFY_CHANNEL`] in the same transaction as the
//!   journal insert (delivered at commit), payload `<serial> <project name>`, heard through
//!   [`Db::journal_listener`];
//! - anywhere: [`Db::change_marks`] (the highest serial and the generation: one cheap read) and
//!   [`Db::journal_projects_since`] (bounded batches) for the periodic catch-up, and on SQLite
//!   [`DataVersion`] (`PRAGMA data_version` on a connection of its own: it moves when another
//!   connection, or another process such as the admin CLI, commits).

use std::sync::{Arc, Mutex, Weak};

use sqlx::{Any, AnyConnection, Connection, Transaction};

use crate::{Db, Dialect, StoreError};

/// The PostgreSQL channel journal entries are announced on.
pub const NOTIFY_CHANNEL: &str = "strongroom_journal";

/// Hears of this process's writes before they commit.
pub trait JournalHook: Send + Sync {
    /// A journal entry with `serial` naming `project` was written in an open transaction.
    fn journal_written(&self, serial: i64, project: &str);
    /// The upstream generation was bumped to `generation` in an open transaction.
    fn generation_bumped(&self, generation: i64);
}

/// Hooks with the database they follow (its [`Db::identity`]): a process holding several
/// databases (tests) tells each hook of its own database's writes only.
type Hooks = Mutex<Vec<(String, Weak<dyn JournalHook>)>>;

static HOOKS: Hooks = Mutex::new(Vec::new());

/// Subscribe `hook` to the writes of `db` for as long as it lives (held weakly: dropping it
/// unsubscribes).
pub async fn subscribe(db: &Db, hook: &Arc<dyn JournalHook>) -> Result<(), StoreError> {
    let mut conn = db.read.acquire().await?;
    let identity = identity_of(&mut conn).await?;
    let mut hooks = HOOKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    hooks.retain(|(_, h)| h.strong_count() > 0);
    hooks.push((identity, Arc::downgrade(hook)));
    Ok(())
}

/// Which database a connection is on: SQLite's main file, PostgreSQL's database name.
async fn identity_of(conn: &mut AnyConnection) -> Result<String, StoreError> {
    let sql = if conn.backend_name() == "PostgreSQL" {
        "SELECT CAST(current_database() AS TEXT)"
    } else {
        "SELECT file FROM pragma_database_list WHERE name = 'main'"
    };
    Ok(sqlx::query_scalar(sql).fetch_one(&mut *conn).await?)
}

/// The live hooks of the database `conn` is on (no read when nothing is subscribed, as in
/// the admin CLI).
async fn hooks_of(conn: &mut AnyConnection) -> Result<Vec<Arc<dyn JournalHook>>, StoreError> {
    {
        let mut hooks = HOOKS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        hooks.retain(|(_, h)| h.strong_count() > 0);
        if hooks.is_empty() {
            return Ok(Vec::new());
        }
    }
    let identity = identity_of(conn).await?;
    let hooks = HOOKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(hooks
        .iter()
        .filter(|(id, _)| *id == identity)
        .filter_map(|(_, h)| h.upgrade())
        .collect())
}

/// Called by `write_journal` inside its transaction: tell the hooks, and on PostgreSQL queue
/// the notification (sent by PostgreSQL at commit, dropped with a rollback).
pub(crate) async fn journal_written(
    tx: &mut Transaction<'_, Any>,
    serial: i64,
    project: &str,
) -> Result<(), StoreError> {
    for h in hooks_of(tx).await? {
        h.journal_written(serial, project);
    }
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{serial} {project}"))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Called by `bump_upstream_generation_in` inside its transaction.
pub(crate) async fn generation_bumped(
    conn: &mut AnyConnection,
    generation: i64,
) -> Result<(), StoreError> {
    for h in hooks_of(conn).await? {
        h.generation_bumped(generation);
    }
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(format!("{GENERATION_PAYLOAD} {generation}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The first word of a notification announcing a new upstream generation (`generation <g>`),
/// which changes documents of every project (advisory imports, upstream rules).
pub const GENERATION_PAYLOAD: &str = "generation";

/// A generation notification's value.
#[must_use]
pub fn parse_generation(payload: &str) -> Option<i64> {
    payload
        .strip_prefix(GENERATION_PAYLOAD)?
        .strip_prefix(' ')?
        .parse()
        .ok()
}

/// A notification's payload: `<serial> <project>`.
#[must_use]
pub fn parse_payload(payload: &str) -> Option<(i64, &str)> {
    let (serial, project) = payload.split_once(' ')?;
    Some((serial.parse().ok()?, project))
}

/// The highest journal serial and the upstream generation, read at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChangeMarks {
    pub serial: i64,
    pub generation: i64,
}

/// A PostgreSQL connection listening on [`NOTIFY_CHANNEL`].
pub struct JournalListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for JournalListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JournalListener")
    }
}

impl JournalListener {
    /// The next notification's payload; `Ok(None)` when the connection was lost (sqlx
    /// reconnects on the next call; what was announced meanwhile is lost, which the caller's
    /// catch-up read heals).
    pub async fn next(&mut self) -> Result<Option<String>, StoreError> {
        Ok(self.0.try_recv().await?.map(|n| n.payload().to_owned()))
    }
}

/// `PRAGMA data_version` on a connection of its own (SQLite).
pub struct DataVersion(AnyConnection);

impl std::fmt::Debug for DataVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataVersion")
    }
}

impl DataVersion {
    /// The number: it changes when any other connection has committed since the last read.
    pub async fn read(&mut self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut self.0)
            .await?)
    }
}

/// SQLite's write-ahead log, whose size and modification time move with every commit (of any
/// process): a `stat` a request can afford, where a query would be a database round trip.
#[derive(Debug, Clone)]
pub struct WalStamp {
    path: std::path::PathBuf,
}

/// What [`WalStamp::read`] returns: equal stamps, no commit in between (but for two commits
/// of the same size after a checkpoint within one tick of the file system's clock, which the
/// periodic `data_version` check catches).
pub type Stamp = Option<(u64, std::time::SystemTime, u64)>;

impl WalStamp {
    /// The log's size, modification time and inode now (`None` while it does not exist).
    #[must_use]
    pub fn read(&self) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.len(), m.modified().ok()?, m.ino()))
    }
}

/// At most this many journal rows per catch-up read.
pub const CATCH_UP_BATCH: i64 = 1_000;

impl Db {
    /// The highest journal serial (0 when empty) and the upstream generation.
    ///
    /// A binary acting as a release before the generation (`testing.known_migrations`) has
    /// no such table: its generation stays 0.
    pub async fn change_marks(&self) -> Result<ChangeMarks, StoreError> {
        let sql = if self.knows_migration(crate::migrations::UPSTREAM_GENERATION) {
            "SELECT (SELECT MAX(serial) FROM journal), \
             (SELECT generation FROM upstream_generation WHERE id = 1)"
        } else {
            "SELECT (SELECT MAX(serial) FROM journal), CAST(NULL AS BIGINT)"
        };
        let (serial, generation): (Option<i64>, Option<i64>) =
            sqlx::query_as(sql).fetch_one(&self.read).await?;
        Ok(ChangeMarks {
            serial: serial.unwrap_or(0),
            generation: generation.unwrap_or(0),
        })
    }

    /// The serial and project name of the journal entries after `since`, oldest first, at
    /// most `limit` (capped at [`CATCH_UP_BATCH`]).
    pub async fn journal_projects_since(
        &self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT serial, project_name FROM journal WHERE serial > $1 ORDER BY serial LIMIT $2",
        )
        .bind(since)
        .bind(limit.clamp(1, CATCH_UP_BATCH))
        .fetch_all(&self.read)
        .await?)
    }

    /// A listener on [`NOTIFY_CHANNEL`] (PostgreSQL; `None` on SQLite or a snapshot).
    pub async fn journal_listener(&self) -> Result<Option<JournalListener>, StoreError> {
        let (Dialect::Postgres, Some(url)) = (self.dialect, self.url.as_deref()) else {
            return Ok(None);
        };
        let mut l = sqlx::postgres::PgListener::connect(url).await?;
        l.listen(NOTIFY_CHANNEL).await?;
        Ok(Some(JournalListener(l)))
    }

    /// The write-ahead log to stamp (SQLite on a file; `None` otherwise).
    #[must_use]
    pub fn wal_stamp(&self) -> Option<WalStamp> {
        if self.dialect != Dialect::Sqlite {
            return None;
        }
        let file = crate::private_fs::sqlite_file(self.url.as_deref()?)?;
        let mut wal = file.into_os_string();
        wal.push("-wal");
        Some(WalStamp { path: wal.into() })
    }

    /// A connection for `PRAGMA data_version` (SQLite; `None` on PostgreSQL or a snapshot).
    pub async fn data_version(&self) -> Result<Option<DataVersion>, StoreError> {
        let (Dialect::Sqlite, Some(url)) = (self.dialect, self.url.as_deref()) else {
            return Ok(None);
        };
        Ok(Some(DataVersion(AnyConnection::connect(url).await?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_back() {
        assert_eq!(parse_payload("12 my-project"), Some((12, "my-project")));
        assert_eq!(parse_payload("x my-project"), None);
        assert_eq!(parse_payload("12"), None);
    }

    #[tokio::test]
    async fn marks_and_rows_follow_the_journal_on_every_backend() {
        for (name, db, _dir) in crate::conformance::backends().await {
            let m = db.change_marks().await.expect("marks");
            assert_eq!(m, ChangeMarks::default(), "{name}");
            db.bump_upstream_generation().await.expect("bump");
            assert_eq!(
                db.change_marks().await.expect("marks").generation,
                1,
                "{name}"
            );
            assert!(
                db.journal_projects_since(0, 10)
                    .await
                    .expect("rows")
                    .is_empty()
            );
        }
    }
}
