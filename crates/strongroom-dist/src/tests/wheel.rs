//! Wheels: structure, RECORD, WHEEL, entry points and bombs.

use std::io::Write;

use flate2::Compression;
use flate2::write::DeflateEncoder;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::rawzip::{RawEntry, RawZip};
use super::*;

fn files_without(name: &str) -> Vec<(String, Vec<u8>)> {
    base_files()
        .into_iter()
        .filter(|(n, _)| !n.ends_with(name))
        .collect()
}

fn with_record(files: &[(String, Vec<u8>)], record: &[u8]) -> Vec<u8> {
    let mut entries: Vec<RawEntry> = files
        .iter()
        .map(|(name, data)| RawEntry::deflated(name, data))
        .collect();
    entries.push(RawEntry::deflated(&format!("{DIST}/RECORD"), record));
    RawZip::new(entries).build()
}

fn replace_file(files: &mut [(String, Vec<u8>)], suffix: &str, data: &[u8]) {
    for (name, content) in files.iter_mut() {
        if name.ends_with(suffix) {
            *content = data.to_vec();
        }
    }
}

#[test]
fn realistic_wheel_from_the_zip_crate_passes() {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    w.add_directory("demo_pkg/", opts).expect("dir");
    let files = base_files();
    for (name, data) in &files {
        w.start_file(name.as_str(), opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.start_file(format!("{DIST}/RECORD"), opts).expect("start");
    w.write_all(&record_for(&files)).expect("write");
    let bytes = w.finish().expect("finish").into_inner();

    let info = wheel(&bytes).expect("valid wheel");
    assert_eq!(info.dist_info_dir, DIST);
    assert_eq!(info.metadata, METADATA);
    assert_eq!(info.wheel_version, "1.0");
    assert_eq!(info.root_is_purelib, Some(true));
    assert_eq!(info.tags, vec!["py3-none-any".to_owned()]);
    assert!(info.has_entry_points);
    assert_eq!(info.members.len(), 8);
    assert_eq!(info.members[0], "demo_pkg/");
    assert!(info.members.contains(&format!("{DIST}/licenses/LICENSE")));
}

#[test]
fn two_dist_info_directories_are_refused() {
    let mut files = base_files();
    files.push(("other-2.0.dist-info/METADATA".into(), METADATA.to_vec()));
    let e = err(wheel(&wheel_zip(&files).build()));
    assert!(matches!(e, DistError::MultipleDistInfo { .. }), "{e:?}");
}

#[test]
fn wheel_without_dist_info_is_refused() {
    let bytes = RawZip::new(vec![RawEntry::deflated("demo_pkg/__init__.py", b"x")]).build();
    assert!(matches!(err(wheel(&bytes)), DistError::NoDistInfo));
}

#[test]
fn missing_required_files_are_refused_with_their_path() {
    let e = err(wheel(&wheel_zip(&files_without("/WHEEL")).build()));
    assert!(
        matches!(e, DistError::MissingWheelFile { ref path } if *path == format!("{DIST}/WHEEL")),
        "{e:?}"
    );
    assert_eq!(e.to_string(), format!("WHEEL not found at {DIST}/WHEEL"));

    let e = err(wheel(&wheel_zip(&files_without("/METADATA")).build()));
    assert!(
        matches!(e, DistError::MissingMetadata { ref path } if *path == format!("{DIST}/METADATA")),
        "{e:?}"
    );

    let files = base_files();
    let entries = files
        .iter()
        .map(|(n, d)| RawEntry::deflated(n, d))
        .collect();
    let e = err(wheel(&RawZip::new(entries).build()));
    assert!(
        matches!(e, DistError::MissingRecord { ref path } if *path == format!("{DIST}/RECORD")),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("does not contain the required RECORD file")
    );
}

#[test]
fn record_must_list_every_file() {
    let files = base_files();
    let record = record_for(&files[1..]);
    let e = err(wheel(&with_record(&files, &record)));
    assert!(
        matches!(e, DistError::RecordMissingEntry { ref path } if path == "demo_pkg/__init__.py"),
        "{e:?}"
    );
}

#[test]
fn record_must_not_list_absent_files() {
    let files = base_files();
    let mut record = record_for(&files);
    record.extend_from_slice(record_line("demo_pkg/ghost.py", b"boo").as_bytes());
    let e = err(wheel(&with_record(&files, &record)));
    assert!(
        matches!(e, DistError::RecordListsMissingFile { ref path } if path == "demo_pkg/ghost.py"),
        "{e:?}"
    );
}

#[test]
fn record_hash_must_match() {
    let files = base_files();
    let mut lying = files.clone();
    replace_file(&mut lying, "core.py", b"def main(): pass\n");
    // RECORD describes the honest file; the wheel ships a different one of another length.
    let e = err(wheel(&with_record(&lying, &record_for(&files))));
    assert!(
        matches!(e, DistError::RecordHashMismatch { ref path } if path == "demo_pkg/core.py"),
        "{e:?}"
    );
}

#[test]
fn record_size_must_match() {
    let files = base_files();
    let record = String::from_utf8(record_for(&files)).expect("utf8");
    let size = files[1].1.len();
    let record = record.replace(&format!(",{size}\n"), &format!(",{}\n", size + 1));
    let e = err(wheel(&with_record(&files, record.as_bytes())));
    assert!(
        matches!(e, DistError::RecordSizeMismatch { ref path, expected, actual } if path == "demo_pkg/core.py" && expected == size as u64 + 1 && actual == size as u64),
        "{e:?}"
    );
}

#[test]
fn malformed_records_are_refused() {
    let files = base_files();
    let good = String::from_utf8(record_for(&files)).expect("utf8");
    let first = good.lines().next().expect("line").to_owned();
    let (path, rest) = first.split_once(',').expect("fields");
    let variants: Vec<String> = vec![
        good.replacen(&first, &format!("{path},md5=1B2M2Y8AsgTpgAmY7PhCfg,0"), 1),
        good.replacen(&first, &format!("{path},sha256=not*base64,1"), 1),
        good.replacen(&first, &format!("{path},sha256=AAAA,1"), 1),
        good.replacen(
            &first,
            &format!("{path},{}", rest.rsplit_once(',').expect("size").0),
            1,
        ),
        good.replacen(&first, &format!("{path},,23"), 1),
        good.replacen(&first, &format!("\"{path},{rest}"), 1),
        good.replacen(&first, &format!("{first}\n{first}"), 1),
        good.replacen(
            &first,
            &format!("{path},{},12x", rest.split(',').next().expect("hash")),
            1,
        ),
    ];
    for variant in variants {
        let e = err(wheel(&with_record(&files, variant.as_bytes())));
        assert!(
            matches!(e, DistError::InvalidRecord { .. }),
            "{variant}: {e:?}"
        );
    }
    let e = err(wheel(&with_record(&files, b"\xff\xfe,,\n")));
    assert!(matches!(e, DistError::InvalidRecord { .. }), "{e:?}");
}

#[test]
fn record_quirks_that_pypi_accepts() {
    let mut files = base_files();
    files.push((format!("{DIST}/RECORD.jws"), b"{}".to_vec()));
    // Quoted fields, Windows separators and CRLF line ends are all fine; the signature file
    // need not be listed.
    let record = String::from_utf8(record_for(&files[..files.len() - 1]))
        .expect("utf8")
        .replace("demo_pkg/core.py", "\"demo_pkg\\core.py\"")
        .replace('\n', "\r\n");
    wheel(&with_record(&files, record.as_bytes())).expect("accepted");
}

#[test]
fn path_like_and_malformed_entry_points_are_refused() {
    let bad: [&[u8]; 11] = [
        b"[console_scripts]\n../../../usr/local/bin/pip = evil:main\n",
        b"[console_scripts]\n/usr/bin/python3 = evil:main\n",
        b"[gui_scripts]\nname with space = evil:main\n",
        b"[console_scripts]\n.. = evil:main\n",
        b"[console_scripts]\nok = evil:main; import os\n",
        b"[console_scripts]\nok = evil:main\n  os.system('x')\n",
        b"[console_scripts]\n[console_scripts]\n",
        b"ok = evil:main\n[console_scripts]\n",
        b"[console_scripts]\nok\n",
        b"[console_scripts]\nok = evil:main\nok = other:main\n",
        b"[console_scripts]\nok = \xff\n",
    ];
    for text in bad {
        let mut files = base_files();
        replace_file(&mut files, "entry_points.txt", text);
        let e = err(wheel(&wheel_zip(&files).build()));
        assert!(
            matches!(e, DistError::InvalidEntryPoints { .. }),
            "{}: {e:?}",
            String::from_utf8_lossy(text)
        );
        assert!(e.to_string().contains("invalid entry points"), "{e}");
    }
}

#[test]
fn unusual_but_valid_entry_points_pass() {
    let text = b"# comment\n[console_scripts]\nd\xc3\xa9mo.x-1 = pkg.mod:obj.attr [extra1, extra2]\n\n[pytest11]\nanything goes = pkg.plugin\n\n[DEFAULT]\n";
    let mut files = base_files();
    replace_file(&mut files, "entry_points.txt", text);
    let info = wheel(&wheel_zip(&files).build()).expect("valid");
    assert!(info.has_entry_points);
    let info = wheel(&wheel_zip(&files_without("entry_points.txt")).build()).expect("valid");
    assert!(!info.has_entry_points);
}

#[test]
fn malformed_wheel_files_are_refused() {
    let bad: [&[u8]; 5] = [
        b"Generator: x\nTag: py3-none-any\n",
        b"Wheel-Version: one\nTag: py3-none-any\n",
        b"Wheel-Version: 1.0\nRoot-Is-Purelib: maybe\n",
        b"Wheel-Version: 1.0\nTag: py3-none\n",
        b"Wheel-Version: 1.0\nWheel-Version: 2.0\n",
    ];
    for text in bad {
        let mut files = base_files();
        replace_file(&mut files, "/WHEEL", text);
        let e = err(wheel(&wheel_zip(&files).build()));
        assert!(matches!(e, DistError::InvalidWheelFile { .. }), "{e:?}");
    }
    let mut files = base_files();
    let text = b"Wheel-Version: 1.0\r\nTag: cp312-cp312-manylinux_2_17_x86_64\r\nTag: cp312-cp312-manylinux2014_x86_64\r\n";
    replace_file(&mut files, "/WHEEL", text);
    let info = wheel(&wheel_zip(&files).build()).expect("valid");
    assert_eq!(info.root_is_purelib, None);
    assert_eq!(info.tags.len(), 2);
}

#[test]
fn oversized_metadata_is_refused() {
    let limits = Limits {
        max_metadata_bytes: 32,
        ..Limits::default()
    };
    let e = err(wheel_with(&base_wheel().build(), &limits));
    assert!(matches!(e, DistError::MetadataTooLarge { .. }), "{e:?}");
}

fn deflated_zeros(len: usize) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    let chunk = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        enc.write_all(&chunk[..n]).expect("deflate");
        left -= n;
    }
    enc.finish().expect("deflate")
}

