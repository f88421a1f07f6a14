//! The bodies of the `fuzz/` targets for this crate, called by the cargo-fuzz targets and by
//! the corpus replay test (`cargo test`), so the two can never drift apart.
//!
//! Each function takes attacker bytes, runs the same code an upload runs (under smaller
//! [`Limits`], so a legitimate bomb check is not mistaken for a hang), and must never panic;
//! where it is cheap, it asserts an invariant of the result as well.

use std::io::Write;
use std::path::Path;

use crate::collisions::NameSet;
use crate::paths::{check_member_path, decode_name};
use crate::tarstream::{self, BlockSource, TarVisitor};
use crate::{
    DistError, Limits, SdistKind, entry_points, inspect_sdist, inspect_wheel, record, wheelfile,
    ziparchive,
};

/// The limits the fuzz targets run under: the production code, bounded so that one input
/// costs milliseconds (the production limits allow a 1 GiB member).
pub fn limits() -> Limits {
    Limits {
        max_entries: 4096,
        max_total_uncompressed: 32 << 20,
        ratio_threshold: 50.0,
        ratio_min_size: 1 << 20,
        member_ratio_min_size: 1 << 20,
        max_member_uncompressed: 16 << 20,
        max_metadata_bytes: 1 << 20,
    }
}

/// Run `f` on a temporary file holding `data` (the archive readers work on files, as uploads
/// are spooled to disk). Set `TMPDIR` to a tmpfs to keep this fast.
fn with_file<T>(data: &[u8], f: impl FnOnce(&Path) -> T) -> Option<T> {
    let mut file = tempfile::NamedTempFile::new().ok()?;
    file.write_all(data).ok()?;
    file.flush().ok()?;
    Some(f(file.path()))
}

/// An inspection error must be a refusal of the input, never a failure to read our own temp
/// file (which would hide a bug as an I/O error).
fn refused<T>(result: Result<T, DistError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(DistError::Io(e)) => panic!("I/O error on a readable temp file: {e}"),
        Err(_) => None,
    }
}

/// Raw ZIP framing, the second-reader cross-check and the bomb checks, then every member
/// streamed through inflate with its size and CRC-32 verified.
pub fn zip_archive(data: &[u8]) {
    with_file(data, |path| {
        let limits = limits();
        let Some(mut zip) = refused(ziparchive::open(path, &limits)) else {
            return;
        };
        let count = zip.entries().len();
        assert!(count <= limits.max_entries);
        for index in 0..count {
            let declared = zip.entries()[index].uncompressed_size;
            let mut seen = 0u64;
            let read = zip.read_member(index, |chunk| {
                seen += chunk.len() as u64;
                Ok(())
            });
            if refused(read).is_some() {
                assert_eq!(seen, declared, "a verified member has its declared size");
            }
        }
    });
}

/// A whole wheel inspection, as an upload runs it.
pub fn wheel(data: &[u8]) {
    with_file(data, |path| {
        if let Some(info) = refused(inspect_wheel(path, &limits())) {
            assert!(info.dist_info_dir.ends_with(".dist-info"));
            assert!(
                info.members
                    .iter()
                    .any(|m| *m == format!("{}/RECORD", info.dist_info_dir))
            );
        }
    });
}

/// A whole sdist inspection: the first byte picks `.tar.gz` (even) or legacy `.zip` (odd).
pub fn sdist(data: &[u8]) {
    let Some((&selector, archive)) = data.split_first() else {
        return;
    };
    let kind = if selector % 2 == 0 {
        SdistKind::TarGz
    } else {
        SdistKind::Zip
    };
    with_file(archive, |path| {
        if let Some(info) = refused(inspect_sdist(path, kind, &limits())) {
            let prefix = format!("{}/", info.top_dir);
            assert!(
                info.members
                    .iter()
                    .all(|m| m.starts_with(&prefix) || *m == prefix),
                "every member is inside the one top folder"
            );
        }
    });
}

