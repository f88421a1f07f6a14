//! A SQLite file closed cleanly, remembered so that the next start may skip reading it whole.
//!
//! `serve` checks the database file (SQLite's `quick_check` reads every page: seconds per
//! gigabyte), before the start writes into it or, when it does not, in the background while
//! changes wait (`core::database_check`). A server that stops cleanly, and met no damaged page while
//! it ran, closes the database (the write-ahead log folded into the file) and writes a mark
//! beside it, `<file>.clean`, with what identifies the file's state (its inode, size,
//! modification and change times; the change time cannot be set back by any tool) and when
//! the file was last read whole. The next start takes the mark away and skips the check when the
//! file is exactly as it was left, has no write-ahead log content, and was read whole less than
//! [`RECHECK_AFTER`] ago. Anything else (a crash, a restore, a copy over the file, bytes changed
//! by another program while the server was stopped, a CLI still writing when it stopped, an
//! older check) leaves no mark or one that does not fit, and the file is read whole as before.
//! So a run of clean restarts reads the file at least once a day; what happens to the bytes
//! between two checks (a disk changing them by itself, another program writing while the server
//! runs) is found at the next full check, as it was found at the next start before, and at once
//! by `strongroom admin fsck`.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// How long after a full check a clean restart may skip the next one.
pub const RECHECK_AFTER: Duration = Duration::from_secs(24 * 3600);

/// When this process's database file was last read whole (seconds since the epoch; 0: not
/// known, and a stop does not vouch for the file).
static LAST_CHECKED: AtomicU64 = AtomicU64::new(0);

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

    fn line(&self, checked: u64) -> String {
        format!(
            "strongroom-clean-close 2 {} {} {} {} {} {checked}\n",
            self.dev, self.ino, self.size, self.mtime_ns, self.ctime_ns
        )
    }

    /// The stamp and when the file was last read whole.
    fn parse(text: &str) -> Option<(Stamp, u64)> {
        let mut it = text.split_whitespace();
        if (it.next()?, it.next()?) != ("strongroom-clean-close", "2") {
            return None;
        }
        let stamp = Stamp {
            dev: it.next()?.parse().ok()?,
            ino: it.next()?.parse().ok()?,
            size: it.next()?.parse().ok()?,
            mtime_ns: it.next()?.parse().ok()?,
            ctime_ns: it.next()?.parse().ok()?,
        };
        let checked = it.next()?.parse().ok()?;
        it.next().is_none().then_some((stamp, checked))
    }
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// This process read the database file whole just now, and found nothing wrong.
pub fn note_checked() {
    LAST_CHECKED.store(secs(SystemTime::now()), Ordering::Relaxed);
}

/// Record that `db` was closed cleanly as it is now; `false` (and no mark) when its
/// write-ahead log still holds pages (another process has the file open), when this process
/// met a damaged page, or when no check of the file is known.
pub fn mark_clean(db: &Path) -> io::Result<bool> {
    if crate::error::corruption_seen() {
        remove_if_there(&mark_of(db))?;
        return Ok(false);
    }
    mark(db, LAST_CHECKED.load(Ordering::Relaxed))
}

/// [`mark_clean`] for a file last read whole at `checked` (0: never).
fn mark(db: &Path, checked: u64) -> io::Result<bool> {
    let mark = mark_of(db);
    remove_if_there(&mark)?;
    if checked == 0 || wal_has_content(db)? {
        return Ok(false);
    }
    let stamp = settled_stamp(db)?;
    let mut f = crate::private_fs::create_new(&mark)?;
    f.write_all(stamp.line(checked).as_bytes())?;
    f.sync_all()?;
    sync_parent(&mark)?;
    // Read back: a file changed between the stamp and now is not vouched for.
    if Stamp::of(db)? != stamp || wal_has_content(db)? {
        remove_if_there(&mark)?;
        return Ok(false);
    }
    Ok(true)
}

/// The file's stamp, taken once its last change is at least a clock tick old: a file system
/// whose times move in ticks (1-10 ms on many kernels) would give a write right after the stamp
/// the same times, which then would not tell it.
fn settled_stamp(db: &Path) -> io::Result<Stamp> {
    const TICK: Duration = Duration::from_millis(20);
    for _ in 0..50 {
        let stamp = Stamp::of(db)?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let now = i128::try_from(now).unwrap_or(i128::MAX);
        let tick = i128::try_from(TICK.as_nanos()).unwrap_or(0);
        if now - stamp.mtime_ns.max(stamp.ctime_ns) >= tick {
            return Ok(stamp);
        }
        std::thread::sleep(TICK);
    }
    Err(io::Error::other("the database file kept changing"))
}

