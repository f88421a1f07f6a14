//! Walking an archive for the scanner: which members to read (Python sources, `.pth`, entry
//! points, `pyproject.toml`, `setup.cfg`), which to sniff (native binaries, opaque blobs), within
//! [`ScanLimits`]; the per-file results are combined into one [`ArchiveScan`].
//!
//! Members are streamed, never extracted. Only `.py`/`.pyw`, `.pth`, `pyproject.toml`,
//! `setup.cfg`, `entry_points.txt` (and a wheel's `WHEEL`, and Python scripts under a wheel's
//! `.data/scripts/`) are read whole, each up to `max_source_bytes` and all together up to
//! `max_total_source_bytes`; beyond either, an `SR-unscanned-source` Info finding says what was
//! skipped. Of every other member only the first [`binary::SNIFF_BYTES`] are read, so a 100 MiB
//! blob costs a few KiB of memory. Paths are relative to the package root: an sdist's top
//! directory is stripped, a wheel's paths are kept, so the same module compares across releases
//! and across kinds.
//!
//! Rules decided here: M5 (through [`crate::pth`]), M10 bidi controls in any member read, M11
//! (through [`crate::encrypted`]), M14 (through [`crate::binary`]), `SR-native-binary`,
//! `SR-opaque-blob`, `SR-unscanned-source` and `SR-in-tree-build-backend`. Python analysis is
//! [`crate::python::scan_source`]'s.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::binary::{self, BinaryMember};
use crate::encrypted;
use crate::model::{
    ArchiveKind, ArchiveScan, Capability, FileCapabilities, Finding, Rule, ScanError, ScanLimits,
    Severity,
};
use crate::pth;
use crate::python::{self, SourceRole, SourceScan};

/// The Python analysis the walk calls for each source (and each executable `.pth` line):
/// [`python::scan_source`] in production; tests pass their own.
pub type SourceScanner<'a> = &'a dyn Fn(&str, &[u8], SourceRole, &ScanLimits) -> SourceScan;

/// The largest `WHEEL` file read (it is a few lines).
const MAX_WHEEL_FILE: u64 = 64 * 1024;

/// Scan the archive at `path` (already validated by `strongroom_dist`).
pub fn scan_archive(
    path: &Path,
    kind: ArchiveKind,
    limits: &ScanLimits,
) -> Result<ArchiveScan, ScanError> {
    scan_archive_with(path, kind, limits, &python::scan_source)
}

/// [`scan_archive`] with the Python analysis given.
pub fn scan_archive_with(
    path: &Path,
    kind: ArchiveKind,
    limits: &ScanLimits,
    scanner: SourceScanner<'_>,
) -> Result<ArchiveScan, ScanError> {
    let mut walk = Walk::new(kind, limits, scanner);
    match kind {
        ArchiveKind::Wheel => walk_zip(path, false, &mut walk)?,
        ArchiveKind::SdistZip => walk_zip(path, true, &mut walk)?,
        ArchiveKind::SdistTarGz => walk_tar_gz(path, &mut walk)?,
    }
    if walk.wants_loaded_members() {
        // Members a loader runs (`runpy.run_path(".../cfg.dat")`) are code whatever their name.
        walk.second_pass = true;
        match kind {
            ArchiveKind::Wheel => walk_zip(path, false, &mut walk)?,
            ArchiveKind::SdistZip => walk_zip(path, true, &mut walk)?,
            ArchiveKind::SdistTarGz => walk_tar_gz(path, &mut walk)?,
        }
    }
    Ok(walk.finish())
}

fn archive_error(e: impl std::fmt::Display) -> ScanError {
    ScanError::Archive(e.to_string())
}

/// The member's path relative to the package root; `None` for a directory.
fn relative(name: &str, strip_top: bool) -> Option<String> {
    if name.ends_with('/') {
        return None;
    }
    if !strip_top {
        return (!name.is_empty()).then(|| name.to_owned());
    }
    match name.split_once('/') {
        Some((_, rest)) if !rest.is_empty() => Some(rest.to_owned()),
        Some(_) => None,
        // A file beside the top directory (the archive checks refuse it; scanned as it is).
        None => (!name.is_empty()).then(|| name.to_owned()),
    }
}

