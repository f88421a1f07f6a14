//! The store's error type: conflicts and absences are typed so the core can map them to the
//! upload protocol's answers, a full disk is typed so the server can answer 507, not 500, and
//! an outage of the database or the blob store is typed ([`StoreError::Unavailable`]) so the
//! server can answer 503 with a reason at once, not a 500 after a long wait.

/// What went wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (a race lost, or a duplicate).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The volume holding the database, the blob store or the temp folder is full (SQLite
    /// `SQLITE_FULL`, PostgreSQL `53100 disk_full`, `ENOSPC`/`EDQUOT`). Nothing was written; the
    /// same request succeeds once space is freed. The text says where, for the log.
    #[error("out of space: {0}")]
    OutOfSpace(String),
    /// An upload's claim on its blob key was gone when its publish transaction ran: a collector
    /// took it as expired (the upload stalled longer than the claim grace period), so the blob
    /// may be deleted and nothing was recorded. Uploading again works.
    #[error("the claim on blob {0} expired before the upload was recorded")]
    ClaimExpired(String),
    /// The database or the blob store cannot be reached (connection refused or timed out, the
    /// server shutting down or starting up, no pooled connection within the acquire timeout).
    /// Nothing was changed; the same request works once it is back. The text is for the log.
    #[error("{part} unavailable: {detail}")]
    Unavailable { part: Backend, detail: String },
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The blob store refused or failed.
    #[error("blob store error: {0}")]
    Blob(String),
    /// Local file I/O failed.
    #[error("i/o error: {0}")]
    Io(std::io::Error),
    /// A sealed secret could not be sealed or opened (no key, another key, altered).
    #[error(transparent)]
    Sealing(#[from] crate::sealing::SealError),
    /// Configuration of a backend is invalid.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// A row holds a status or role text this version does not know (written by a newer
    /// version, or by hand): refused, never guessed at.
    #[error(transparent)]
    UnknownValue(#[from] crate::states::UnknownValue),
}

impl StoreError {
    /// Whether this error is a unique-constraint violation.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }

    /// Whether the database or the blob store is unreachable (answered 503, retried later).
    pub fn unavailable(&self) -> Option<Backend> {
        match self {
            StoreError::Unavailable { part, .. } => Some(*part),
            _ => None,
        }
    }

    /// Whether PostgreSQL cancelled the statement because it ran past its `statement_timeout`
    /// (SQLSTATE `57014 query_canceled`): a bounded read (search) refused as too costly.
    pub fn is_statement_timeout(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some_and(|pg| pg.code() == "57014"),
            _ => false,
        }
    }

    /// Whether a full disk caused this error.
    pub fn is_out_of_space(&self) -> bool {
        matches!(self, StoreError::OutOfSpace(_))
    }

    /// Whether SQLite says its file is damaged (`SQLITE_CORRUPT` 11, `SQLITE_NOTADB` 26): the
    /// file must be restored, not retried.
    pub fn is_corruption(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db))
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
            {
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 11 | 26))
            }
            _ => false,
        }
    }
}

/// Which storage backend an outage concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The metadata database (SQLite or PostgreSQL).
    Database,
    /// The blob store (a folder or an S3 bucket).
    BlobStore,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Database => "database",
            Backend::BlobStore => "blob store",
        })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Decode(d) = &e
            && let Some(u) = d.downcast_ref::<crate::states::UnknownValue>()
        {
            return StoreError::UnknownValue(u.clone());
        }
        if sql_out_of_space(&e) {
            return StoreError::OutOfSpace(format!("database: {e}"));
        }
        if sql_unreachable(&e) {
            return StoreError::Unavailable {
                part: Backend::Database,
                detail: e.to_string(),
            };
        }
        let e = StoreError::Database(e);
        if e.is_corruption() {
            CORRUPTION_SEEN.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        e
    }
}

/// Set once any database call of this process met a damaged SQLite file: a stop after that
/// does not vouch for the file (`clean_close`).
static CORRUPTION_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process has met a damaged SQLite file.
pub fn corruption_seen() -> bool {
    CORRUPTION_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        if io_out_of_space(&e) {
            return StoreError::OutOfSpace(format!("file system: {e}"));
        }
        StoreError::Io(e)
    }
}

/// Whether a file-system error means "no space left" (`ENOSPC`, or a quota: `EDQUOT`).
pub fn io_out_of_space(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
}

/// Whether a database error means "no space left": SQLite's `SQLITE_FULL` (13, which SQLite
/// also answers for `ENOSPC` on its files), PostgreSQL's `53100 disk_full`, or an I/O error
/// that is itself out of space.
fn sql_out_of_space(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return pg.code() == "53100";
            }
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The code is SQLite's extended result code; the primary code is its low byte.
                const SQLITE_FULL: i32 = 13;
                return db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| c & 0xff == SQLITE_FULL);
            }
            false
        }
        sqlx::Error::Io(io) => io_out_of_space(io),
        _ => false,
    }
}

/// Whether a database error means "the database cannot be reached right now": no connection
/// within the acquire timeout, a refused or broken connection, or PostgreSQL shutting down,
/// starting up or in a connection exception (SQLSTATE classes 08 and 57P).
fn sql_unreachable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| {
                let c = pg.code();
                c.starts_with("08") || c.starts_with("57P")
            }),
        _ => false,
    }
}

/// Turn a unique violation into [`StoreError::Conflict`], keep everything else.
pub(crate) fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict(what.to_owned());
    }
    StoreError::from(e)
}
