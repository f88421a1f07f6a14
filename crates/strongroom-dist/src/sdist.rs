//! Source distributions: `.tar.gz` (streamed through gzip and the strict tar walker) and legacy
//! `.zip` (the same ZIP validation as wheels); both must hold exactly one top-level directory
//! with `PKG-INFO` directly inside it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::GzDecoder;

use crate::paths::top_component;
use crate::sniff::{self, ZipView};
use crate::tarstream::{self, BlockSource, TarVisitor};
use crate::{DistError, Limits, ziparchive};

/// Which container an sdist uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SdistKind {
    /// `.tar.gz` (the only form PyPI still accepts, PEP 625).
    TarGz,
    /// Legacy `.zip` sdist.
    Zip,
}

/// Facts read from an sdist, for the core to compare with the filename and form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdistInfo {
    /// The single top-level directory, e.g. `foo_bar-1.0`.
    pub top_dir: String,
    /// The bytes of `<top_dir>/PKG-INFO`.
    pub pkg_info: Vec<u8>,
    /// Every member path in archive order; directories end with `/`.
    pub members: Vec<String>,
}

/// Inspect the sdist at `path` without extracting anything.
pub fn inspect_sdist(
    path: &Path,
    kind: SdistKind,
    limits: &Limits,
) -> Result<SdistInfo, DistError> {
    match kind {
        SdistKind::TarGz => inspect_tar_gz(path, limits),
        SdistKind::Zip => inspect_zip(path, limits),
    }
}

/// Tracks the single top-level directory and the `PKG-INFO` inside it.
struct Layout<'a> {
    limits: &'a Limits,
    top: Option<String>,
    members: Vec<String>,
    pkg_info: Option<Vec<u8>>,
    capturing: bool,
}

impl<'a> Layout<'a> {
    fn new(limits: &'a Limits) -> Self {
        Self {
            limits,
            top: None,
            members: Vec::new(),
            pkg_info: None,
            capturing: false,
        }
    }

    /// Record a member (path without a trailing slash); returns true for `<top>/PKG-INFO`.
    fn observe(&mut self, path: &str, is_dir: bool, size: u64) -> Result<bool, DistError> {
        let first = top_component(path);
        if first == path && !is_dir {
            // A file at the top level: the archive has no single top-level directory.
            return Err(DistError::SdistTopLevel);
        }
        match &self.top {
            None => self.top = Some(first.to_owned()),
            Some(top) if top != first => return Err(DistError::SdistTopLevel),
            Some(_) => {}
        }
        self.members.push(if is_dir {
            format!("{path}/")
        } else {
            path.to_owned()
        });
        let is_pkg_info = !is_dir && path.len() == first.len() + 9 && path.ends_with("/PKG-INFO");
        if is_pkg_info {
            self.limits.check_metadata(path, size)?;
        }
        Ok(is_pkg_info)
    }

    fn finish(self) -> Result<SdistInfo, DistError> {
        let Some(top_dir) = self.top else {
            return Err(DistError::SdistTopLevel);
        };
        let Some(pkg_info) = self.pkg_info else {
            return Err(DistError::PkgInfoMissing {
                path: format!("{top_dir}/PKG-INFO"),
            });
        };
        Ok(SdistInfo {
            top_dir,
            pkg_info,
            members: self.members,
        })
    }
}

impl TarVisitor for Layout<'_> {
    fn member(&mut self, path: &str, is_dir: bool, size: u64) -> Result<bool, DistError> {
        self.capturing = self.observe(path, is_dir, size)?;
        if self.capturing {
            self.pkg_info = Some(Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
        }
        Ok(self.capturing)
    }

    fn data(&mut self, chunk: &[u8]) -> Result<(), DistError> {
        if let (true, Some(buf)) = (self.capturing, self.pkg_info.as_mut()) {
            buf.extend_from_slice(chunk);
        }
        Ok(())
    }
}

/// The gzip-decompressed stream, counted against the limits as it is produced.
struct Inflated<'a> {
    decoder: GzDecoder<BufReader<File>>,
    produced: u64,
    compressed: u64,
    limits: &'a Limits,
}

fn gzip_error(err: io::Error) -> DistError {
    match err.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            DistError::MalformedGzip {
                reason: err.to_string(),
            }
        }
        _ => DistError::Io(err),
    }
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
                Err(e) => return Err(gzip_error(e)),
            }
        }
    }
}

fn inspect_tar_gz(path: &Path, limits: &Limits) -> Result<SdistInfo, DistError> {
    let file = File::open(path)?;
    let compressed = file.metadata()?.len();
    if !sniff::starts_with_gzip_magic(&file)? {
        return Err(DistError::NotTar);
    }
    if sniff::zip_view(&file)? == ZipView::Zip {
        return Err(DistError::Polyglot);
    }
    let mut start: &File = &file;
    start.seek(SeekFrom::Start(0))?;
    let mut src = Inflated {
        decoder: GzDecoder::new(BufReader::with_capacity(64 * 1024, file)),
        produced: 0,
        compressed,
        limits,
    };
    let mut layout = Layout::new(limits);
    tarstream::walk(&mut src, limits, &mut layout)?;
    // Python's gzip reads further members after the first; refuse anything but zero padding.
    let rest = src.decoder.get_mut();
    loop {
        let chunk = rest.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        if chunk.iter().any(|&b| b != 0) {
            return Err(DistError::MalformedGzip {
                reason: "trailing data after the gzip stream".to_owned(),
            });
        }
        let n = chunk.len();
        rest.consume(n);
    }
    layout.finish()
}

fn inspect_zip(path: &Path, limits: &Limits) -> Result<SdistInfo, DistError> {
    let mut zip = ziparchive::open(path, limits)?;
    let mut layout = Layout::new(limits);
    let mut pkg_info_index = None;
    for (index, entry) in zip.entries().iter().enumerate() {
        let name = entry.name.strip_suffix('/').unwrap_or(&entry.name);
        if layout.observe(name, entry.is_dir, entry.uncompressed_size)? {
            pkg_info_index = Some(index);
        }
    }
    if layout.top.is_none() {
        return Err(DistError::SdistTopLevel);
    }
    for index in 0..zip.entries().len() {
        if Some(index) == pkg_info_index {
            layout.pkg_info = Some(zip.read_small(index, limits)?);
        } else {
            zip.read_member(index, |_| Ok(()))?;
        }
    }
    layout.finish()
}
