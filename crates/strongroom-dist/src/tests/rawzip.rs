//! A byte-level ZIP writer for building hostile archives field by field.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;

pub const S_IFREG: u32 = 0o100_644;
pub const S_IFDIR: u32 = 0o040_755;

/// One member, as written to the local header and the central directory.
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub name: Vec<u8>,
    /// Bytes stored after the local header (already compressed).
    pub data: Vec<u8>,
    pub method: u16,
    pub flags: u16,
    pub crc: u32,
    pub csize: u32,
    pub usize: u32,
    pub local_extra: Vec<u8>,
    pub central_extra: Vec<u8>,
    pub mode: u32,
    pub comment: Vec<u8>,
    pub in_local: bool,
    pub in_central: bool,
    // Central-directory overrides.
    pub central_name: Option<Vec<u8>>,
    pub central_csize: Option<u32>,
    pub central_usize: Option<u32>,
    pub central_crc: Option<u32>,
    pub central_method: Option<u16>,
    pub central_flags: Option<u16>,
    pub central_offset: Option<u32>,
    pub central_disk: Option<u16>,
}

pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

pub fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(data).expect("deflate");
    enc.finish().expect("deflate")
}

impl RawEntry {
    pub fn stored(name: &str, data: &[u8]) -> Self {
        Self::raw(name.as_bytes(), data.to_vec(), 0, crc32(data), data.len())
    }

    pub fn deflated(name: &str, data: &[u8]) -> Self {
        Self::raw(name.as_bytes(), deflate(data), 8, crc32(data), data.len())
    }

    pub fn dir(name: &str) -> Self {
        let mut e = Self::stored(name, b"");
        e.mode = S_IFDIR;
        e
    }

    pub fn raw(name: &[u8], data: Vec<u8>, method: u16, crc: u32, usize: usize) -> Self {
        Self {
            name: name.to_vec(),
            csize: data.len() as u32,
            data,
            method,
            flags: 0x0800,
            crc,
            usize: usize as u32,
            local_extra: Vec::new(),
            central_extra: Vec::new(),
            mode: S_IFREG,
            comment: Vec::new(),
            in_local: true,
            in_central: true,
            central_name: None,
            central_csize: None,
            central_usize: None,
            central_crc: None,
            central_method: None,
            central_flags: None,
            central_offset: None,
            central_disk: None,
        }
    }
}

