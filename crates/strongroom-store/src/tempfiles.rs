//! Temp files that tell whether their writer is alive: each is held under an exclusive OS lock
//! (`flock`, through std's `File::try_lock`) for as long as its owner keeps it open, and the
//! kernel drops the lock when the owner exits, however it exits. [`sweep`] removes every file of
//! a temp folder that it can lock, so the files of a killed process go at the next start, while
//! an upload in flight (in this process or another one sharing the folder) keeps its file.
//! No age threshold is involved.
//!
//! Hard links share the lock: the folder store stages a blob as a hard link of the upload's temp
//! file, so the staged name is protected by the upload's lock.
//!
//! The race between creating a file and locking it is closed on both sides: the sweeper removes
//! a path only if, while it holds the lock, the path still names the file it locked; the creator,
//! once it holds the lock, checks that its path still names its file (a sweeper may have removed
//! it in between) and otherwise starts over with a new name.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// An open temp file, locked while this value lives; removed on drop unless persisted.
#[derive(Debug)]
pub struct LockedTempFile {
    path: PathBuf,
    file: File,
    persisted: bool,
}

impl LockedTempFile {
    /// Create a new, empty, locked file in `dir` named `<prefix><unique>`.
    pub fn create_in(dir: &Path, prefix: &str) -> io::Result<LockedTempFile> {
        for _ in 0..32 {
            let path = dir.join(format!("{prefix}{}", unique_name()));
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600) // owner-only, as tempfile made them
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            };
            match file.try_lock() {
                Ok(()) => {}
                // A sweeper holds it and is about to remove it: take another name.
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => {
                    let _ = std::fs::remove_file(&path);
                    return Err(e);
                }
            }
            if same_file(&path, &file)? {
                return Ok(LockedTempFile {
                    path,
                    file,
                    persisted: false,
                });
            }
        }
        Err(io::Error::other(format!(
            "cannot create a temp file in {}",
            dir.display()
        )))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file.
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// Move the file to `dest` (same file system) and keep it there; the lock ends with the
    /// returned handle.
    pub fn persist(mut self, dest: &Path) -> io::Result<File> {
        std::fs::rename(&self.path, dest)?;
        self.persisted = true;
        self.file.try_clone()
    }
}

impl Write for LockedTempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for LockedTempFile {
    fn drop(&mut self) {
        if !self.persisted {
            // Removed while still locked: a sweeper never sees it unlocked.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    /// Files removed (no live process held them).
    pub removed: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files left because a live process holds them.
    pub in_use: u64,
}

/// Remove every regular file directly in `dir` that no live process holds locked. A missing
/// folder is an empty one.
pub fn sweep(dir: &Path) -> io::Result<SweepReport> {
    let mut report = SweepReport::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                report.in_use += 1;
                continue;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // Still the file we locked? (Its owner may have renamed it away and closed it between
        // our open and our lock.)
        if !same_file(&path, &file)? {
            continue;
        }
        let len = file.metadata()?.len();
        match std::fs::remove_file(&path) {
            Ok(()) => {
                report.removed += 1;
                report.bytes += len;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// The regular files directly in `dir` that no live process holds (what [`sweep`] would
/// remove), with their sizes; nothing is removed. A missing folder is an empty one.
pub fn unheld(dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            // Our lock ends when `file` closes at the end of this iteration.
            Ok(()) => out.push((path, file.metadata()?.len())),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether `path` names the open `file` (same device and inode).
fn same_file(path: &Path, file: &File) -> io::Result<bool> {
    let on_disk = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let open = file.metadata()?;
    Ok(on_disk.dev() == open.dev() && on_disk.ino() == open.ino())
}

fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_held_file_survives_a_sweep_and_an_abandoned_one_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut held = LockedTempFile::create_in(dir.path(), "up-").expect("create");
        held.write_all(b"in flight").expect("write");
        let mode = std::fs::metadata(held.path())
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
        // A hard link (the folder store's staging of a blob) is protected by the same lock.
        let staged = dir.path().join("put-link");
        std::fs::hard_link(held.path(), &staged).expect("link");
        // What a killed process leaves: a file nobody holds.
        let abandoned = dir.path().join("up-killed");
        std::fs::write(&abandoned, vec![0u8; 1000]).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("subfolder");

        let r = sweep(dir.path()).expect("sweep");
        assert_eq!(
            r,
            SweepReport {
                removed: 1,
                bytes: 1000,
                in_use: 2
            }
        );
        assert!(held.path().exists() && staged.exists() && !abandoned.exists());
        assert!(
            dir.path().join("sub").is_dir(),
            "folders are not its business"
        );

        let path = held.path().to_path_buf();
        drop(held);
        assert!(!path.exists(), "dropped: removed");
        let r = sweep(dir.path()).expect("sweep");
        assert_eq!(r.removed, 1, "the link outlived its owner's lock");
        assert!(!staged.exists());
    }

    #[test]
    fn a_persisted_file_is_kept_where_it_went() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut t = LockedTempFile::create_in(dir.path(), "put-").expect("create");
        t.write_all(b"blob").expect("write");
        let dest = dir.path().join("blob");
        drop(t.persist(&dest).expect("persist"));
        assert_eq!(std::fs::read(&dest).expect("read"), b"blob");
        assert_eq!(
            sweep(&dir.path().join("missing")).expect("sweep"),
            SweepReport::default()
        );
    }

    /// Another process's lock is seen too (the kernel's, not this process's bookkeeping): a
    /// child holds a file, and the sweep leaves it until the child has exited.
    #[test]
    fn a_lock_held_by_another_process_protects_its_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("up-child");
        std::fs::write(&path, b"x").expect("write");
        let mut child = std::process::Command::new("flock")
            .arg("-x")
            .arg(&path)
            .arg("-c")
            .arg("sleep 2")
            .spawn()
            .expect("flock(1) runs");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let f = File::open(&path).expect("open");
            match f.try_lock() {
                Err(TryLockError::WouldBlock) => break,
                Ok(()) => {
                    drop(f);
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the child never locked"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(TryLockError::Error(e)) => panic!("{e}"),
            }
        }
        assert_eq!(sweep(dir.path()).expect("sweep").in_use, 1);
        assert!(path.exists());
        child.wait().expect("child exits");
        assert_eq!(sweep(dir.path()).expect("sweep").removed, 1);
    }
}
