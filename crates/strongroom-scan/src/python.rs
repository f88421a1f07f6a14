//! Python source analysis with tree-sitter-python: capabilities and findings of one file, from
//! its syntax tree (calls, attribute chains, imports, string literals in code), never from
//! regular expressions over text, so comments, docstrings and test data do not count.
//!
//! Bounded: a source above [`ScanLimits::max_source_bytes`] is not parsed (the caller notes it),
//! parsing stops after [`PARSE_TIME`], the tree is walked iteratively (no recursion on nesting),
//! and the analysis has a work budget proportional to the source's size.

mod collect;
mod decorators;
pub mod flow;
mod hooks;
mod names;
mod node;
mod prefilter;
mod resolve;
mod rules;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::time::Duration;

use crate::budget::Budget;

use tree_sitter::{Node, ParseOptions, ParseState, Parser, Tree};

use crate::model::{Capability, Finding, Rule, ScanLimits, Severity};

/// What one Python file can do and what rules it matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceScan {
    pub capabilities: BTreeSet<Capability>,
    pub findings: Vec<Finding>,
    /// File names a loader call in this source runs as code (`runpy.run_path(".../cfg.dat")`:
    /// `cfg.dat`); the archive reads members of those names as Python source.
    pub loaded_files: BTreeSet<String>,
    /// What this module's functions do, for the package-wide flow check.
    pub summary: flow::Summary,
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

/// The most CPU time one file may take to parse (see [`crate::budget`]).
pub const PARSE_TIME: Duration = Duration::from_secs(2);
/// The most CPU time the analysis of one parsed file may take.
const ANALYSIS_TIME: Duration = Duration::from_secs(2);

/// Analyse one Python source. `path` is relative to the package root (used in findings).
/// Sources larger than `limits.max_source_bytes` give an empty scan: the caller notes them.
/// Whether [`scan_source`] would parse this source: false for an ordinary module that names
/// nothing any rule looks for (`prefilter`), whose scan is then cheap and empty (but for the
/// source-encoding check).
pub fn needs_parse(path: &str, source: &[u8], role: SourceRole) -> bool {
    role != SourceRole::Module
        || prefilter::may_match(source)
        || prefilter::imports_own_package(source, path)
}

/// Bumped by hand when the analysis changes in a way the sources of [`RULES_SOURCES`] do not
/// show (a dependency's grammar, say).
pub const RULES_VERSION: u32 = 1;

/// The sources of the Python analysis: a result remembered by content (core's scan cache) is
/// keyed by a hash of these too, so any change to a rule or table forgets every result.
pub const RULES_SOURCES: [&str; 13] = [
    include_str!("python.rs"),
    include_str!("python/collect.rs"),
    include_str!("python/decorators.rs"),
    include_str!("python/flow.rs"),
    include_str!("python/hooks.rs"),
    include_str!("python/names.rs"),
    include_str!("python/prefilter.rs"),
    include_str!("python/resolve.rs"),
    include_str!("python/rules.rs"),
    include_str!("python/summary.rs"),
    include_str!("model.rs"),
    include_str!("pth.rs"),
    include_str!("../Cargo.toml"),
];

/// An ordinary module that names nothing any rule looks for is not parsed (`prefilter`).
pub fn scan_source(path: &str, source: &[u8], role: SourceRole, limits: &ScanLimits) -> SourceScan {
    scan_source_with(path, source, role, limits, true)
}

