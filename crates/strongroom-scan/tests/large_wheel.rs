//! A 100 MiB wheel holding one random blob (the upload benchmark's shape) is scanned in bounded
//! memory: the blob is sniffed, never buffered. Its own test binary, so the process's peak
//! resident size (Linux `VmHWM`) measures this scan and nothing else.

use std::io::Write;
use std::path::Path;

use strongroom_scan::archive::scan_archive;
use strongroom_scan::{ArchiveKind, Rule, ScanLimits};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const MIB: usize = 1 << 20;
const BLOB_MIB: usize = 100;

/// Peak resident memory of this process so far, in bytes (`None` off Linux).
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Write a wheel whose one big member is 100 MiB of xorshift noise, 1 MiB at a time.
fn big_wheel(path: &Path, method: CompressionMethod) {
    let file = std::fs::File::create(path).expect("create");
    let mut z = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let level = (method == CompressionMethod::Deflated).then_some(1);
    let opts = SimpleFileOptions::default()
        .compression_method(method)
        .compression_level(level)
        .large_file(true);
    z.start_file("pkg/__init__.py", opts).expect("start");
    z.write_all(b"import os\n").expect("write");
    z.start_file("pkg/blob", opts).expect("start");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut chunk = vec![0u8; MIB];
    for _ in 0..BLOB_MIB {
        for word in chunk.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        z.write_all(&chunk).expect("write");
    }
    z.start_file("pkg-1.0.dist-info/WHEEL", opts)
        .expect("start");
    z.write_all(b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        .expect("write");
    z.finish().expect("finish");
}

#[test]
fn a_100_mib_single_blob_wheel_scans_in_bounded_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, method) in [
        ("stored-1.0-py3-none-any.whl", CompressionMethod::Stored),
        ("deflated-1.0-py3-none-any.whl", CompressionMethod::Deflated),
    ] {
        let path = dir.path().join(name);
        big_wheel(&path, method);
        assert!(std::fs::metadata(&path).expect("meta").len() > (BLOB_MIB * MIB) as u64);
        let before = peak_rss();
        let scan = scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()).expect("scan");
        let after = peak_rss();
        eprintln!("{name}: peak {before:?} -> {after:?}");
        let rules: Vec<(Rule, &str)> = scan
            .findings
            .iter()
            .map(|f| (f.rule, f.path.as_str()))
            .collect();
        assert_eq!(rules, [(Rule::OpaqueBlob, "pkg/blob")], "{name}");
        assert!(
            scan.findings[0]
                .message
                .contains(&(BLOB_MIB * MIB).to_string())
        );
        assert_eq!(scan.members_scanned, 1);
        if let (Some(before), Some(after)) = (before, after) {
            // Writing the wheel streamed too; the scan may not add more than a few MiB.
            assert!(
                after < 32 * MIB as u64 && after.saturating_sub(before) < 8 * MIB as u64,
                "{name}: peak resident size {before} -> {after}"
            );
        }
        std::fs::remove_file(&path).expect("remove");
    }
}
