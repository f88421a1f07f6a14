//! Sdists: the strict tar walker, gzip limits, polyglots and the top-level layout rules.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::rawtar::{PKG_INFO, RawTar, base_sdist, fix_checksum, gz, gz_level, header, pax_record};
use super::rawzip::{RawEntry, RawZip};
use super::*;
use crate::ZipError;

fn targz(t: &RawTar) -> Result<SdistInfo, DistError> {
    sdist(&gz(&t.finish()), SdistKind::TarGz)
}

#[test]
fn base_sdist_passes() {
    let info = targz(&base_sdist()).expect("valid sdist");
    assert_eq!(info.top_dir, "demo_pkg-1.0");
    assert_eq!(info.pkg_info, PKG_INFO);
    assert_eq!(
        info.members,
        [
            "demo_pkg-1.0/",
            "demo_pkg-1.0/PKG-INFO",
            "demo_pkg-1.0/pyproject.toml",
            "demo_pkg-1.0/src/",
            "demo_pkg-1.0/src/demo.py"
        ]
    );
}

#[test]
fn realistic_sdist_from_the_tar_crate_passes() {
    let mut b = tar::Builder::new(Vec::new());
    let long = format!("demo_pkg-1.0/src/{}/mod.py", "deep".repeat(40));
    for (path, data) in [
        ("demo_pkg-1.0/PKG-INFO", PKG_INFO),
        (
            "demo_pkg-1.0/setup.py",
            b"from setuptools import setup\nsetup()\n".as_slice(),
        ),
        (long.as_str(), b"x = 1\n".as_slice()),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, path, data).expect("append");
    }
    let bytes = gz(&b.into_inner().expect("finish"));
    let info = sdist(&bytes, SdistKind::TarGz).expect("valid sdist");
    assert_eq!(info.top_dir, "demo_pkg-1.0");
    assert!(info.members.contains(&long));
}

#[test]
fn ustar_prefix_and_gnu_long_names_are_joined() {
    let mut t = base_sdist();
    let mut h = header("mod.py", b'0', 2);
    h[345..357].copy_from_slice(b"demo_pkg-1.0");
    fix_checksum(&mut h);
    t.raw(h, b"x\n");
    let long = format!("demo_pkg-1.0/{}.py", "n".repeat(150));
    t.raw(
        header("././@LongLink", b'L', long.len() as u64 + 1),
        format!("{long}\0").as_bytes(),
    );
    t.file("demo_pkg-1.0/truncated-name", b"y\n");
    let info = targz(&t).expect("valid");
    assert!(info.members.contains(&"demo_pkg-1.0/mod.py".to_owned()));
    assert!(info.members.contains(&long));
}

#[test]
fn links_devices_and_unknown_types_are_refused() {
    for (typeflag, kind) in [
        (b'1', "hard link"),
        (b'2', "symbolic link"),
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "FIFO"),
        (b'K', "GNU long link name"),
        (b'X', "Solaris extended header"),
        (b'V', "type 'V'"),
    ] {
        let mut t = base_sdist();
        let mut h = header("demo_pkg-1.0/setup.py", typeflag, 0);
        h[157..168].copy_from_slice(b"/etc/passwd");
        fix_checksum(&mut h);
        t.raw(h, b"");
        let e = err(targz(&t));
        assert!(
            matches!(e, DistError::UnexpectedEntryType { kind: ref k, .. } if k == kind),
            "{kind}: {e:?}"
        );
        assert!(e.to_string().contains("unexpected tar entry type"), "{e}");
    }
}

#[test]
fn sparse_members_are_refused() {
    let mut gnu = base_sdist();
    gnu.entry("demo_pkg-1.0/sparse.bin", b'S');
    let mut pax = base_sdist();
    pax.pax(&pax_record("GNU.sparse.major", "1"))
        .file("demo_pkg-1.0/sparse.bin", b"");
    let mut global = base_sdist();
    let rec = pax_record("GNU.sparse.size", "99");
    global
        .raw(header("pax_global_header", b'g', rec.len() as u64), &rec)
        .file("demo_pkg-1.0/x", b"");
    for t in [gnu, pax, global] {
        let e = err(targz(&t));
        assert!(matches!(e, DistError::SparseMember { .. }), "{e:?}");
        assert!(e.to_string().starts_with("Sparse members are not allowed"));
    }
}

