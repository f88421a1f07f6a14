//! `strongroom admin backup DIR`: an online, consistent backup of an SQLite database and its
//! blobs. The database is copied first from one read snapshot (`VACUUM INTO`; the server keeps
//! serving and writing), then every blob the snapshot's rows name, each hashed while copied and
//! refused unless it has the sha256 its row records (blobs are content-addressed and never
//! change, so copying them after the snapshot is consistent; blobs uploaded since are not
//! needed). The manifest comes last. The secrets key is left out unless asked for: a backup is
//! copied to places the key should not go. PostgreSQL is backed up with its own tools (the
//! documented order: `pg_dump`, then the bucket).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};
use strongroom_store::snapshot::{self, CopyError};
use strongroom_store::{Blobs, Db, NewEvent, private_fs};

use super::backup_manifest::{
    self as manifest, BlobEntry, DatabaseFile, FORMAT, KeyNote, Manifest,
};
use crate::config::{Config, Storage};

/// What to say about PostgreSQL + S3 (backup and restore alike).
pub(crate) const POSTGRES_PROCEDURE: &str = "on PostgreSQL, back up and restore with PostgreSQL's tools, in this order: `pg_dump` the database first, then copy the bucket (every row's blob then exists; blobs uploaded in between are orphans `strongroom admin fsck` reports); to restore, `pg_restore` into an empty database, copy the bucket back, run `strongroom admin fsck` and `strongroom admin log verify --expect-head SEQ:HASH` with the head taken at backup time (see \"Backup and restore\" in docs/operations.md)";

/// The warning printed by every backup about the secrets key.
const KEY_WARNING: &str = "the secrets key is NOT in this backup: it seals TOTP seeds, the server's signing key and queued mail, and strongroom will not start on a restored database without it. Back the key up separately (and keep it apart from this folder), or take the backup with --include-secrets-key";

/// Take the backup into `dir` (new or empty).
pub(crate) async fn backup(config: &Config, dir: &Path, include_key: bool) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(db_file) = sqlite_database(config)? else {
        bail!("`admin backup` takes SQLite databases only: {POSTGRES_PROCEDURE}");
    };
    if !db_file.is_file() {
        bail!(
            "there is no database at {} to back up (check `database` in `strongroom config show`)",
            db_file.display()
        );
    }
    // Read before anything is written: a key that cannot be read stops the backup early.
    let key = if include_key {
        super::secrets_key::existing(config)?
    } else {
        None
    };
    let created = prepare_folder(dir)?;
    let dir = std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    if let Storage::Local(root) = &config.storage
        && std::fs::canonicalize(root).is_ok_and(|r| dir.starts_with(r))
    {
        discard(&dir, created);
        bail!(
            "{} is inside the blob folder {}: the blob collector would take the copies for unused blobs; back up elsewhere",
            dir.display(),
            root.display()
        );
    }
    match take(config, &dir, key.as_ref(), include_key).await {
        Ok(()) => Ok(()),
        Err(e) => {
            discard(&dir, created);
            Err(e.context(format!(
                "the backup failed; nothing was kept in {}",
                dir.display()
            )))
        }
    }
}

/// Remove what a failed backup wrote: the folder if it made it, else what is in it (it was
/// empty before).
fn discard(dir: &Path, created: bool) {
    let result = if created {
        std::fs::remove_dir_all(dir)
    } else {
        std::fs::read_dir(dir).and_then(|entries| {
            for e in entries {
                let path = e?.path();
                if path.is_dir() {
                    std::fs::remove_dir_all(&path)?;
                } else {
                    std::fs::remove_file(&path)?;
                }
            }
            Ok(())
        })
    };
    if let Err(e) = result {
        super::note(&format!(
            "could not remove the unfinished backup in {}: {e}; remove it by hand",
            dir.display()
        ));
    }
}

