//! Owner-only files and folders: everything strongroom writes under its data folder (the SQLite
//! database and its journals, blobs, temp files, outbox mail, the secrets key) is created 0600
//! (folders 0700), whatever the umask; and an existing folder left group- or world-accessible by
//! an older version is tightened at start, without following symlinks out of the folder (the
//! database files and the key are followed to their targets: they are what strongroom reads).
//!
//! Ownership is compared with this process's effective uid, never with the folder's owner: a
//! folder, database or key another local user made (and can therefore read, chmod or replace)
//! is reported in [`Tightened::foreign`], left unchanged, and the caller refuses to start.
//!
//! No `umask` call (the workspace forbids `unsafe`): every creation passes its mode explicitly.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every folder strongroom creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file strongroom creates.
pub const FILE_MODE: u32 = 0o600;
/// The bits nobody but the owner may have.
const NOT_OWNER: u32 = 0o077;

/// Create `path` and its missing parents as 0700 folders (existing ones are left as they are).
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// [`create_dir_all`] for async callers.
pub async fn create_dir_all_async(path: &Path) -> io::Result<()> {
    tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
        .await
}

/// Create a new 0600 file (fails if it exists).
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// Write `data` to a new or truncated file, made 0600 (also when it existed with another mode).
pub async fn write_async(path: &Path, data: &[u8]) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path)
        .await?;
    f.set_permissions(Permissions::from_mode(FILE_MODE)).await?;
    f.write_all(data).await?;
    f.flush().await
}

/// The effective uid of this process: the owner every entry of the data folder must have.
///
/// Read from `/proc/self/status` (its second `Uid:` field), else from the owner of `/proc/self`
/// (no libc call: the workspace forbids `unsafe`).
pub fn effective_uid() -> io::Result<u32> {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(uid) = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .and_then(|e| e.parse().ok())
    {
        return Ok(uid);
    }
    std::fs::metadata("/proc/self").map(|m| m.uid())
}

/// An entry owned by someone other than this process: not changed, and a reason to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    /// The path as strongroom reaches it.
    pub path: PathBuf,
    /// Where a symlink led (`None` when `path` is not a symlink).
    pub target: Option<PathBuf>,
    /// Its owner.
    pub uid: u32,
}

/// One mode that was tightened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    pub path: PathBuf,
    pub from: u32,
    pub to: u32,
}

impl std::fmt::Display for ModeChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:04o} -> {:04o}",
            self.path.display(),
            self.from,
            self.to
        )
    }
}

/// What tightening a folder did.
#[derive(Debug, Default, Clone)]
pub struct Tightened {
    /// Modes that had group or world bits and now do not.
    pub changed: Vec<ModeChange>,
    /// Entries left as they were, and why (another owner, extra hard links, a symlink's
    /// target outside, an error).
    pub left_alone: Vec<(PathBuf, String)>,
    /// Entries owned by another uid than this process's (never changed): strongroom must not
    /// start on them.
    pub foreign: Vec<Foreign>,
}

impl Tightened {
    /// Nothing changed and nothing was left alone.
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.left_alone.is_empty() && self.foreign.is_empty()
    }

    /// Add what another pass did.
    pub fn merge(&mut self, other: Tightened) {
        self.changed.extend(other.changed);
        self.left_alone.extend(other.left_alone);
        self.foreign.extend(other.foreign);
    }
}

/// Remove the group and world bits of one entry (`meta` is its `lstat`); records what it did.
/// An entry gone since its `lstat` (a live server's temp file) is skipped silently.
fn tighten_one(path: &Path, meta: &std::fs::Metadata, out: &mut Tightened) -> bool {
    let mode = meta.mode() & 0o7777;
    if mode & NOT_OWNER == 0 {
        return true;
    }
    let to = mode & !NOT_OWNER & 0o777;
    match std::fs::set_permissions(path, Permissions::from_mode(to)) {
        Ok(()) => {
            out.changed.push(ModeChange {
                path: path.to_path_buf(),
                from: mode,
                to,
            });
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            out.left_alone
                .push((path.to_path_buf(), format!("cannot change its mode: {e}")));
            false
        }
    }
}

