//! A SQLite file closed cleanly, remembered so that the next start may skip reading it whole.
//!
//! `serve` checks the database file before it serves from it (SQLite's `quick_check` reads
//! every page: seconds per gigabyte). A server that stops cleanly closes the database (the
//! write-ahead log folded into the file) and writes a mark beside it, `<file>.clean`, with what
//! identifies the file's state: its inode, size, modification and change times (the change
//! time cannot be set back by any tool). The next start takes the mark away and skips the check
//! when the file is exactly as it was left and has no write-ahead log content: nothing but
//! SQLite wrote it since the last start checked it (or the one before that). Anything else (a
//! crash, a restore, a copy over the file, bytes changed by any other program, a CLI still
//! writing when the server stopped) leaves no mark or one that does not fit, and the file is
//! checked as before. What the mark cannot see is the disk changing bytes on its own while the
//! server is stopped; a server that keeps running does not look for that either, and
//! `strongroom admin fsck` reads everything.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What identifies a file's bytes without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(path: &Path) -> io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Ok(Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }

    fn line(&self) -> String {
        format!(
            "strongroom-clean-close 1 {} {} {} {} {}\n",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }

    fn parse(text: &str) -> Option<Stamp> {
        let mut it = text.split_whitespace();
        if (it.next()?, it.next()?) != ("strongroom-clean-close", "1") {
            return None;
        }
        let stamp = Stamp {
            dev: it.next()?.parse().ok()?,
            ino: it.next()?.parse().ok()?,
            size: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            ctime_ns: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(stamp)
    }
}

fn mark_of(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".clean");
    PathBuf::from(s)
}

/// Whether SQLite's write-ahead log beside `db` holds anything (absent or empty: no).
fn wal_has_content(db: &Path) -> io::Result<bool> {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    match std::fs::metadata(PathBuf::from(s)) {
        Ok(m) => Ok(m.len() > 0),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Record that `db` was closed cleanly as it is now; `false` (and no mark) when its
/// write-ahead log still holds pages (another process has the file open).
pub fn mark_clean(db: &Path) -> io::Result<bool> {
    let mark = mark_of(db);
    remove_if_there(&mark)?;
    if wal_has_content(db)? {
        return Ok(false);
    }
    let stamp = Stamp::of(db)?;
    let mut f = crate::private_fs::create_new(&mark)?;
    f.write_all(stamp.line().as_bytes())?;
    f.sync_all()?;
    // Read back: a file changed between the stamp and now is not vouched for.
    if Stamp::of(db)? != stamp || wal_has_content(db)? {
        remove_if_there(&mark)?;
        return Ok(false);
    }
    Ok(true)
}

/// Take the mark away (the file is about to change) and say whether `db` is exactly as it was
/// when it was closed cleanly, with no write-ahead log content since.
pub fn take_clean_mark(db: &Path) -> io::Result<bool> {
    let mark = mark_of(db);
    let text = match std::fs::read_to_string(&mark) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        // An unreadable mark (not UTF-8, say) vouches for nothing.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(e),
    };
    remove_if_there(&mark)?;
    let Some(recorded) = Stamp::parse(&text) else {
        return Ok(false);
    };
    Ok(Stamp::of(db)? == recorded && !wal_has_content(db)?)
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_in(dir: &Path) -> PathBuf {
        let db = dir.join("s.db");
        std::fs::write(&db, b"SQLite format 3\0 and some pages").expect("write");
        db
    }

    #[test]
    fn an_untouched_file_is_vouched_for_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = db_in(dir.path());
        assert!(!take_clean_mark(&db).expect("take"), "no mark yet");
        assert!(mark_clean(&db).expect("mark"));
        let mode = std::fs::metadata(mark_of(&db)).expect("mark").mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(take_clean_mark(&db).expect("take"));
        assert!(!mark_of(&db).exists(), "taken away");
        assert!(!take_clean_mark(&db).expect("take"), "only once");
    }

    #[test]
    fn a_file_changed_or_replaced_after_the_mark_is_not() {
        let dir = tempfile::tempdir().expect("tmp");
        // the same size, bytes changed in place
        let db = db_in(dir.path());
        assert!(mark_clean(&db).expect("mark"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .expect("open");
        f.write_all(b"Z").expect("write");
        drop(f);
        assert!(!take_clean_mark(&db).expect("take"));
        // replaced by another file (a restore)
        assert!(mark_clean(&db).expect("mark"));
        let other = dir.path().join("o.db");
        std::fs::write(&other, b"SQLite format 3\0 and some pages").expect("write");
        std::fs::rename(&other, &db).expect("rename");
        assert!(!take_clean_mark(&db).expect("take"));
        // write-ahead log content appears
        assert!(mark_clean(&db).expect("mark"));
        std::fs::write(dir.path().join("s.db-wal"), b"frames").expect("wal");
        assert!(!take_clean_mark(&db).expect("take"));
        // and with log content, no mark is written at all
        assert!(!mark_clean(&db).expect("mark"));
        assert!(!mark_of(&db).exists());
    }

    #[test]
    fn a_forged_or_damaged_mark_vouches_for_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = db_in(dir.path());
        for text in [
            &b"strongroom-clean-close 1 1 2 3"[..],
            b"something else",
            b"\xff\xfe",
            b"",
        ] {
            std::fs::write(mark_of(&db), text).expect("write");
            assert!(!take_clean_mark(&db).expect("take"), "{text:?}");
            assert!(!mark_of(&db).exists());
        }
        assert!(mark_clean(&db).expect("mark"));
        let line = std::fs::read_to_string(mark_of(&db)).expect("read");
        std::fs::write(mark_of(&db), format!("{} extra", line.trim())).expect("write");
        assert!(!take_clean_mark(&db).expect("take"));
    }
}