fn walk_zip(path: &Path, strip_top: bool, walk: &mut Walk<'_>) -> Result<(), ScanError> {
    let file = File::open(path)?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(archive_error)?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(archive_error)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(archive_error)?.into_owned();
        let Some(rel) = relative(&name, strip_top) else {
            continue;
        };
        let size = entry.size();
        walk.member(&rel, size, &mut entry)?;
    }
    Ok(())
}

fn walk_tar_gz(path: &Path, walk: &mut Walk<'_>) -> Result<(), ScanError> {
    let file = File::open(path)?;
    let gz = flate2::read::GzDecoder::new(BufReader::with_capacity(64 * 1024, file));
    let mut tar = tar::Archive::new(gz);
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path()?;
        let Some(name) = name.to_str() else {
            return Err(ScanError::Archive(format!(
                "a member name is not UTF-8: {}",
                name.display()
            )));
        };
        let Some(rel) = relative(name, true) else {
            continue;
        };
        let size = entry.size();
        walk.member(&rel, size, &mut entry)?;
    }
    Ok(())
}

/// At most `limits.snippet_chars` characters of `line`, trimmed.
pub(crate) fn snippet(line: &str, limits: &ScanLimits) -> String {
    line.trim().chars().take(limits.snippet_chars).collect()
}

fn line_number(index: usize) -> Option<u32> {
    u32::try_from(index + 1).ok()
}

/// Unicode bidirectional embeddings, overrides and isolates (Trojan Source).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// M10, bidi half: one Medium finding per file (the first line with a bidi control, and how many
/// lines have one), so a file of right-to-left test strings weighs as one.
pub fn bidi_finding(path: &str, text: &str, limits: &ScanLimits) -> Option<Finding> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.chars().any(is_bidi_control));
    let (first, line) = lines.next()?;
    let more = lines.count();
    let also = if more == 0 {
        String::new()
    } else {
        format!(" (and on {more} more lines)")
    };
    Some(Finding {
        rule: Rule::Obfuscation,
        severity: Severity::Medium,
        path: path.to_owned(),
        line: line_number(first),
        snippet: snippet(line, limits),
        message: format!(
            "Unicode bidirectional control characters can make code read differently from how it runs{also}"
        ),
    })
}

/// `[build-system] backend-path` in `pyproject.toml`: the build backend is the sdist's own code.
pub fn in_tree_backend(path: &str, text: &str, limits: &ScanLimits) -> Option<Finding> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let backend_path = table.get("build-system")?.get("backend-path")?;
    let backend = table
        .get("build-system")
        .and_then(|b| b.get("build-backend"))
        .and_then(|b| b.as_str())
        .unwrap_or("?");
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with("backend-path"))
        .unwrap_or((0, ""));
    Some(Finding {
        rule: Rule::InTreeBuildBackend,
        severity: Severity::Info,
        path: path.to_owned(),
        line: (!line.is_empty()).then(|| line_number(index)).flatten(),
        snippet: snippet(line, limits),
        message: format!(
            "the build backend `{backend}` is loaded from the sdist itself (backend-path = {backend_path}): its code runs when the package is built"
        ),
    })
}

/// What a member is, by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Python,
    Pth,
    /// `pyproject.toml`, `setup.cfg`, `entry_points.txt`: read for bidi controls (and the
    /// in-tree backend).
    Config,
    /// A wheel's `*.dist-info/WHEEL`.
    WheelFile,
    /// A wheel's `*.data/scripts/…`: Python when it starts with a Python shebang.
    Script,
    Other,
}

