//! `strongroom admin restore-backup DIR`: put a backup taken by `admin backup` back into the configured
//! (empty) SQLite database and blob store. Everything is checked before anything is written:
//! the manifest, the database file's sha256, that the database's rows name exactly the blobs the
//! manifest lists, that its event log is intact and ends at the manifest's head, that every file
//! row has the sha256, blake2b-256 and size its `file:upload` event recorded in that log (and a
//! blob key derived from them), that every blob
//! copy is there with its sha256, that the target database and blob store are empty, and that
//! the configured key (or the one in the backup) opens the sealed secrets. Blobs are written
//! first (hashed again while copied), the database last, so a restore cut short leaves no row
//! without its blob. The restored log's head is printed for `admin log verify --expect-head`.

use std::path::Path;

use anyhow::{Context, bail};
use strongroom_store::snapshot::{self, CopyError};
use strongroom_store::{Blobs, Db, NewEvent, SecretsKey, private_fs};

use super::backup::{POSTGRES_PROCEDURE, sqlite_database, write_new};
use super::backup_manifest::{self as manifest, BlobEntry, Manifest};
use crate::config::{Config, KeySource, Storage};

/// Restore the backup in `dir`.
pub(crate) async fn restore(config: &Config, dir: &Path) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(target) = sqlite_database(config)? else {
        bail!("`admin restore-backup` restores into SQLite only: {POSTGRES_PROCEDURE}");
    };
    let m = Manifest::read(dir)?;
    let known = snapshot::newest_schema_version();
    if m.schema_version > known {
        bail!(
            "the backup was taken by strongroom {} with schema version {}; this strongroom knows schema versions up to {known}: restore it with that version or a newer one",
            m.strongroom_version,
            m.schema_version
        );
    }

    // The target: nothing may be there yet.
    for f in private_fs::sqlite_files(&target) {
        if std::fs::metadata(&f).is_ok_and(|m| m.len() > 0) {
            bail!(
                "refusing to restore: {} is not empty; restore only into a new database (move it away, or point `database` elsewhere)",
                f.display()
            );
        }
    }
    super::data_dir::create(config)?;
    let blobs = match &config.storage {
        Storage::Local(p) => Blobs::local(p).with_context(|| format!("opening {}", p.display()))?,
        Storage::S3(s) => Blobs::s3(s).context("configuring S3")?,
    };
    if let Some(first) = snapshot::first_object(&blobs)
        .await
        .context("listing the blob store")?
    {
        bail!(
            "refusing to restore: the blob store is not empty (it holds {first}); restore only into an empty blob store"
        );
    }

    // The backup: checked whole before anything is written.
    let db_copy = dir.join(manifest::DATABASE);
    let (sha, _) = snapshot::sha256_file(&db_copy)
        .await
        .with_context(|| format!("reading {}", db_copy.display()))?;
    if sha != m.database.sha256 {
        bail!(
            "the backup is damaged: {} has sha256 {sha}, the manifest says {}",
            db_copy.display(),
            m.database.sha256
        );
    }
    let snap = Db::open_snapshot(&db_copy).await?;
    let named = snap.named_blobs().await?;
    let listed: Vec<(&str, &str)> = m
        .blobs
        .iter()
        .map(|b| (b.key.as_str(), b.sha256.as_str()))
        .collect();
    let in_db: Vec<(&str, &str)> = named
        .iter()
        .map(|b| (b.key.as_str(), b.sha256.as_str()))
        .collect();
    if listed != in_db {
        bail!(
            "the backup is damaged: its database names {} blobs, its manifest lists {}, and they differ",
            in_db.len(),
            listed.len()
        );
    }
    if let Some(seq) = snap.verify_events().await? {
        bail!("the backup's event log is BROKEN at entry {seq}");
    }
    // The rows against what their uploads recorded in that (now verified) log: bytes swapped
    // together with their row and manifest entry disagree there.
    let mut altered = Vec::new();
    strongroom_core::fsck::fsck_rows_vs_uploads(&snap, &mut altered).await?;
    if let Some(first) = altered.first() {
        for f in altered.iter().take(20) {
            eprintln!("{}", f.line());
        }
        bail!(
            "the backup was altered: {} file row(s) disagree with what their uploads recorded in the event log (first: {}); nothing was restored",
            altered.len(),
            first.subject
        );
    }
    let head = snap
        .event_head()
        .await?
        .map(|(seq, hash)| format!("{seq}:{hash}"));
    if head != m.log_head {
        bail!(
            "the backup is damaged: its event log ends at {}, the manifest says {}",
            head.as_deref().unwrap_or("nothing"),
            m.log_head.as_deref().unwrap_or("nothing")
        );
    }
    let schema = snap.schema_version().await?;
    if schema != m.schema_version {
        bail!(
            "the backup is damaged: its database has schema version {schema}, the manifest says {}",
            m.schema_version
        );
    }
    let sealed_with = snap.a_sealed_key_id().await?;
    snap.close().await;
    let key_plan = plan_key(config, dir, &m, sealed_with.as_deref())?;
    for b in &m.blobs {
        let path = dir.join(manifest::BLOBS).join(&b.key);
        let actual = match snapshot::sha256_file(&path).await {
            Ok((sha, _)) => sha,
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the backup is damaged: the blob {} is not readable in {}",
                    b.key,
                    path.display()
                )));
            }
        };
        if actual != b.sha256 {
            bail!(
                "the backup is damaged: the blob {} has sha256 {actual}, its row says {}; nothing was restored",
                b.key,
                b.sha256
            );
        }
    }

    // Blobs first, then the key, then the database; whatever fails, what was written goes.
    let mut written = Vec::with_capacity(m.blobs.len());
    if let Err(e) = write_all(config, dir, &m, &blobs, &key_plan, &target, &mut written).await {
        for key in &written {
            if let Err(d) = blobs.delete(key).await {
                super::note(&format!("could not remove the restored blob {key}: {d}"));
            }
        }
        if let KeyPlan::Write { path, .. } = &key_plan {
            let _ = std::fs::remove_file(path);
        }
        for f in private_fs::sqlite_files(&target) {
            let _ = std::fs::remove_file(f);
        }
        return Err(e.context("the restore failed; what it had written was removed"));
    }

    // The restored copy, as a server will read it.
    let db = Db::connect_with(&config.database, &config.db).await?;
    if let Some(seq) = db.verify_events().await? {
        bail!("the restored event log is BROKEN at entry {seq}");
    }
    record(&db, dir, &m, super::backup::now_micros(config)).await?;
    let now = db.event_head().await?.map(|(s, h)| format!("{s}:{h}"));
    db.close().await;

    println!(
        "restored {} users, {} projects, {} releases, {} files ({} blobs, each sha256 checked) and {} events from the backup taken {} into {}",
        m.counts.users,
        m.counts.projects,
        m.counts.releases,
        m.counts.files,
        m.blobs.len(),
        m.counts.events,
        m.taken_at,
        target.display()
    );
    if let Some(h) = &m.log_head {
        println!("event log intact; the backup's head {h} is in it");
        println!(
            "check it against the head you recorded: strongroom admin log verify --expect-head {h}"
        );
    }
    if let Some(h) = &now {
        println!("event log head now (with this restore recorded): {h}");
    }
    match key_plan {
        KeyPlan::Write { path, .. } => println!(
            "restored the secrets key from the backup into {} (mode 0600)",
            path.display()
        ),
        KeyPlan::Configured | KeyPlan::NotNeeded => {}
        KeyPlan::Missing { id, path } => println!(
            "WARNING: the database's sealed secrets need the secrets key with id {id}, and it is neither configured nor in the backup: strongroom will not start on it until that key is back (put it in {} or give it as STRONGROOM_SECRETS__KEY)",
            path
        ),
    }
    Ok(())
}

