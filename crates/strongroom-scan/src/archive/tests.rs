//! The archive walk on wheels and sdists built here: paths, what is read, the rules decided on
//! the archive (M5, M10 bidi, M11, M14, native binaries, opaque blobs, bounds, in-tree backends)
//! and the plumbing to the Python analysis (a fake one, so these tests do not depend on it).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::*;

const PLATFORM_WHEEL: &[u8] =
    b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp312-cp312-manylinux_2_17_x86_64\n";
const PURE_WHEEL: &[u8] =
    b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";

fn elf() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0".to_vec();
    b.resize(2048, 0);
    b
}

fn zip_at(path: &Path, members: &[(&str, &[u8])], method: CompressionMethod) -> PathBuf {
    let file = std::fs::File::create(path).expect("create");
    let mut z = zip::ZipWriter::new(file);
    let opts = SimpleFileOptions::default().compression_method(method);
    for (name, data) in members {
        z.start_file(*name, opts).expect("start");
        z.write_all(data).expect("write");
    }
    z.finish().expect("finish");
    path.to_owned()
}

fn wheel(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
    zip_at(
        &dir.join("pkg-1.0-py3-none-any.whl"),
        members,
        CompressionMethod::Deflated,
    )
}

fn sdist_tar_gz(dir: &Path, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join("pkg-1.0.tar.gz");
    let file = std::fs::File::create(&path).expect("create");
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut dir_header = tar::Header::new_gnu();
    dir_header.set_entry_type(tar::EntryType::Directory);
    dir_header.set_size(0);
    dir_header.set_mode(0o755);
    dir_header.set_cksum();
    tar.append_data(&mut dir_header, "pkg-1.0/", &[][..])
        .expect("dir");
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("pkg-1.0/{name}"), *data)
            .expect("member");
    }
    tar.into_inner()
        .expect("tar")
        .finish()
        .expect("gz")
        .flush()
        .expect("flush");
    path
}

/// A fake Python analysis: `subprocess` in a source means ProcessSpawn, `os.environ` means
/// EnvironmentRead (with a Low finding); every call is recorded.
struct Fake {
    calls: RefCell<Vec<(String, SourceRole, String)>>,
}

impl Fake {
    fn new() -> Self {
        Self {
            calls: RefCell::new(Vec::new()),
        }
    }

    fn scan(&self, path: &str, src: &[u8], role: SourceRole, _: &ScanLimits) -> SourceScan {
        let text = String::from_utf8_lossy(src).into_owned();
        let mut out = SourceScan::default();
        if text.contains("subprocess") {
            out.capabilities.insert(Capability::ProcessSpawn);
        }
        if text.contains("os.environ") {
            out.capabilities.insert(Capability::EnvironmentRead);
            out.findings.push(Finding {
                rule: Rule::EnvExfiltration,
                severity: Severity::Low,
                path: path.to_owned(),
                line: Some(1),
                snippet: "os.environ".into(),
                message: "fake".into(),
            });
        }
        self.calls.borrow_mut().push((path.to_owned(), role, text));
        out
    }
}

fn scan_with(path: &Path, kind: ArchiveKind, limits: &ScanLimits, fake: &Fake) -> ArchiveScan {
    let f = |p: &str, s: &[u8], r: SourceRole, l: &ScanLimits| fake.scan(p, s, r, l);
    scan_archive_with(path, kind, limits, &f).expect("scan")
}

fn rules(scan: &ArchiveScan) -> Vec<(Rule, Severity, &str)> {
    scan.findings
        .iter()
        .map(|f| (f.rule, f.severity, f.path.as_str()))
        .collect()
}

fn caps(scan: &ArchiveScan, path: &str) -> Vec<Capability> {
    scan.capabilities
        .get(path)
        .map(|c| c.iter().copied().collect())
        .unwrap_or_default()
}

