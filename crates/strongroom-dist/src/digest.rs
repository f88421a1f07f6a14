//! One-pass MD5, SHA-256 and BLAKE2b-256 digests of an uploaded file.

use std::io::{self, Read};

use blake2::Blake2b256;
use md5::Md5;
use sha2::Digest as _;

/// The three digests PyPI records for every file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digests {
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
    pub blake2b_256: [u8; 32],
}

impl Digests {
    /// Lower-case hex MD5.
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }

    /// Lower-case hex SHA-256.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Lower-case hex BLAKE2b-256 (the storage path key).
    pub fn blake2b_256_hex(&self) -> String {
        hex::encode(self.blake2b_256)
    }
}

/// Streaming hasher computing all of [`Digests`] in one pass.
#[derive(Clone)]
pub struct Hasher {
    md5: Md5,
    sha256: ring::digest::Context,
    blake2b: Blake2b256,
}

impl Default for Hasher {
    fn default() -> Self {
        Hasher {
            md5: Md5::default(),
            sha256: ring::digest::Context::new(&ring::digest::SHA256),
            blake2b: Blake2b256::default(),
        }
    }
}

/// Finish a ring SHA-256 context into bytes.
pub(crate) fn sha256_bytes(ctx: ring::digest::Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher { .. }")
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.blake2b.update(data);
    }

    /// Finish and return the three digests.
    pub fn finish(self) -> Digests {
        Digests {
            md5: self.md5.finalize().into(),
            sha256: sha256_bytes(self.sha256),
            blake2b_256: self.blake2b.finalize().into(),
        }
    }

    /// Hash everything `reader` yields.
    pub fn hash_reader<R: Read>(mut reader: R) -> io::Result<Digests> {
        let mut hasher = Self::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finish())
    }
}
