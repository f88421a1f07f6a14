//! Resource limits for inspecting one upload, and the streaming checks that enforce them.

use crate::DistError;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// Bounds on what inspecting one distribution may cost.
///
/// Decompression is always streamed and stopped as soon as a bound is crossed; sizes written in
/// archive headers are only trusted as upper bounds that the real data must then match.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Most members (files and directories) an archive may contain.
    pub max_entries: usize,
    /// Most bytes the whole archive may decompress to (for `.tar.gz`, the tar stream).
    pub max_total_uncompressed: u64,
    /// Warehouse's `COMPRESSION_RATIO_THRESHOLD`: refuse when decompressed/compressed exceeds
    /// this *and* the decompressed size exceeds `ratio_min_size`.
    pub ratio_threshold: f64,
    /// Warehouse's `COMPRESSION_RATIO_MIN_SIZE`.
    pub ratio_min_size: u64,
    /// A ZIP member of Python code (`.py`, `.pyw`, `.pth`, `.pyi`) that decompresses to more
    /// than this is held to `ratio_threshold` on its own: such a member is what the upload scan
    /// reads and parses, so a small wheel of repetitive source must not cost minutes of CPU.
    pub member_ratio_min_size: u64,
    /// Most bytes one member may decompress to.
    pub max_member_uncompressed: u64,
    /// Most bytes of METADATA, PKG-INFO, WHEEL, RECORD or entry_points.txt kept in memory.
    pub max_metadata_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_total_uncompressed: 2 * GIB,
            ratio_threshold: 50.0,
            ratio_min_size: 64 * MIB,
            member_ratio_min_size: MIB,
            max_member_uncompressed: GIB,
            max_metadata_bytes: 8 * MIB,
        }
    }
}

impl Limits {
    /// Check a (running or declared) decompressed total against the ratio and size bounds.
    ///
    /// `compressed` is the size of the uploaded file. The ratio rule is Warehouse's: refuse
    /// when `decompressed > ratio_min_size` and `decompressed / compressed > ratio_threshold`.
    pub(crate) fn check_total(&self, decompressed: u64, compressed: u64) -> Result<(), DistError> {
        if decompressed > self.ratio_min_size
            && (decompressed as f64) > self.ratio_threshold * (compressed as f64)
        {
            return Err(DistError::CompressionRatio {
                threshold: self.ratio_threshold,
            });
        }
        if decompressed > self.max_total_uncompressed {
            return Err(DistError::TooLarge {
                limit: self.max_total_uncompressed,
            });
        }
        Ok(())
    }

    /// Refuse a member whose size is over `max_member_uncompressed`.
    pub(crate) fn check_member(&self, path: &str, size: u64) -> Result<(), DistError> {
        if size > self.max_member_uncompressed {
            return Err(DistError::MemberTooLarge {
                path: path.to_owned(),
                limit: self.max_member_uncompressed,
            });
        }
        Ok(())
    }

    /// Refuse a code member (see [`Limits::member_ratio_min_size`]) that decompresses more than
    /// `ratio_threshold` times its compressed size.
    pub(crate) fn check_member_ratio(
        &self,
        path: &str,
        uncompressed: u64,
        compressed: u64,
    ) -> Result<(), DistError> {
        let lower = path.to_ascii_lowercase();
        let code = [".py", ".pyw", ".pth", ".pyi"]
            .iter()
            .any(|e| lower.ends_with(e));
        if code
            && uncompressed > self.member_ratio_min_size
            && (uncompressed as f64) > self.ratio_threshold * (compressed.max(1) as f64)
        {
            return Err(DistError::MemberCompressionRatio {
                path: path.to_owned(),
                threshold: self.ratio_threshold,
                uncompressed,
                compressed,
            });
        }
        Ok(())
    }

    /// Refuse a metadata file whose size is over `max_metadata_bytes`.
    pub(crate) fn check_metadata(&self, path: &str, size: u64) -> Result<(), DistError> {
        if size > self.max_metadata_bytes {
            return Err(DistError::MetadataTooLarge {
                path: path.to_owned(),
                limit: self.max_metadata_bytes,
            });
        }
        Ok(())
    }

    /// Refuse the entry that would make the count exceed `max_entries`.
    pub(crate) fn check_entries(&self, count: usize) -> Result<(), DistError> {
        if count > self.max_entries {
            return Err(DistError::TooManyEntries {
                limit: self.max_entries,
            });
        }
        Ok(())
    }
}
