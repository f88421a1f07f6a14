//! The lexical prefilter: whether an ordinary module's bytes can give any capability or finding
//! at all, decided without parsing. A module that names none of the call targets the rules
//! classify (derived from `names.rs` itself), no indirection (`getattr`, `__import__`,
//! `globals`, `chr`, …) and none of the strings the literal tests look for cannot match a rule,
//! so it is not parsed: tree-sitter dominates the scan's cost.
//!
//! Sound relative to the analysis: every classified call target ends in an identifier that
//! appears whole in the source (an attribute, an imported name, a bare name), and its module's
//! first component appears whole too (the import that bound it), unless the name was computed
//! through `__import__`/`getattr`/`import_module`, which are themselves triggers. A bare builtin
//! (`exec`, `compile`, `open`, …) counts only when not written as an attribute (`re.compile`),
//! unless a `builtin` module is named. Literal tests read the raw text of literals (no escape
//! decoding), so their needles are plain substrings here, case-insensitive.
//! The crate's tests scan every sample with and without the prefilter and require the same
//! result; `corpus_differential` does the same over real packages.
//!
//! Not covered: `setup.py` and `.pth` lines (always parsed), the source-encoding check (made
//! before), and the work-bound note of a file too heavy to analyse (a file without any trigger
//! has nothing the analysis could report anyway).

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::names::{classify, is_environ};

/// Identifiers (whole) that make a module worth parsing whatever surrounds them: indirections
/// through which a name is computed or looked up, and the method names the rules test.
const INDIRECTION: [&str; 15] = [
    "__import__",
    "import_module",
    "getattr",
    "globals",
    "locals",
    "vars",
    "modules",
    "__dict__",
    "__getattribute__",
    "attrgetter",
    "methodcaller",
    "chr",
    "getpixel",
    "write_bytes",
    "write_text",
];

/// Substrings (ASCII case-insensitive): the builtins modules (`builtins`, `__builtin__`,
/// `__builtins__`), and what the literal tests look for: credential paths, shady services and
/// hosts, image markers. A test in this module checks every needle of `names.rs`
/// that one of those tests accepts.
const LITERAL_NEEDLES: [&str; 18] = [
    "builtin",
    "credentials",
    "pypirc",
    ".ssh",
    "docker",
    "login",
    "cookies",
    "key4",
    "webhook",
    "ngrok",
    "telegram",
    "discord",
    "pastebin",
    ".xyz",
    ".top",
    "iend",
    "png",
    "environ",
];

/// The call targets the rules classify, as (module's first component or "" for a builtin,
/// last name), with the automata that find them.
struct Tables {
    /// Identifier patterns (case-sensitive, matched whole).
    idents: AhoCorasick,
    /// For each identifier pattern: the indexes of the patterns that, present with it, make
    /// the pair; `None` for a bare builtin (counted only when not an attribute).
    pairs: Vec<Vec<usize>>,
    /// For each identifier pattern: a trigger on its own (indirections) or a builtin.
    alone: Vec<Alone>,
    literals: AhoCorasick,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alone {
    No,
    Always,
    /// A builtin: counts when not preceded by `.`.
    Bare,
}

/// The string literals of `names.rs` that look like dotted names: the candidates from which
/// the classified pairs are derived, so a name added there is a trigger without a change here.
fn name_literals() -> Vec<&'static str> {
    let src = include_str!("names.rs");
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find('"') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('"') else { break };
        let lit = &after[..j];
        if !lit.is_empty()
            && lit
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            out.push(lit);
        }
        rest = &after[j + 1..];
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(build)
}

