//! `strongroom admin scan FILE... [--json]`: the upload scanner run offline on wheels and sdists
//! (no database, no server): per file, the capabilities of each member, the findings (rule,
//! severity, path:line, snippet) and the base score. The kind is told by the file name (`.whl`,
//! `.tar.gz`, `.zip`). Text from the archive is escaped for the terminal (`terminal_text`);
//! `--json` prints the scans as they are stored. Exits 1 when any file could not be read.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use strongroom_scan::{ArchiveKind, ArchiveScan, ScanLimits};

use super::terminal_text::shown;

/// The kind of archive, from its file name.
fn kind_of(path: &Path) -> Option<ArchiveKind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if name.ends_with(".whl") {
        Some(ArchiveKind::Wheel)
    } else if name.ends_with(".tar.gz") {
        Some(ArchiveKind::SdistTarGz)
    } else if name.ends_with(".zip") {
        Some(ArchiveKind::SdistZip)
    } else {
        None
    }
}

fn kind_name(kind: ArchiveKind) -> &'static str {
    match kind {
        ArchiveKind::Wheel => "wheel",
        ArchiveKind::SdistTarGz => "sdist (.tar.gz)",
        ArchiveKind::SdistZip => "sdist (.zip)",
    }
}

/// One file's result, as `--json` prints it.
#[derive(Serialize)]
struct FileReport {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan: Option<ArchiveScan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn scan_file(path: &Path, limits: &ScanLimits) -> Result<(ArchiveKind, ArchiveScan), String> {
    let kind = kind_of(path)
        .ok_or_else(|| "cannot tell its kind from the name (.whl, .tar.gz or .zip)".to_owned())?;
    let scan =
        strongroom_scan::archive::scan_archive(path, kind, limits).map_err(|e| e.to_string())?;
    Ok((kind, scan))
}

/// The text report of one scanned file.
fn text_report(file: &str, kind: ArchiveKind, scan: &ArchiveScan) -> String {
    let mut out = String::new();
    let score = strongroom_scan::score::base_score(scan);
    let _ = writeln!(out, "{} ({}): score {score}", shown(file), kind_name(kind));
    let _ = writeln!(
        out,
        "  {} members read, {} bytes of source",
        scan.members_scanned, scan.bytes_scanned
    );
    if scan.capabilities.is_empty() {
        let _ = writeln!(out, "  capabilities: none");
    } else {
        let _ = writeln!(out, "  capabilities:");
        for (path, caps) in &scan.capabilities {
            let names: Vec<&str> = caps.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(out, "    {}: {}", shown(path), names.join(", "));
        }
    }
    if scan.findings.is_empty() {
        let _ = writeln!(out, "  findings: none");
    } else {
        let _ = writeln!(out, "  findings:");
        for f in &scan.findings {
            let severity = serde_json::to_value(f.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let place = match f.line {
                Some(line) => format!("{}:{line}", shown(&f.path)),
                None => shown(&f.path).into_owned(),
            };
            let _ = writeln!(
                out,
                "    {} {severity} {place}: {}",
                f.rule.id(),
                shown(&f.message)
            );
            if !f.snippet.is_empty() {
                let _ = writeln!(out, "      | {}", shown(&f.snippet));
            }
        }
    }
    if let Some(r) = scan.rejection() {
        let _ = writeln!(out, "  an upload would be refused: {}", shown(&r.message));
    }
    out
}

/// Scan each file and print the report; an error names the files that could not be read.
pub(crate) fn run(files: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let limits = ScanLimits::default();
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    for path in files {
        let file = path.display().to_string();
        match scan_file(path, &limits) {
            Ok((kind, scan)) => {
                if !json {
                    print!("{}", text_report(&file, kind, &scan));
                }
                reports.push(FileReport {
                    file,
                    score: Some(strongroom_scan::score::base_score(&scan)),
                    scan: Some(scan),
                    error: None,
                });
            }
            Err(e) => {
                if !json {
                    println!("{}: cannot be read: {}", shown(&file), shown(&e));
                }
                failed.push(shown(&file).into_owned());
                reports.push(FileReport {
                    file,
                    score: None,
                    scan: None,
                    error: Some(e),
                });
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    if !failed.is_empty() {
        anyhow::bail!("could not read: {}", failed.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strongroom_scan::{Capability, Finding, Rule, Severity};

    #[test]
    fn kinds_come_from_the_name() {
        assert_eq!(
            kind_of(Path::new("/x/a-1.0-py3-none-any.WHL")),
            Some(ArchiveKind::Wheel)
        );
        assert_eq!(
            kind_of(Path::new("a-1.0.tar.gz")),
            Some(ArchiveKind::SdistTarGz)
        );
        assert_eq!(kind_of(Path::new("a-1.0.zip")), Some(ArchiveKind::SdistZip));
        assert_eq!(kind_of(Path::new("a-1.0.tar.bz2")), None);
        assert!(
            scan_file(Path::new("a.egg"), &ScanLimits::default())
                .is_err_and(|e| e.contains(".whl, .tar.gz or .zip"))
        );
    }

    #[test]
    fn the_report_escapes_what_the_archive_says() {
        let mut scan = ArchiveScan::default();
        scan.capabilities.insert(
            "pkg/\u{1b}[31mx.py".into(),
            [Capability::Network, Capability::BidiControl].into(),
        );
        scan.findings.push(Finding {
            rule: Rule::Obfuscation,
            severity: Severity::Medium,
            path: "pkg/auth.py".into(),
            line: Some(2),
            snippet: "return True  # \u{202e} } \u{2066}if admin:\u{2069}".into(),
            message: "bidi".into(),
        });
        scan.findings.push(Finding {
            rule: Rule::EncryptedCode,
            severity: Severity::Reject,
            path: "pkg/_pytransform.so".into(),
            line: None,
            snippet: String::new(),
            message: "PyArmor".into(),
        });
        let text = text_report("w.whl", ArchiveKind::Wheel, &scan);
        assert!(
            !text
                .chars()
                .any(|c| c == '\u{1b}' || c == '\u{202e}' || c == '\u{2066}')
        );
        assert!(
            text.contains("pkg/\\u{1b}[31mx.py: network, bidi-control"),
            "{text}"
        );
        assert!(
            text.contains("SR-M10-obfuscation medium pkg/auth.py:2: bidi"),
            "{text}"
        );
        assert!(text.contains("| return True  # \\u{202e} }"), "{text}");
        assert!(
            text.contains("SR-M11-encrypted-code reject pkg/_pytransform.so: PyArmor"),
            "{text}"
        );
        assert!(text.starts_with("w.whl (wheel): score 104\n"), "{text}");
        assert!(
            text.contains("an upload would be refused: PyArmor"),
            "{text}"
        );
    }
}