#[test]
fn sdist_paths_lose_the_top_directory_and_setup_py_has_its_role() {
    let dir = tempfile::tempdir().expect("tmp");
    let members: &[(&str, &[u8])] = &[
        ("setup.py", b"from setuptools import setup\nsetup()\n"),
        ("pkg/__init__.py", b"import os\nX = os.environ\n"),
        ("pkg/sub/setup.py", b"x = 1\n"),
        ("PKG-INFO", b"Metadata-Version: 2.1\nName: pkg\n"),
        ("README.md", b"# pkg\n"),
    ];
    for path in [
        sdist_tar_gz(dir.path(), members),
        zip_at(
            &dir.path().join("pkg-1.0.zip"),
            &members
                .iter()
                .map(|(n, d)| (format!("pkg-1.0/{n}"), *d))
                .collect::<Vec<_>>()
                .iter()
                .map(|(n, d)| (n.as_str(), *d))
                .collect::<Vec<_>>(),
            CompressionMethod::Deflated,
        ),
    ] {
        let kind = if path.extension().is_some_and(|e| e == "zip") {
            ArchiveKind::SdistZip
        } else {
            ArchiveKind::SdistTarGz
        };
        let fake = Fake::new();
        let scan = scan_with(&path, kind, &ScanLimits::default(), &fake);
        let calls: Vec<(String, SourceRole)> = fake
            .calls
            .borrow()
            .iter()
            .map(|(p, r, _)| (p.clone(), *r))
            .collect();
        assert_eq!(
            calls,
            vec![
                ("setup.py".to_owned(), SourceRole::SetupPy),
                ("pkg/__init__.py".to_owned(), SourceRole::Module),
                ("pkg/sub/setup.py".to_owned(), SourceRole::Module),
            ],
            "{kind:?}"
        );
        assert_eq!(
            caps(&scan, "pkg/__init__.py"),
            [Capability::EnvironmentRead]
        );
        assert_eq!(
            rules(&scan),
            [(Rule::EnvExfiltration, Severity::Low, "pkg/__init__.py")]
        );
        assert_eq!(scan.members_scanned, 3);
        let expected: usize = members[..3].iter().map(|(_, d)| d.len()).sum();
        assert_eq!(scan.bytes_scanned, expected as u64);
    }
}

#[test]
fn a_platform_wheel_notes_its_extension_and_nothing_more() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            ("pkg/__init__.py", b"import subprocess\n"),
            ("pkg/_core.cpython-312-x86_64-linux-gnu.so", &elf()),
            ("pkg-1.0.dist-info/WHEEL", PLATFORM_WHEEL),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::Wheel,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [(
            Rule::NativeBinary,
            Severity::Info,
            "pkg/_core.cpython-312-x86_64-linux-gnu.so"
        )]
    );
    assert_eq!(
        caps(&scan, "pkg/_core.cpython-312-x86_64-linux-gnu.so"),
        [Capability::BundledBinary]
    );
    assert_eq!(caps(&scan, "pkg/__init__.py"), [Capability::ProcessSpawn]);
    assert_eq!(crate::score::base_score(&scan), 0);
}