/// Write the blobs (each key in `written` once it is in the store), the key, the database.
async fn write_all(
    config: &Config,
    dir: &Path,
    m: &Manifest,
    blobs: &Blobs,
    key_plan: &KeyPlan,
    target: &Path,
    written: &mut Vec<String>,
) -> anyhow::Result<()> {
    let tmp_dir = blobs.temp_dir(&config.data);
    private_fs::create_dir_all(&tmp_dir)?;
    for (i, b) in m.blobs.iter().enumerate() {
        put_blob(blobs, dir, b, &tmp_dir.join(format!("restore-{i}")))
            .await
            .with_context(|| format!("restoring the blob {}", b.key))?;
        written.push(b.key.clone());
    }
    if let KeyPlan::Write { path, key } = key_plan {
        write_new(path, format!("{}\n", key.to_text()).as_bytes())?;
    }
    for f in private_fs::sqlite_files(target) {
        match std::fs::remove_file(&f) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing the empty {}", f.display()));
            }
            _ => {}
        }
    }
    let db_copy = dir.join(manifest::DATABASE);
    snapshot::copy_file_verified(&db_copy, &m.database.sha256, target)
        .await
        .map_err(|e| anyhow::anyhow!("copying the database to {}: {e}", target.display()))?;
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// What to do about the secrets key.
enum KeyPlan {
    /// Nothing is sealed in the backup (a new key is made at the first start).
    NotNeeded,
    /// The configured key opens the backup's sealed secrets.
    Configured,
    /// Write the backup's key to the embedded default's file.
    Write {
        path: std::path::PathBuf,
        key: Box<SecretsKey>,
    },
    /// The key is missing: restore, and say loudly what is needed.
    Missing { id: String, path: String },
}

