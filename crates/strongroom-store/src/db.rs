//! The database handle: pools for SQLite or PostgreSQL behind sqlx's `Any` driver.
//!
//! A pooled connection is only ever handed out outside any transaction. sqlx counts the
//! transactions it opened on each connection; when the database ends one behind its back (SQLite
//! rolls the whole transaction back on `SQLITE_FULL`, `SQLITE_IOERR` or `SQLITE_NOMEM`, so the
//! ROLLBACK of the dropped `Transaction` then fails) the count stays above zero, and every later
//! `BEGIN IMMEDIATE` on that connection failed with "attempted to call begin_with at non-zero
//! transaction depth" until a restart. The pools therefore check every connection when it comes
//! back ([`release_check`], [`sqlite_release_check`]) and again before it goes out ([`acquire_check`]): one still in a
//! transaction after its pending ROLLBACK ran is closed, and the pool opens a fresh one. A broken
//! connection (a PostgreSQL backend terminated, the server restarted) fails its ping and is
//! replaced the same way. Whatever failed (BEGIN, a statement, COMMIT, ROLLBACK, or a future
//! dropped mid-transaction), the next request gets a clean connection.
//!
//! An outage is short for every request: on PostgreSQL no request waits longer than
//! [`DbSettings::acquire_timeout`] for a connection (opening one included), and every error that
//! means "not reachable" becomes [`StoreError::Unavailable`], which the server answers with 503.
//! The pool keeps no state from the outage: once the database answers, the next acquire opens a
//! fresh connection. Each PostgreSQL connection names this server in `application_name`
//! (`strongroom <host>:<pid>`), so `pg_stat_activity` shows whose connections are whose.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

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

impl Dialect {
    /// Rows per multi-row `INSERT` of `params_per_row` parameters each. On SQLite, sqlx binds
    /// each parameter after looking its name up in the statement's list of names from the
    /// start, so a statement's binding costs the square of its parameters: at most 128 of them
    /// (a page-read flush of 400 a statement was 0.7 % of a server's samples under a spread
    /// over every project). PostgreSQL binds by position, and each statement is a round trip:
    /// up to 1,000.
    pub(crate) fn rows_per_insert(self, params_per_row: usize) -> usize {
        let params = match self {
            Dialect::Sqlite => 128,
            Dialect::Postgres => 1_000,
        };
        (params / params_per_row.max(1)).max(1)
    }

    /// Values one `IN (...)` list binds (one parameter each): the same bound, for the same
    /// reason (the lists of a blob sweep, an audit's hashes, the scanner's cache keys).
    pub(crate) fn values_per_list(self) -> usize {
        self.rows_per_insert(1)
    }
}

/// Connections of the database pools at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Handed out to a request or job.
    pub in_use: u32,
    /// Open and waiting in the pool.
    pub idle: u32,
}

/// How the pools connect (`db.*` settings). The timeouts and pool size apply to PostgreSQL;
/// SQLite keeps its one writer (whose waits are queueing behind other writes, not an outage)
/// and its readers.
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// Connections to PostgreSQL at most (`db.pool_size`).
    pub pool_size: u32,
    /// How long the first connection (when `serve` or a command starts) may take before the
    /// database counts as unreachable (`db.connect_timeout_seconds`).
    pub connect_timeout: Duration,
    /// How long a request waits for a pooled connection, opening a new one included, before it
    /// is answered 503 (`db.acquire_timeout_seconds`).
    pub acquire_timeout: Duration,
    /// `application_name` of PostgreSQL connections; `None`: `strongroom <host>:<pid>`. A name
    /// given in the URL (`?application_name=`) wins.
    pub application_name: Option<String>,
}

impl Default for DbSettings {
    fn default() -> Self {
        DbSettings {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(3),
            application_name: None,
        }
    }
}

/// This server's name for PostgreSQL: `strongroom <host>:<pid>` (at most 63 bytes, PostgreSQL's
/// limit for `application_name`).
pub fn server_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    let pid = std::process::id().to_string();
    // "strongroom " + host + ":" + pid within 63 bytes: a long host name is cut (on a char).
    let room = 63 - "strongroom :".len() - pid.len();
    let mut cut = String::new();
    for c in host.chars() {
        if cut.len() + c.len_utf8() > room {
            break;
        }
        cut.push(c);
    }
    format!("strongroom {cut}:{pid}")
}

/// `url` with `application_name` added unless the URL names one already.
fn with_application_name(url: &str, name: &str) -> String {
    if url.contains("application_name=") {
        return url.to_owned();
    }
    let mut enc = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            enc.push(char::from(b));
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={enc}")
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
    /// The URL connected to (`None` for a snapshot): the change feed opens its own
    /// connection with it (`change_feed`: PostgreSQL's LISTEN, SQLite's `data_version`).
    pub(crate) url: Option<Arc<str>>,
    /// The migrations the binary using this handle knows (`1..=known`; [`crate::LATEST_MIGRATION`]
    /// unless [`Db::migrate_up_to`] was given fewer, as `testing.known_migrations` does to act as
    /// an older release): reads of tables a later migration creates are skipped below it.
    pub(crate) known: Arc<std::sync::atomic::AtomicI64>,
}

