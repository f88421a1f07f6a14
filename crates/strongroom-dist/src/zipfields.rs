//! ZIP header fields: extra-field parsing, ZIP64 size resolution, names, flags, methods and
//! Unix modes, each checked so that no two ZIP readers can interpret a header differently.

use crate::paths::decode_name;
use crate::{DistError, ZipError};

/// Compression method 0: the member is stored as is.
pub(crate) const METHOD_STORE: u16 = 0;
/// Compression method 8: deflate.
pub(crate) const METHOD_DEFLATE: u16 = 8;

const EXTRA_ZIP64: u16 = 0x0001;
const EXTRA_UNICODE_PATH: u16 = 0x7075;

const FLAG_ENCRYPTED: u16 = 0x0001;
const FLAG_DATA_DESCRIPTOR: u16 = 0x0008;
const FLAG_STRONG_ENCRYPTION: u16 = 0x0040;
const FLAG_UTF8: u16 = 0x0800;
const FLAG_MASKED_HEADERS: u16 = 0x2000;

pub(crate) const SENTINEL_32: u32 = 0xFFFF_FFFF;
pub(crate) const SENTINEL_16: u16 = 0xFFFF;

const MODE_TYPE_MASK: u32 = 0o170_000;
const MODE_REGULAR: u32 = 0o100_000;
const MODE_DIR: u32 = 0o040_000;
const MODE_SYMLINK: u32 = 0o120_000;

pub(crate) fn malformed(reason: &'static str) -> DistError {
    ZipError::Malformed { reason }.into()
}

pub(crate) fn zip64(reason: &'static str) -> DistError {
    ZipError::Zip64 { reason }.into()
}

pub(crate) fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[derive(Default)]
pub(crate) struct Extras<'a> {
    pub zip64: Option<&'a [u8]>,
    pub unicode_path: Option<&'a [u8]>,
}

pub(crate) fn parse_extras<'a>(
    mut extra: &'a [u8],
    location: &'static str,
) -> Result<Extras<'a>, DistError> {
    let mut out = Extras::default();
    while !extra.is_empty() {
        if extra.len() < 4 {
            return Err(malformed("malformed extra field"));
        }
        let id = u16_at(extra, 0);
        let size = usize::from(u16_at(extra, 2));
        if 4 + size > extra.len() {
            return Err(malformed("malformed extra field"));
        }
        let data = &extra[4..4 + size];
        let slot = match id {
            EXTRA_ZIP64 => Some(&mut out.zip64),
            EXTRA_UNICODE_PATH => Some(&mut out.unicode_path),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(ZipError::DuplicateExtra { location }.into());
            }
            *slot = Some(data);
        }
        extra = &extra[4 + size..];
    }
    Ok(out)
}

/// Decode a header name: UTF-8, no control characters, and non-ASCII only with flag bit 11
/// (otherwise Python's `zipfile` would decode it as CP437 and see a different name).
pub(crate) fn zip_name(raw: &[u8], flags: u16) -> Result<String, DistError> {
    let name = decode_name(raw)?;
    if !name.is_ascii() && flags & FLAG_UTF8 == 0 {
        return Err(ZipError::NonAsciiWithoutUtf8Flag { path: name }.into());
    }
    Ok(name)
}

