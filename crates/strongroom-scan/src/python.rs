//! Python source analysis with tree-sitter-python: capabilities and findings of one file, from
//! its syntax tree (calls, attribute chains, imports, string literals in code), never from
//! regular expressions over text, so comments, docstrings and test data do not count.
//! (Owned by part H1; foundation stub.)

use crate::model::{Capability, Finding, ScanLimits};
use std::collections::BTreeSet;

/// What one Python file can do and what rules it matched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceScan {
    pub capabilities: BTreeSet<Capability>,
    pub findings: Vec<Finding>,
}

/// How the file is used, which changes what some rules mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRole {
    /// An ordinary module.
    Module,
    /// `setup.py` at the package root: `cmdclass` install hooks (M2) apply; `exec(open(...))`
    /// of a version file is benign (B1).
    SetupPy,
    /// One executable `.pth` line, parsed as Python (M5).
    PthLine,
}

/// Analyse one Python source. `path` is relative to the package root (used in findings).
pub fn scan_source(path: &str, source: &[u8], role: SourceRole, limits: &ScanLimits) -> SourceScan {
    let _ = (path, source, role, limits);
    SourceScan::default()
}
