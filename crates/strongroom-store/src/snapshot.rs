//! Consistent copies of an SQLite database for backups (`VACUUM INTO`, taken from one read
//! snapshot while the server keeps writing), opened read-only again to list what they hold: the
//! blobs their file rows name, with the sha256 each must have, and a few counts. Also the
//! verified blob copy a backup and a restore both use: bytes streamed into an owner-only file
//! while hashed, kept only when the hash is the one the row names.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use tokio::io::AsyncWriteExt;

use crate::{BlobBody, Blobs, Db, Dialect, StoreError};

/// A blob a snapshot's rows name: a distribution file or its PEP 658 `.metadata` companion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedBlob {
    /// Its key in the blob store (`aa/bb/rest/filename`, or that with `.metadata`).
    pub key: String,
    /// The sha256 (hex) its bytes must have.
    pub sha256: String,
}

/// How much a database holds (for the backup manifest and the operator's eye).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub users: i64,
    pub projects: i64,
    pub releases: i64,
    pub files: i64,
    pub events: i64,
}

impl Db {
    /// Write a consistent copy of this SQLite database to `dest` (which must not exist: it is
    /// created owner-only first), from one read snapshot: writers are not stopped, and what
    /// they commit after the snapshot began is not in the copy.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::Config(
                "a database snapshot is taken on SQLite only; back PostgreSQL up with pg_dump"
                    .into(),
            ));
        }
        // SQLite writes into an existing empty file, keeping its mode.
        drop(crate::private_fs::create_new(dest)?);
        let path = dest
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not UTF-8", dest.display())))?;
        let done = sqlx::query("VACUUM INTO $1")
            .bind(path.to_owned())
            .persistent(false)
            .execute(&self.read)
            .await;
        if let Err(e) = done {
            let _ = std::fs::remove_file(dest);
            return Err(e.into());
        }
        let f = std::fs::File::open(dest)?;
        f.sync_all()?;
        Ok(())
    }

    /// Open a snapshot file read-only (`immutable`: no journal is made beside it, nothing in it
    /// changes). The path must not hold `?`, `#` or `%` (it becomes a URL).
    pub async fn open_snapshot(file: &Path) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let path = file
            .to_str()
            .filter(|p| !p.contains(['?', '#', '%']))
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "{} cannot be opened as a database: use a path without '?', '#' or '%'",
                    file.display()
                ))
            })?;
        if !file.is_file() {
            return Err(StoreError::NotFound(format!("{}", file.display())));
        }
        let opts = AnyConnectOptions::from_str(&format!("sqlite://{path}?mode=ro&immutable=1"))?;
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        Ok(Db {
            read: pool.clone(),
            write: pool,
            dialect: Dialect::Sqlite,
            keyring: None,
            url: None,
            known: std::sync::Arc::new(crate::LATEST_MIGRATION.into()),
        })
    }

    /// Every blob the file rows name (removed, held and quarantined files too: an undo brings
    /// them back), each once, sorted by key.
    pub async fn named_blobs(&self) -> Result<Vec<NamedBlob>, StoreError> {
        // Cached upstream files too (migration 0022): their rows are in the snapshot, so a
        // restore without their blobs would list files it cannot serve.
        let rows = sqlx::query(
            "SELECT blob_key, sha256, metadata_sha256 FROM files \
             UNION ALL SELECT blob_key, sha256, metadata_sha256 FROM upstream_files",
        )
        .fetch_all(&self.read)
        .await?;
        let mut out = Vec::with_capacity(rows.len() * 2);
        for r in &rows {
            let key: String = r.try_get(0)?;
            let sha: String = r.try_get(1)?;
            let meta: Option<String> = r.try_get(2)?;
            if let Some(m) = meta {
                out.push(NamedBlob {
                    key: format!("{key}.metadata"),
                    sha256: m.to_ascii_lowercase(),
                });
            }
            out.push(NamedBlob {
                key,
                sha256: sha.to_ascii_lowercase(),
            });
        }
        // Metadata kept without its file (0030): only `<key>.metadata` exists.
        let rows = sqlx::query("SELECT blob_key, metadata_sha256 FROM upstream_metadata")
            .fetch_all(&self.read)
            .await?;
        for r in &rows {
            let key: String = r.try_get(0)?;
            let sha: String = r.try_get(1)?;
            out.push(NamedBlob {
                key: format!("{key}.metadata"),
                sha256: sha.to_ascii_lowercase(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out.dedup_by(|a, b| a.key == b.key);
        Ok(out)
    }

    /// Rows in the main tables.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let mut c = [0i64; 5];
        for (i, sql) in [
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM projects",
            "SELECT COUNT(*) FROM releases",
            "SELECT COUNT(*) FROM files",
            "SELECT COUNT(*) FROM events",
        ]
        .into_iter()
        .enumerate()
        {
            c[i] = sqlx::query_scalar(sql).fetch_one(&self.read).await?;
        }
        Ok(Counts {
            users: c[0],
            projects: c[1],
            releases: c[2],
            files: c[3],
            events: c[4],
        })
    }

    /// The newest migration recorded (0 for a database never migrated).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let exists: i64 = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                )
                .fetch_one(&self.read)
                .await?
            }
            Dialect::Postgres => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'",
                )
                .fetch_one(&self.read)
                .await?
            }
        };
        if exists == 0 {
            return Ok(0);
        }
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.read)
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Whether the database has any table at all (a restore goes only into one that has none).
    pub async fn has_tables(&self) -> Result<bool, StoreError> {
        let n: i64 = match self.dialect {
            Dialect::Sqlite => {
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'")
                    .fetch_one(&self.read)
                    .await?
            }
            Dialect::Postgres => {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                )
                .fetch_one(&self.read)
                .await?
            }
        };
        Ok(n > 0)
    }
}