#[test]
fn a_binary_in_a_pure_wheel_or_sdist_with_code_that_starts_it_is_m14() {
    let dir = tempfile::tempdir().expect("tmp");
    let starter: &[u8] =
        b"import os, subprocess\nsubprocess.Popen([os.path.join(os.path.dirname(__file__), 'bin', 'xmrig')])\n";
    let elf = elf();
    // Pure wheel, the binary named by the code that starts processes: High.
    let path = wheel(
        dir.path(),
        &[
            ("pkg/bin/xmrig", &elf),
            ("pkg/__init__.py", starter),
            ("pkg-1.0.dist-info/WHEEL", PURE_WHEEL),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::Wheel,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert!(
        rules(&scan).contains(&(Rule::BundledBinary, Severity::High, "pkg/bin/xmrig")),
        "{:?}",
        scan.findings
    );
    assert!(crate::score::base_score(&scan) >= 10);

    // Sdist, the binary not named: Medium.
    let path = sdist_tar_gz(
        dir.path(),
        &[
            ("pkg/data/helper", &elf),
            ("pkg/run.py", b"import subprocess\nsubprocess.run(['ls'])\n"),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::SdistTarGz,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert!(rules(&scan).contains(&(Rule::BundledBinary, Severity::Medium, "pkg/data/helper")));

    // No process starts at all: only the note.
    let path = sdist_tar_gz(
        dir.path(),
        &[("pkg/data/helper", &elf), ("pkg/run.py", b"print('hi')\n")],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::SdistTarGz,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [(Rule::NativeBinary, Severity::Info, "pkg/data/helper")]
    );

    // The same binary and code in a platform wheel: only the note.
    let path = wheel(
        dir.path(),
        &[
            ("pkg/bin/xmrig", &elf),
            ("pkg/__init__.py", starter),
            ("pkg-1.0.dist-info/WHEEL", PLATFORM_WHEEL),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::Wheel,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [(Rule::NativeBinary, Severity::Info, "pkg/bin/xmrig")]
    );
}

#[test]
fn setuptools_launchers_are_not_m14() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut pe = vec![0u8; 1024];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let path = wheel(
        dir.path(),
        &[
            ("setuptools/cli-64.exe", &pe),
            (
                "setuptools/_scripts.py",
                b"import subprocess\nname = 'cli-64.exe'\n",
            ),
            ("setuptools-80.0.dist-info/WHEEL", PURE_WHEEL),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::Wheel,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [(Rule::NativeBinary, Severity::Info, "setuptools/cli-64.exe")]
    );
    assert!(scan.findings[0].message.contains("launcher"));
    assert_eq!(
        caps(&scan, "setuptools/_scripts.py"),
        [Capability::ProcessSpawn]
    );
    assert!(caps(&scan, "setuptools/cli-64.exe").is_empty());
}

#[test]
fn pth_files_are_read_and_their_lines_analysed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            ("pkg/__init__.py", b""),
            (
                "zzz_init.pth",
                b"import os, base64; exec(base64.b64decode('cHJpbnQoMSk='))\n",
            ),
            ("pkg.pth", b"/opt/pkg\n"),
            (
                "distutils-precedence.pth",
                b"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n",
            ),
            ("pkg-1.0.dist-info/WHEEL", PURE_WHEEL),
        ],
    );
    let fake = Fake::new();
    let scan = scan_with(&path, ArchiveKind::Wheel, &ScanLimits::default(), &fake);
    // The setuptools shim is no executable .pth, but its line is still analysed (the fake
    // analysis calls `os.environ` a Low finding).
    assert_eq!(
        rules(&scan),
        [
            (Rule::ExecutablePth, Severity::High, "zzz_init.pth"),
            (
                Rule::EnvExfiltration,
                Severity::Low,
                "distutils-precedence.pth"
            ),
        ]
    );
    assert_eq!(caps(&scan, "zzz_init.pth"), [Capability::ExecutablePth]);
    assert_eq!(
        caps(&scan, "distutils-precedence.pth"),
        [Capability::EnvironmentRead]
    );
    assert!(caps(&scan, "pkg.pth").is_empty());
    let pth_calls: Vec<(String, SourceRole)> = fake
        .calls
        .borrow()
        .iter()
        .filter(|(_, r, _)| *r == SourceRole::PthLine)
        .map(|(p, r, _)| (p.clone(), *r))
        .collect();
    assert_eq!(
        pth_calls,
        [
            ("zzz_init.pth".to_owned(), SourceRole::PthLine),
            ("distutils-precedence.pth".to_owned(), SourceRole::PthLine),
        ]
    );
}

#[test]
fn bidi_controls_in_any_member_read_are_m10() {
    let dir = tempfile::tempdir().expect("tmp");
    let trojan = "def is_admin(user):\n    return True  # \u{202e} } \u{2066}if user.admin:\u{2069} \u{2066}#\n";
    let path = sdist_tar_gz(
        dir.path(),
        &[
            ("pkg/auth.py", trojan.as_bytes()),
            (
                "setup.cfg",
                "[metadata]\nname = pkg\ndescription = a \u{2067}b\n".as_bytes(),
            ),
            ("pkg/notes.txt", "not read \u{202e}\n".as_bytes()),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::SdistTarGz,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [
            (Rule::Obfuscation, Severity::Medium, "pkg/auth.py"),
            (Rule::Obfuscation, Severity::Medium, "setup.cfg"),
        ]
    );
    assert_eq!(scan.findings[0].line, Some(2));
    assert!(scan.findings[0].snippet.contains('\u{202e}'));
    assert_eq!(scan.findings[1].line, Some(3));
    assert_eq!(caps(&scan, "pkg/auth.py"), [Capability::BidiControl]);
    assert_eq!(caps(&scan, "setup.cfg"), [Capability::BidiControl]);
}

#[test]
fn pyarmor_is_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            (
                "pkg/__init__.py",
                b"# Pyarmor 8.5.0\nfrom pyarmor_runtime_000000 import __pyarmor__\n__pyarmor__(__name__, __file__, b'PY000000')\n",
            ),
            ("pkg/pyarmor_runtime_000000/pyarmor_runtime.so", &elf()),
            ("pkg-1.0.dist-info/WHEEL", PLATFORM_WHEEL),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::Wheel,
        &ScanLimits::default(),
        &Fake::new(),
    );
    let rejection = scan.rejection().expect("rejected");
    assert_eq!(rejection.rule, Rule::EncryptedCode);
    assert_eq!(rejection.path, "pkg/__init__.py");
    assert_eq!(rejection.line, Some(2));
    assert!(rules(&scan).contains(&(
        Rule::EncryptedCode,
        Severity::Reject,
        "pkg/pyarmor_runtime_000000/pyarmor_runtime.so"
    )));
}

#[test]
fn an_in_tree_backend_is_an_install_hook() {
    let dir = tempfile::tempdir().expect("tmp");
    let pyproject: &[u8] = b"[project]\nname = \"pkg\"\n\n[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\"_build\"]\n";
    let path = sdist_tar_gz(
        dir.path(),
        &[
            ("pyproject.toml", pyproject),
            ("_build/backend.py", b"def build_wheel(*a): pass\n"),
            // A nested pyproject.toml is not the sdist's build configuration.
            ("vendored/pyproject.toml", pyproject),
        ],
    );
    let scan = scan_with(
        &path,
        ArchiveKind::SdistTarGz,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert_eq!(
        rules(&scan),
        [(Rule::InTreeBuildBackend, Severity::Info, "pyproject.toml")]
    );
    assert_eq!(scan.findings[0].line, Some(7));
    assert!(scan.findings[0].message.contains("`backend`"));
    assert_eq!(caps(&scan, "pyproject.toml"), [Capability::InstallHook]);
    assert!(caps(&scan, "vendored/pyproject.toml").is_empty());

    let plain = sdist_tar_gz(
        dir.path(),
        &[(
            "pyproject.toml",
            b"[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n",
        )],
    );
    let scan = scan_with(
        &plain,
        ArchiveKind::SdistTarGz,
        &ScanLimits::default(),
        &Fake::new(),
    );
    assert!(scan.findings.is_empty());
    assert!(scan.capabilities.is_empty());
}

#[test]
fn sources_beyond_the_bounds_are_noted_not_read() {
    let dir = tempfile::tempdir().expect("tmp");
    let big = vec![b'#'; 5000];
    let path = wheel(
        dir.path(),
        &[
            ("pkg/a.py", b"import subprocess\n"),
            ("pkg/big.py", &big),
            ("pkg/b.py", &[b'x'; 1000]),
            ("pkg/c.py", &[b'y'; 1000]),
        ],
    );
    let limits = ScanLimits {
        max_source_bytes: 4096,
        max_total_source_bytes: 2000,
        ..ScanLimits::default()
    };
    let fake = Fake::new();
    let scan = scan_with(&path, ArchiveKind::Wheel, &limits, &fake);
    let scanned: Vec<String> = fake.calls.borrow().iter().map(|c| c.0.clone()).collect();
    assert_eq!(scanned, ["pkg/a.py", "pkg/b.py"]);
    assert_eq!(
        rules(&scan),
        [
            (Rule::UnscannedSource, Severity::High, "pkg/big.py"),
            (Rule::UnscannedSource, Severity::High, "pkg/c.py"),
        ]
    );
    assert!(scan.findings[0].message.contains("5000 bytes"));
    assert!(scan.findings[1].message.contains("per archive"));
    assert_eq!(scan.bytes_scanned, 18 + 1000);
}

#[test]
fn large_members_of_no_known_format_are_opaque() {
    let dir = tempfile::tempdir().expect("tmp");
    let blob = vec![7u8; 3000];
    let path = wheel(
        dir.path(),
        &[
            ("pkg/payload", &blob),
            ("pkg/data.json", &blob),
            ("pkg/small", &blob[..100]),
        ],
    );
    let limits = ScanLimits {
        opaque_blob_bytes: 2048,
        ..ScanLimits::default()
    };
    let scan = scan_with(&path, ArchiveKind::Wheel, &limits, &Fake::new());
    assert_eq!(
        rules(&scan),
        [(Rule::OpaqueBlob, Severity::Info, "pkg/payload")]
    );
    assert!(scan.capabilities.is_empty());
}

#[test]
fn python_scripts_in_wheel_data_are_analysed() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            (
                "pkg-1.0.data/scripts/pkg-run",
                b"#!python\nimport subprocess\n",
            ),
            (
                "pkg-1.0.data/scripts/pkg.sh",
                b"#!/bin/sh\necho \xe2\x80\xae\n",
            ),
            ("pkg-1.0.data/scripts/tool", &elf()),
        ],
    );
    let fake = Fake::new();
    let scan = scan_with(&path, ArchiveKind::Wheel, &ScanLimits::default(), &fake);
    assert_eq!(
        caps(&scan, "pkg-1.0.data/scripts/pkg-run"),
        [Capability::ProcessSpawn]
    );
    assert_eq!(fake.calls.borrow()[0].2, "#!python\nimport subprocess\n");
    assert_eq!(
        rules(&scan),
        [
            (
                Rule::Obfuscation,
                Severity::Medium,
                "pkg-1.0.data/scripts/pkg.sh"
            ),
            (
                Rule::NativeBinary,
                Severity::Info,
                "pkg-1.0.data/scripts/tool"
            ),
            // A pure wheel (no WHEEL file says otherwise), a binary named by nothing.
            (
                Rule::BundledBinary,
                Severity::Medium,
                "pkg-1.0.data/scripts/tool"
            ),
        ]
    );
}