/// [`scan_source`] with the prefilter on or off (the differential tests compare both).
pub(crate) fn scan_source_with(
    path: &str,
    source: &[u8],
    role: SourceRole,
    limits: &ScanLimits,
    prefilter: bool,
) -> SourceScan {
    if source.len() as u64 > limits.max_source_bytes {
        return SourceScan::default();
    }
    // Python ends a line at `\r`, `\n` or `\r\n`; tree-sitter does not treat a lone `\r` as
    // one, so code after it would hide inside a comment. Same length: lines and offsets hold.
    let normalised = lone_cr_to_lf(source);
    let src = String::from_utf8_lossy(&normalised);
    let mut out = Out::new(path, &src, limits);
    if let Some(codec) = foreign_coding(&src) {
        out.findings.push(Finding {
            rule: Rule::Obfuscation,
            severity: Severity::High,
            path: path.to_owned(),
            line: None,
            snippet: String::new(),
            message: format!(
                "the source declares the encoding {codec}, which Python decodes into other code than the bytes show; the scanner reads UTF-8 only"
            ),
        });
    }
    if prefilter && !needs_parse(path, src.as_bytes(), role) {
        return out.finish();
    }
    let Some(tree) = parse(&src, Budget::new(PARSE_TIME)) else {
        out.note_unscanned(format!(
            "parsing did not finish within {} s; the file was not analysed",
            PARSE_TIME.as_secs()
        ));
        return out.finish();
    };
    // Real code needs at most 2 visits a byte (0.3 on average over a virtualenv's packages).
    let max_visits = 8 * src.len() as u64 + 100_000;
    let ctx = rules::analyse(
        &tree,
        &src,
        role,
        max_visits,
        Budget::new(ANALYSIS_TIME),
        &mut out,
    );
    if ctx {
        out.note_unscanned(
            "the analysis stopped at its work bound; findings may be incomplete".into(),
        );
    }
    out.finish()
}

/// The trimmed first line of `node` (at most 200 characters), for findings made later.
pub(crate) fn snippet_of(src: &str, node: Node<'_>) -> String {
    let before = src.get(..node.start_byte()).unwrap_or("");
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = src
        .get(start..)
        .unwrap_or("")
        .split('\n')
        .next()
        .unwrap_or("");
    line.trim().chars().take(200).collect()
}

