//! strongroom-dist: safe inspection of uploaded distributions (wheels, sdists).
//!
//! Nothing is ever extracted to disk. Archives are validated structurally (raw ZIP framing,
//! strict tar headers), decompressed as streams under hard limits ([`Limits`]), and only the
//! small metadata files are kept in memory. The crate returns raw facts ([`WheelInfo`],
//! [`SdistInfo`]); the core compares them with the upload's filename and form.
//!
//! Error messages ([`DistError`]) follow PyPI's wording where PyPI has one and stand alone, so
//! the core can prefix "Invalid distribution file. " as PyPI does.

mod collisions;
mod digest;
mod entry_points;
mod error;
#[doc(hidden)]
pub mod fuzz_entry;
mod limits;
pub mod osv_feed;
mod parallel_digest;
mod paths;
mod portable;
mod record;
mod sdist;
mod sniff;
mod tarstream;
mod wheel;
mod wheelfile;
mod ziparchive;
mod zipfields;
mod zipframe;

pub use digest::{Digests, Hasher};
pub use error::{DistError, ZipError};
pub use limits::Limits;
pub use parallel_digest::ParallelHasher;
pub use portable::Unportable;
pub use sdist::{SdistInfo, SdistKind, inspect_sdist};
pub use wheel::{WheelInfo, inspect_wheel};

#[cfg(test)]
mod tests;