#[test]
fn too_many_findings_keep_the_weightiest_and_count_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let elf = elf();
    let mut members: Vec<(String, &[u8])> = (0..10)
        .map(|i| (format!("pkg/lib{i}.so"), &elf[..]))
        .collect();
    members.push(("pkg/_pytransform.so".to_owned(), &elf[..]));
    let refs: Vec<(&str, &[u8])> = members.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let path = wheel(dir.path(), &refs);
    let limits = ScanLimits {
        max_findings: 4,
        ..ScanLimits::default()
    };
    let scan = scan_with(&path, ArchiveKind::Wheel, &limits, &Fake::new());
    assert_eq!(scan.findings.len(), 4);
    assert_eq!(scan.findings[0].rule, Rule::EncryptedCode);
    assert!(
        scan.findings[3]
            .message
            .ends_with("(8 more findings were not kept)"),
        "{}",
        scan.findings[3].message
    );
    // Capabilities are not cut.
    assert_eq!(scan.capabilities.len(), 11);
}

#[test]
fn the_production_scan_runs_on_a_plain_wheel() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            (
                "pkg/__init__.py",
                b"\"\"\"A package.\"\"\"\n__version__ = '1.0'\n",
            ),
            ("pkg-1.0.dist-info/WHEEL", PURE_WHEEL),
            (
                "pkg-1.0.dist-info/entry_points.txt",
                b"[console_scripts]\npkg = pkg:main\n",
            ),
        ],
    );
    let scan = scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()).expect("scan");
    assert!(scan.findings.is_empty(), "{:?}", scan.findings);
    assert_eq!(scan.members_scanned, 2);
}

