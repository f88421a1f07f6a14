//! The bounds: syntax errors, deep nesting, the analysis budget, a huge line, bytes that are
//! not UTF-8, and the manual false-positive check over a folder of real code.

use super::*;

#[test]
fn syntax_errors_still_yield_what_parses() {
    let src = "def broken(:\n    pass\nimport base64\nexec(base64.b64decode('eA=='))\nclass (\n";
    let s = scan(src);
    assert_eq!(finding(&s, Rule::DecodeExec, 4).severity, Severity::High);
}

#[test]
fn deep_nesting_is_bounded() {
    let depth = 100_000;
    let src = format!(
        "x = {}1{}\nimport os\nos.system('id')\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let start = std::time::Instant::now();
    let s = scan(&src);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(s.capabilities.contains(&Capability::ProcessSpawn), "{s:?}");
    // Unbalanced, and nested calls.
    let src = format!("exec({}\n", "f(".repeat(depth));
    let _ = scan(&src);
    let src = format!("a = {}\n", "[".repeat(depth));
    let _ = scan(&src);
}

#[test]
fn analysis_budget_is_noted() {
    let src = "import os\nos.system('id')\n".repeat(50);
    let tree = crate::python::parse(&src, crate::budget::Budget::new(crate::python::PARSE_TIME))
        .expect("parses");
    let limits = ScanLimits::default();
    let mut out = crate::python::Out::new("pkg/mod.py", &src, &limits);
    let deadline = crate::budget::Budget::new(std::time::Duration::from_secs(5));
    assert!(crate::python::rules::analyse(
        &tree,
        &src,
        SourceRole::Module,
        100,
        deadline,
        &mut out
    ));
    let mut out = crate::python::Out::new("pkg/mod.py", &src, &limits);
    assert!(!crate::python::rules::analyse(
        &tree,
        &src,
        SourceRole::Module,
        1 << 20,
        deadline,
        &mut out
    ));
    // One file keeps at most as many findings as an archive does.
    let many = "x = 'http://45.9.148.10/'\nimport socket\nsocket.socket()\n".repeat(500);
    let s = scan(&many);
    assert_eq!(s.findings.len(), limits.max_findings);
}

#[test]
fn huge_line_snippet_is_cut() {
    let src = format!(
        "import base64\nexec(base64.b64decode('{}'))\n",
        "A".repeat(1 << 20)
    );
    let s = scan(&src);
    let f = finding(&s, Rule::DecodeExec, 2);
    assert_eq!(
        f.snippet.chars().count(),
        ScanLimits::default().snippet_chars
    );
    assert!(f.snippet.starts_with("exec(base64.b64decode('AAA"));
}

#[test]
fn non_utf8_bytes_and_size_bound() {
    let mut src = b"import base64\nx = '\xff\xfe\x80'\n".to_vec();
    src.extend_from_slice("exec(base64.b64decode('eA=='))  # é\n".as_bytes());
    let s = scan_source(
        "pkg/mod.py",
        &src,
        SourceRole::Module,
        &ScanLimits::default(),
    );
    assert_eq!(finding(&s, Rule::DecodeExec, 3).severity, Severity::High);

    let limits = ScanLimits {
        max_source_bytes: 8,
        ..ScanLimits::default()
    };
    let s = scan_source(
        "pkg/mod.py",
        b"import os\nos.system('x')\n",
        SourceRole::Module,
        &limits,
    );
    assert_eq!(s, SourceScan::default());
}

/// Scans every `.py` under `$SCAN_DIR` and prints the findings at Medium or above (a manual
/// false-positive check on real code: `SCAN_DIR=… cargo test -p strongroom-scan corpus --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn corpus() {
    let Ok(root) = std::env::var("SCAN_DIR") else {
        return;
    };
    let mut stack = vec![std::path::PathBuf::from(root)];
    let (mut files, mut bytes, mut loud) = (0usize, 0usize, 0usize);
    let start = std::time::Instant::now();
    let mut slowest = (std::time::Duration::ZERO, String::new());
    let mut parse_time = std::time::Duration::ZERO;
    let mut plain_parse = std::time::Duration::ZERO;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pth") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with("import")) {
                    let name = p.to_string_lossy().into_owned();
                    let s = scan_source(
                        &name,
                        line.as_bytes(),
                        SourceRole::PthLine,
                        &ScanLimits::default(),
                    );
                    for f in &s.findings {
                        println!(
                            "{:?} {} {}:{} {} | {}",
                            f.severity,
                            f.rule,
                            f.path,
                            f.line.unwrap_or(0),
                            f.message,
                            f.snippet
                        );
                    }
                }
            } else if p.extension().is_some_and(|x| x == "py") {
                let Ok(src) = std::fs::read(&p) else {
                    continue;
                };
                files += 1;
                bytes += src.len();
                let name = p.to_string_lossy().into_owned();
                let role = if name.ends_with("setup.py") {
                    SourceRole::SetupPy
                } else {
                    SourceRole::Module
                };
                let t = std::time::Instant::now();
                let text = String::from_utf8_lossy(&src);
                let _tree = crate::python::parse(
                    &text,
                    crate::budget::Budget::new(crate::python::PARSE_TIME),
                );
                parse_time += t.elapsed();
                let t = std::time::Instant::now();
                let mut parser = tree_sitter::Parser::new();
                parser
                    .set_language(&tree_sitter_python::LANGUAGE.into())
                    .expect("language");
                let _tree = parser.parse(text.as_bytes(), None);
                plain_parse += t.elapsed();
                let t = std::time::Instant::now();
                let s = scan_source(&name, &src, role, &ScanLimits::default());
                if std::env::var("SCAN_ALL").is_ok() {
                    println!("{:?} {name}", t.elapsed());
                }
                if t.elapsed() > slowest.0 {
                    slowest = (t.elapsed(), name.clone());
                }
                let floor = if std::env::var("SCAN_ALL").is_ok() {
                    Severity::Info
                } else {
                    Severity::Medium
                };
                for f in s.findings.iter().filter(|f| f.severity >= floor) {
                    loud += 1;
                    println!(
                        "{:?} {} {}:{} {} | {}",
                        f.severity,
                        f.rule,
                        f.path,
                        f.line.unwrap_or(0),
                        f.message,
                        f.snippet
                    );
                }
            }
        }
    }
    println!(
        "{files} files, {bytes} bytes, {loud} findings >= Medium, {:?} (parsing alone {parse_time:?}, without a callback {plain_parse:?}); slowest {slowest:?}",
        start.elapsed()
    );
}
