//! OSV feeds on disk: a folder tree, a `.tar.gz`/`.tgz` or a `.zip` of OSV records (`*.json`,
//! `*.yaml`, `*.yml`), as ossf/malicious-packages and pypa/advisory-database publish them.
//! Archives go through the same strict walkers as uploads (no extraction, no links, no bombs:
//! the decompressed total, the member count and each record's size are bounded); a folder walk
//! follows no symbolic links. Each record is handed over with whether it sits under a
//! `withdrawn/` folder (malicious-packages moves retracted records there).

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;

use crate::tarstream::{self, BlockSource, TarVisitor};
use crate::{DistError, Limits, ziparchive};

/// How a record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Yaml,
}

/// One record file of a feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRecord {
    /// Its path inside the feed (`/`-separated).
    pub path: String,
    /// Under a folder named `withdrawn`.
    pub withdrawn: bool,
    pub format: RecordFormat,
    pub bytes: Vec<u8>,
}

/// Bounds on reading one feed.
#[derive(Debug, Clone)]
pub struct FeedLimits {
    /// Largest record file.
    pub max_record_bytes: u64,
    /// Most record files.
    pub max_records: usize,
    /// Deepest folder nesting of a folder walk.
    pub max_depth: usize,
    /// The archive bounds (members, decompressed total, ratio).
    pub archive: Limits,
}

impl Default for FeedLimits {
    fn default() -> Self {
        let archive = Limits {
            max_entries: 1_000_000,
            max_total_uncompressed: 4 * 1024 * 1024 * 1024,
            max_member_uncompressed: 1024 * 1024 * 1024,
            ..Limits::default()
        };
        FeedLimits {
            max_record_bytes: 1024 * 1024,
            max_records: 500_000,
            max_depth: 32,
            archive,
        }
    }
}

/// Why a feed was refused.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Archive(#[from] DistError),
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: io::Error },
    #[error("{0} is neither a folder nor a .tar.gz, .tgz or .zip archive")]
    UnknownKind(String),
    #[error("the record {path} is larger than {limit} bytes")]
    RecordTooLarge { path: String, limit: u64 },
    #[error("the feed holds more than {limit} records")]
    TooManyRecords { limit: usize },
    #[error("the folder {path} is nested deeper than {limit} levels")]
    TooDeep { path: String, limit: usize },
    /// The reader's visitor refused a record (its message).
    #[error("{0}")]
    Record(String),
}

/// The record format a member's name gives, if it is a record at all.
fn format_of(path: &str) -> Option<RecordFormat> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(RecordFormat::Json)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(RecordFormat::Yaml)
    } else {
        None
    }
}

/// Whether a member path lies under a `withdrawn` folder.
fn under_withdrawn(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.iter().any(|p| p.eq_ignore_ascii_case("withdrawn"))
}

/// Whether a path component is hidden (`.git`, `.github`): never part of a feed.
fn hidden(path: &str) -> bool {
    path.split('/').any(|p| p.starts_with('.') && p.len() > 1)
}

/// Read every record of the feed at `path`, in a stable order, into `visit`.
pub fn read_feed(
    path: &Path,
    limits: &FeedLimits,
    mut visit: impl FnMut(FeedRecord) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|err| FeedError::Io {
        path: shown.clone(),
        err,
    })?;
    let mut count = 0usize;
    let mut take = |r: FeedRecord| -> Result<(), FeedError> {
        count += 1;
        if count > limits.max_records {
            return Err(FeedError::TooManyRecords {
                limit: limits.max_records,
            });
        }
        visit(r)
    };
    if meta.is_dir() {
        return walk_dir(path, limits, &mut take);
    }
    let name = shown.to_ascii_lowercase();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        read_tar_gz(path, limits, &mut take)
    } else if name.ends_with(".zip") {
        read_zip(path, limits, &mut take)
    } else {
        Err(FeedError::UnknownKind(shown))
    }
}