fn classify(path: &str, kind: ArchiveKind) -> Member {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let wheel = kind == ArchiveKind::Wheel;
    if lower.ends_with(".py") || lower.ends_with(".pyw") {
        Member::Python
    } else if lower.ends_with(".pth") {
        Member::Pth
    } else if matches!(name, "pyproject.toml" | "setup.cfg" | "entry_points.txt") {
        Member::Config
    } else if wheel
        && name == "WHEEL"
        && path
            .split_once('/')
            .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "WHEEL")
    {
        Member::WheelFile
    } else if wheel
        && path.split('/').nth(1) == Some("scripts")
        && path.split('/').next().is_some_and(|d| d.ends_with(".data"))
    {
        Member::Script
    } else {
        Member::Other
    }
}

/// What a wheel's `WHEEL` file says about where it installs.
#[derive(Debug, Default)]
struct WheelFacts {
    root_is_purelib: Option<bool>,
    tags: Vec<String>,
}

impl WheelFacts {
    fn parse(text: &str) -> Self {
        let mut facts = WheelFacts::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "root-is-purelib" => {
                    facts.root_is_purelib = Some(value.eq_ignore_ascii_case("true"))
                }
                "tag" => facts.tags.push(value.to_owned()),
                _ => {}
            }
        }
        facts
    }

    /// Pure Python: every tag's platform is `any` (without tags, `Root-Is-Purelib: true`).
    fn is_pure(&self) -> bool {
        if self.tags.is_empty() {
            return self.root_is_purelib != Some(false);
        }
        self.tags
            .iter()
            .all(|t| t.rsplit('-').next() == Some("any"))
    }
}

/// The walk's state: what has been found so far.
struct Walk<'a> {
    kind: ArchiveKind,
    limits: &'a ScanLimits,
    scanner: SourceScanner<'a>,
    capabilities: FileCapabilities,
    findings: Vec<Finding>,
    members_scanned: u32,
    bytes_scanned: u64,
    binaries: Vec<BinaryMember>,
    /// Words of the sources that start processes (see [`binary::name_tokens`]).
    spawn_tokens: HashSet<String>,
    spawns: bool,
    wheel: Option<WheelFacts>,
    /// Once spent, code members are noted unscanned (High) instead of analysed.
    budget: crate::budget::Budget,
    /// Python sources read (paths), and compiled modules (`.pyc`/`.pyo`) seen.
    sources: HashSet<String>,
    compiled: Vec<String>,
    /// File names loader calls run (read as Python on a second pass), and the modules'
    /// summaries for the package-wide flow check.
    loaded: std::collections::BTreeSet<String>,
    summaries: Vec<(String, python::flow::Summary)>,
    second_pass: bool,
}

/// The whole archive's analysis stops after this much of its thread's CPU time (a hostile
/// archive of many bound-sized files must not cost minutes of CPU; see [`crate::budget`] for
/// the wall-clock backstop); what is left is noted unscanned, which holds the release.
pub const ARCHIVE_TIME: std::time::Duration = std::time::Duration::from_secs(20);

/// The source a compiled module was made from: `pkg/__pycache__/m.cpython-311.pyc` and
/// `pkg/m.pyc` are `pkg/m.py`.
fn source_of_compiled(path: &str) -> String {
    let (dir, file) = path.rsplit_once('/').map_or(("", path), |(d, f)| (d, f));
    let dir = dir
        .strip_suffix("__pycache__")
        .map_or(dir, |d| d.trim_end_matches('/'));
    let stem = file
        .trim_end_matches(".pyc")
        .trim_end_matches(".pyo")
        .split('.')
        .next()
        .unwrap_or(file);
    if dir.is_empty() {
        format!("{stem}.py")
    } else {
        format!("{dir}/{stem}.py")
    }
}