#[test]
fn pax_and_ustar_size_desync_is_refused() {
    // TARmageddon: ustar size 0 hides a second archive inside the pax-sized data.
    let mut hidden = RawTar::new();
    hidden.file("demo_pkg-1.0/evil.py", b"import os\n");
    let smuggled = hidden.out.clone();
    let mut t = base_sdist();
    t.pax(&pax_record("size", &smuggled.len().to_string()));
    t.raw(header("demo_pkg-1.0/innocent.py", b'0', 0), &smuggled);
    let e = err(targz(&t));
    assert!(
        matches!(e, DistError::PaxSizeMismatch { pax, ustar: 0, .. } if pax == smuggled.len() as u64),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("mismatched pax and tar header sizes")
    );
}

#[test]
fn malformed_pax_headers_are_refused() {
    let dup = [
        pax_record("path", "demo_pkg-1.0/a"),
        pax_record("path", "demo_pkg-1.0/b"),
    ]
    .concat();
    let trailing = [pax_record("path", "demo_pkg-1.0/a"), b"garbage".to_vec()].concat();
    let cases: Vec<Vec<u8>> = vec![
        b"10 pathx\n".to_vec(),
        b"99 path=demo_pkg-1.0/a\n".to_vec(),
        b"5 a=b\n".to_vec(),
        b"x path=a\n".to_vec(),
        b"3 \n".to_vec(),
        dup,
        trailing,
        pax_record("size", "12abc"),
        pax_record("=", "x"),
    ];
    for records in cases {
        let mut t = base_sdist();
        t.pax(&records).file("demo_pkg-1.0/a", b"");
        let e = err(targz(&t));
        assert!(
            matches!(e, DistError::MalformedPax { .. }),
            "{}: {e:?}",
            String::from_utf8_lossy(&records)
        );
    }
    let mut twice = base_sdist();
    twice
        .pax(&pax_record("mtime", "1"))
        .pax(&pax_record("mtime", "2"))
        .file("demo_pkg-1.0/a", b"");
    let mut global_path = base_sdist();
    let rec = pax_record("path", "elsewhere");
    global_path.raw(header("g", b'g', rec.len() as u64), &rec);
    for t in [twice, global_path] {
        assert!(matches!(err(targz(&t)), DistError::MalformedPax { .. }));
    }
    // Well-formed pax headers (path, mtime, matching size) are fine.
    let mut ok = base_sdist();
    let recs = [
        pax_record("path", "demo_pkg-1.0/caf\u{e9}.py"),
        pax_record("mtime", "1700000000.5"),
        pax_record("size", "3"),
    ]
    .concat();
    ok.pax(&recs).file("demo_pkg-1.0/cafe.py", b"x=1");
    let info = targz(&ok).expect("valid");
    assert!(
        info.members
            .contains(&"demo_pkg-1.0/caf\u{e9}.py".to_owned())
    );
}

/// A gzip stream of one tar member holding `size` zeros, written without buffering it all.
fn zero_bomb(size: u64) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(&base_sdist().out).expect("gzip");
    enc.write_all(&header("demo_pkg-1.0/zeros.bin", b'0', size))
        .expect("gzip");
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64);
        enc.write_all(&chunk[..n as usize]).expect("gzip");
        left -= n;
    }
    enc.write_all(&[0u8; 1024]).expect("gzip");
    enc.finish().expect("gzip")
}