/// An extra field record.
pub fn extra(id: u16, data: &[u8]) -> Vec<u8> {
    let mut v = id.to_le_bytes().to_vec();
    v.extend_from_slice(&(data.len() as u16).to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// A ZIP64 extended-information extra field holding `values` in order.
pub fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    extra(0x0001, &data)
}

/// An Info-ZIP Unicode Path extra field.
pub fn unicode_path_extra(name: &str) -> Vec<u8> {
    let mut data = vec![1u8];
    data.extend_from_slice(&crc32(name.as_bytes()).to_le_bytes());
    data.extend_from_slice(name.as_bytes());
    extra(0x7075, &data)
}

/// A whole archive; `build` lays it out from offset 0.
#[derive(Clone, Debug, Default)]
pub struct RawZip {
    pub entries: Vec<RawEntry>,
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    pub eocd_comment: Vec<u8>,
    /// Extra central-directory entries after the regular ones.
    pub extra_central: Vec<RawEntry>,
    pub eocd_records: Option<u16>,
    pub eocd_cd_size: Option<u32>,
    pub eocd_cd_offset: Option<u32>,
    pub duplicate_eocd: bool,
    /// Write a ZIP64 end record and locator, with sentinels in the classic end record.
    pub zip64_end: bool,
    pub eocd64_extensible: Vec<u8>,
    pub locator_offset_delta: i64,
}

impl RawZip {
    pub fn new(entries: Vec<RawEntry>) -> Self {
        Self {
            entries,
            ..Self::default()
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = self.prefix.clone();
        let mut offsets = Vec::new();
        for e in &self.entries {
            offsets.push(out.len() as u32);
            if !e.in_local {
                continue;
            }
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&e.flags.to_le_bytes());
            out.extend_from_slice(&e.method.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&e.csize.to_le_bytes());
            out.extend_from_slice(&e.usize.to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(e.local_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&e.name);
            out.extend_from_slice(&e.local_extra);
            out.extend_from_slice(&e.data);
        }
        let cd_start = out.len();
        let mut count = 0usize;
        let all = self
            .entries
            .iter()
            .zip(offsets.iter().copied())
            .chain(self.extra_central.iter().map(|e| (e, 0)));
        for (e, offset) in all {
            if !e.in_central {
                continue;
            }
            count += 1;
            let name = e.central_name.as_ref().unwrap_or(&e.name);
            out.extend_from_slice(b"PK\x01\x02");
            out.extend_from_slice(&(0x0300u16 | 20).to_le_bytes());
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&e.central_flags.unwrap_or(e.flags).to_le_bytes());
            out.extend_from_slice(&e.central_method.unwrap_or(e.method).to_le_bytes());
            out.extend_from_slice(&[0, 0, 0x21, 0]);
            out.extend_from_slice(&e.central_crc.unwrap_or(e.crc).to_le_bytes());
            out.extend_from_slice(&e.central_csize.unwrap_or(e.csize).to_le_bytes());
            out.extend_from_slice(&e.central_usize.unwrap_or(e.usize).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(e.central_extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&(e.comment.len() as u16).to_le_bytes());
            out.extend_from_slice(&e.central_disk.unwrap_or(0).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&(e.mode << 16).to_le_bytes());
            out.extend_from_slice(&e.central_offset.unwrap_or(offset).to_le_bytes());
            out.extend_from_slice(name);
            out.extend_from_slice(&e.central_extra);
            out.extend_from_slice(&e.comment);
        }
        let cd_end = out.len();
        let (cd_size, cd_offset) = ((cd_end - cd_start) as u64, cd_start as u64);
        let mut eocd = Vec::new();
        let (records, size32, offset32) = if self.zip64_end {
            let eocd64_at = out.len() as u64;
            out.extend_from_slice(b"PK\x06\x06");
            out.extend_from_slice(&(44 + self.eocd64_extensible.len() as u64).to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&45u16.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(count as u64).to_le_bytes());
            out.extend_from_slice(&(count as u64).to_le_bytes());
            out.extend_from_slice(&cd_size.to_le_bytes());
            out.extend_from_slice(&cd_offset.to_le_bytes());
            out.extend_from_slice(&self.eocd64_extensible);
            out.extend_from_slice(b"PK\x06\x07");
            out.extend_from_slice(&0u32.to_le_bytes());
            let target = (eocd64_at as i64 + self.locator_offset_delta) as u64;
            out.extend_from_slice(&target.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
            (0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF)
        } else {
            (count as u16, cd_size as u32, cd_offset as u32)
        };
        let records = self.eocd_records.unwrap_or(records);
        eocd.extend_from_slice(b"PK\x05\x06");
        eocd.extend_from_slice(&[0, 0, 0, 0]);
        eocd.extend_from_slice(&records.to_le_bytes());
        eocd.extend_from_slice(&records.to_le_bytes());
        eocd.extend_from_slice(&self.eocd_cd_size.unwrap_or(size32).to_le_bytes());
        eocd.extend_from_slice(&self.eocd_cd_offset.unwrap_or(offset32).to_le_bytes());
        eocd.extend_from_slice(&(self.eocd_comment.len() as u16).to_le_bytes());
        eocd.extend_from_slice(&self.eocd_comment);
        out.extend_from_slice(&eocd);
        if self.duplicate_eocd {
            out.extend_from_slice(&eocd);
        }
        out.extend_from_slice(&self.suffix);
        out
    }
}