/// An Info-ZIP Unicode Path extra must be well formed and name exactly the header name.
pub(crate) fn check_unicode_path(data: &[u8], name: &str) -> Result<(), DistError> {
    if data.len() < 5 || data[0] != 1 {
        return Err(malformed("malformed Unicode path extra field"));
    }
    let unicode = decode_name(&data[5..])?;
    if unicode != name {
        return Err(ZipError::UnicodePathMismatch {
            path: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

pub(crate) fn check_flags(flags: u16, name: &str) -> Result<(), DistError> {
    if flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS) != 0 {
        return Err(ZipError::Encrypted {
            path: name.to_owned(),
        }
        .into());
    }
    if flags & FLAG_DATA_DESCRIPTOR != 0 {
        return Err(ZipError::DataDescriptor {
            path: name.to_owned(),
        }
        .into());
    }
    Ok(())
}

pub(crate) fn check_method(method: u16, name: &str) -> Result<(), DistError> {
    if method != METHOD_STORE && method != METHOD_DEFLATE {
        return Err(DistError::UnsupportedCompression {
            path: name.to_owned(),
            method,
        });
    }
    Ok(())
}

/// Resolve a local header's sizes (compressed, uncompressed) through its ZIP64 extra.
///
/// Accepts the extra lengths Warehouse accepts (0, 8 for STORE, 16, 24, 28); a 32-bit field must
/// be the 0xFFFFFFFF sentinel or equal the 64-bit value, so no reader can pick a different size.
pub(crate) fn resolve_local_sizes(
    csize: u32,
    usize_: u32,
    method: u16,
    extra: Option<&[u8]>,
) -> Result<(u64, u64), DistError> {
    let Some(data) = extra else {
        if csize == SENTINEL_32 || usize_ == SENTINEL_32 {
            return Err(zip64("size sentinel without a ZIP64 extra field"));
        }
        return Ok((u64::from(csize), u64::from(usize_)));
    };
    let (c64, u64_) = match data.len() {
        0 => {
            if csize == SENTINEL_32 || usize_ == SENTINEL_32 {
                return Err(zip64("size sentinel with an empty ZIP64 extra field"));
            }
            (u64::from(csize), u64::from(usize_))
        }
        8 => {
            if method != METHOD_STORE {
                return Err(zip64("ZIP64 extra field without a compressed size"));
            }
            let u = u64_at(data, 0);
            (u, u)
        }
        16 | 24 | 28 => (u64_at(data, 8), u64_at(data, 0)),
        _ => return Err(zip64("ZIP64 extra field has an invalid length")),
    };
    if (csize != SENTINEL_32 && u64::from(csize) != c64)
        || (usize_ != SENTINEL_32 && u64::from(usize_) != u64_)
    {
        return Err(zip64("ZIP64 extra field disagrees with the header sizes"));
    }
    Ok((c64, u64_))
}

/// Resolve a central header's (compressed, uncompressed, offset, disk) through its ZIP64 extra,
/// which must hold exactly the fields marked with sentinels, in APPNOTE order.
pub(crate) fn resolve_central(
    csize: u32,
    usize_: u32,
    offset: u32,
    disk: u16,
    extra: Option<&[u8]>,
) -> Result<(u64, u64, u64, u32), DistError> {
    let mut needed = 0usize;
    for sentinel in [
        usize_ == SENTINEL_32,
        csize == SENTINEL_32,
        offset == SENTINEL_32,
    ] {
        if sentinel {
            needed += 8;
        }
    }
    if disk == SENTINEL_16 {
        needed += 4;
    }
    let data = match extra {
        Some(data) => data,
        None if needed > 0 => return Err(zip64("sentinel without a ZIP64 extra field")),
        None => &[],
    };
    if data.len() != needed {
        return Err(zip64(
            "ZIP64 extra field does not match the fields it replaces",
        ));
    }
    let mut at = 0usize;
    let mut take64 = |sentinel: bool, small: u32| {
        if sentinel {
            let v = u64_at(data, at);
            at += 8;
            v
        } else {
            u64::from(small)
        }
    };
    let u = take64(usize_ == SENTINEL_32, usize_);
    let c = take64(csize == SENTINEL_32, csize);
    let o = take64(offset == SENTINEL_32, offset);
    let d = if disk == SENTINEL_16 {
        u32_at(data, needed - 4)
    } else {
        u32::from(disk)
    };
    Ok((c, u, o, d))
}

/// Refuse symlinks and special files by the Unix mode in the external attributes (whatever
/// "version made by" claims, since some extractors look at the mode regardless), and a
/// directory mode on a name that an extractor going by the name would write as a file.
pub(crate) fn check_mode(external: u32, name: &str) -> Result<(), DistError> {
    let path = name.to_owned();
    match (external >> 16) & MODE_TYPE_MASK {
        0 | MODE_REGULAR => Ok(()),
        MODE_DIR if name.ends_with('/') => Ok(()),
        MODE_DIR => Err(ZipError::TypeMismatch { path }.into()),
        MODE_SYMLINK => Err(ZipError::Symlink { path }.into()),
        _ => Err(ZipError::SpecialFile { path }.into()),
    }
}