/// The newest schema version this build knows (what a restore may bring back).
pub fn newest_schema_version() -> i64 {
    crate::migrations::MIGRATIONS
        .last()
        .map_or(0, |m| m.version)
}

/// Why a verified copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The source has no such blob.
    #[error("missing")]
    Missing,
    /// The bytes are not the ones named.
    #[error("its sha256 is {actual}, not {expected}")]
    Mismatch { expected: String, actual: String },
    /// Reading or writing failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<std::io::Error> for CopyError {
    fn from(e: std::io::Error) -> Self {
        CopyError::Store(e.into())
    }
}

/// Copy blob `key` from `blobs` into a new owner-only file `dest` (its folders made 0700),
/// hashing it on the way: kept (fsynced) only when its sha256 is `sha256`, else removed.
/// Returns the size.
pub async fn copy_blob_verified(
    blobs: &Blobs,
    key: &str,
    sha256: &str,
    dest: &Path,
) -> Result<u64, CopyError> {
    let Some(body) = blobs.get(key, None).await? else {
        return Err(CopyError::Missing);
    };
    write_verified(body, sha256, dest).await
}

/// [`copy_blob_verified`] from a local file (a backup's copy of a blob).
pub async fn copy_file_verified(src: &Path, sha256: &str, dest: &Path) -> Result<u64, CopyError> {
    let f = match tokio::fs::File::open(src).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CopyError::Missing),
        Err(e) => return Err(e.into()),
    };
    let body = futures_util::stream::unfold(f, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(StoreError::from(e)), f)),
        }
    })
    .boxed();
    write_verified(body, sha256, dest).await
}

async fn write_verified(mut body: BlobBody, sha256: &str, dest: &Path) -> Result<u64, CopyError> {
    let partial = partial_path(dest);
    let written: Result<(u64, String), CopyError> = async {
        if let Some(parent) = dest.parent() {
            crate::private_fs::create_dir_all_async(parent).await?;
        }
        let mut f = tokio::fs::File::from_std(crate::private_fs::create_new(&partial)?);
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            h.update(&chunk);
            n += chunk.len() as u64;
            f.write_all(&chunk).await?;
        }
        f.flush().await?;
        f.sync_all().await?;
        Ok((n, hex::encode(h.finalize())))
    }
    .await;
    match written {
        Ok((n, actual)) if actual.eq_ignore_ascii_case(sha256) => {
            tokio::fs::rename(&partial, dest).await?;
            Ok(n)
        }
        Ok((_, actual)) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(CopyError::Mismatch {
                expected: sha256.to_owned(),
                actual,
            })
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(e)
        }
    }
}

/// Any object in the store (a folder's `.tmp` aside): a restore goes only into an empty one.
pub async fn first_object(blobs: &Blobs) -> Result<Option<String>, StoreError> {
    match blobs.list().next().await {
        Some(Ok(b)) => Ok(Some(b.key)),
        Some(Err(e)) => Err(e),
        None => Ok(None),
    }
}

/// The sha256 (hex) and size of a local file.
pub async fn sha256_file(path: &Path) -> Result<(String, u64), StoreError> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(h.finalize()), total))
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".partial");
    PathBuf::from(s)
}
