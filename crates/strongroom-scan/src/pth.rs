//! `.pth` files: which lines Python executes at interpreter start (lines beginning with
//! `import`), and what they do (M5).
//!
//! `site` reads every `.pth` file in site-packages at every interpreter start: a line beginning
//! with `import ` (or `import` and a tab) is passed to `exec`, every other line is a path. So any
//! such line gives the file the `executable-pth` capability, and a line that uses `exec`,
//! `base64`, `subprocess`, `socket` or `urllib` is an `SR-M5-executable-pth` finding (High): the
//! litellm 1.82.8 vector. Each executable line is also parsed as Python (`SourceRole::PthLine`).
//!
//! Benign (B4): setuptools' `distutils-precedence.pth`, whose one line checks an environment
//! variable and imports setuptools' own `_distutils_hack`, does not get the capability (it is in
//! every setuptools release and would otherwise count as an executable `.pth` for a first
//! release); nor do setuptools' `*-nspkg.pth` namespace shims. Their lines still go to the
//! Python analysis, and the module they import is scanned like any other.

use crate::model::{Capability, Finding, Rule, ScanLimits, Severity};
use crate::python::{SourceRole, SourceScan};

/// Words that make an executable `.pth` line a finding (security.md M5).
const FLAGGED: [&str; 5] = ["exec", "base64", "subprocess", "socket", "urllib"];

/// The executable lines of a `.pth` file: (1-based line number, line), as `site` picks them.
pub fn executable_lines(text: &str) -> Vec<(u32, &str)> {
    universal_lines(text)
        .enumerate()
        .filter(|(_, l)| l.starts_with("import ") || l.starts_with("import\t"))
        .map(|(i, l)| (u32::try_from(i + 1).unwrap_or(u32::MAX), l.trim_end()))
        .collect()
}

/// Lines as `site` reads a `.pth` file (text mode, universal newlines): `\r\n`, `\r` and `\n`
/// each end one, so `x\rimport …` is two lines and the second runs.
fn universal_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|l| l.strip_suffix('\r').unwrap_or(l).split('\r'))
}

/// setuptools' `distutils-precedence.pth` (B4): that file name, and every executable line
/// imports `_distutils_hack` without any flagged word.
fn is_distutils_precedence(name: &str, lines: &[(u32, &str)]) -> bool {
    name == "distutils-precedence.pth"
        && lines
            .iter()
            .all(|(_, l)| l.contains("_distutils_hack") && flagged_word(l).is_none())
}

/// setuptools' namespace-package shim (`*-nspkg.pth`, still in some wheels, e.g. zope's):
/// every executable line registers a module in `sys.modules`, without any flagged word.
fn is_namespace_shim(name: &str, lines: &[(u32, &str)]) -> bool {
    name.ends_with("-nspkg.pth")
        && lines.iter().all(|(_, l)| {
            l.contains("sys.modules.setdefault(")
                && l.contains("types.ModuleType(")
                && flagged_word(l).is_none()
        })
}

/// A `.pth` that setuptools writes for itself (B4 and namespace shims): executable, but no
/// capability. Its lines still go to the Python analysis, so anything added to them shows.
fn is_setuptools_shim(path: &str, lines: &[(u32, &str)]) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    !lines.is_empty() && (is_distutils_precedence(name, lines) || is_namespace_shim(name, lines))
}

/// The flagged words `line` uses, as whole words (`sys.executable` is not `exec`).
fn flagged_words(line: &str) -> Vec<&'static str> {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    FLAGGED
        .into_iter()
        .filter(|word| {
            line.match_indices(word).any(|(at, _)| {
                !ident(line[..at].chars().next_back())
                    && !ident(line[at + word.len()..].chars().next())
            })
        })
        .collect()
}

fn flagged_word(line: &str) -> Option<&'static str> {
    flagged_words(line).into_iter().next()
}

