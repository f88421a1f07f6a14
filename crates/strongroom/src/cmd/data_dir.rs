//! The data folder at start: created owner-only (by `serve` and `migrate`; the other commands
//! first need the database to exist, `existing_data`), and refused when the folder,
//! the blob folder, the database files or the key file belong to another local user (planted
//! before the first start, or left by a run under another account): whoever owns them can read
//! them, change their mode back or swap them for theirs, so no chmod makes them safe. When the
//! server starts (`serve`) or the database is upgraded (`migrate`), whatever an older version (or
//! an operator's umask) left group- or world-accessible in the folders is also made owner-only,
//! saying what changed.
//!
//! The other commands (`user create`, `admin ...`) do not walk the folders: they run beside a
//! live server, whose temp files and blobs come and go under the walk, and a walk of a large
//! blob folder on every command would cost minutes. They check the owners of the folders and of
//! the files strongroom reads, which costs a few `stat`s. Everything they create is owner-only
//! anyway (`store::private_fs`).

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::Context;
use strongroom_store::private_fs::{self, Foreign, Tightened};

use crate::config::{Config, KeySource, Storage};

/// Lines of detail printed before the rest is summed up.
const SHOWN: usize = 10;

/// Create the data folder (SQLite) owner-only when it is missing, then refuse when it, the blob
/// folder, the database files or the default key file (the last two followed through symlinks)
/// belong to another uid than this process's; tighten those files. No folder is walked.
pub(crate) fn create(config: &Config) -> anyhow::Result<()> {
    let uid = private_fs::effective_uid().context("reading this process's effective uid")?;
    make_folder(config)?;
    let mut t = Tightened {
        foreign: foreign_roots(config, uid),
        ..Tightened::default()
    };
    if t.foreign.is_empty() {
        t.merge(private_fs::tighten_files(&files(config), uid));
    }
    if let Some(f) = t.foreign.first() {
        return Err(refusal(f, uid, t.foreign.len()));
    }
    report(&t);
    Ok(())
}

/// Refuse when the data folder, the blob folder, the database files or the default key file
/// belong to another uid, by looking only (nothing is made or changed; missing entries pass).
pub(crate) fn refuse_foreign(config: &Config) -> anyhow::Result<()> {
    let uid = private_fs::effective_uid().context("reading this process's effective uid")?;
    let mut foreign = foreign_roots(config, uid);
    for path in files(config) {
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() && m.uid() != uid => foreign.push(Foreign {
                target: std::fs::canonicalize(&path).ok().filter(|c| c != &path),
                path,
                uid: m.uid(),
            }),
            _ => {}
        }
    }
    match foreign.first() {
        Some(f) => Err(refusal(f, uid, foreign.len())),
        None => Ok(()),
    }
}

/// The folders of [`roots`] that exist and belong to another uid than `uid`.
fn foreign_roots(config: &Config, uid: u32) -> Vec<Foreign> {
    let mut foreign = Vec::new();
    for root in roots(config) {
        match std::fs::metadata(&root) {
            Ok(m) if m.uid() != uid => foreign.push(Foreign {
                path: root.clone(),
                target: std::fs::canonicalize(&root).ok().filter(|c| c != &root),
                uid: m.uid(),
            }),
            _ => {}
        }
    }
    foreign
}

/// [`create`]'s checks, and tighten the data folder and the blob folder with everything in them
/// (`serve` and `migrate` only). Entries that vanish during the walk (a live server's temp
/// files) are skipped.
pub(crate) fn prepare(config: &Config) -> anyhow::Result<()> {
    let uid = private_fs::effective_uid().context("reading this process's effective uid")?;
    make_folder(config)?;
    let mut t = private_fs::tighten_trees(&roots(config), uid)
        .with_context(|| format!("checking the modes in {}", config.data.display()))?;
    // The files strongroom reads, followed to their targets (the walk above leaves symlinks
    // alone, and a database may live outside the data folder). A regular file inside the folder
    // was already seen by the walk: checking it again finds nothing to do.
    if t.foreign.is_empty() {
        t.merge(private_fs::tighten_files(&files(config), uid));
    }
    if let Some(f) = t.foreign.first() {
        return Err(refusal(f, uid, t.foreign.len()));
    }
    report(&t);
    Ok(())
}

fn make_folder(config: &Config) -> anyhow::Result<()> {
    if config.database.starts_with("sqlite:") {
        private_fs::create_dir_all(&config.data)
            .with_context(|| format!("creating {}", config.data.display()))?;
    }
    Ok(())
}

/// The data folder and the local blob folder.
fn roots(config: &Config) -> Vec<PathBuf> {
    let mut roots = vec![config.data.clone()];
    if let Storage::Local(p) = &config.storage {
        roots.push(p.clone());
    }
    roots
}

/// The SQLite database files and the default key file.
fn files(config: &Config) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = private_fs::sqlite_file(&config.database)
        .as_deref()
        .map(private_fs::sqlite_files)
        .unwrap_or_default();
    if let KeySource::DefaultFile { path } = &config.secrets_key {
        files.push(path.clone());
    }
    files
}

/// Why strongroom will not start on an entry another uid owns, and what to do.
fn refusal(f: &Foreign, uid: u32, count: usize) -> anyhow::Error {
    let path = match &f.target {
        Some(t) => format!("{} (a symlink to {})", f.path.display(), t.display()),
        None => f.path.display().to_string(),
    };
    let fix_path = f.target.as_ref().unwrap_or(&f.path);
    let others = if count > 1 {
        format!(" ({} more entries are not ours either)", count - 1)
    } else {
        String::new()
    };
    anyhow::anyhow!(
        "refusing to start: {path} is owned by {} but strongroom runs as {}{others}; whoever owns it can read the database, sealed secrets and queued mail in it, or replace them. If you made it under another account, give it to this one (`chown -R {uid} {}`); if you did not make it, remove it and start again",
        describe_uid(f.uid),
        describe_uid(uid),
        fix_path.display(),
    )
}

/// `uid 65534 (nobody)`: the number, and the login name when /etc/passwd has it.
pub(crate) fn describe_uid(uid: u32) -> String {
    match super::user_name_of(uid) {
        Some(name) => format!("uid {uid} ({name})"),
        None => format!("uid {uid}"),
    }
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