#[test]
fn gzip_bombs_are_stopped_while_streaming() {
    let e = err(sdist(&zero_bomb(70 << 20), SdistKind::TarGz));
    assert!(matches!(e, DistError::CompressionRatio { .. }), "{e:?}");

    let limits = Limits {
        max_total_uncompressed: 256 << 10,
        ..Limits::default()
    };
    let e = err(sdist_with(&zero_bomb(1 << 20), SdistKind::TarGz, &limits));
    assert!(matches!(e, DistError::TooLarge { .. }), "{e:?}");
    let limits = Limits {
        max_member_uncompressed: 1000,
        ..Limits::default()
    };
    let e = err(sdist_with(&zero_bomb(4096), SdistKind::TarGz, &limits));
    assert!(matches!(e, DistError::MemberTooLarge { .. }), "{e:?}");
}

#[test]
fn entry_count_is_capped() {
    let mut t = base_sdist();
    for i in 0..2000 {
        t.file(&format!("demo_pkg-1.0/f{i}"), b"");
    }
    let limits = Limits {
        max_entries: 1000,
        ..Limits::default()
    };
    let e = err(sdist_with(&gz(&t.finish()), SdistKind::TarGz, &limits));
    assert!(
        matches!(e, DistError::TooManyEntries { limit: 1000 }),
        "{e:?}"
    );
}

#[test]
fn tar_gz_that_is_also_a_zip_is_refused() {
    // A zip stored verbatim (no compression) near the end of the gzip stream: Python's
    // `zipfile.is_zipfile` is true for the .tar.gz, so pip would unpack it as a ZIP.
    let zip = RawZip::new(vec![RawEntry::stored("evil/setup.py", b"import os\n")]).build();
    let mut t = base_sdist();
    t.file("demo_pkg-1.0/tests/data.zip", &zip);
    let bytes = gz_level(&t.finish(), Compression::none());
    let e = err(sdist(&bytes, SdistKind::TarGz));
    assert!(matches!(e, DistError::Polyglot), "{e:?}");
    // Compressed normally the zip bytes are not visible and the sdist is fine.
    targz(&t).expect("valid");
}

#[test]
fn layout_rules() {
    let mut no_pkg_info = RawTar::new();
    no_pkg_info
        .dir("demo_pkg-1.0/")
        .file("demo_pkg-1.0/src/PKG-INFO", PKG_INFO);
    let e = err(targz(&no_pkg_info));
    assert!(
        matches!(e, DistError::PkgInfoMissing { ref path } if path == "demo_pkg-1.0/PKG-INFO"),
        "{e:?}"
    );
    assert_eq!(e.to_string(), "PKG-INFO not found at demo_pkg-1.0/PKG-INFO");

    let mut two_tops = base_sdist();
    two_tops.file("other-1.0/PKG-INFO", PKG_INFO);
    let mut top_file = base_sdist();
    top_file.file("setup.py", b"");
    let mut only_top_file = RawTar::new();
    only_top_file.file("PKG-INFO", PKG_INFO);
    for t in [two_tops, top_file, only_top_file] {
        let e = err(targz(&t));
        assert!(matches!(e, DistError::SdistTopLevel), "{e:?}");
    }
    assert!(matches!(err(targz(&RawTar::new())), DistError::NotTar));
}

#[test]
fn bad_names_and_duplicates_are_refused() {
    for name in [
        "../evil.py",
        "/etc/passwd",
        "demo_pkg-1.0/../../x",
        "demo_pkg-1.0\\x",
        "C:/x",
    ] {
        let mut t = base_sdist();
        t.file(name, b"");
        let e = err(targz(&t));
        assert!(matches!(e, DistError::InvalidPath { .. }), "{name}: {e:?}");
    }
    let mut ctrl = base_sdist();
    ctrl.file("demo_pkg-1.0/a\x1b.py", b"");
    assert!(matches!(
        err(targz(&ctrl)),
        DistError::InvalidCharacter { .. }
    ));
    let mut dup = base_sdist();
    dup.file("demo_pkg-1.0/PKG-INFO", b"Name: other\n");
    let e = err(targz(&dup));
    assert!(
        matches!(e, DistError::DuplicateMember { ref path } if path == "demo_pkg-1.0/PKG-INFO"),
        "{e:?}"
    );
}

