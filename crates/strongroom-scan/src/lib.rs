//! The content scanner (issue 13): reads the members of a wheel or sdist that can run (Python
//! sources, `.pth` files, entry points, build hooks) with a real, error-tolerant parser, notes
//! native binaries and large opaque blobs, and derives per-file **capabilities** (network,
//! process spawn, environment reads, …) and **findings** (a rule, the file, the line, a
//! snippet). No policy: whether a release is held is core's decision (`core::scanning`), which
//! uses [`score::base_score`] and [`diff::diff`] from here.
//!
//! Layering: beside `strongroom-dist` (archives), below core; no database, no network.

pub mod archive;
pub mod binary;
pub mod budget;
pub mod diff;
pub mod encrypted;
mod model;
pub mod pth;
pub mod python;
pub mod score;

pub use model::{
    ArchiveKind, ArchiveScan, Capability, FileCapabilities, Finding, Rule, SCANNER_VERSION,
    ScanError, ScanLimits, Severity,
};