#[test]
fn a_damaged_archive_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("bad.whl");
    std::fs::write(&path, b"PK\x03\x04 not really").expect("write");
    assert!(matches!(
        scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()),
        Err(ScanError::Archive(_))
    ));
    let path = dir.path().join("bad.tar.gz");
    std::fs::write(&path, b"\x1f\x8b\x08\0garbage").expect("write");
    assert!(scan_archive(&path, ArchiveKind::SdistTarGz, &ScanLimits::default()).is_err());
    assert!(matches!(
        scan_archive(
            &dir.path().join("missing.whl"),
            ArchiveKind::Wheel,
            &ScanLimits::default()
        ),
        Err(ScanError::Io(_))
    ));
}

#[test]
fn wheel_purity_comes_from_the_tags() {
    let pure = WheelFacts::parse(
        "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n",
    );
    assert!(pure.is_pure());
    let platform = WheelFacts::parse(
        "Root-Is-Purelib: true\nTag: cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64\n",
    );
    assert!(!platform.is_pure());
    let mixed = WheelFacts::parse("Tag: py3-none-any\nTag: py3-none-win_amd64\n");
    assert!(!mixed.is_pure());
    assert!(WheelFacts::parse("Root-Is-Purelib: true\n").is_pure());
    assert!(!WheelFacts::parse("Root-Is-Purelib: false\n").is_pure());
}