impl Db {
    /// Connect to `url` (`sqlite://PATH` or `postgres://...`) with the default [`DbSettings`],
    /// creating the SQLite file if needed.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Db::connect_with(url, &DbSettings::default()).await
    }

    /// Connect to `url` with `settings`. A PostgreSQL server that does not answer within
    /// `connect_timeout` is [`StoreError::Unavailable`].
    pub async fn connect_with(url: &str, settings: &DbSettings) -> Result<Db, StoreError> {
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
                    refuse_foreign(&t)?;
                    log_tightened(&t);
                }
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let opts = AnyConnectOptions::from_str(&url)?;
                probe_sqlite(&opts).await?;
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(sqlite_setup)
                    .after_release(sqlite_release_check)
                    .before_acquire(acquire_check)
                    .connect_with(opts.clone())
                    .await?;
                let read = AnyPoolOptions::new()
                    .max_connections(sqlite_readers())
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(sqlite_read_setup)
                    .after_release(sqlite_release_check)
                    .before_acquire(acquire_check)
                    .connect_with(opts)
                    .await?;
                // Check: the journals SQLite just made have the database file's mode.
                if let Some(f) = &file {
                    let uid = private_fs::effective_uid().map_err(|e| {
                        StoreError::Config(format!("reading this process's uid: {e}"))
                    })?;
                    let t = private_fs::tighten_files(&private_fs::sqlite_files(f), uid);
                    refuse_foreign(&t)?;
                    log_tightened(&t);
                }
                Ok(Db {
                    read,
                    write,
                    dialect,
                    keyring: None,
                    url: Some(Arc::from(url)),
                    known: Arc::new(crate::LATEST_MIGRATION.into()),
                })
            }
            Dialect::Postgres => {
                let name = settings
                    .application_name
                    .clone()
                    .unwrap_or_else(server_name);
                let opts = AnyConnectOptions::from_str(&with_application_name(url, &name))?;
                // `test_before_acquire` (sqlx's default, kept) pings an idle connection before
                // handing it out, so connections to a restarted server are replaced. The pool
                // is lazy: its connections open on demand, each request waiting at most the
                // acquire timeout.
                let pool = AnyPoolOptions::new()
                    .max_connections(settings.pool_size.max(1))
                    .acquire_timeout(settings.acquire_timeout)
                    .test_before_acquire(true)
                    .after_release(release_check)
                    .before_acquire(acquire_check)
                    .connect_lazy_with(opts.clone());
                // One connection of its own, within the connect timeout: an unreachable server is
                // `Unavailable` (waited for), a refusal (password, database name) is not.
                let first = tokio::time::timeout(
                    settings.connect_timeout,
                    sqlx::AnyConnection::connect_with(&opts),
                )
                .await;
                match first {
                    Ok(Ok(conn)) => {
                        let _ = conn.close().await;
                    }
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => {
                        return Err(StoreError::Unavailable {
                            part: crate::Backend::Database,
                            detail: format!(
                                "no connection within {} s",
                                settings.connect_timeout.as_secs()
                            ),
                        });
                    }
                }
                Ok(Db {
                    read: pool.clone(),
                    write: pool,
                    dialect,
                    keyring: None,
                    url: Some(Arc::from(with_application_name(url, &name))),
                    known: Arc::new(crate::LATEST_MIGRATION.into()),
                })
            }
        }
    }

    /// Connections open and idle in the pools (for the metrics): on PostgreSQL the one pool,
    /// on SQLite the read pool and the one write connection together.
    pub fn pool_stats(&self) -> PoolStats {
        let (mut open, mut idle) = (self.read.size(), self.read.num_idle());
        if self.dialect == Dialect::Sqlite {
            open += self.write.size();
            idle += self.write.num_idle();
        }
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolStats {
            in_use: open - idle,
            idle,
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

    /// Bring the schema to the newest migration; returns the names applied (none when the
    /// database is ahead of this binary: see [`Db::migrate_up_to`] for the state).
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        Ok(crate::migrations::run(self, crate::LATEST_MIGRATION)
            .await?
            .applied)
    }

    /// Apply the migrations up to `binary` (a binary that knows `1..=binary`; the newest is
    /// [`crate::LATEST_MIGRATION`]) not yet recorded, unless the database holds one after which
    /// such a binary may not run: then nothing changes and the state says so.
    pub async fn migrate_up_to(
        &self,
        binary: i64,
    ) -> Result<crate::migrations::Migrated, StoreError> {
        self.known
            .store(binary, std::sync::atomic::Ordering::Relaxed);
        crate::migrations::run(self, binary).await
    }

    /// Whether the binary using this handle knows migration `version` (its tables exist).
    pub(crate) fn knows_migration(&self, version: i64) -> bool {
        self.known.load(std::sync::atomic::Ordering::Relaxed) >= version
    }

    /// The schema's state for a binary that knows migrations `1..=binary`; changes nothing.
    pub async fn schema_state(
        &self,
        binary: i64,
    ) -> Result<crate::migrations::SchemaState, StoreError> {
        crate::migrations::state(self, binary).await
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

    /// At a stop (SQLite): fold the write-ahead log into the file and empty it, then close every
    /// connection. `true` when the log was folded in whole (no other reader or writer held it).
    pub async fn close_folded(&self) -> Result<bool, StoreError> {
        let mut folded = false;
        if self.dialect == Dialect::Sqlite {
            let row: (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.write)
                .await?;
            folded = row.0 == 0;
        }
        self.close().await;
        Ok(folded)
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }

    /// Whether [`Db::close`] has begun (the server is stopping): a background loop that meets
    /// an error then ends quietly instead of reporting a closed pool as a failure.
    pub fn is_closed(&self) -> bool {
        self.read.is_closed() || self.write.is_closed()
    }
}

/// Refuse a database file another local user owns (they could read it, or swap it for theirs).
fn refuse_foreign(t: &Tightened) -> Result<(), StoreError> {
    match t.foreign.first() {
        None => Ok(()),
        Some(f) => Err(StoreError::Config(format!(
            "the database file {}{} belongs to uid {}, not to uid {} that strongroom runs as: another local user could read or replace it; if it is yours, chown it to this uid, else remove it",
            f.path.display(),
            f.target
                .as_ref()
                .map(|t| format!(" (-> {})", t.display()))
                .unwrap_or_default(),
            f.uid,
            private_fs::effective_uid().map_or_else(|_| "?".into(), |u| u.to_string()),
        ))),
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

/// Whether a connection coming back to a PostgreSQL pool may be reused: only outside any
/// transaction. The transaction count is updated when a dropped `Transaction` queues its
/// ROLLBACK, and the pool's own ping after this hook sends it. A failed ping makes the pool drop
/// the connection without reusing it.
fn release_check(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move { Ok(reusable(conn)) })
}

/// [`release_check`] for the SQLite pools ([`Dialect::Sqlite`]): a dropped `Transaction`
/// queues its ROLLBACK and the connection's worker thread runs it (and updates sqlx's
/// transaction count) asynchronously, so when the count is not zero a ping goes through the
/// worker first and the count is read again after it.
fn sqlite_release_check(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            // A ROLLBACK may be queued behind the count: let the worker run it, then look again.
            // (A BEGIN whose caller went away is rolled back by the worker itself.)
            conn.ping().await?;
        }
        Ok(reusable(conn))
    })
}

