//! The base score of a scan: what its findings weigh. Core adds what the scanner cannot know
//! (new capabilities against the previous release, a dormant project, a watched uploader) and
//! compares with `scan.hold_score`. (Owned by part H2; foundation stub.)

use crate::model::ArchiveScan;

/// The weight of the scan's findings alone.
pub fn base_score(scan: &ArchiveScan) -> u32 {
    let _ = scan;
    0
}
