//! The capability diff between two releases of a project: which capabilities each file gained
//! (and lost), and which kinds are new to the release as a whole. (Owned by part H2; foundation
//! stub.)

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::{Capability, FileCapabilities};

/// What changed from the previous release to this one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityDiff {
    /// Per file: capabilities it has now and did not have before (a new file counts whole).
    pub added: FileCapabilities,
    /// Per file: capabilities it had before and no longer has.
    pub removed: FileCapabilities,
    /// Capabilities the release as a whole has and the previous one did not.
    pub new_kinds: BTreeSet<Capability>,
}

/// Compare `previous` (the project's previous release, union over its files) with `current`.
pub fn diff(previous: &FileCapabilities, current: &FileCapabilities) -> CapabilityDiff {
    let _ = (previous, current);
    CapabilityDiff::default()
}