#[test]
fn compression_ratio_bomb_is_refused() {
    let size = 70 << 20;
    let mut z = base_wheel();
    // The CRC is never reached: the declared sizes already trip the ratio rule.
    z.entries.insert(
        0,
        RawEntry::raw(b"demo_pkg/zeros.bin", deflated_zeros(size), 8, 0, size),
    );
    let e = err(wheel(&z.build()));
    assert!(matches!(e, DistError::CompressionRatio { .. }), "{e:?}");
    assert_eq!(e.to_string(), "File exceeds compression ratio of 50");
}

#[test]
fn a_repetitive_source_member_is_refused_on_its_own_ratio() {
    // 3 MiB of one repeated line in a wheel far below the archive-wide 64 MiB floor (RT13-07).
    let size = 3 << 20;
    let line = b"x = {'k': os.environ}\n";
    let src: Vec<u8> = line.iter().copied().cycle().take(size).collect();
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&src).expect("deflate");
    let packed = enc.finish().expect("deflate");
    let mut z = base_wheel();
    // Refused from the central directory's sizes, before any byte is inflated.
    z.entries
        .insert(0, RawEntry::raw(b"demo_pkg/big.py", packed, 8, 0, size));
    let e = err(wheel(&z.build()));
    assert!(
        matches!(e, DistError::MemberCompressionRatio { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().starts_with(
            "Archive member \"demo_pkg/big.py\" exceeds compression ratio of 50 (3145728 bytes stored in"
        ),
        "{e}"
    );
}

fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn absolute_size_limits_are_enforced() {
    let mut files = base_files();
    files.push(("demo_pkg/blob.bin".into(), noise(1 << 20)));
    let bytes = wheel_zip(&files).build();
    let total = Limits {
        max_total_uncompressed: 512 << 10,
        ..Limits::default()
    };
    let e = err(wheel_with(&bytes, &total));
    assert!(
        matches!(e, DistError::TooLarge { limit } if limit == 512 << 10),
        "{e:?}"
    );
    let member = Limits {
        max_member_uncompressed: 512 << 10,
        ..Limits::default()
    };
    let e = err(wheel_with(&bytes, &member));
    assert!(
        matches!(e, DistError::MemberTooLarge { ref path, .. } if path == "demo_pkg/blob.bin"),
        "{e:?}"
    );
    wheel(&bytes).expect("fine with default limits");
}

#[test]
fn entry_count_is_capped() {
    let entries: Vec<RawEntry> = (0..200_000)
        .map(|i| RawEntry::stored(&format!("demo_pkg/f{i}"), b""))
        .collect();
    let e = err(wheel(&RawZip::new(entries).build()));
    assert!(
        matches!(e, DistError::TooManyEntries { limit: 100_000 }),
        "{e:?}"
    );
    assert!(e.to_string().contains("contains more than 100000 entries"));

    let limits = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let e = err(wheel_with(&base_wheel().build(), &limits));
    assert!(matches!(e, DistError::TooManyEntries { limit: 5 }), "{e:?}");
}

#[test]
fn wheel_version_major_above_one_is_refused_and_newer_minor_accepted() {
    for version in ["2.0", "10.0", "0002.1", "99999999999999999999999.0"] {
        let mut files = base_files();
        let text = format!("Wheel-Version: {version}\nTag: py3-none-any\n");
        replace_file(&mut files, "/WHEEL", text.as_bytes());
        let e = err(wheel(&wheel_zip(&files).build()));
        assert!(
            matches!(e, DistError::UnsupportedWheelVersion { version: ref v, .. } if v == version),
            "{version}: {e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "{DIST}/WHEEL declares Wheel-Version {version}, which installers cannot install: only Wheel-Version 1.x is supported"
            )
        );
    }
    // pip only warns about a newer minor version; 0.x was never refused either.
    for version in ["1.0", "1.9", "1.10", "01.0", "0.1"] {
        let mut files = base_files();
        let text = format!("Wheel-Version: {version}\nTag: py3-none-any\n");
        replace_file(&mut files, "/WHEEL", text.as_bytes());
        let info = wheel(&wheel_zip(&files).build()).expect(version);
        assert_eq!(info.wheel_version, version);
    }
}

#[test]
fn members_differing_only_in_case_are_refused() {
    let mut files = base_files();
    files.push(("demo_pkg/Core.py".into(), b"evil = True\n".to_vec()));
    let e = err(wheel(&wheel_zip(&files).build()));
    assert_eq!(
        e.to_string(),
        "Archive members \"demo_pkg/core.py\" and \"demo_pkg/Core.py\" differ only in letter case or Unicode normalization: they are one path on case-insensitive file systems"
    );
    // Directories count too: `Demo_Pkg/x.py` would land in `demo_pkg/` on those systems.
    let mut files = base_files();
    files.push(("Demo_Pkg/extra.py".into(), b"x = 1\n".to_vec()));
    let e = err(wheel(&wheel_zip(&files).build()));
    assert!(
        matches!(e, DistError::CaseCollision { ref first, ref second }
            if first == "demo_pkg" && second == "Demo_Pkg"),
        "{e:?}"
    );
}