/// The backup proper, into the prepared folder.
async fn take(
    config: &Config,
    dir: &Path,
    key: Option<&strongroom_store::SecretsKey>,
    include_key: bool,
) -> anyhow::Result<()> {
    let db = Db::connect_with(&config.database, &config.db)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                crate::config::redact_url(&config.database)
            )
        })?;
    record(&db, dir, include_key, now_micros(config)).await?;
    let snapshot_file = dir.join(manifest::DATABASE);
    let taken_at_micros = now_micros(config);
    db.snapshot_into(&snapshot_file)
        .await
        .context("taking a snapshot of the database (VACUUM INTO)")?;
    db.close().await;
    let (db_sha, db_size) = snapshot::sha256_file(&snapshot_file).await?;

    let snap = Db::open_snapshot(&snapshot_file)
        .await
        .context("opening the snapshot")?;
    let named = snap.named_blobs().await?;
    let head = snap.event_head().await?;
    let counts = snap.counts().await?;
    let schema_version = snap.schema_version().await?;
    let sealed_with = snap.a_sealed_key_id().await?;
    snap.close().await;

    let blobs = match &config.storage {
        Storage::Local(p) => Blobs::local(p).with_context(|| format!("opening {}", p.display()))?,
        Storage::S3(s) => Blobs::s3(s).context("configuring S3")?,
    };
    let mut entries = Vec::with_capacity(named.len());
    for b in &named {
        manifest::check_key(&b.key)?;
        let dest = dir.join(manifest::BLOBS).join(&b.key);
        let size = match snapshot::copy_blob_verified(&blobs, &b.key, &b.sha256, &dest).await {
            Ok(n) => n,
            Err(CopyError::Missing) => bail!(
                "the blob {} named by the snapshot is missing from the blob store (its file may have been deleted since the snapshot: back up again; or the store is damaged: run `strongroom admin fsck`)",
                b.key,
            ),
            Err(CopyError::Mismatch { expected, actual }) => bail!(
                "the blob {} in the blob store is damaged: its sha256 is {actual}, its row says {expected} (run `strongroom admin fsck`)",
                b.key,
            ),
            Err(CopyError::Store(e)) => {
                return Err(anyhow::Error::new(e).context(format!("copying the blob {}", b.key)));
            }
        };
        entries.push(BlobEntry {
            key: b.key.clone(),
            sha256: b.sha256.clone(),
            size,
        });
    }

    let included = match key {
        Some(k) => {
            write_new(
                &dir.join(manifest::SECRETS_KEY),
                format!("{}\n", k.to_text()).as_bytes(),
            )?;
            true
        }
        None => false,
    };
    let m = Manifest {
        format: FORMAT.into(),
        strongroom_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        taken_at: strongroom_core::clock::iso8601_seconds(taken_at_micros),
        taken_at_micros,
        log_head: head.as_ref().map(|(seq, hash)| format!("{seq}:{hash}")),
        counts,
        database: DatabaseFile {
            file: manifest::DATABASE.into(),
            sha256: db_sha,
            size: db_size,
        },
        secrets_key: KeyNote {
            sealed_with: sealed_with.clone(),
            included,
        },
        blobs: entries,
    };
    let partial = dir.join(format!("{}.partial", manifest::MANIFEST));
    write_new(&partial, serde_json::to_string_pretty(&m)?.as_bytes())?;
    std::fs::rename(&partial, dir.join(manifest::MANIFEST))?;
    std::fs::File::open(dir)?.sync_all()?;

    println!(
        "backed up {} users, {} projects, {} releases, {} files ({} blobs) and {} events (schema {schema_version}) into {}",
        counts.users,
        counts.projects,
        counts.releases,
        counts.files,
        m.blobs.len(),
        counts.events,
        dir.display()
    );
    match &m.log_head {
        Some(h) => println!(
            "event log head in the backup: {h} (after a restore: `strongroom admin log verify --expect-head {h}`)"
        ),
        None => println!("the event log in the backup is empty"),
    }
    if included {
        println!(
            "WARNING: the secrets key is IN this backup ({}): whoever reads the folder can open the TOTP seeds and other sealed secrets in it; keep it as safe as the key itself",
            manifest::SECRETS_KEY
        );
    } else if include_key {
        println!(
            "note: no secrets key exists yet (nothing is sealed in this database), so none was included"
        );
    } else {
        println!("WARNING: {KEY_WARNING}");
        if let Some(id) = &sealed_with {
            println!("the database's sealed secrets need the key with id {id}");
        }
    }
    Ok(())
}

/// The configured SQLite database file, `None` on PostgreSQL.
pub(crate) fn sqlite_database(config: &Config) -> anyhow::Result<Option<std::path::PathBuf>> {
    if !config.database.starts_with("sqlite:") {
        return Ok(None);
    }
    match private_fs::sqlite_file(&config.database) {
        Some(f) => Ok(Some(f)),
        None => bail!("an in-memory database cannot be backed up or restored"),
    }
}

/// Make `dir` (0700), or take an existing empty folder this uid owns (made 0700); whether it
/// was made.
fn prepare_folder(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => private_fs::create_dir_all(dir)
            .map(|()| true)
            .with_context(|| format!("creating {}", dir.display())),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
        Ok(m) => {
            if !m.is_dir() {
                bail!("{} exists and is not a folder", dir.display());
            }
            let uid = private_fs::effective_uid()?;
            if m.uid() != uid {
                bail!(
                    "{} belongs to {}, not to {} that strongroom runs as: another user could read the backup",
                    dir.display(),
                    super::data_dir::describe_uid(m.uid()),
                    super::data_dir::describe_uid(uid)
                );
            }
            if std::fs::read_dir(dir)?.next().is_some() {
                bail!(
                    "{} is not empty: back up into a new or empty folder (a backup never overwrites another)",
                    dir.display()
                );
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(private_fs::DIR_MODE))
                .map(|()| false)
                .with_context(|| format!("making {} owner-only", dir.display()))
        }
    }
}

/// A new owner-only file with `data`, fsynced.
pub(crate) fn write_new(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f =
        private_fs::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Now, as the server's and the other commands' clock reads it (a test clock offset included).
pub(crate) fn now_micros(config: &Config) -> i64 {
    use strongroom_core::clock::Clock;
    match &config.clock_offset_file {
        Some(f) => strongroom_core::FileOffsetClock(f.clone()).now_micros(),
        None => strongroom_core::clock::SystemClock.now_micros(),
    }
}

/// The event log names who took a backup, where to, and whether the key went with it (the
/// entry is in the backup itself).
async fn record(db: &Db, dir: &Path, include_key: bool, at: i64) -> anyhow::Result<()> {
    let actor = super::cli_actor();
    db.append_event(&NewEvent {
        request_id: None,
        at,
        actor_id: None,
        actor_name: Some(actor.name),
        action: "admin:backup".into(),
        subject_kind: "site".into(),
        subject_id: None,
        subject_name: None,
        ip: None,
        user_agent: super::cli_meta().user_agent,
        details: serde_json::json!({
            "folder": dir.display().to_string(),
            "secrets_key_included": include_key,
        }),
    })
    .await
    .context("recording the backup in the event log")?;
    Ok(())
}