/// Tighten `root` (a folder; the configured path itself may be a symlink) and everything in it:
/// group and world bits are removed from folders and files owned by `uid` (this process's
/// effective uid, [`effective_uid`]).
///
/// Symlinks inside are never followed (nor changed); files with more than one hard link (which
/// could be a file elsewhere) are left alone and reported; entries of another owner are left
/// alone and reported in [`Tightened::foreign`] (a foreign `root` is not entered). Each folder is
/// tightened before it is listed, so once a folder is owner-only nobody else can swap its entries
/// between the check and the change. A missing `root` is not an error, nor is an entry that
/// vanishes during the walk (it is skipped, not reported): the folder may belong to a live server.
pub fn tighten_tree(root: &Path, uid: u32) -> io::Result<Tightened> {
    let mut out = Tightened::default();
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a folder", root.display()),
        ));
    }
    if meta.uid() != uid {
        out.foreign.push(Foreign {
            path: root.to_path_buf(),
            target: link_target(root),
            uid: meta.uid(),
        });
        return Ok(out);
    }
    if !tighten_one(root, &meta, &mut out) {
        return Ok(out);
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // removed since it was seen (entries may vanish underneath the walk)
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.left_alone
                    .push((dir.clone(), format!("cannot list it: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // a folder removed while it is listed ends its listing; the walk goes on
                    if e.kind() != io::ErrorKind::NotFound {
                        out.left_alone
                            .push((dir.clone(), format!("cannot list all of it: {e}")));
                    }
                    break;
                }
            };
            let path = entry.path();
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    out.left_alone.push((path, format!("cannot read it: {e}")));
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                continue; // never followed: its target is not ours to change
            }
            if meta.uid() != uid {
                out.foreign.push(Foreign {
                    path,
                    target: None,
                    uid: meta.uid(),
                });
                continue;
            }
            if kind.is_dir() {
                if tighten_one(&path, &meta, &mut out) {
                    stack.push(path);
                }
            } else if kind.is_file() {
                if meta.nlink() > 1 && meta.mode() & NOT_OWNER != 0 {
                    out.left_alone.push((
                        path,
                        format!("it has {} hard links (one may be outside)", meta.nlink()),
                    ));
                    continue;
                }
                tighten_one(&path, &meta, &mut out);
            }
        }
    }
    Ok(out)
}

/// Where `path` leads when it is a symlink (its canonical target), else `None`.
fn link_target(path: &Path) -> Option<PathBuf> {
    let is_link = std::fs::symlink_metadata(path)
        .ok()?
        .file_type()
        .is_symlink();
    if is_link {
        Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    } else {
        None
    }
}

