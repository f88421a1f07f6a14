//! Walking an archive for the scanner: which members to read (Python sources, `.pth`, entry
//! points, `pyproject.toml`, `setup.cfg`), which to sniff (native binaries, opaque blobs), within
//! [`ScanLimits`]; the per-file results are combined into one [`ArchiveScan`].
//! (Owned by part H2; foundation stub.)

use std::path::Path;

use crate::model::{ArchiveKind, ArchiveScan, ScanError, ScanLimits};

/// Scan the archive at `path` (already validated by `strongroom_dist`).
pub fn scan_archive(
    path: &Path,
    kind: ArchiveKind,
    limits: &ScanLimits,
) -> Result<ArchiveScan, ScanError> {
    let _ = (path, kind, limits);
    Ok(ArchiveScan::default())
}
