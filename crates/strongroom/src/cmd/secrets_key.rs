//! The secrets key that seals TOTP seeds, server secrets and queued mail in the database: read
//! from `secrets.key` or a key file, made at first start on the embedded default (SQLite, no key
//! configured, a database with nothing sealed yet), and required on PostgreSQL.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, bail};
use strongroom_store::{Db, Keyring, SecretsKey, private_fs};

use crate::config::{Config, KeySource};

/// Refuse to go on when no key is configured where one cannot be made (PostgreSQL: several
/// servers must share it). Called before anything is opened.
pub(crate) fn require_configured(config: &Config) -> anyhow::Result<()> {
    if config.secrets_key == KeySource::Missing {
        return Err(missing());
    }
    Ok(())
}

fn missing() -> anyhow::Error {
    anyhow::anyhow!(
        "no secrets key is configured, and PostgreSQL needs one that every server shares (it seals TOTP seeds, server secrets and queued mail in the database): set STRONGROOM_SECRETS__KEY, or secrets.key_file to a file holding 32 random bytes as base64 (e.g. `openssl rand -base64 32 > strongroom.key`); keep it out of database backups"
    )
}

/// The keyring for `db`, from the configured source.
pub(crate) async fn load(config: &Config, db: &Db) -> anyhow::Result<Keyring> {
    let key = match &config.secrets_key {
        KeySource::Inline { text, from } => {
            SecretsKey::from_text(text).with_context(|| format!("secrets.key ({from})"))?
        }
        KeySource::File { path, from } => read_key_file(path)
            .with_context(|| format!("secrets.key_file ({from}): {}", path.display()))?,
        KeySource::DefaultFile { path } => default_key(path, db).await?,
        KeySource::Missing => return Err(missing()),
    };
    Ok(Keyring::new(key))
}

/// `<data>/secret.key`: read it, or make it when the database has nothing sealed yet.
async fn default_key(path: &Path, db: &Db) -> anyhow::Result<SecretsKey> {
    if path.exists() {
        return read_key_file(path).with_context(|| format!("reading {}", path.display()));
    }
    let sealed = db
        .a_sealed_key_id()
        .await
        .context("reading the database's sealed secrets")?;
    if let Some(id) = sealed {
        bail!(
            "the secrets key file {} is missing, and this database holds secrets sealed with key {id}: restore the key file that belongs to this database (it is kept apart from database backups), or give that key as STRONGROOM_SECRETS__KEY or secrets.key_file; without it, TOTP seeds and the server's signing key cannot be read",
            path.display()
        );
    }
    let key = SecretsKey::generate().context("generating a secrets key")?;
    match private_fs::create_new(path) {
        Ok(mut f) => {
            f.write_all(format!("{}\n", key.to_text()).as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            super::note(&format!(
                "made a new secrets key in {} (key id {}, mode 0600): it seals TOTP seeds, server secrets and queued mail in the database; back it up apart from the database, which is useless for 2FA without it",
                path.display(),
                key.id()
            ));
            Ok(key)
        }
        // another process made it first: use theirs
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read_key_file(path).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// A key file: the key as base64 or hex text. Refused unless this process's uid owns it (its
/// target, when it is a symlink) and nobody else may read or write it: a key another user can
/// read opens every sealed secret, and one they own may be a key they chose.
fn read_key_file(path: &Path) -> anyhow::Result<SecretsKey> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        bail!("not a file");
    }
    let shown = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::canonicalize(path)?;
            format!("{} (a symlink to {})", path.display(), target.display())
        }
        _ => path.display().to_string(),
    };
    let uid = private_fs::effective_uid().context("reading this process's effective uid")?;
    if meta.uid() != uid {
        bail!(
            "refusing the secrets key file {shown}: it is owned by {} but strongroom runs as {}, so another local user may know the key; make a new key file as this user (`openssl rand -base64 32`, mode 600) if you did not make this one, or `chown {uid}` it if you did",
            super::data_dir::describe_uid(meta.uid()),
            super::data_dir::describe_uid(uid),
        );
    }
    if meta.mode() & 0o077 != 0 {
        bail!(
            "refusing the secrets key file {shown}: other users may read or change it (mode {:04o}); make it owner-only (`chmod 600`)",
            meta.mode() & 0o7777
        );
    }
    let text = std::fs::read_to_string(path)?;
    Ok(SecretsKey::from_text(&text)?)
}

/// The configured key as it is now, without making one: `None` when the embedded default's
/// file does not exist (yet) or nothing is configured. For backups and restores.
pub(crate) fn existing(config: &Config) -> anyhow::Result<Option<SecretsKey>> {
    Ok(match &config.secrets_key {
        KeySource::Inline { text, from } => {
            Some(SecretsKey::from_text(text).with_context(|| format!("secrets.key ({from})"))?)
        }
        KeySource::File { path, from } => Some(
            read_key_file(path)
                .with_context(|| format!("secrets.key_file ({from}): {}", path.display()))?,
        ),
        KeySource::DefaultFile { path } if path.exists() => {
            Some(read_key_file(path).with_context(|| format!("reading {}", path.display()))?)
        }
        KeySource::DefaultFile { .. } | KeySource::Missing => None,
    })
}