#[test]
fn tar_level_faults_are_refused() {
    let malformed = |t: &RawTar| matches!(err(targz(t)), DistError::MalformedTar { .. });
    let mut dir_data = base_sdist();
    dir_data.raw(header("demo_pkg-1.0/d/", b'5', 3), b"abc");
    assert!(malformed(&dir_data));
    let mut bad_sum = base_sdist();
    let mut h = header("demo_pkg-1.0/x", b'0', 0);
    h[0] = b'e';
    bad_sum.raw(h, b"");
    assert!(malformed(&bad_sum));
    let mut gnu_prefix = base_sdist();
    let mut h = header("demo_pkg-1.0/x", b'0', 0);
    h[257..265].copy_from_slice(b"ustar  \0");
    h[345..350].copy_from_slice(b"14712");
    fix_checksum(&mut h);
    gnu_prefix.raw(h, b"");
    assert!(malformed(&gnu_prefix));
    let mut nul_long = base_sdist();
    nul_long.raw(header("././@LongLink", b'L', 8), b"a\0b/c.py");
    nul_long.file("demo_pkg-1.0/x", b"");
    assert!(malformed(&nul_long));
    let mut dangling = base_sdist();
    dangling.pax(&pax_record("mtime", "1"));
    assert!(malformed(&dangling));
    let mut bad_size = base_sdist();
    let mut h = header("demo_pkg-1.0/x", b'0', 0);
    h[124..136].copy_from_slice(b"0000000001x\0");
    fix_checksum(&mut h);
    bad_size.raw(h, b"");
    assert!(malformed(&bad_size));

    let mut after_end = base_sdist().finish();
    after_end.extend_from_slice(&header("demo_pkg-1.0/hidden.py", b'0', 0));
    let e = err(sdist(&gz(&after_end), SdistKind::TarGz));
    assert!(matches!(e, DistError::MalformedTar { .. }), "{e:?}");
    let mut truncated = base_sdist().out;
    truncated.truncate(truncated.len() - 100);
    let e = err(sdist(&gz(&truncated), SdistKind::TarGz));
    assert!(matches!(e, DistError::MalformedTar { .. }), "{e:?}");
}

#[test]
fn gzip_level_faults_are_refused() {
    let good = gz(&base_sdist().finish());
    let mut trailing = good.clone();
    trailing.extend_from_slice(&gz(b"second member"));
    let e = err(sdist(&trailing, SdistKind::TarGz));
    assert!(matches!(e, DistError::MalformedGzip { .. }), "{e:?}");
    let mut zero_padded = good.clone();
    zero_padded.extend_from_slice(&[0u8; 100]);
    sdist(&zero_padded, SdistKind::TarGz).expect("zero padding is tolerated");
    let e = err(sdist(&good[..good.len() / 2], SdistKind::TarGz));
    assert!(matches!(e, DistError::MalformedGzip { .. }), "{e:?}");
    let mut corrupt = good.clone();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        err(sdist(&corrupt, SdistKind::TarGz)),
        DistError::MalformedGzip { .. }
    ));

    assert!(matches!(
        err(sdist(&base_sdist().finish(), SdistKind::TarGz)),
        DistError::NotTar
    ));
    assert!(matches!(
        err(sdist(&gz(b"just text, not a tar"), SdistKind::TarGz)),
        DistError::NotTar
    ));
    let zip = RawZip::new(vec![RawEntry::stored("demo_pkg-1.0/PKG-INFO", PKG_INFO)]).build();
    assert!(matches!(
        err(sdist(&zip, SdistKind::TarGz)),
        DistError::NotTar
    ));
}

fn zip_sdist(entries: Vec<RawEntry>) -> Result<SdistInfo, DistError> {
    sdist(&RawZip::new(entries).build(), SdistKind::Zip)
}