/// Whether the connection is outside any transaction; one still inside is logged and closed.
fn reusable(conn: &sqlx::AnyConnection) -> bool {
    let clean = !conn.is_in_transaction();
    if !clean {
        tracing::warn!(
            "a database connection came back inside a transaction the database had already \
             ended (after a failed COMMIT or ROLLBACK); closing it instead of reusing it"
        );
    }
    clean
}

/// Whether an idle connection may be handed out: the same rule as [`release_check`], checked
/// again so that no path can give a request a connection inside a transaction.
fn acquire_check(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'_, Result<bool, sqlx::Error>> {
    Box::pin(async move { Ok(!conn.is_in_transaction()) })
}

/// Open one connection and set it up the way the pools do: a file SQLite cannot read (a
/// damaged header or schema) fails here at once, where the pools would retry it until their
/// acquire timeout.
async fn probe_sqlite(opts: &AnyConnectOptions) -> Result<(), StoreError> {
    let mut conn = sqlx::AnyConnection::connect_with(opts).await?;
    let set_up = conn
        .execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;",
        )
        .await;
    let _ = conn.close().await;
    set_up?;
    Ok(())
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

/// How many reading connections an SQLite index keeps at most: two per core, from 2 to 8.
/// SQLite reads a cached database on the CPU, so more readers than that add no throughput,
/// only memory (each holds its page cache, parsed schema and prepared statements in a
/// worker thread of its own: about 2.5 MB each, measured after a page spread).
fn sqlite_readers() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u32::try_from(cores.saturating_mul(2))
        .unwrap_or(8)
        .clamp(2, 8)
}

