//! Raw ZIP structure validation: one forward pass over every record from offset 0 to the end.
//!
//! Follows Warehouse's `warehouse/utils/zipfiles.py` (so a reader that trusts the central
//! directory and one that streams local headers see the same archive) and goes further:
//! local headers must be consecutive from offset 0 and non-overlapping; each central entry must
//! match exactly one local header on name, offset, method, flags, CRC-32 and both sizes; records
//! must come in order (locals, central directory, optional ZIP64 end record and locator, end
//! record); nothing may follow the end record; comments, data descriptors, encryption, symlinks,
//! devices, inconsistent ZIP64 fields and names that collide on other file systems
//! (`collisions`) are refused.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use crate::collisions::NameSet;
use crate::paths::check_member_path;
use crate::zipfields::{
    METHOD_STORE, SENTINEL_16, SENTINEL_32, check_flags, check_method, check_mode,
    check_unicode_path, malformed, parse_extras, resolve_central, resolve_local_sizes, u16_at,
    u32_at, u64_at, zip_name, zip64,
};
use crate::{DistError, Limits, ZipError};

const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const SIG_EOCD64: u32 = 0x0606_4b50;
const SIG_LOCATOR: u32 = 0x0706_4b50;

/// One validated member.
#[derive(Clone, Debug)]
pub(crate) struct ZipEntry {
    pub name: String,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub data_offset: u64,
    pub is_dir: bool,
}

/// The validated structure of a ZIP archive.
#[derive(Debug)]
pub(crate) struct ZipLayout {
    /// Members in file (local header) order.
    pub entries: Vec<ZipEntry>,
    /// Names in central-directory order, for the cross-check with a second reader.
    pub central_order: Vec<String>,
}

/// Bounds-checked sequential reader over the file.
struct Scanner<'a> {
    inner: BufReader<&'a File>,
    pos: u64,
    len: u64,
}