impl<'a> Walk<'a> {
    fn new(kind: ArchiveKind, limits: &'a ScanLimits, scanner: SourceScanner<'a>) -> Self {
        Self {
            kind,
            limits,
            scanner,
            capabilities: FileCapabilities::new(),
            findings: Vec::new(),
            members_scanned: 0,
            bytes_scanned: 0,
            binaries: Vec::new(),
            spawn_tokens: HashSet::new(),
            spawns: false,
            wheel: None,
            budget: crate::budget::Budget::new(ARCHIVE_TIME),
            sources: HashSet::new(),
            compiled: Vec::new(),
            loaded: std::collections::BTreeSet::new(),
            summaries: Vec::new(),
            second_pass: false,
        }
    }

    fn add_capability(&mut self, path: &str, capability: Capability) {
        self.capabilities
            .entry(path.to_owned())
            .or_default()
            .insert(capability);
    }

    /// Merge one source's analysis; remember its words when it starts processes.
    fn merge(&mut self, path: &str, scan: SourceScan, source: &[u8]) {
        if scan.capabilities.contains(&Capability::ProcessSpawn) {
            self.spawns = true;
            binary::name_tokens(source, &mut self.spawn_tokens);
        }
        if !scan.capabilities.is_empty() {
            self.capabilities
                .entry(path.to_owned())
                .or_default()
                .extend(scan.capabilities);
        }
        self.findings.extend(scan.findings);
        if self.loaded.len() < 256 {
            self.loaded.extend(scan.loaded_files);
        }
        if scan.summary != python::flow::Summary::default() && self.summaries.len() < 4096 {
            self.summaries.push((path.to_owned(), scan.summary));
        }
    }

    fn wants_loaded_members(&self) -> bool {
        !self.loaded.is_empty()
    }