#[test]
fn member_kinds_come_from_their_paths() {
    use ArchiveKind::{SdistTarGz, Wheel};
    assert_eq!(classify("pkg/a.py", Wheel), Member::Python);
    assert_eq!(classify("pkg/gui.PYW", Wheel), Member::Python);
    assert_eq!(classify("x.pth", SdistTarGz), Member::Pth);
    assert_eq!(
        classify("pkg-1.0.dist-info/entry_points.txt", Wheel),
        Member::Config
    );
    assert_eq!(classify("setup.cfg", SdistTarGz), Member::Config);
    assert_eq!(
        classify("pkg-1.0.dist-info/WHEEL", Wheel),
        Member::WheelFile
    );
    assert_eq!(classify("pkg/x.dist-info/WHEEL", Wheel), Member::Other);
    assert_eq!(
        classify("pkg-1.0.dist-info/WHEEL", SdistTarGz),
        Member::Other
    );
    assert_eq!(classify("pkg-1.0.data/scripts/run", Wheel), Member::Script);
    assert_eq!(classify("pkg/scripts/run", Wheel), Member::Other);
    assert_eq!(classify("pkg/a.pyi", Wheel), Member::Other);
    assert_eq!(relative("pkg-1.0/", true), None);
    assert_eq!(relative("pkg-1.0/a/b.py", true).as_deref(), Some("a/b.py"));
    assert_eq!(relative("a/b.py", false).as_deref(), Some("a/b.py"));
}

#[test]
fn compiled_modules_without_their_source_are_unread_code() {
    assert_eq!(
        super::source_of_compiled("pkg/__pycache__/m.cpython-311.pyc"),
        "pkg/m.py"
    );
    assert_eq!(super::source_of_compiled("pkg/m.pyc"), "pkg/m.py");
    assert_eq!(super::source_of_compiled("m.pyo"), "m.py");
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            ("pkg/ok.py", b"x = 1\n"),
            ("pkg/__pycache__/ok.cpython-311.pyc", b"\x00"),
            ("pkg/__init__.pyc", b"\x00"),
            ("pkg-1.0.dist-info/WHEEL", PURE_WHEEL),
        ],
    );
    let scan = scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()).expect("scan");
    assert_eq!(
        rules(&scan),
        [(Rule::UnscannedSource, Severity::High, "pkg/__init__.pyc")],
        "only the .pyc without its .py"
    );
}

#[test]
fn a_carriage_return_ends_a_pth_line_as_it_does_for_site() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(
        dir.path(),
        &[
            (
                "x.pth",
                b"/opt/x\rimport base64;exec(base64.b64decode('cHJpbnQoMSk='))\r\n",
            ),
            ("pkg-1.0.dist-info/WHEEL", PURE_WHEEL),
        ],
    );
    let scan = scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()).expect("scan");
    assert!(
        scan.findings.iter().any(|f| f.rule == Rule::ExecutablePth
            && f.severity == Severity::High
            && f.line == Some(2)),
        "{:#?}",
        scan.findings
    );
}

/// Scan `$SCAN_FILE` (a wheel) `$SCAN_TIMES` times (default 5), for a profiler:
/// `SCAN_FILE=.test-work/corpus/pip-26.3-py3-none-any.whl perf record --call-graph dwarf
/// cargo test --profile quick -p strongroom-scan profile_one_archive -- --ignored`.
#[test]
#[ignore]
fn profile_one_archive() {
    let Ok(file) = std::env::var("SCAN_FILE") else {
        return;
    };
    let times: u32 = std::env::var("SCAN_TIMES")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(5);
    let start = std::time::Instant::now();
    for _ in 0..times {
        let scan = super::scan_archive(
            std::path::Path::new(&file),
            ArchiveKind::Wheel,
            &ScanLimits::default(),
        )
        .expect("scans");
        std::hint::black_box(scan);
    }
    println!("{:?} per scan", start.elapsed() / times.max(1));
}