/// Scan one `.pth` file: its capabilities and findings, including what `scan_line` (the Python
/// analysis, called once per executable line) finds.
pub fn scan_pth(
    path: &str,
    text: &str,
    limits: &ScanLimits,
    scan_line: crate::archive::SourceScanner<'_>,
) -> SourceScan {
    let lines = executable_lines(text);
    let mut out = SourceScan::default();
    let shim = is_setuptools_shim(path, &lines);
    for (number, line) in lines {
        let parsed = scan_line(path, line.as_bytes(), SourceRole::PthLine, limits);
        out.capabilities.extend(parsed.capabilities);
        // The parser reports positions within the line; the file's line is what a reader needs.
        out.findings
            .extend(parsed.findings.into_iter().map(|mut f| {
                f.line = Some(number);
                f
            }));
        // One M5 finding per line: the Python analysis's if it made one, else the word check's.
        let m5_already = out
            .findings
            .iter()
            .any(|f| f.rule == Rule::ExecutablePth && f.line == Some(number));
        let words = flagged_words(line);
        if !words.is_empty() && !m5_already {
            out.findings.push(Finding {
                rule: Rule::ExecutablePth,
                severity: Severity::High,
                path: path.to_owned(),
                line: Some(number),
                snippet: crate::archive::snippet(line, limits),
                message: format!(
                    "a .pth line that Python runs at every interpreter start uses {}",
                    words.join(", ")
                ),
            });
        }
    }
    // Whether the file is an executable .pth is decided here, also against what the line
    // analysis said: setuptools' shims are not, unless the analysis found more than a weak
    // signal in them.
    if shim && out.findings.iter().all(|f| f.severity <= Severity::Low) {
        out.capabilities.remove(&Capability::ExecutablePth);
    } else if !executable_lines(text).is_empty() {
        out.capabilities.insert(Capability::ExecutablePth);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn no_python(_: &str, _: &[u8], _: SourceRole, _: &ScanLimits) -> SourceScan {
        SourceScan::default()
    }

    fn scan(path: &str, text: &str) -> SourceScan {
        scan_pth(path, text, &ScanLimits::default(), &no_python)
    }

    #[test]
    fn path_lines_and_comments_are_not_executable() {
        let s = scan(
            "foo.pth",
            "# a comment\n/opt/lib\nsrc\n  import os\nimportlib\n",
        );
        assert!(s.capabilities.is_empty());
        assert!(s.findings.is_empty());
    }

    #[test]
    fn an_import_line_is_executable_without_a_finding_when_harmless() {
        let s = scan(
            "coverage.pth",
            "import coverage; coverage.process_startup()\n",
        );
        assert_eq!(s.capabilities, BTreeSet::from([Capability::ExecutablePth]));
        assert!(s.findings.is_empty());
        assert_eq!(
            scan("x.pth", "import\tos\n").capabilities,
            BTreeSet::from([Capability::ExecutablePth])
        );
    }

    #[test]
    fn a_litellm_style_line_is_high() {
        let text = "/some/path\nimport os, subprocess, sys; subprocess.Popen([sys.executable, '-c', 'import base64; exec(base64.b64decode(\"aW1wb3J0IG9z\"))'])\n";
        let s = scan("litellm_init.pth", text);
        assert!(s.capabilities.contains(&Capability::ExecutablePth));
        assert_eq!(s.findings.len(), 1);
        let f = &s.findings[0];
        assert_eq!(f.rule, Rule::ExecutablePth);
        assert_eq!(f.severity, Severity::High);
        assert_eq!(f.line, Some(2));
        assert_eq!(f.path, "litellm_init.pth");
        assert!(f.snippet.starts_with("import os, subprocess"));
        assert!(
            f.message.ends_with("uses exec, base64, subprocess"),
            "{}",
            f.message
        );
        // Whole words only.
        let s = scan("y.pth", "import sys; sys.executable; import mysocket_lib\n");
        assert!(s.findings.is_empty());
        for word in ["socket", "urllib", "exec", "base64"] {
            let s = scan("z.pth", &format!("import {word}\n"));
            assert_eq!(s.findings.len(), 1, "{word}");
        }
    }

    #[test]
    fn setuptools_distutils_precedence_is_benign_but_a_lookalike_is_not() {
        let b4 = "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n";
        let s = scan("distutils-precedence.pth", b4);
        assert!(s.capabilities.is_empty());
        assert!(s.findings.is_empty());
        // The same name with a payload is an executable .pth with a finding.
        let bad = "import _distutils_hack, subprocess; subprocess.call('id')\n";
        let s = scan("distutils-precedence.pth", bad);
        assert!(s.capabilities.contains(&Capability::ExecutablePth));
        assert_eq!(s.findings.len(), 1);
        // The same line under another name is executable (only capability, no finding).
        let s = scan("other.pth", b4);
        assert!(s.capabilities.contains(&Capability::ExecutablePth));
        assert!(s.findings.is_empty());
    }

    #[test]
    fn setuptools_namespace_shims_are_benign() {
        let nspkg = "import sys, types, os;has_mfs = sys.version_info > (3, 5);p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('zope',));importlib = has_mfs and __import__('importlib.util');has_mfs and __import__('importlib.machinery');m = has_mfs and sys.modules.setdefault('zope', importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('zope', [os.path.dirname(p)])));m = m or sys.modules.setdefault('zope', types.ModuleType('zope'));mp = (m or []) and m.__dict__.setdefault('__path__',[]);(p not in mp) and mp.append(p)\n";
        let s = scan("zope.interface-7.0-py3.12-nspkg.pth", nspkg);
        assert!(s.capabilities.is_empty());
        assert!(s.findings.is_empty());
        let s = scan(
            "zope.interface-7.0-py3.12-nspkg.pth",
            "import sys, types; sys.modules.setdefault('z', types.ModuleType('z')); import socket\n",
        );
        assert!(s.capabilities.contains(&Capability::ExecutablePth));
        assert_eq!(s.findings.len(), 1);
        // Their lines still reach the Python analysis.
        fn spawn(_: &str, _: &[u8], _: SourceRole, _: &ScanLimits) -> SourceScan {
            let mut s = SourceScan::default();
            s.capabilities.insert(Capability::ProcessSpawn);
            s
        }
        let s = scan_pth("zope-nspkg.pth", nspkg, &ScanLimits::default(), &spawn);
        assert_eq!(s.capabilities, BTreeSet::from([Capability::ProcessSpawn]));
    }

    #[test]
    fn the_line_analysis_neither_doubles_m5_nor_undoes_a_shim() {
        // A line analysis that, like the real one, marks every line executable and makes its own
        // M5 finding for a flagged line.
        fn own_m5(path: &str, src: &[u8], _: SourceRole, _: &ScanLimits) -> SourceScan {
            let mut s = SourceScan::default();
            s.capabilities.insert(Capability::ExecutablePth);
            if String::from_utf8_lossy(src).contains("subprocess") {
                s.findings.push(Finding {
                    rule: Rule::ExecutablePth,
                    severity: Severity::High,
                    path: path.to_owned(),
                    line: Some(1),
                    snippet: String::new(),
                    message: "theirs".into(),
                });
            }
            s
        }
        let limits = ScanLimits::default();
        let s = scan_pth(
            "z.pth",
            "x\nimport subprocess; subprocess.call('id')\nimport socket\n",
            &limits,
            &own_m5,
        );
        let lines: Vec<(Option<u32>, &str)> = s
            .findings
            .iter()
            .map(|f| (f.line, f.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                (Some(2), "theirs"),
                (
                    Some(3),
                    "a .pth line that Python runs at every interpreter start uses socket"
                )
            ]
        );
        let b4 = "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n";
        let s = scan_pth("distutils-precedence.pth", b4, &limits, &own_m5);
        assert!(s.capabilities.is_empty(), "{:?}", s.capabilities);
    }

    #[test]
    fn each_executable_line_goes_to_the_python_analysis_with_its_line_number() {
        fn fake(path: &str, src: &[u8], role: SourceRole, _: &ScanLimits) -> SourceScan {
            assert_eq!(role, SourceRole::PthLine);
            let mut s = SourceScan::default();
            if src.starts_with(b"import os; os.getenv") {
                s.capabilities.insert(Capability::EnvironmentRead);
                s.findings.push(Finding {
                    rule: Rule::Obfuscation,
                    severity: Severity::Low,
                    path: path.to_owned(),
                    line: Some(1),
                    snippet: String::new(),
                    message: "fake".into(),
                });
            }
            s
        }
        let s = scan_pth(
            "a.pth",
            "x\nimport os; os.getenv('A')\n",
            &ScanLimits::default(),
            &fake,
        );
        assert!(s.capabilities.contains(&Capability::EnvironmentRead));
        assert!(s.capabilities.contains(&Capability::ExecutablePth));
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].line, Some(2));
    }
}