    /// Second pass: a member that is not already read as Python and whose file name a loader
    /// call names is read as Python source.
    fn loaded_member(
        &mut self,
        path: &str,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<(), ScanError> {
        let name = path.rsplit('/').next().unwrap_or(path);
        if !self.loaded.contains(name) || matches!(classify(path, self.kind), Member::Python) {
            return Ok(());
        }
        if let Some(source) = self.read_source(path, size, reader)? {
            self.python(path, &source);
        }
        Ok(())
    }

    fn unscanned(&mut self, path: &str, why: String) {
        // Code the scanner could not read is for a human to read: High, so it is held.
        self.findings.push(Finding {
            rule: Rule::UnscannedSource,
            severity: Severity::High,
            path: path.to_owned(),
            line: None,
            snippet: String::new(),
            message: format!("not analysed: {why}"),
        });
    }

    /// Read a member whole within the per-file and per-archive bounds; `None` (and an
    /// `SR-unscanned-source` finding) beyond them.
    fn read_source(
        &mut self,
        path: &str,
        size: u64,
        reader: &mut dyn Read,
    ) -> Result<Option<Vec<u8>>, ScanError> {
        let max = self.limits.max_source_bytes;
        if size > max {
            self.unscanned(
                path,
                format!("{size} bytes, more than the {max} read per file"),
            );
            return Ok(None);
        }
        let left = self
            .limits
            .max_total_source_bytes
            .saturating_sub(self.bytes_scanned);
        if size > left {
            self.unscanned(
                path,
                format!(
                    "the {} bytes of source read per archive are spent",
                    self.limits.max_total_source_bytes
                ),
            );
            return Ok(None);
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        reader.take(size).read_to_end(&mut buf)?;
        self.members_scanned = self.members_scanned.saturating_add(1);
        self.bytes_scanned = self.bytes_scanned.saturating_add(buf.len() as u64);
        Ok(Some(buf))
    }

    /// Checks for any text member read: bidi controls.
    fn text_checks(&mut self, path: &str, text: &str) {
        if let Some(f) = bidi_finding(path, text, self.limits) {
            self.add_capability(path, Capability::BidiControl);
            self.findings.push(f);
        }
    }

    fn python(&mut self, path: &str, source: &[u8]) {
        let role = if path == "setup.py" {
            SourceRole::SetupPy
        } else {
            SourceRole::Module
        };
        let scan = (self.scanner)(path, source, role, self.limits);
        self.merge(path, scan, source);
        let text = String::from_utf8_lossy(source);
        if let Some(f) = encrypted::encrypted_module(path, &text, self.limits) {
            self.findings.push(f);
        }
        self.text_checks(path, &text);
    }

    fn member(&mut self, path: &str, size: u64, reader: &mut dyn Read) -> Result<(), ScanError> {
        if self.second_pass {
            return self.loaded_member(path, size, reader);
        }
        if let Some(f) = encrypted::runtime_member(path) {
            self.findings.push(f);
        }
        let class = classify(path, self.kind);
        if matches!(class, Member::Python) {
            self.sources.insert(path.to_owned());
        }
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".pyc") || lower.ends_with(".pyo") {
            self.compiled.push(path.to_owned());
        }
        if matches!(class, Member::Python | Member::Pth | Member::Script) && self.budget.spent() {
            self.unscanned(
                path,
                format!(
                    "the scan's time bound ({} s of CPU) was spent on the members before it",
                    ARCHIVE_TIME.as_secs()
                ),
            );
            return Ok(());
        }
        match class {
            Member::Python => {
                if let Some(source) = self.read_source(path, size, reader)? {
                    self.python(path, &source);
                }
            }
            Member::Pth => {
                if let Some(source) = self.read_source(path, size, reader)? {
                    let text = String::from_utf8_lossy(&source);
                    let scan = pth::scan_pth(path, &text, self.limits, self.scanner);
                    self.merge(path, scan, &source);
                    self.text_checks(path, &text);
                }
            }
            Member::Config => {
                if let Some(source) = self.read_source(path, size, reader)? {
                    let text = String::from_utf8_lossy(&source);
                    if path == "pyproject.toml"
                        && let Some(f) = in_tree_backend(path, &text, self.limits)
                    {
                        self.add_capability(path, Capability::InstallHook);
                        self.findings.push(f);
                    }
                    self.text_checks(path, &text);
                }
            }
            Member::WheelFile => {
                let mut buf = Vec::new();
                reader.take(MAX_WHEEL_FILE).read_to_end(&mut buf)?;
                self.wheel = Some(WheelFacts::parse(&String::from_utf8_lossy(&buf)));
            }
            Member::Script => {
                let mut head = Vec::new();
                reader.take(2).read_to_end(&mut head)?;
                if head == b"#!" {
                    let mut rest = (&head[..]).chain(reader);
                    if let Some(source) = self.read_source(path, size, &mut rest)? {
                        let first = source.split(|&b| b == b'\n').next().unwrap_or(&[]);
                        if first.windows(6).any(|w| w == b"python") {
                            self.python(path, &source);
                        } else {
                            self.text_checks(path, &String::from_utf8_lossy(&source));
                        }
                    }
                } else {
                    self.other(path, size, &mut (&head[..]).chain(reader))?;
                }
            }
            Member::Other => self.other(path, size, reader)?,
        }
        Ok(())
    }

    /// A member that is not read: sniff its first bytes for a native binary; note a large
    /// member of no known data format.
    fn other(&mut self, path: &str, size: u64, reader: &mut dyn Read) -> Result<(), ScanError> {
        let mut head =
            Vec::with_capacity(binary::SNIFF_BYTES.min(usize::try_from(size).unwrap_or(0)));
        reader
            .take(binary::SNIFF_BYTES as u64)
            .read_to_end(&mut head)?;
        if let Some(kind) = binary::sniff(&head) {
            let member = BinaryMember {
                path: path.to_owned(),
                kind,
            };
            let launcher = member.is_script_launcher();
            self.findings.push(Finding {
                rule: Rule::NativeBinary,
                severity: Severity::Info,
                path: path.to_owned(),
                line: None,
                snippet: String::new(),
                message: if launcher {
                    format!(
                        "a Windows script launcher ({} binary, {size} bytes)",
                        kind.as_str()
                    )
                } else {
                    format!("a native {} binary ({size} bytes)", kind.as_str())
                },
            });
            if !launcher {
                self.add_capability(path, Capability::BundledBinary);
                self.binaries.push(member);
            }
        } else if size >= self.limits.opaque_blob_bytes && !binary::is_known_data(path) {
            self.findings.push(Finding {
                rule: Rule::OpaqueBlob,
                severity: Severity::Info,
                path: path.to_owned(),
                line: None,
                snippet: String::new(),
                message: format!(
                    "a large member ({size} bytes) that is neither code nor a known data format"
                ),
            });
        }
        Ok(())
    }

    /// M14: native binaries where nothing native belongs, with code that starts processes.
    fn bundled_binaries(&mut self) {
        let where_ = match (self.kind, &self.wheel) {
            (ArchiveKind::SdistTarGz | ArchiveKind::SdistZip, _) => "an sdist",
            (ArchiveKind::Wheel, Some(w)) if !w.is_pure() => return,
            (ArchiveKind::Wheel, _) => "a pure-Python wheel",
        };
        if !self.spawns {
            return;
        }
        for b in &self.binaries {
            // A test fixture (packaging's manylinux samples, distlib's uwsgi stub) that the test
            // suite starts is Medium: nothing installs or runs an sdist's tests.
            let fixture = in_test_dir(&b.path);
            let (severity, how) = if binary::is_named(b, &self.spawn_tokens) && !fixture {
                (Severity::High, "code that starts processes names it")
            } else {
                (
                    Severity::Medium,
                    "the archive has code that starts processes",
                )
            };
            self.findings.push(Finding {
                rule: Rule::BundledBinary,
                severity,
                path: b.path.clone(),
                line: None,
                snippet: String::new(),
                message: format!("a native {} binary in {where_}, and {how}", b.kind.as_str()),
            });
        }
    }

    fn finish(mut self) -> ArchiveScan {
        self.bundled_binaries();
        // A finding the package pass makes where a file's own analysis made one already (the
        // same rule and line, say Medium there and High with what other modules return) is
        // one finding, at the graver severity.
        let package = python::flow::package_findings(&self.summaries);
        if !package.is_empty() {
            let mut at: std::collections::HashMap<(Rule, String, Option<u32>), usize> = self
                .findings
                .iter()
                .enumerate()
                .map(|(i, g)| ((g.rule, g.path.clone(), g.line), i))
                .collect();
            for f in package {
                let key = (f.rule, f.path.clone(), f.line);
                match at.get(&key).and_then(|&i| self.findings.get_mut(i)) {
                    Some(g) if g.severity >= f.severity => {}
                    Some(g) => *g = f,
                    None => {
                        at.insert(key, self.findings.len());
                        self.findings.push(f);
                    }
                }
            }
        }
        // Compiled modules run like their source; without it the scanner has read nothing.
        let orphans: Vec<String> = self
            .compiled
            .iter()
            .filter(|c| !self.sources.contains(&source_of_compiled(c)))
            .cloned()
            .collect();
        for c in orphans {
            self.unscanned(&c, "compiled Python shipped without its source".into());
        }
        let mut findings = self.findings;
        let max = self.limits.max_findings;
        if findings.len() > max {
            // Keep the weightiest (a rejection is never the one dropped), then say how many went.
            findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
            let dropped = findings.len() - max;
            findings.truncate(max);
            if let Some(last) = findings.last_mut() {
                last.message
                    .push_str(&format!(" ({dropped} more findings were not kept)"));
            }
        }
        self.capabilities.retain(|_, caps| !caps.is_empty());
        ArchiveScan {
            capabilities: self.capabilities,
            findings,
            members_scanned: self.members_scanned,
            bytes_scanned: self.bytes_scanned,
        }
    }
}

#[cfg(test)]
mod tests;

/// A member under a `test`, `tests` or `testing` directory.
fn in_test_dir(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    parts.iter().any(|p| {
        matches!(
            p.to_ascii_lowercase().as_str(),
            "test" | "tests" | "testing"
        )
    })
}

#[cfg(test)]
mod package_tests;