impl Scanner<'_> {
    fn remaining(&self) -> u64 {
        self.len - self.pos
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, DistError> {
        if n as u64 > self.remaining() {
            return Err(malformed("truncated record"));
        }
        let mut v = vec![0u8; n];
        self.inner.read_exact(&mut v)?;
        self.pos += n as u64;
        Ok(v)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DistError> {
        if N as u64 > self.remaining() {
            return Err(malformed("truncated record"));
        }
        let mut a = [0u8; N];
        self.inner.read_exact(&mut a)?;
        self.pos += N as u64;
        Ok(a)
    }

    fn skip(&mut self, n: u64) -> Result<(), DistError> {
        if n > self.remaining() {
            return Err(malformed("member data extends past the end of the file"));
        }
        let delta = i64::try_from(n).map_err(|_| malformed("member too large"))?;
        self.inner.seek_relative(delta)?;
        self.pos += n;
        Ok(())
    }
}

struct Local {
    entry: ZipEntry,
    header_offset: u64,
    flags: u16,
    matched: bool,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Phase {
    Locals,
    Central,
    AfterEocd64,
    AfterLocator,
}

struct Eocd64 {
    offset: u64,
    records: u64,
    cd_size: u64,
    cd_offset: u64,
}

/// Validate the framing of the ZIP archive in `file`.
pub(crate) fn validate(file: &File, limits: &Limits) -> Result<ZipLayout, DistError> {
    let len = file.metadata()?.len();
    let mut start: &File = file;
    start.seek(SeekFrom::Start(0))?;
    let mut sc = Scanner {
        inner: BufReader::with_capacity(64 * 1024, file),
        pos: 0,
        len,
    };
    let mut locals: Vec<Local> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut names = NameSet::default();
    let mut central_order: Vec<String> = Vec::new();
    let mut cd_start: Option<u64> = None;
    let mut cd_end: Option<u64> = None;
    let mut eocd64: Option<Eocd64> = None;
    let mut phase = Phase::Locals;

    loop {
        let at = sc.pos;
        if sc.remaining() < 4 {
            return Err(malformed("no end of central directory record"));
        }
        let sig = u32::from_le_bytes(sc.array::<4>()?);
        match sig {
            SIG_LOCAL if phase == Phase::Locals => {
                limits.check_entries(locals.len() + 1)?;
                let local = read_local(&mut sc, at)?;
                if by_name.contains_key(&local.entry.name) {
                    return Err(ZipError::DuplicateLocal {
                        path: local.entry.name,
                    }
                    .into());
                }
                names.add(&local.entry.name, local.entry.is_dir);
                by_name.insert(local.entry.name.clone(), locals.len());
                locals.push(local);
            }
            SIG_CENTRAL if matches!(phase, Phase::Locals | Phase::Central) => {
                if phase == Phase::Locals {
                    phase = Phase::Central;
                    cd_start = Some(at);
                }
                limits.check_entries(central_order.len() + 1)?;
                let name = read_central(&mut sc, &mut locals, &by_name)?;
                central_order.push(name);
            }
            SIG_EOCD64 if matches!(phase, Phase::Locals | Phase::Central) => {
                cd_start.get_or_insert(at);
                cd_end = Some(at);
                eocd64 = Some(read_eocd64(&mut sc, at)?);
                phase = Phase::AfterEocd64;
            }
            SIG_LOCATOR if phase == Phase::AfterEocd64 => {
                let b = sc.array::<16>()?;
                let (disk, offset, disks) = (u32_at(&b, 0), u64_at(&b, 4), u32_at(&b, 12));
                if disk != 0 || disks > 1 {
                    return Err(malformed("multi-disk archives are not supported"));
                }
                if eocd64.as_ref().map(|e| e.offset) != Some(offset) {
                    return Err(zip64("ZIP64 end record locator points elsewhere"));
                }
                phase = Phase::AfterLocator;
            }
            SIG_EOCD if phase != Phase::AfterEocd64 => {
                if phase != Phase::AfterLocator {
                    cd_start.get_or_insert(at);
                    cd_end = Some(at);
                }
                read_eocd(&mut sc, eocd64.as_ref(), &central_order, cd_start, cd_end)?;
                break;
            }
            SIG_LOCAL | SIG_CENTRAL | SIG_EOCD64 | SIG_LOCATOR | SIG_EOCD => {
                return Err(malformed("records out of order"));
            }
            _ => return Err(ZipError::UnknownSignature { offset: at }.into()),
        }
    }

    if sc.pos != len {
        return Err(ZipError::TrailingData.into());
    }
    if let Some(unmatched) = locals.iter().find(|l| !l.matched) {
        return Err(ZipError::NotInCentralDirectory {
            path: unmatched.entry.name.clone(),
        }
        .into());
    }
    names.check()?;
    Ok(ZipLayout {
        entries: locals.into_iter().map(|l| l.entry).collect(),
        central_order,
    })
}

fn read_local(sc: &mut Scanner<'_>, header_offset: u64) -> Result<Local, DistError> {
    let h = sc.array::<26>()?;
    let flags = u16_at(&h, 2);
    let method = u16_at(&h, 4);
    let crc32 = u32_at(&h, 10);
    let csize = u32_at(&h, 14);
    let usize_ = u32_at(&h, 18);
    let raw_name = sc.bytes(usize::from(u16_at(&h, 22)))?;
    let extra = sc.bytes(usize::from(u16_at(&h, 24)))?;

    let name = zip_name(&raw_name, flags)?;
    let extras = parse_extras(&extra, "local file")?;
    if let Some(unicode) = extras.unicode_path {
        check_unicode_path(unicode, &name)?;
    }
    check_flags(flags, &name)?;
    check_method(method, &name)?;
    check_member_path(&name)?;
    let (compressed_size, uncompressed_size) =
        resolve_local_sizes(csize, usize_, method, extras.zip64)?;
    if method == METHOD_STORE && compressed_size != uncompressed_size {
        return Err(malformed("stored member with differing sizes"));
    }
    let is_dir = name.ends_with('/');
    if is_dir && uncompressed_size != 0 {
        return Err(ZipError::DirectoryWithData { path: name }.into());
    }
    let data_offset = sc.pos;
    sc.skip(compressed_size)?;
    Ok(Local {
        entry: ZipEntry {
            name,
            method,
            crc32,
            compressed_size,
            uncompressed_size,
            data_offset,
            is_dir,
        },
        header_offset,
        flags,
        matched: false,
    })
}

fn read_central(
    sc: &mut Scanner<'_>,
    locals: &mut [Local],
    by_name: &HashMap<String, usize>,
) -> Result<String, DistError> {
    let h = sc.array::<42>()?;
    let flags = u16_at(&h, 4);
    let method = u16_at(&h, 6);
    let crc32 = u32_at(&h, 12);
    let csize = u32_at(&h, 16);
    let usize_ = u32_at(&h, 20);
    let name_len = usize::from(u16_at(&h, 24));
    let extra_len = usize::from(u16_at(&h, 26));
    let comment_len = u16_at(&h, 28);
    let disk = u16_at(&h, 30);
    let external = u32_at(&h, 34);
    let offset = u32_at(&h, 38);
    let raw_name = sc.bytes(name_len)?;
    let extra = sc.bytes(extra_len)?;

    let name = zip_name(&raw_name, flags)?;
    if comment_len != 0 {
        return Err(ZipError::CentralComment { path: name }.into());
    }
    let extras = parse_extras(&extra, "central directory")?;
    if let Some(unicode) = extras.unicode_path {
        check_unicode_path(unicode, &name)?;
    }
    check_flags(flags, &name)?;
    check_method(method, &name)?;
    check_member_path(&name)?;
    check_mode(external, &name)?;

    let (c, u, o, d) = resolve_central(csize, usize_, offset, disk, extras.zip64)?;
    if d != 0 {
        return Err(malformed("multi-disk archives are not supported"));
    }
    let Some(&index) = by_name.get(&name) else {
        return Err(ZipError::MissingLocalHeader { path: name }.into());
    };
    let local = &mut locals[index];
    if local.matched {
        return Err(ZipError::DuplicateCentral { path: name }.into());
    }
    let mismatch = |field| -> DistError {
        ZipError::Mismatch {
            path: name.clone(),
            field,
        }
        .into()
    };
    if local.header_offset != o {
        return Err(mismatch("local header offset"));
    }
    if local.entry.method != method {
        return Err(mismatch("compression method"));
    }
    if local.flags != flags {
        return Err(mismatch("flags"));
    }
    if local.entry.crc32 != crc32 {
        return Err(mismatch("CRC-32"));
    }
    if local.entry.compressed_size != c {
        return Err(mismatch("data size"));
    }
    if local.entry.uncompressed_size != u {
        return Err(mismatch("file size"));
    }
    local.matched = true;
    Ok(name)
}

fn read_eocd64(sc: &mut Scanner<'_>, offset: u64) -> Result<Eocd64, DistError> {
    let b = sc.array::<52>()?;
    let record_size = u64_at(&b, 0);
    let disk = u32_at(&b, 12);
    let cd_disk = u32_at(&b, 16);
    let on_disk = u64_at(&b, 20);
    let records = u64_at(&b, 28);
    if record_size != 44 {
        return Err(ZipError::Zip64ExtensibleData.into());
    }
    if disk != 0 || cd_disk != 0 || on_disk != records {
        return Err(malformed("multi-disk archives are not supported"));
    }
    Ok(Eocd64 {
        offset,
        records,
        cd_size: u64_at(&b, 36),
        cd_offset: u64_at(&b, 44),
    })
}

fn read_eocd(
    sc: &mut Scanner<'_>,
    eocd64: Option<&Eocd64>,
    central_order: &[String],
    cd_start: Option<u64>,
    cd_end: Option<u64>,
) -> Result<(), DistError> {
    let b = sc.array::<18>()?;
    let disk = u16_at(&b, 0);
    let cd_disk = u16_at(&b, 2);
    let on_disk = u16_at(&b, 4);
    let records = u16_at(&b, 6);
    let cd_size = u32_at(&b, 8);
    let cd_offset = u32_at(&b, 12);
    if u16_at(&b, 16) != 0 {
        return Err(ZipError::EocdComment.into());
    }
    let (records, cd_size, cd_offset) = match eocd64 {
        Some(z) => {
            let agrees16 = |v: u16, wide: u64| v == SENTINEL_16 || u64::from(v) == wide;
            let agrees32 = |v: u32, wide: u64| v == SENTINEL_32 || u64::from(v) == wide;
            if !(agrees16(disk, 0)
                && agrees16(cd_disk, 0)
                && agrees16(on_disk, z.records)
                && agrees16(records, z.records)
                && agrees32(cd_size, z.cd_size)
                && agrees32(cd_offset, z.cd_offset))
            {
                return Err(zip64("end record disagrees with the ZIP64 end record"));
            }
            (z.records, z.cd_size, z.cd_offset)
        }
        None => {
            if disk != 0 || cd_disk != 0 || on_disk != records {
                return Err(malformed("multi-disk archives are not supported"));
            }
            (u64::from(records), u64::from(cd_size), u64::from(cd_offset))
        }
    };
    if records != central_order.len() as u64 {
        return Err(ZipError::MismatchedRecords.into());
    }
    let (Some(start), Some(end)) = (cd_start, cd_end) else {
        return Err(ZipError::MismatchedOffset.into());
    };
    if cd_offset != start {
        return Err(ZipError::MismatchedOffset.into());
    }
    if cd_size != end - start {
        return Err(ZipError::MismatchedSize.into());
    }
    Ok(())
}