fn walk_dir(
    root: &Path,
    limits: &FeedLimits,
    take: &mut dyn FnMut(FeedRecord) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    // (folder, its path inside the feed, depth)
    let mut stack = vec![(root.to_path_buf(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(FeedError::TooDeep {
                path: rel,
                limit: limits.max_depth,
            });
        }
        let io_err = |err| FeedError::Io {
            path: dir.display().to_string(),
            err,
        };
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(io_err)?
            .collect::<Result<_, _>>()
            .map_err(io_err)?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let member = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if hidden(&name) {
                continue;
            }
            // The entry itself, not what a symbolic link points to: links are not followed.
            let ft = e.file_type().map_err(|err| FeedError::Io {
                path: member.clone(),
                err,
            })?;
            if ft.is_dir() {
                subdirs.push((e.path(), member, depth + 1));
            } else if ft.is_file() {
                let Some(format) = format_of(&name) else {
                    continue;
                };
                let bytes = read_bounded(&e.path(), &member, limits.max_record_bytes)?;
                take(FeedRecord {
                    withdrawn: under_withdrawn(&member),
                    path: member,
                    format,
                    bytes,
                })?;
            }
        }
        // Depth first, in name order.
        subdirs.reverse();
        stack.extend(subdirs);
    }
    Ok(())
}

fn read_bounded(path: &Path, shown: &str, limit: u64) -> Result<Vec<u8>, FeedError> {
    let io_err = |err| FeedError::Io {
        path: shown.to_owned(),
        err,
    };
    let f = File::open(path).map_err(io_err)?;
    let mut out = Vec::new();
    f.take(limit + 1).read_to_end(&mut out).map_err(io_err)?;
    if out.len() as u64 > limit {
        return Err(FeedError::RecordTooLarge {
            path: shown.to_owned(),
            limit,
        });
    }
    Ok(out)
}

/// The gzip stream, counted against the archive bounds as it is produced.
struct Inflated<'a> {
    decoder: GzDecoder<BufReader<File>>,
    produced: u64,
    compressed: u64,
    limits: &'a Limits,
}

