//! A byte-level tar writer for building hostile archives header by header.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// A POSIX ustar header with a valid checksum.
pub fn header(name: &str, typeflag: u8, size: u64) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0001750\0");
    h[116..124].copy_from_slice(b"0001750\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"14712345670\0");
    h[156] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    fix_checksum(&mut h);
    h
}

/// Recompute the header checksum after editing a header.
pub fn fix_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

/// One pax record `"<len> key=value\n"`.
pub fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

#[derive(Default)]
pub struct RawTar {
    pub out: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a header followed by `data` and block padding.
    pub fn raw(&mut self, h: [u8; 512], data: &[u8]) -> &mut Self {
        self.out.extend_from_slice(&h);
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(header(name, b'0', data.len() as u64), data)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(header(name, b'5', 0), b"")
    }

    pub fn entry(&mut self, name: &str, typeflag: u8) -> &mut Self {
        self.raw(header(name, typeflag, 0), b"")
    }

    /// A local pax header made of `records`.
    pub fn pax(&mut self, records: &[u8]) -> &mut Self {
        self.raw(header("PaxHeaders/x", b'x', records.len() as u64), records)
    }

    /// The archive with its two zero end blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.out.clone();
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

pub fn gz_level(data: &[u8], level: Compression) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), level);
    enc.write_all(data).expect("gzip");
    enc.finish().expect("gzip")
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    gz_level(data, Compression::default())
}

pub const PKG_INFO: &[u8] = b"Metadata-Version: 2.4\nName: demo-pkg\nVersion: 1.0\n";

/// The members of a small valid sdist.
pub fn base_sdist() -> RawTar {
    let mut t = RawTar::new();
    t.dir("demo_pkg-1.0/")
        .file("demo_pkg-1.0/PKG-INFO", PKG_INFO)
        .file(
            "demo_pkg-1.0/pyproject.toml",
            b"[project]\nname = 'demo-pkg'\n",
        )
        .dir("demo_pkg-1.0/src/")
        .file("demo_pkg-1.0/src/demo.py", b"print('hi')\n");
    t
}
