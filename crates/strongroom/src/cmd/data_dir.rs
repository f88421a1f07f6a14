//! The data folder at start: created owner-only by every command, and, when the server starts
//! (`serve`) or the database is upgraded (`migrate`), whatever an older version (or an
//! operator's umask) left group- or world-accessible in it made owner-only, saying what changed.
//!
//! The other commands (`user create`, `admin ...`) do not walk the folder: they run beside a
//! live server, whose temp files and blobs come and go under the walk, and a walk of a large
//! blob folder on every command would cost minutes. Everything they create is owner-only anyway
//! (`store::private_fs`).

use std::path::PathBuf;

use anyhow::Context;
use strongroom_store::private_fs::{self, Tightened};

use crate::config::{Config, Storage};

/// Lines of detail printed before the rest is summed up.
const SHOWN: usize = 10;

/// Create the data folder (SQLite) owner-only when it is missing; nothing else is touched.
pub(crate) fn create(config: &Config) -> anyhow::Result<()> {
    if config.database.starts_with("sqlite:") {
        private_fs::create_dir_all(&config.data)
            .with_context(|| format!("creating {}", config.data.display()))?;
    }
    Ok(())
}

/// [`create`], then tighten the data folder, the blob folder and the database files (`serve`
/// and `migrate` only). Entries that vanish during the walk (a live server's temp files) are
/// skipped.
pub(crate) fn prepare(config: &Config) -> anyhow::Result<()> {
    let sqlite = private_fs::sqlite_file(&config.database);
    create(config)?;
    let mut roots = vec![config.data.clone()];
    if let Storage::Local(p) = &config.storage {
        roots.push(p.clone());
    }
    let mut t = private_fs::tighten_trees(&roots)
        .with_context(|| format!("checking the modes in {}", config.data.display()))?;
    if let Some(db) = &sqlite {
        // a database outside the data folder (inside it, the walk above saw it)
        let files: Vec<PathBuf> = private_fs::sqlite_files(db)
            .into_iter()
            .filter(|f| !t.changed.iter().any(|c| &c.path == f))
            .collect();
        let more = private_fs::tighten_files(&files);
        t.changed.extend(more.changed);
        t.left_alone.extend(more.left_alone);
    }
    report(&t);
    Ok(())
}

/// Say what changed and what was left alone (log when serving, stderr otherwise).
fn report(t: &Tightened) {
    if !t.changed.is_empty() {
        let shown: Vec<String> = t
            .changed
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect();
        let more = t.changed.len().saturating_sub(SHOWN);
        let tail = if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        };
        super::note(&format!(
            "the data folder was open to other users: made {} entries owner-only (folders 0700, files 0600): {}{tail}",
            t.changed.len(),
            shown.join(", ")
        ));
    }
    for (path, why) in &t.left_alone {
        super::note(&format!(
            "left {} as it was while making the data folder owner-only: {why}",
            path.display()
        ));
    }
}