impl BlockSource for Inflated<'_> {
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, DistError> {
        loop {
            match self.decoder.read(buf) {
                Ok(n) => {
                    self.produced += n as u64;
                    self.limits.check_total(self.produced, self.compressed)?;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(DistError::MalformedGzip {
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Collects the record members of a tar stream.
struct TarRecords<'a> {
    limits: &'a FeedLimits,
    current: Option<FeedRecord>,
    take: &'a mut dyn FnMut(FeedRecord) -> Result<(), FeedError>,
    /// A refusal raised inside the walker, reported as itself.
    failed: Option<FeedError>,
}

impl TarRecords<'_> {
    fn flush(&mut self) -> Result<(), FeedError> {
        match self.current.take() {
            Some(r) => (self.take)(r),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: FeedError) -> DistError {
        self.failed = Some(e);
        DistError::MalformedGzip {
            reason: "feed refused".to_owned(),
        }
    }
}

impl TarVisitor for TarRecords<'_> {
    fn member(&mut self, path: &str, is_dir: bool, size: u64) -> Result<bool, DistError> {
        if let Err(e) = self.flush() {
            return Err(self.fail(e));
        }
        if is_dir || hidden(path) {
            return Ok(false);
        }
        let Some(format) = format_of(path) else {
            return Ok(false);
        };
        if size > self.limits.max_record_bytes {
            let e = FeedError::RecordTooLarge {
                path: path.to_owned(),
                limit: self.limits.max_record_bytes,
            };
            return Err(self.fail(e));
        }
        self.current = Some(FeedRecord {
            path: path.to_owned(),
            withdrawn: under_withdrawn(path),
            format,
            bytes: Vec::with_capacity(usize::try_from(size).unwrap_or(0)),
        });
        Ok(true)
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), DistError> {
        if let Some(r) = self.current.as_mut() {
            r.bytes.extend_from_slice(chunk);
        }
        Ok(())
    }
}

fn read_tar_gz(
    path: &Path,
    limits: &FeedLimits,
    take: &mut dyn FnMut(FeedRecord) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|err| FeedError::Io {
        path: shown.clone(),
        err,
    })?;
    let compressed = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut src = Inflated {
        decoder: GzDecoder::new(BufReader::with_capacity(64 * 1024, file)),
        produced: 0,
        compressed,
        limits: &limits.archive,
    };
    let mut v = TarRecords {
        limits,
        current: None,
        take,
        failed: None,
    };
    let walked = tarstream::walk(&mut src, &limits.archive, &mut v);
    if let Some(e) = v.failed.take() {
        return Err(e);
    }
    walked?;
    v.flush()
}

fn read_zip(
    path: &Path,
    limits: &FeedLimits,
    take: &mut dyn FnMut(FeedRecord) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    let mut zip = ziparchive::open(path, &limits.archive)?;
    let mut members: Vec<(usize, String, u64)> = zip
        .entries()
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.name.ends_with('/') && !hidden(&e.name))
        .map(|(i, e)| (i, e.name.clone(), e.uncompressed_size))
        .collect();
    members.sort_by(|a, b| a.1.cmp(&b.1));
    for (index, name, size) in members {
        let Some(format) = format_of(&name) else {
            continue;
        };
        if size > limits.max_record_bytes {
            return Err(FeedError::RecordTooLarge {
                path: name,
                limit: limits.max_record_bytes,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        zip.read_member(index, |chunk| {
            bytes.extend_from_slice(chunk);
            Ok(())
        })?;
        take(FeedRecord {
            withdrawn: under_withdrawn(&name),
            path: name,
            format,
            bytes,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(path: &Path, limits: &FeedLimits) -> Result<Vec<FeedRecord>, FeedError> {
        let mut out = Vec::new();
        read_feed(path, limits, |r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path();
        std::fs::create_dir_all(p.join("osv/malicious/pypi/evil")).expect("mk");
        std::fs::create_dir_all(p.join("osv/withdrawn/pypi/old")).expect("mk");
        std::fs::create_dir_all(p.join(".git")).expect("mk");
        std::fs::write(p.join("osv/malicious/pypi/evil/MAL-1.json"), b"{}").expect("w");
        std::fs::write(p.join("osv/withdrawn/pypi/old/MAL-2.json"), b"{}").expect("w");
        std::fs::write(p.join("README.md"), b"x").expect("w");
        std::fs::write(p.join(".git/x.json"), b"{}").expect("w");
        std::fs::write(p.join("PYSEC-1.yaml"), b"id: x").expect("w");
        d
    }

    #[test]
    fn a_folder_tree_gives_its_records_in_order_with_withdrawn_marked() {
        let d = tree();
        let got = collect(d.path(), &FeedLimits::default()).expect("feed");
        let summary: Vec<(&str, bool)> =
            got.iter().map(|r| (r.path.as_str(), r.withdrawn)).collect();
        assert_eq!(
            summary,
            vec![
                ("PYSEC-1.yaml", false),
                ("osv/malicious/pypi/evil/MAL-1.json", false),
                ("osv/withdrawn/pypi/old/MAL-2.json", true),
            ]
        );
        assert_eq!(got[0].format, RecordFormat::Yaml);
    }

    #[test]
    fn bounds_are_kept() {
        let d = tree();
        let few = FeedLimits {
            max_records: 2,
            ..FeedLimits::default()
        };
        assert!(matches!(
            collect(d.path(), &few),
            Err(FeedError::TooManyRecords { limit: 2 })
        ));
        std::fs::write(d.path().join("big.json"), vec![b' '; 2000]).expect("w");
        let small = FeedLimits {
            max_record_bytes: 1000,
            ..FeedLimits::default()
        };
        assert!(matches!(
            collect(d.path(), &small),
            Err(FeedError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn a_tar_gz_feed_reads_like_the_folder_and_a_bomb_is_refused() {
        let d = tree();
        let out = tempfile::tempdir().expect("dir");
        let tgz = out.path().join("feed.tar.gz");
        {
            let f = File::create(&tgz).expect("create");
            let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
            let mut b = tar::Builder::new(gz);
            b.append_dir_all("feed", d.path().join("osv"))
                .expect("append");
            b.into_inner().expect("tar").finish().expect("gz");
        }
        let got = collect(&tgz, &FeedLimits::default()).expect("feed");
        assert_eq!(got.len(), 2);
        assert!(
            got.iter()
                .any(|r| r.withdrawn && r.path.ends_with("MAL-2.json"))
        );

        let bomb = out.path().join("bomb.tgz");
        {
            let f = File::create(&bomb).expect("create");
            let gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
            let mut b = tar::Builder::new(gz);
            let data = vec![0u8; 8 * 1024 * 1024];
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, "zeros.bin", &data[..])
                .expect("append");
            b.into_inner().expect("tar").finish().expect("gz");
        }
        let tight = FeedLimits {
            archive: Limits {
                max_total_uncompressed: 1024 * 1024,
                ..FeedLimits::default().archive
            },
            ..FeedLimits::default()
        };
        assert!(matches!(
            collect(&bomb, &tight),
            Err(FeedError::Archive(DistError::TooLarge { .. }))
        ));
    }

    #[test]
    fn other_files_are_refused_by_kind() {
        let d = tempfile::tempdir().expect("dir");
        let p = d.path().join("feed.rar");
        std::fs::write(&p, b"x").expect("w");
        assert!(matches!(
            collect(&p, &FeedLimits::default()),
            Err(FeedError::UnknownKind(_))
        ));
    }
}