/// Tighten single files strongroom reads (the database and its journals, the secrets key),
/// following symlinks to their targets: a target owned by `uid` is made owner-only (reported
/// as `path -> target`), one owned by anybody else is reported in [`Tightened::foreign`] and left
/// unchanged. Missing files are skipped.
pub fn tighten_files(paths: &[PathBuf], uid: u32) -> Tightened {
    let mut out = Tightened::default();
    for p in paths {
        match std::fs::metadata(p) {
            Ok(m) if m.file_type().is_file() => {
                let target = link_target(p);
                if m.uid() != uid {
                    out.foreign.push(Foreign {
                        path: p.clone(),
                        target,
                        uid: m.uid(),
                    });
                    continue;
                }
                match target {
                    // chmod follows the link; the report names both
                    Some(t) => {
                        let mut one = Tightened::default();
                        tighten_one(&t, &m, &mut one);
                        for mut c in one.changed {
                            c.path =
                                PathBuf::from(format!("{} (-> {})", p.display(), c.path.display()));
                            out.changed.push(c);
                        }
                        out.left_alone.extend(one.left_alone);
                    }
                    None => {
                        tighten_one(p, &m, &mut out);
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => out
                .left_alone
                .push((p.clone(), format!("cannot read it: {e}"))),
        }
    }
    out
}

/// Tighten several folders (the data folder, a blob folder elsewhere), each once.
pub fn tighten_trees(roots: &[PathBuf], uid: u32) -> io::Result<Tightened> {
    let mut out = Tightened::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    for r in roots {
        let canon = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
        if seen.iter().any(|s| canon.starts_with(s)) {
            continue;
        }
        seen.push(canon);
        out.merge(tighten_tree(r, uid)?);
    }
    Ok(out)
}

/// The file of an `sqlite:` database URL (`None` for an in-memory database).
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The database file and the journals SQLite keeps beside it.
pub fn sqlite_files(db: &Path) -> Vec<PathBuf> {
    let mut out = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        out.push(PathBuf::from(s));
    }
    out
}

/// Make sure the SQLite database at `db` exists as an owner-only file before SQLite opens it
/// (SQLite gives its `-wal`/`-shm`/`-journal` files the database file's mode), and tighten the
/// ones an older version left readable. A zero-length file is an empty database to SQLite.
/// The files are checked against this process's effective uid ([`tighten_files`]).
pub fn prepare_sqlite_file(db: &Path) -> io::Result<Tightened> {
    match create_new(db) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    Ok(tighten_files(&sqlite_files(db), effective_uid()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn created_files_and_folders_are_owner_only_whatever_the_umask_allows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep).expect("mkdir");
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
        }
        let f = deep.join("f");
        drop(create_new(&f).expect("create"));
        assert_eq!(mode(&f), 0o600);
        assert!(create_new(&f).is_err(), "create_new never reuses a file");
    }

    #[test]
    fn an_open_tree_is_tightened_without_following_symlinks_out() {
        let outside = tempfile::tempdir().expect("outside");
        let secret_elsewhere = outside.path().join("elsewhere.txt");
        std::fs::write(&secret_elsewhere, "x").expect("write");
        std::fs::set_permissions(&secret_elsewhere, Permissions::from_mode(0o644)).expect("chmod");
        std::fs::set_permissions(outside.path(), Permissions::from_mode(0o755)).expect("chmod");

        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("outbox")).expect("mkdir");
        for (p, m) in [("", 0o755), ("outbox", 0o777)] {
            std::fs::set_permissions(root.join(p), Permissions::from_mode(m)).expect("chmod");
        }
        std::fs::write(root.join("strongroom.db"), "db").expect("write");
        std::fs::set_permissions(root.join("strongroom.db"), Permissions::from_mode(0o644))
            .expect("chmod");
        std::fs::write(root.join("outbox/1.eml"), "mail").expect("write");
        std::fs::set_permissions(root.join("outbox/1.eml"), Permissions::from_mode(0o664))
            .expect("chmod");
        std::os::unix::fs::symlink(&secret_elsewhere, root.join("link-file")).expect("symlink");
        std::os::unix::fs::symlink(outside.path(), root.join("link-dir")).expect("symlink");
        // a hard link to a file elsewhere is not ours to change either
        std::fs::hard_link(&secret_elsewhere, root.join("hard")).expect("hard link");

        let me = effective_uid().expect("euid");
        let t = tighten_tree(&root, me).expect("tighten");
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("outbox")), 0o700);
        assert_eq!(mode(&root.join("strongroom.db")), 0o600);
        assert_eq!(mode(&root.join("outbox/1.eml")), 0o600);
        assert_eq!(
            mode(&secret_elsewhere),
            0o644,
            "a symlink's target is left alone"
        );
        assert_eq!(
            mode(outside.path()),
            0o755,
            "a symlinked folder is left alone"
        );
        let changed: Vec<_> = t
            .changed
            .iter()
            .map(|c| (c.path.clone(), c.from, c.to))
            .collect();
        assert!(
            changed.contains(&(root.clone(), 0o755, 0o700)),
            "{changed:?}"
        );
        assert!(
            changed.contains(&(root.join("outbox/1.eml"), 0o664, 0o600)),
            "{changed:?}"
        );
        assert_eq!(t.changed.len(), 4, "{changed:?}");
        assert_eq!(t.left_alone.len(), 1, "{:?}", t.left_alone);
        assert!(
            t.left_alone[0].1.contains("hard links"),
            "{:?}",
            t.left_alone
        );
        // a second pass has nothing to do
        let again = tighten_tree(&root, me).expect("again");
        assert!(again.changed.is_empty(), "{:?}", again.changed);
        assert!(
            tighten_tree(&dir.path().join("missing"), me)
                .expect("missing")
                .is_empty()
        );
    }

    /// An entry removed between its `lstat` and its `chmod` (a live server's temp file) is
    /// skipped: not reported as left alone, not an error.
    #[test]
    fn an_entry_gone_before_its_mode_is_changed_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("upload.tmp");
        std::fs::write(&f, "x").expect("write");
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).expect("chmod");
        let meta = std::fs::symlink_metadata(&f).expect("stat");
        std::fs::remove_file(&f).expect("remove");
        let mut out = Tightened::default();
        assert!(!tighten_one(&f, &meta, &mut out));
        assert!(out.is_empty(), "{out:?}");
    }

    /// Folders and files vanish and reappear while the walk runs (a live server's temp folders
    /// and uploads): every walk succeeds and reports nothing about what vanished.
    #[test]
    fn a_tree_changing_underneath_the_walk_is_walked_without_errors() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        std::fs::create_dir(&root).expect("mkdir");
        let make = |root: &Path| {
            for i in 0..40 {
                let d = root.join(format!("tmp{i}"));
                if std::fs::create_dir(&d).is_ok() {
                    for j in 0..20 {
                        let _ = std::fs::write(d.join(format!("f{j}")), "x");
                    }
                    let _ = std::fs::set_permissions(&d, Permissions::from_mode(0o755));
                }
            }
        };
        make(&root);
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (root, stop) = (root.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..40 {
                        let _ = std::fs::remove_dir_all(root.join(format!("tmp{i}")));
                    }
                    make(&root);
                }
            })
        };
        let mut walks = 0;
        let mut problems = Vec::new();
        while walks < 300 {
            match tighten_tree(&root, effective_uid().expect("euid")) {
                Ok(t) => problems.extend(t.left_alone),
                Err(e) => problems.push((root.clone(), format!("walk failed: {e}"))),
            }
            walks += 1;
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().expect("churn");
        assert!(
            problems.is_empty(),
            "{} problems: {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        );
    }

    #[test]
    fn the_effective_uid_is_the_owner_of_what_this_process_creates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("mine");
        drop(create_new(&f).expect("create"));
        let owner = std::fs::metadata(&f).expect("stat").uid();
        assert_eq!(effective_uid().expect("euid"), owner);
    }

    #[test]
    fn entries_of_another_uid_are_reported_and_never_changed() {
        // Another owner is simulated by checking against a uid that is not ours (the e2e tests
        // plant a folder owned by `nobody` for real).
        let me = effective_uid().expect("euid");
        let other = me.wrapping_add(1);
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        std::fs::create_dir(&root).expect("mkdir");
        std::fs::set_permissions(&root, Permissions::from_mode(0o777)).expect("chmod");
        std::fs::write(root.join("secret.key"), "k").expect("write");
        std::fs::set_permissions(root.join("secret.key"), Permissions::from_mode(0o644))
            .expect("chmod");
        // a folder of another owner: reported, not entered, not tightened
        let t = tighten_tree(&root, other).expect("tighten");
        assert_eq!(t.foreign.len(), 1, "{:?}", t.foreign);
        assert_eq!(t.foreign[0].path, root);
        assert_eq!(t.foreign[0].uid, me);
        assert!(t.changed.is_empty(), "{:?}", t.changed);
        assert_eq!(
            mode(&root),
            0o777,
            "another owner's folder is left as it was"
        );
        // single files too, also through a symlink (the target's owner counts)
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(root.join("secret.key"), &link).expect("symlink");
        let t = tighten_files(&[root.join("secret.key"), link.clone()], other);
        assert_eq!(t.foreign.len(), 2, "{:?}", t.foreign);
        assert_eq!(
            t.foreign[1].target.as_deref(),
            Some(root.join("secret.key").as_path())
        );
        assert_eq!(mode(&root.join("secret.key")), 0o644);
    }

    #[test]
    fn a_database_reached_through_a_symlink_is_tightened_at_its_target() {
        let me = effective_uid().expect("euid");
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("bigdisk");
        let data = dir.path().join("data");
        std::fs::create_dir(&big).expect("mkdir");
        create_dir_all(&data).expect("mkdir");
        for name in ["s.db", "s.db-wal"] {
            std::fs::write(big.join(name), "x").expect("write");
            std::fs::set_permissions(big.join(name), Permissions::from_mode(0o644)).expect("chmod");
            std::os::unix::fs::symlink(big.join(name), data.join(name)).expect("symlink");
        }
        let t = tighten_files(&sqlite_files(&data.join("s.db")), me);
        assert_eq!(mode(&big.join("s.db")), 0o600);
        assert_eq!(mode(&big.join("s.db-wal")), 0o600);
        assert_eq!(t.changed.len(), 2, "{:?}", t.changed);
        let shown = t.changed[0].to_string();
        assert!(
            shown.contains(&format!("{} (-> ", data.join("s.db").display()))
                && shown.contains("0644 -> 0600"),
            "{shown}"
        );
        assert!(t.foreign.is_empty() && t.left_alone.is_empty(), "{t:?}");
        // the walk of the data folder still does not follow them
        let walk = tighten_tree(&data, me).expect("walk");
        assert!(walk.is_empty(), "{walk:?}");
    }

    #[test]
    fn the_sqlite_file_is_created_owner_only_and_its_journals_tightened() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        prepare_sqlite_file(&db).expect("prepare");
        assert_eq!(mode(&db), 0o600);
        let wal = dir.path().join("s.db-wal");
        std::fs::write(&wal, "").expect("wal");
        std::fs::set_permissions(&wal, Permissions::from_mode(0o644)).expect("chmod");
        let t = prepare_sqlite_file(&db).expect("again");
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(t.changed.len(), 1, "{:?}", t.changed);
        assert_eq!(
            sqlite_file("sqlite:///var/x.db?mode=rwc"),
            Some(PathBuf::from("/var/x.db"))
        );
        assert_eq!(
            sqlite_file("sqlite://./d/x.db"),
            Some(PathBuf::from("./d/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("postgres://h/db"), None);
    }
}