fn build() -> Tables {
    let lits = name_literals();
    let mut patterns: Vec<String> = Vec::new();
    let index = |p: &str, patterns: &mut Vec<String>| -> usize {
        if let Some(i) = patterns.iter().position(|q| q == p) {
            return i;
        }
        patterns.push(p.to_owned());
        patterns.len() - 1
    };
    let mut pair_list: Vec<(usize, usize)> = Vec::new();
    let mut bare: Vec<usize> = Vec::new();
    let names: Vec<&str> = lits.iter().copied().filter(|l| !l.contains('.')).collect();
    for name in &names {
        if classify(name).is_some() {
            bare.push(index(name, &mut patterns));
        }
        for module in &lits {
            let q = format!("{module}.{name}");
            if classify(&q).is_some() || is_environ(&q) {
                let first = module.split('.').next().unwrap_or(module);
                let m = index(first, &mut patterns);
                let n = index(name, &mut patterns);
                pair_list.push((n, m));
            }
        }
    }
    let always: Vec<usize> = INDIRECTION
        .iter()
        .map(|t| index(t, &mut patterns))
        .collect();
    let mut pairs = vec![Vec::new(); patterns.len()];
    for (n, m) in pair_list {
        pairs[n].push(m);
    }
    let mut alone = vec![Alone::No; patterns.len()];
    for i in bare {
        alone[i] = Alone::Bare;
    }
    for i in always {
        alone[i] = Alone::Always;
    }
    Tables {
        idents: AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .unwrap_or_else(|e| panic!("prefilter identifiers: {e}")),
        pairs,
        alone,
        literals: AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(LITERAL_NEEDLES)
            .unwrap_or_else(|e| panic!("prefilter literals: {e}")),
    }
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether an ordinary module's bytes may give a capability or finding: false only when the
/// analysis certainly gives none.
pub(crate) fn may_match(source: &[u8]) -> bool {
    let t = tables();
    if t.literals.is_match(source) || dotted_quad(source) {
        return true;
    }
    let mut seen = vec![false; t.alone.len()];
    for m in t.idents.find_overlapping_iter(source) {
        let (s, e) = (m.start(), m.end());
        let i = m.pattern().as_usize();
        let whole = !s
            .checked_sub(1)
            .and_then(|p| source.get(p))
            .is_some_and(|b| ident_byte(*b))
            && !source.get(e).is_some_and(|b| ident_byte(*b));
        match t.alone.get(i) {
            Some(Alone::Always) if whole => return true,
            Some(Alone::Bare)
                if whole && s.checked_sub(1).and_then(|p| source.get(p)) != Some(&b'.') =>
            {
                return true;
            }
            _ => {}
        }
        if whole && let Some(flag) = seen.get_mut(i) {
            *flag = true;
        }
    }
    t.pairs
        .iter()
        .enumerate()
        .any(|(n, modules)| seen[n] && modules.iter().any(|m| seen[*m]))
}

/// Whether a module may call into its own package: a relative import (`from .`), or one of
/// the folders above it (`evmod` of `evmod/__init__.py`) named as a whole identifier. Such a
/// module's call sites feed the cross-module flow (`flow.rs`), so it is parsed even when it
/// names no trigger itself.
pub(crate) fn imports_own_package(source: &[u8], path: &str) -> bool {
    if relative_import(source) {
        return true;
    }
    let dirs = path.rsplit_once('/').map_or("", |(d, _)| d);
    dirs.split('/')
        .filter(|d| !d.is_empty() && d.bytes().all(ident_byte))
        .any(|d| whole_word(source, d.as_bytes()))
}

/// `from .` at the start of a line (after indentation).
fn relative_import(source: &[u8]) -> bool {
    source.split(|b| *b == b'\n').any(|line| {
        let t = line.trim_ascii_start();
        t.strip_prefix(b"from").is_some_and(|r| {
            r.first().is_some_and(|b| b.is_ascii_whitespace())
                && r.trim_ascii_start().starts_with(b".")
        })
    })
}

/// `word` somewhere in `source` with no identifier byte on either side.
fn whole_word(source: &[u8], word: &[u8]) -> bool {
    if word.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(i) = source
        .get(from..)
        .and_then(|rest| rest.windows(word.len()).position(|w| w == word))
    {
        let s = from + i;
        let e = s + word.len();
        let before = s
            .checked_sub(1)
            .and_then(|p| source.get(p))
            .is_some_and(|b| ident_byte(*b));
        let after = source.get(e).is_some_and(|b| ident_byte(*b));
        if !before && !after {
            return true;
        }
        from = s + 1;
    }
    false
}

/// Four groups of digits joined by dots (`10.0.0.1`): an address a literal may name.
fn dotted_quad(source: &[u8]) -> bool {
    let (mut groups, mut digits) = (0u32, 0u32);
    for &b in source {
        if b.is_ascii_digit() {
            digits += 1;
            if groups == 3 {
                return true;
            }
        } else if b == b'.' && digits > 0 {
            groups += 1;
            digits = 0;
        } else {
            groups = 0;
            digits = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::names::{is_credential_path, is_platform_api, shady_endpoint};

    #[test]
    fn derived_pairs_include_the_known_sinks() {
        let t = tables();
        assert!(t.pairs.iter().map(Vec::len).sum::<usize>() > 100);
        for src in [
            "import os\nos.system('x')\n",
            "from subprocess import Popen as P\nP(['x'])\n",
            "import requests\nrequests.post(u)\n",
            "x = exec\n",
            "open(p, 'w')\n",
            "import os\nos.environ\n",
            "g = getattr\n",
            "s = 'https://10.1.2.3/x'\n",
            "p = '~/.AWS/Credentials'\n",
        ] {
            assert!(may_match(src.as_bytes()), "{src}");
        }
    }

    #[test]
    fn plain_code_is_skipped() {
        for src in [
            "import re\nP = re.compile('a+')\n",
            "def f(x):\n    return x.open()\n",
            "from typing import List\nclass A:\n    def run(self):\n        return 1\n",
            "import os.path\nos.path.join('a', 'b')\n",
            "VERSION = '1.2.3'\n",
        ] {
            assert!(!may_match(src.as_bytes()), "{src}");
        }
    }

    #[test]
    fn every_literal_needle_of_names_rs_triggers() {
        // Each literal of names.rs that a literal test accepts, in every case.
        let src = include_str!("names.rs");
        let mut checked = 0;
        for lit in src.split('"').skip(1).step_by(2) {
            if is_credential_path(lit) || shady_endpoint(lit).is_some() || is_platform_api(lit) {
                for l in [lit.to_owned(), lit.to_ascii_uppercase()] {
                    let code = format!("x = '{l}'\n");
                    assert!(may_match(code.as_bytes()), "{code}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} needles found");
    }

    #[test]
    fn dotted_quads() {
        assert!(dotted_quad(b"x = '1.2.3.4'"));
        assert!(!dotted_quad(b"x = '1.2.3'"));
        assert!(!dotted_quad(b"a.b.c.d"));
    }
}

/// Every `.py` member of every wheel under `$SCAN_CORPUS` (default `.test-work/corpus`) scanned
/// with and without the prefilter: the results must be equal. Prints the share of bytes the
/// prefilter skips per wheel:
/// `cargo test --profile quick -p strongroom-scan corpus_differential -- --ignored --nocapture`.
#[cfg(test)]
#[test]
#[ignore]
fn corpus_differential() {
    use std::io::Read;

    use crate::model::ScanLimits;
    use crate::python::{SourceRole, scan_source_with};
    let dir = std::env::var("SCAN_CORPUS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.test-work/corpus").to_owned()
    });
    let mut wheels: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    wheels.sort();
    assert!(!wheels.is_empty(), "no wheels in {dir}");
    let limits = ScanLimits::default();
    let (mut all, mut all_skipped) = (0usize, 0usize);
    for w in &wheels {
        let f = std::fs::File::open(w).unwrap_or_else(|e| panic!("{w:?}: {e}"));
        let Ok(mut z) = zip::ZipArchive::new(f) else {
            continue;
        };
        let (mut bytes, mut skipped) = (0usize, 0usize);
        for i in 0..z.len() {
            let Ok(mut m) = z.by_index(i) else { continue };
            let Ok(name) = m.name().map(|n| n.to_string()) else {
                continue;
            };
            if !name.ends_with(".py") {
                continue;
            }
            let mut src = Vec::new();
            if m.read_to_end(&mut src).is_err() {
                continue;
            }
            bytes += src.len();
            if !may_match(&src) {
                skipped += src.len();
            }
            let a = scan_source_with(&name, &src, SourceRole::Module, &limits, true);
            let b = scan_source_with(&name, &src, SourceRole::Module, &limits, false);
            assert_eq!(a, b, "{w:?} {name}");
        }
        let name = w.file_name().map(|n| n.to_string_lossy().into_owned());
        println!(
            "{:>6.1} % of {:>10} Python bytes skipped  {}",
            100.0 * skipped as f64 / bytes.max(1) as f64,
            bytes,
            name.unwrap_or_default()
        );
        all += bytes;
        all_skipped += skipped;
    }
    println!(
        "all: {:.1} % of {all} Python bytes skipped",
        100.0 * all_skipped as f64 / all.max(1) as f64
    );
}

#[cfg(test)]
mod own_package_tests {
    use super::imports_own_package;

    #[test]
    fn a_module_calling_into_its_own_package_is_parsed() {
        let init = b"from .a import collect\nsend(collect())\n";
        assert!(imports_own_package(init, "evmod/__init__.py"));
        assert!(imports_own_package(b"    from  . import b\n", "evmod/x.py"));
        assert!(imports_own_package(
            b"from evmod.c import send\n",
            "evmod/__init__.py"
        ));
        assert!(imports_own_package(b"import evmod.c\n", "src/evmod/z.py"));
    }

    #[test]
    fn a_module_naming_no_sibling_is_not() {
        assert!(!imports_own_package(
            b"from os import path\n",
            "evmod/__init__.py"
        ));
        assert!(!imports_own_package(
            b"import evmodx\nfrom_ = 1\n",
            "evmod/x.py"
        ));
        assert!(!imports_own_package(b"import evmod\n", "setup.py"));
    }
}