#[test]
fn legacy_zip_sdists() {
    let base = || {
        vec![
            RawEntry::dir("demo_pkg-1.0/"),
            RawEntry::deflated("demo_pkg-1.0/PKG-INFO", PKG_INFO),
            RawEntry::deflated("demo_pkg-1.0/setup.py", b"from setuptools import setup\n"),
        ]
    };
    let info = zip_sdist(base()).expect("valid");
    assert_eq!(info.top_dir, "demo_pkg-1.0");
    assert_eq!(info.pkg_info, PKG_INFO);
    assert_eq!(info.members[0], "demo_pkg-1.0/");

    let mut link = base();
    link[2].mode = 0o120_777;
    let e = err(zip_sdist(link));
    assert!(
        matches!(e, DistError::Zip(ZipError::Symlink { .. })),
        "{e:?}"
    );

    let mut missing = base();
    missing.remove(1);
    assert!(matches!(
        err(zip_sdist(missing)),
        DistError::PkgInfoMissing { .. }
    ));

    let mut two = base();
    two.push(RawEntry::stored("other/x", b""));
    assert!(matches!(err(zip_sdist(two)), DistError::SdistTopLevel));

    let mut bad_crc = base();
    bad_crc[2].crc ^= 1;
    assert!(matches!(
        err(zip_sdist(bad_crc)),
        DistError::Zip(ZipError::CrcMismatch { .. })
    ));

    let e = err(sdist(&gz(&base_sdist().finish()), SdistKind::Zip));
    assert!(matches!(e, DistError::NotZip), "{e:?}");
}

#[test]
fn members_differing_only_in_case_are_refused_in_tar_and_zip_sdists() {
    let expected = "Archive members \"demo_pkg-1.0/setup.py\" and \"demo_pkg-1.0/SETUP.py\" differ only in letter case or Unicode normalization: they are one path on case-insensitive file systems";
    let mut t = base_sdist();
    t.file("demo_pkg-1.0/setup.py", b"print('good')\n")
        .file("demo_pkg-1.0/SETUP.py", b"print('evil')\n");
    assert_eq!(err(targz(&t)).to_string(), expected);

    let zip = RawZip::new(vec![
        RawEntry::deflated("demo_pkg-1.0/PKG-INFO", PKG_INFO),
        RawEntry::deflated("demo_pkg-1.0/setup.py", b"print('good')\n"),
        RawEntry::deflated("demo_pkg-1.0/SETUP.py", b"print('evil')\n"),
    ])
    .build();
    assert_eq!(err(sdist(&zip, SdistKind::Zip)).to_string(), expected);

    // The PKG-INFO the index reads and the one a case-insensitive extractor keeps could differ.
    let mut t = base_sdist();
    t.file("demo_pkg-1.0/pkg-info", b"Name: other\n");
    assert!(matches!(
        err(targz(&t)),
        DistError::CaseCollision { ref first, ref second }
            if first == "demo_pkg-1.0/PKG-INFO" && second == "demo_pkg-1.0/pkg-info"
    ));
    // NFC and NFD spellings of one name (one file on APFS and HFS+).
    let mut t = base_sdist();
    t.file("demo_pkg-1.0/caf\u{e9}.py", b"")
        .file("demo_pkg-1.0/cafe\u{301}.py", b"");
    assert!(matches!(err(targz(&t)), DistError::CaseCollision { .. }));
    // A top folder spelled twice is one folder there too (and two top folders here).
    let mut t = base_sdist();
    t.file("Demo_Pkg-1.0/x.py", b"");
    assert!(matches!(err(targz(&t)), DistError::SdistTopLevel));
}

#[test]
fn a_member_that_is_a_file_and_a_directory_is_refused() {
    let mut t = base_sdist();
    t.file("demo_pkg-1.0/src/demo.py/inner.py", b"");
    let e = err(targz(&t));
    assert_eq!(
        e.to_string(),
        "Archive member \"demo_pkg-1.0/src/demo.py\" is both a file and a directory"
    );
    let zip = RawZip::new(vec![
        RawEntry::deflated("demo_pkg-1.0/PKG-INFO", PKG_INFO),
        RawEntry::deflated("demo_pkg-1.0/a", b"file\n"),
        RawEntry::dir("demo_pkg-1.0/a/"),
    ])
    .build();
    let e = err(sdist(&zip, SdistKind::Zip));
    assert!(
        matches!(e, DistError::FileIsDirectory { ref path } if path == "demo_pkg-1.0/a"),
        "{e:?}"
    );
}
