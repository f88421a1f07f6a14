//! Format sniffing: does a file look like a ZIP to Python's `zipfile`, a tar to `tarfile`, or both?
//!
//! pip unpacks any sdist for which `zipfile.is_zipfile` is true as a ZIP, whatever its name, so
//! a `.tar.gz` that also carries a ZIP end record is a real parser-differential risk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use crate::tarstream::{HEADER_SIZE, header_checksum_ok};

const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const CENTRAL_SIG: &[u8; 4] = b"PK\x01\x02";
const EOCD_LEN: u64 = 22;
const MAX_COMMENT: u64 = 0xFFFF;

/// How a file looks to Python's `zipfile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ZipView {
    /// `zipfile.is_zipfile` is false.
    NotZip,
    /// `is_zipfile` is true, but `zipfile.ZipFile` could not open a central directory.
    EndRecordOnly,
    /// `is_zipfile` is true and the end record points at a central directory (or is empty).
    Zip,
}

fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match f.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Mirror `zipfile._EndRecData` (fast path for a comment-less end record, else the last end
/// signature in the final 64 KiB + 22 bytes), then check, as `ZipFile` would, that the record
/// points at a central directory.
pub(crate) fn zip_view(file: &File) -> io::Result<ZipView> {
    let len = file.metadata()?.len();
    if len < EOCD_LEN {
        return Ok(ZipView::NotZip);
    }
    let tail_start = len.saturating_sub(MAX_COMMENT + EOCD_LEN);
    let mut tail = vec![0u8; usize::try_from(len - tail_start).unwrap_or(0)];
    let got = read_at(file, tail_start, &mut tail)?;
    tail.truncate(got);
    let last = tail.len().saturating_sub(EOCD_LEN as usize);
    let record_at = if tail[last..].starts_with(EOCD_SIG) && tail.ends_with(&[0, 0]) {
        last
    } else {
        match tail.windows(4).rposition(|w| w == EOCD_SIG) {
            Some(pos) if pos + EOCD_LEN as usize <= tail.len() => pos,
            _ => return Ok(ZipView::NotZip),
        }
    };
    let rec = &tail[record_at..record_at + EOCD_LEN as usize];
    let cd_size = u64::from(u32::from_le_bytes([rec[12], rec[13], rec[14], rec[15]]));
    let location = tail_start + record_at as u64;
    if cd_size == 0 {
        return Ok(ZipView::Zip);
    }
    let Some(cd_start) = location.checked_sub(cd_size) else {
        return Ok(ZipView::EndRecordOnly);
    };
    let mut sig = [0u8; 4];
    if read_at(file, cd_start, &mut sig)? == 4 && &sig == CENTRAL_SIG {
        Ok(ZipView::Zip)
    } else {
        Ok(ZipView::EndRecordOnly)
    }
}

/// True when the first 512 bytes form a tar header that Python's `tarfile` accepts (a valid
/// header checksum), i.e. `tarfile.is_tarfile` would be true for an uncompressed tar.
pub(crate) fn starts_with_tar_header(file: &File) -> io::Result<bool> {
    let mut block = [0u8; HEADER_SIZE];
    if read_at(file, 0, &mut block)? != HEADER_SIZE {
        return Ok(false);
    }
    Ok(block.iter().any(|&b| b != 0) && header_checksum_ok(&block))
}

/// True when the file starts with the gzip magic bytes.
pub(crate) fn starts_with_gzip_magic(file: &File) -> io::Result<bool> {
    let mut magic = [0u8; 2];
    Ok(read_at(file, 0, &mut magic)? == 2 && magic == [0x1f, 0x8b])
}