/// `\r` not followed by `\n` becomes `\n`.
fn lone_cr_to_lf(source: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !source.contains(&b'\r') {
        return std::borrow::Cow::Borrowed(source);
    }
    let mut out = source.to_vec();
    for i in 0..out.len() {
        if out[i] == b'\r' && out.get(i + 1) != Some(&b'\n') {
            out[i] = b'\n';
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A PEP 263 coding declaration (first or second line) naming a codec that is not
/// ASCII-compatible as the scanner reads it (UTF-7, UTF-16/32, `unicode_escape`, `rot13`, …):
/// its name, lower-case. UTF-8, ASCII and the single- and multi-byte ASCII supersets pass.
pub(crate) fn foreign_coding(src: &str) -> Option<String> {
    for line in src.split('\n').take(2) {
        let t = line.trim_start_matches([' ', '\t', '\x0c']);
        if !t.starts_with('#') {
            continue;
        }
        let Some(i) = t.find("coding") else { continue };
        let rest = &t[i + "coding".len()..];
        let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) else {
            continue;
        };
        let codec: String = rest
            .trim_start_matches([' ', '\t'])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect::<String>()
            .to_ascii_lowercase()
            .replace('_', "-");
        if codec.is_empty() {
            continue;
        }
        let ascii_superset = matches!(
            codec.as_str(),
            "utf-8"
                | "utf8"
                | "utf-8-sig"
                | "u8"
                | "ascii"
                | "us-ascii"
                | "646"
                | "latin-1"
                | "latin1"
                | "l1"
                | "cp819"
                | "iso8859"
                | "euc-jp"
                | "euc-kr"
                | "euc-cn"
                | "gbk"
                | "gb2312"
                | "gb18030"
                | "big5"
                | "big5hkscs"
                | "shift-jis"
                | "sjis"
                | "cp932"
                | "cp936"
                | "cp949"
                | "cp950"
                | "koi8-r"
                | "koi8-u"
                | "mbcs"
        ) || codec.starts_with("iso-8859")
            || codec.starts_with("iso8859")
            || codec.starts_with("latin-")
            || codec.starts_with("cp125")
            || codec.starts_with("windows-125")
            || codec.starts_with("cp43")
            || codec.starts_with("cp85")
            || codec.starts_with("mac-");
        return (!ascii_superset).then_some(codec);
    }
    None
}

fn parse(src: &str, budget: Budget) -> Option<Tree> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .ok()?;
    let bytes = src.as_bytes();
    // Reading the thread's CPU clock is a system call: once every 16 progress calls (tree-sitter
    // calls every 100 parse operations) costs nothing measurable.
    let mut calls = 0u32;
    let mut progress = |_: &ParseState| {
        calls = calls.wrapping_add(1);
        if calls.is_multiple_of(16) && budget.spent() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let options = ParseOptions::new().progress_callback(&mut progress);
    parser.parse_with_options(
        &mut |i, _| bytes.get(i..).unwrap_or_default(),
        None,
        Some(options),
    )
}

/// The scan being built: capabilities, findings (one per rule and line, the most severe kept),
/// and the source's lines for snippets.
pub(crate) struct Out<'a> {
    path: &'a str,
    src: &'a str,
    limits: &'a ScanLimits,
    line_starts: Vec<usize>,
    capabilities: BTreeSet<Capability>,
    findings: Vec<Finding>,
    index: HashMap<(Rule, u32), usize>,
    loaded_files: BTreeSet<String>,
    summary: flow::Summary,
}

impl<'a> Out<'a> {
    fn new(path: &'a str, src: &'a str, limits: &'a ScanLimits) -> Self {
        let line_starts = std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            path,
            src,
            limits,
            line_starts,
            capabilities: BTreeSet::new(),
            findings: Vec::new(),
            index: HashMap::new(),
            loaded_files: BTreeSet::new(),
            summary: flow::Summary::default(),
        }
    }

    pub(crate) fn path(&self) -> &str {
        self.path
    }

    pub(crate) fn capability(&mut self, c: Capability) {
        self.capabilities.insert(c);
    }

    /// A file name a loader runs (at most 64 kept).
    pub(crate) fn loaded_file(&mut self, name: &str) {
        if self.loaded_files.len() < 64 {
            self.loaded_files.insert(name.to_owned());
        }
    }

    /// The trimmed source line `row` (0-based), cut to the snippet length.
    fn snippet(&self, row: usize) -> String {
        let start = self.line_starts.get(row).copied().unwrap_or(self.src.len());
        let end = self
            .line_starts
            .get(row + 1)
            .map_or(self.src.len(), |e| e.saturating_sub(1));
        let line = self.src.get(start..end.max(start)).unwrap_or("");
        line.trim()
            .chars()
            .take(self.limits.snippet_chars)
            .collect()
    }

    /// Record a finding at `node`'s first line.
    pub(crate) fn finding(
        &mut self,
        rule: Rule,
        severity: Severity,
        node: Node<'_>,
        message: String,
    ) {
        let row = node.start_position().row;
        self.finding_at_row(rule, severity, row, message);
    }

    fn finding_at_row(&mut self, rule: Rule, severity: Severity, row: usize, message: String) {
        let line = u32::try_from(row + 1).unwrap_or(u32::MAX);
        if let Some(&i) = self.index.get(&(rule, line)) {
            if let Some(f) = self.findings.get_mut(i)
                && f.severity < severity
            {
                f.severity = severity;
                f.message = message;
            }
            return;
        }
        if self.findings.len() >= self.limits.max_findings {
            return; // One file cannot hold more than an archive keeps.
        }
        self.index.insert((rule, line), self.findings.len());
        let snippet = self.snippet(row);
        self.findings.push(Finding {
            rule,
            severity,
            path: self.path.to_owned(),
            line: Some(line),
            snippet,
            message,
        });
    }

    fn note_unscanned(&mut self, message: String) {
        // Code the scanner could not read is for a human to read: High, so it is held.
        self.findings.push(Finding {
            rule: Rule::UnscannedSource,
            severity: Severity::High,
            path: self.path.to_owned(),
            line: None,
            snippet: String::new(),
            message,
        });
    }

    fn finish(mut self) -> SourceScan {
        self.findings.sort_by_key(|f| (f.line, f.rule));
        SourceScan {
            capabilities: self.capabilities,
            findings: self.findings,
            loaded_files: self.loaded_files,
            summary: self.summary,
        }
    }
}
