//! The commands that work on an index's data (`user`, `token`, `yank`, `outbox`, `admin ...`)
//! refuse to start where there is none. Only `serve` and `migrate` make a new database: run from
//! the wrong folder (or against the wrong PostgreSQL database), any other command would otherwise
//! make an empty index there, and an account or a token made in it would be missing from the
//! running index without a word.

use std::path::{Path, PathBuf};

use strongroom_store::{Db, SchemaState};

use crate::config::{Config, Source};

/// Refuse when the SQLite database file does not exist, saying where it was looked for, where
/// that place came from and how to point the command at the data. A PostgreSQL URL names its
/// database explicitly (connecting to a missing one fails by itself), so it is not checked here.
pub(crate) fn require(config: &Config) -> anyhow::Result<()> {
    let Some(file) = strongroom_store::private_fs::sqlite_file(&config.database) else {
        return Ok(());
    };
    if file.exists() {
        return Ok(());
    }
    let from = match (config.source_of("database"), config.source_of("data")) {
        (Some(Source::Default) | None, Some(Source::Default) | None) => format!(
            "the default data folder {}, in the folder this command runs in",
            config.data.display()
        ),
        (Some(Source::Default) | None, Some(data)) => {
            format!("the data folder {} ({data})", config.data.display())
        }
        (Some(database), _) => format!("database ({database})"),
    };
    anyhow::bail!(
        "no strongroom database at {} (from {from}); this command works on an existing index and does not make one. Run it in the folder `strongroom serve` runs in, or point it at the data with --data DIR (STRONGROOM_DATA, or `data` in strongroom.toml) or --database URL; `strongroom serve` and `strongroom migrate` make a new database",
        absolute(&file).display()
    )
}

/// Everything checked before a command on an existing index changes a file, by looking only (a
/// refused command leaves every file as it found it): the folders and files another user owns
/// (`data_dir`), a missing SQLite database, and one that holds no index (an empty file, read
/// through a read-only connection). A file SQLite cannot read that way is left to the usual
/// open, which names what is wrong with it.
pub(crate) async fn require_index(config: &Config) -> anyhow::Result<()> {
    super::data_dir::refuse_foreign(config)?;
    require(config)?;
    let Some(file) = strongroom_store::private_fs::sqlite_file(&config.database) else {
        return Ok(());
    };
    if let Ok(SchemaState::Behind { database: 0, .. }) =
        strongroom_store::sqlite_file_state(&file, config.known_migrations).await
    {
        return Err(no_index(config));
    }
    Ok(())
}

/// Refuse a database that holds no index at all (no migration ever applied: a new PostgreSQL
/// database, an empty SQLite file), before anything is migrated into it.
pub(crate) async fn require_schema(config: &Config, db: &Db) -> anyhow::Result<()> {
    if let SchemaState::Behind { database: 0, .. } =
        db.schema_state(config.known_migrations).await?
    {
        return Err(no_index(config));
    }
    Ok(())
}

fn no_index(config: &Config) -> anyhow::Error {
    anyhow::anyhow!(
        "the database {} holds no strongroom index (no migration was ever applied); this command works on an existing index and does not make one. Point it at the index's database with --database URL (STRONGROOM_DATABASE, or `database` in strongroom.toml); `strongroom serve` and `strongroom migrate` make a new one",
        crate::config::redact_url(&config.database)
    )
}

/// `path` from the current folder, for a message (left as it is when that cannot be read).
fn absolute(path: &Path) -> PathBuf {
    let path: PathBuf = path
        .components()
        .filter(|c| *c != std::path::Component::CurDir)
        .collect();
    if path.is_absolute() {
        return path;
    }
    std::env::current_dir().map_or(path.clone(), |cwd| cwd.join(&path))
}