/// Take the mark away (the file is about to change) and say whether `db` may be served without
/// reading it whole: exactly as it was when it was closed cleanly, with no write-ahead log
/// content since, and read whole less than [`RECHECK_AFTER`] before `now`. When it may, the
/// time of that check is what this process's own stop records.
pub fn take_clean_mark(db: &Path, now: SystemTime) -> io::Result<bool> {
    let checked = take(db, now)?;
    if let Some(checked) = checked {
        LAST_CHECKED.store(checked, Ordering::Relaxed);
    }
    Ok(checked.is_some())
}

/// [`take_clean_mark`]: when the file may be served unread, when it was last read whole.
fn take(db: &Path, now: SystemTime) -> io::Result<Option<u64>> {
    let mark = mark_of(db);
    let text = match std::fs::read_to_string(&mark) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // An unreadable mark (not UTF-8, say) vouches for nothing.
        Err(e) if e.kind() == io::ErrorKind::InvalidData => String::new(),
        Err(e) => return Err(e),
    };
    remove_if_there(&mark)?;
    sync_parent(&mark)?;
    let Some((recorded, checked)) = Stamp::parse(&text) else {
        return Ok(None);
    };
    let recent = secs(now).saturating_sub(checked) < RECHECK_AFTER.as_secs();
    let fits = recent && Stamp::of(db)? == recorded && !wal_has_content(db)?;
    Ok(fits.then_some(checked))
}

fn remove_if_there(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Make a file's creation or removal in its folder durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => std::fs::File::open(".")?.sync_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 24 * 3600;

    fn db_in(dir: &Path) -> PathBuf {
        let db = dir.join("s.db");
        std::fs::write(&db, b"SQLite format 3\0 and some pages").expect("write");
        db
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A check made now, and a start `later` seconds after it.
    fn now_plus(later: u64) -> (u64, SystemTime) {
        let now = secs(SystemTime::now());
        (now, at(now + later))
    }

    #[test]
    fn an_untouched_file_checked_lately_is_vouched_for_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = db_in(dir.path());
        let (checked, start) = now_plus(60);
        assert_eq!(take(&db, start).expect("take"), None, "no mark yet");
        assert!(mark(&db, checked).expect("mark"));
        let mode = std::fs::metadata(mark_of(&db)).expect("mark").mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            take(&db, start).expect("take"),
            Some(checked),
            "the check it rests on"
        );
        assert!(!mark_of(&db).exists(), "taken away");
        assert_eq!(take(&db, start).expect("take"), None, "only once");
    }

    #[test]
    fn no_mark_without_a_check_and_none_honoured_after_a_day() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = db_in(dir.path());
        assert!(!mark(&db, 0).expect("mark"), "no check known");
        assert!(!mark_of(&db).exists());
        let (checked, _) = now_plus(0);
        assert!(mark(&db, checked).expect("mark"));
        assert_eq!(
            take(&db, at(checked + DAY)).expect("take"),
            None,
            "a day old"
        );
        assert!(mark(&db, checked).expect("mark"));
        assert_eq!(
            take(&db, at(checked + DAY - 1)).expect("take"),
            Some(checked)
        );
    }

    #[test]
    fn a_file_changed_or_replaced_after_the_mark_is_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let (checked, start) = now_plus(1);
        // the same size, bytes changed in place right after the mark
        let db = db_in(dir.path());
        assert!(mark(&db, checked).expect("mark"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&db)
            .expect("open");
        f.write_all(b"Z").expect("write");
        drop(f);
        assert_eq!(take(&db, start).expect("take"), None);
        // replaced by another file (a restore)
        assert!(mark(&db, checked).expect("mark"));
        let other = dir.path().join("o.db");
        std::fs::write(&other, b"SQLite format 3\0 and some pages").expect("write");
        std::fs::rename(&other, &db).expect("rename");
        assert_eq!(take(&db, start).expect("take"), None);
        // write-ahead log content appears
        assert!(mark(&db, checked).expect("mark"));
        std::fs::write(dir.path().join("s.db-wal"), b"frames").expect("wal");
        assert_eq!(take(&db, start).expect("take"), None);
        // and with log content, no mark is written at all
        assert!(!mark(&db, checked).expect("mark"));
        assert!(!mark_of(&db).exists());
    }

    #[test]
    fn a_forged_or_damaged_mark_vouches_for_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = db_in(dir.path());
        let (checked, start) = now_plus(1);
        for text in [
            &b"strongroom-clean-close 2 1 2 3"[..],
            b"strongroom-clean-close 1 1 2 3 4 5",
            b"something else",
            b"\xff\xfe",
            b"",
        ] {
            std::fs::write(mark_of(&db), text).expect("write");
            assert_eq!(take(&db, start).expect("take"), None, "{text:?}");
            assert!(!mark_of(&db).exists());
        }
        assert!(mark(&db, checked).expect("mark"));
        let line = std::fs::read_to_string(mark_of(&db)).expect("read");
        std::fs::write(mark_of(&db), format!("{} extra", line.trim())).expect("write");
        assert_eq!(take(&db, start).expect("take"), None);
    }
}
