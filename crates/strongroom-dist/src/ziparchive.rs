//! Opening a ZIP upload (wheel or legacy `.zip` sdist): sniffing, raw framing validation, a
//! cross-check with a second ZIP reader, bomb checks on the declared sizes, and streaming member
//! reads that verify CRC-32 and size and never produce more bytes than the header declared.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use flate2::bufread::DeflateDecoder;

use crate::sniff::{self, ZipView};
use crate::zipfields::METHOD_STORE;
use crate::zipframe::{self, ZipEntry, ZipLayout};
use crate::{DistError, Limits, ZipError};

const CHUNK: usize = 64 * 1024;

/// A validated ZIP archive whose members can be streamed.
pub(crate) struct OpenZip {
    file: File,
    pub layout: ZipLayout,
    buf: Vec<u8>,
}

/// Open and validate `path` as a ZIP upload.
pub(crate) fn open(path: &Path, limits: &Limits) -> Result<OpenZip, DistError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if sniff::zip_view(&file)? == ZipView::NotZip {
        return Err(DistError::NotZip);
    }
    if sniff::starts_with_tar_header(&file)? || sniff::starts_with_gzip_magic(&file)? {
        return Err(DistError::Polyglot);
    }
    let layout = zipframe::validate(&file, limits)?;
    cross_check(&file, &layout)?;
    let mut total = 0u64;
    for entry in &layout.entries {
        limits.check_member(&entry.name, entry.uncompressed_size)?;
        limits.check_member_ratio(&entry.name, entry.uncompressed_size, entry.compressed_size)?;
        total = total.saturating_add(entry.uncompressed_size);
    }
    limits.check_total(total, len)?;
    Ok(OpenZip {
        file,
        layout,
        buf: vec![0u8; CHUNK],
    })
}

/// Parse the archive again with the `zip` crate (a central-directory reader) and require that
/// it sees exactly the central directory the framing pass validated.
fn cross_check(file: &File, layout: &ZipLayout) -> Result<(), DistError> {
    let disagree = |reason: String| DistError::from(ZipError::ParserDisagreement { reason });
    let archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| disagree(e.to_string()))?;
    if archive.len() != layout.central_order.len() {
        return Err(disagree(format!(
            "{} entries instead of {}",
            archive.len(),
            layout.central_order.len()
        )));
    }
    for (index, expected) in layout.central_order.iter().enumerate() {
        match archive.name_for_index(index) {
            Some(Ok(name)) if name == expected.as_str() => {}
            _ => return Err(disagree(format!("entry {index} is not {expected:?}"))),
        }
    }
    Ok(())
}

fn classify(err: io::Error, name: &str) -> DistError {
    match err.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
            ZipError::CorruptData {
                path: name.to_owned(),
            }
            .into()
        }
        _ => DistError::Io(err),
    }
}

impl OpenZip {
    /// The members in file order.
    pub fn entries(&self) -> &[ZipEntry] {
        &self.layout.entries
    }

    /// Stream member `index` through `sink`, verifying its size and CRC-32. Decompression stops
    /// as soon as the output would exceed the size in the (already bounded) header.
    pub fn read_member(
        &mut self,
        index: usize,
        mut sink: impl FnMut(&[u8]) -> Result<(), DistError>,
    ) -> Result<(), DistError> {
        let Self { file, layout, buf } = self;
        let Some(entry) = layout.entries.get(index) else {
            return Ok(());
        };
        let mut f: &File = file;
        f.seek(SeekFrom::Start(entry.data_offset))?;
        let capacity = usize::try_from(entry.compressed_size)
            .unwrap_or(CHUNK)
            .clamp(1, CHUNK);
        let raw = BufReader::with_capacity(capacity, f.take(entry.compressed_size));
        let mut reader: Box<dyn Read + '_> = if entry.method == METHOD_STORE {
            Box::new(raw)
        } else {
            Box::new(DeflateDecoder::new(raw))
        };
        let mut crc = flate2::Crc::new();
        let mut total = 0u64;
        loop {
            let n = match reader.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify(e, &entry.name)),
            };
            total += n as u64;
            if total > entry.uncompressed_size {
                return Err(ZipError::SizeMismatch {
                    path: entry.name.clone(),
                }
                .into());
            }
            crc.update(&buf[..n]);
            sink(&buf[..n])?;
        }
        if total != entry.uncompressed_size {
            return Err(ZipError::SizeMismatch {
                path: entry.name.clone(),
            }
            .into());
        }
        if crc.sum() != entry.crc32 {
            return Err(ZipError::CrcMismatch {
                path: entry.name.clone(),
            }
            .into());
        }
        Ok(())
    }

    /// Read member `index` into memory; `limits.max_metadata_bytes` bounds it.
    pub fn read_small(&mut self, index: usize, limits: &Limits) -> Result<Vec<u8>, DistError> {
        let Some(entry) = self.layout.entries.get(index) else {
            return Ok(Vec::new());
        };
        limits.check_metadata(&entry.name, entry.uncompressed_size)?;
        let mut out = Vec::with_capacity(usize::try_from(entry.uncompressed_size).unwrap_or(0));
        self.read_member(index, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Index of the member named exactly `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.layout.entries.iter().position(|e| e.name == name)
    }
}
