//! The manifest of a backup folder (`manifest.json`): what `admin backup` took and what
//! `admin restore-backup` checks before it writes anything: the database file's sha256, every blob
//! the database's rows name with its sha256, the event log's head, and which secrets key the
//! database's sealed values need. Written last, so a folder without one is an unfinished backup.

use std::path::Path;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use strongroom_store::BlobKey;
use strongroom_store::snapshot::Counts;

/// The format named in every manifest; restore refuses any other.
pub(crate) const FORMAT: &str = "strongroom-backup/1";
/// The manifest's file name in the backup folder.
pub(crate) const MANIFEST: &str = "manifest.json";
/// The database snapshot's file name in the backup folder.
pub(crate) const DATABASE: &str = "database.sqlite3";
/// The folder of blob copies in the backup folder (same layout as the blob store).
pub(crate) const BLOBS: &str = "blobs";
/// The secrets key's file name, present only with `--include-secrets-key`.
pub(crate) const SECRETS_KEY: &str = "secret.key";

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format: String,
    pub strongroom_version: String,
    /// The newest migration the database had.
    pub schema_version: i64,
    /// When the snapshot was taken (RFC 3339, UTC) and in microseconds since the epoch.
    pub taken_at: String,
    pub taken_at_micros: i64,
    /// The event log's newest entry in the snapshot, as `SEQ:HASH` (what `admin log verify
    /// --expect-head` takes); `None` for an empty log.
    pub log_head: Option<String>,
    pub counts: Counts,
    pub database: DatabaseFile,
    pub secrets_key: KeyNote,
    pub blobs: Vec<BlobEntry>,
}

/// The database snapshot file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DatabaseFile {
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// Which key the snapshot's sealed values need, and whether it is in the folder.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct KeyNote {
    /// The key id the sealed values name (safe to print: an HMAC of the key); `None` when the
    /// database holds no sealed value.
    pub sealed_with: Option<String>,
    /// Whether `secret.key` is in the folder (`--include-secrets-key`).
    pub included: bool,
}

/// One blob copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlobEntry {
    pub key: String,
    pub sha256: String,
    pub size: u64,
}

impl Manifest {
    /// Read and check the format of `dir/manifest.json`.
    pub(crate) fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (a folder without a manifest is not a finished backup)",
                path.display()
            )
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a strongroom backup manifest", path.display()))?;
        if m.format != FORMAT {
            bail!(
                "{} has format '{}'; this strongroom reads '{FORMAT}'",
                path.display(),
                m.format
            );
        }
        if m.database.file != DATABASE {
            bail!(
                "{} names the database file '{}', expected '{DATABASE}'",
                path.display(),
                m.database.file
            );
        }
        for b in &m.blobs {
            check_key(&b.key)?;
        }
        Ok(m)
    }
}

/// A blob key as the store writes them (`aa/bb/rest/filename`, a cached upstream file's
/// `upstream/aa/<sha256>-filename` or, kept before that layout, `upstream/aa/bb/rest/filename`,
/// or any of them with `.metadata`):
/// anything else (`..`, an absolute path) is refused before it becomes a path.
pub(crate) fn check_key(key: &str) -> anyhow::Result<Option<BlobKey>> {
    if let Some(file) = key.strip_suffix(".metadata")
        && BlobKey::parse_stored(file).is_some()
    {
        return Ok(None);
    }
    match BlobKey::parse_stored(key) {
        Some(k) => Ok(Some(k)),
        None => bail!("'{key}' is not a blob key strongroom writes"),
    }
}