/// A reading connection: as [`sqlite_setup`], with a page cache of 1 MiB instead of SQLite's
/// 2 MiB default. Eight of them held 16 MiB of pages the operating system's file cache holds
/// as well (a miss is a copy from it, not a disk read), a quarter of a 10k-project server's
/// memory after a spread of page requests.
fn sqlite_read_setup<'c>(
    conn: &'c mut sqlx::AnyConnection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> futures_util::future::BoxFuture<'c, Result<(), sqlx::Error>> {
    Box::pin(async move {
        sqlite_setup(conn, meta).await?;
        conn.execute("PRAGMA cache_size = -1024;").await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewEvent;

    /// A SQLite statement stays within 128 parameters (its binding is quadratic in them); a
    /// PostgreSQL one takes more rows; a row wider than the bound still goes, one a statement.
    #[test]
    fn a_multi_row_insert_is_sized_for_the_database() {
        for width in [1, 4, 8, 9, 127, 128] {
            let rows = Dialect::Sqlite.rows_per_insert(width);
            assert!(
                rows * width <= 128 && (rows + 1) * width > 128,
                "{width}: {rows}"
            );
            assert!(Dialect::Postgres.rows_per_insert(width) > rows, "{width}");
        }
        assert_eq!(Dialect::Sqlite.rows_per_insert(4), 32);
        assert_eq!(Dialect::Sqlite.rows_per_insert(500), 1);
        assert_eq!(Dialect::Postgres.rows_per_insert(0), 1_000);
        assert_eq!(Dialect::Sqlite.values_per_list(), 128);
        assert_eq!(Dialect::Postgres.values_per_list(), 1_000);
    }

    #[test]
    fn postgres_connections_name_this_server_unless_the_url_does() {
        let name = server_name();
        assert!(
            name.starts_with("strongroom ") && name.len() <= 63,
            "{name}"
        );
        assert!(
            name.ends_with(&format!(":{}", std::process::id())),
            "{name}"
        );
        assert_eq!(
            with_application_name("postgres://h/db", "strongroom a:1"),
            "postgres://h/db?application_name=strongroom%20a%3A1"
        );
        assert_eq!(
            with_application_name("postgres://h/db?sslmode=disable", "x"),
            "postgres://h/db?sslmode=disable&application_name=x"
        );
        let own = "postgres://h/db?application_name=mine";
        assert_eq!(with_application_name(own, "x"), own);
    }

    /// Nothing listens: the start is told in seconds that the database is unreachable (typed,
    /// so `serve` waits for it instead of failing), not after sqlx's 30 s.
    #[tokio::test]
    async fn an_unreachable_postgres_is_unavailable_within_the_timeouts() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let settings = DbSettings {
            connect_timeout: Duration::from_secs(2),
            acquire_timeout: Duration::from_secs(1),
            ..DbSettings::default()
        };
        let t = std::time::Instant::now();
        let e = Db::connect_with(&format!("postgres://u:p@127.0.0.1:{port}/db"), &settings)
            .await
            .expect_err("nothing listens");
        assert_eq!(e.unavailable(), Some(crate::Backend::Database), "{e:?}");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    /// `SQLITE_FULL` (here from `PRAGMA max_page_count`, exactly what a full disk gives) rolls
    /// the whole transaction back inside SQLite. The error is typed as out of space, and once
    /// space is back the very next write works, without a restart.
    #[tokio::test]
    async fn sqlite_full_is_typed_and_the_next_write_works_once_space_is_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.expect("connect");
        db.migrate().await.expect("migrate");
        db.write
            .execute("CREATE TABLE filler (b BLOB NOT NULL)")
            .await
            .expect("table");
        // The write pool's one connection may grow the file by a few pages only (the limit is
        // per connection: set again on whichever connection the pool has now).
        let fill_disk = |db: Db| async move {
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&db.write)
                .await
                .expect("page count");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA max_page_count = {}",
                pages + 4
            )))
            .execute(&db.write)
            .await
            .expect("limit");
        };
        let big = |db: Db| async move {
            let mut tx = db.begin_write().await?;
            sqlx::query("INSERT INTO filler (b) VALUES (randomblob(200000))")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        };
        for attempt in 0..3 {
            fill_disk(db.clone()).await;
            let err = big(db.clone()).await.expect_err("the database is full");
            assert!(
                err.is_out_of_space(),
                "attempt {attempt}: typed as out of space: {err:?}"
            );
            // Reads keep working while the disk is full.
            db.ping().await.expect("reads work");
        }
        // Space comes back: whichever connection the pool hands out next, no limit applies.
        sqlx::query("PRAGMA max_page_count = 1073741823")
            .execute(&db.write)
            .await
            .expect("lift the limit");
        big(db.clone()).await.expect("the next write works");
        let e = NewEvent {
            at: 1,
            action: "test:after-full".into(),
            subject_kind: "site".into(),
            ..NewEvent::default()
        };
        db.append_event(&e).await.expect("store writes work too");
    }

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