/// Uncompressed tar bytes through the strict walker (no gzip in front, so the fuzzer reaches
/// the header logic directly).
pub fn tar_walker(data: &[u8]) {
    struct Slice<'a>(&'a [u8]);
    impl BlockSource for Slice<'_> {
        fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, DistError> {
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    #[derive(Default)]
    struct Members {
        names: Vec<String>,
        expected: u64,
        got: u64,
    }
    impl TarVisitor for Members {
        fn member(&mut self, path: &str, _is_dir: bool, size: u64) -> Result<bool, DistError> {
            assert_eq!(
                self.got, self.expected,
                "the previous member's data was complete"
            );
            self.names.push(path.to_owned());
            (self.expected, self.got) = (size, 0);
            Ok(true)
        }
        fn data(&mut self, chunk: &[u8]) -> Result<(), DistError> {
            self.got += chunk.len() as u64;
            assert!(
                self.got <= self.expected,
                "no more data than the header says"
            );
            Ok(())
        }
    }
    let mut members = Members::default();
    if tarstream::walk(&mut Slice(data), &limits(), &mut members).is_ok() {
        assert_eq!(members.got, members.expected);
        for name in &members.names {
            check_member_path(name).expect("the walker only yields checked paths");
        }
    }
}

/// `.dist-info/RECORD` parsing.
pub fn record(data: &[u8]) {
    if let Ok(rows) = record::parse("x.dist-info/RECORD", data) {
        for row in rows {
            assert!(!row.path.is_empty() && !row.path.contains('\\'));
        }
    }
}

/// `.dist-info/WHEEL` parsing.
pub fn wheel_file(data: &[u8]) {
    if let Ok(wheel) = wheelfile::parse("x.dist-info/WHEEL", data) {
        let major = wheel.version.split('.').next().unwrap_or("");
        assert!(major.trim_start_matches('0').len() <= 1 && major.trim_start_matches('0') <= "1");
    }
}

/// `.dist-info/entry_points.txt` validation.
pub fn entry_points(data: &[u8]) {
    let _ = entry_points::validate(data);
}

/// Member names (one per line): decoding, the path rules and the collision check. A set that
/// passes has no two names that differ only in case (checked the slow way).
pub fn member_names(data: &[u8]) {
    let mut set = NameSet::default();
    let mut accepted = Vec::new();
    for raw in data.split(|&b| b == b'\n').take(256) {
        let Ok(name) = decode_name(raw) else { continue };
        if check_member_path(&name).is_err() || accepted.contains(&name) {
            continue;
        }
        set.add(&name, name.ends_with('/'));
        accepted.push(name);
    }
    if set.check().is_ok() {
        let mut lowered: Vec<(String, &str)> = accepted
            .iter()
            .map(|n| n.strip_suffix('/').unwrap_or(n))
            .map(|n| (n.to_lowercase(), n))
            .collect();
        lowered.sort_unstable();
        for pair in lowered.windows(2) {
            let [(la, a), (lb, b)] = pair else { continue };
            assert!(a == b || la != lb, "{a:?} and {b:?} passed");
        }
    }
}

/// A fuzz target: its name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`) and body.
pub type Target = (&'static str, fn(&[u8]));

/// This crate's fuzz targets: `fuzz/fuzz_targets/<name>.rs` calls `fuzz_entry::<name>`.
pub const TARGETS: &[Target] = &[
    ("zip_archive", zip_archive),
    ("wheel", wheel),
    ("sdist", sdist),
    ("tar_walker", tar_walker),
    ("record", record),
    ("wheel_file", wheel_file),
    ("entry_points", entry_points),
    ("member_names", member_names),
];

#[cfg(test)]
mod tests {
    #[test]
    fn committed_corpora_replay_without_a_panic() {
        let replayed =
            strongroom_protocol::fuzz_entry::replay_corpus("strongroom_dist", super::TARGETS);
        assert!(replayed > 0);
    }
}