/// Decide, before anything is written, where the key comes from; refuse a configured key that
/// does not open the backup's secrets (the server would refuse to start on it).
fn plan_key(
    config: &Config,
    dir: &Path,
    m: &Manifest,
    sealed_with: Option<&str>,
) -> anyhow::Result<KeyPlan> {
    let in_backup = if m.secrets_key.included {
        let path = dir.join(manifest::SECRETS_KEY);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the backup's key {}", path.display()))?;
        Some(SecretsKey::from_text(&text).with_context(|| format!("{}", path.display()))?)
    } else {
        None
    };
    let Some(id) = sealed_with else {
        return Ok(KeyPlan::NotNeeded);
    };
    if let Some(k) = super::secrets_key::existing(config)? {
        if k.id() != id {
            bail!(
                "refusing to restore: the configured secrets key ({}, key id {}) does not open this backup's sealed secrets, which need key id {id}; configure that key{}",
                config.secrets_key,
                k.id(),
                if in_backup.is_some() {
                    " or remove the configured one to use the key in the backup"
                } else {
                    ""
                }
            );
        }
        return Ok(KeyPlan::Configured);
    }
    match (in_backup, &config.secrets_key) {
        (Some(key), KeySource::DefaultFile { path }) if key.id() == id => Ok(KeyPlan::Write {
            path: path.clone(),
            key: Box::new(key),
        }),
        (Some(key), _) if key.id() != id => bail!(
            "the backup is damaged: its {} has key id {}, its sealed secrets need {id}",
            manifest::SECRETS_KEY,
            key.id()
        ),
        (_, source) => Ok(KeyPlan::Missing {
            id: id.to_owned(),
            path: source.to_string(),
        }),
    }
}

/// Copy one blob into the store, its bytes hashed again on the way (a temp copy, then the
/// store's own put: the backup's file is never linked into the store).
async fn put_blob(blobs: &Blobs, dir: &Path, b: &BlobEntry, tmp: &Path) -> anyhow::Result<()> {
    let src = dir.join(manifest::BLOBS).join(&b.key);
    match snapshot::copy_file_verified(&src, &b.sha256, tmp).await {
        Ok(_) => {}
        Err(CopyError::Missing) => bail!("the backup's copy {} is gone", src.display()),
        Err(e) => bail!("the backup's copy {}: {e}", src.display()),
    }
    let put = match manifest::check_key(&b.key)? {
        Some(key) => blobs.put_file(&key, tmp).await,
        None => match tokio::fs::read(tmp).await {
            Ok(bytes) => blobs.put_bytes(&b.key, bytes.into()).await,
            Err(e) => Err(e.into()),
        },
    };
    let _ = tokio::fs::remove_file(tmp).await;
    Ok(put?)
}

/// The event log names who restored which backup.
async fn record(db: &Db, dir: &Path, m: &Manifest, at: i64) -> anyhow::Result<()> {
    db.append_event(&NewEvent {
        request_id: None,
        at,
        actor_id: None,
        actor_name: Some(super::cli_actor().name),
        action: "admin:restore".into(),
        subject_kind: "site".into(),
        subject_id: None,
        subject_name: None,
        ip: None,
        user_agent: super::cli_meta().user_agent,
        details: serde_json::json!({
            "folder": dir.display().to_string(),
            "backup_taken_at": m.taken_at,
            "backup_log_head": m.log_head,
        }),
    })
    .await
    .context("recording the restore in the event log")?;
    Ok(())
}
