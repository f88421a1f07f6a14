//! Raw ZIP framing: every hostile layout is built byte by byte and must be refused with its
//! specific error; the untouched base archive must pass.

use super::rawzip::{RawEntry, RawZip, S_IFDIR, extra, unicode_path_extra, zip64_extra};
use super::*;
use crate::ZipError;

type Mutate = fn(&mut RawZip);
type Check = fn(&DistError) -> bool;

fn zip_err(e: &DistError) -> Option<&ZipError> {
    match e {
        DistError::Zip(z) => Some(z),
        _ => None,
    }
}

fn mismatch(e: &DistError, want: &str) -> bool {
    matches!(zip_err(e), Some(ZipError::Mismatch { field, .. }) if *field == want)
}

fn rename(z: &mut RawZip, name: &[u8]) {
    z.entries[0].name = name.to_vec();
}

fn cases() -> Vec<(&'static str, Mutate, Check)> {
    vec![
        (
            "prepended data",
            |z| z.prefix = b"#!/bin/sh\nexit 0\n".to_vec(),
            |e| matches!(zip_err(e), Some(ZipError::UnknownSignature { offset: 0 })),
        ),
        (
            "trailing data",
            |z| z.suffix = b"trailing bytes".to_vec(),
            |e| matches!(zip_err(e), Some(ZipError::TrailingData)),
        ),
        (
            "a second archive appended",
            |z| z.suffix = RawZip::new(vec![RawEntry::stored("evil.py", b"x")]).build(),
            |e| matches!(zip_err(e), Some(ZipError::TrailingData)),
        ),
        (
            "two end records",
            |z| z.duplicate_eocd = true,
            |e| matches!(zip_err(e), Some(ZipError::TrailingData)),
        ),
        (
            "archive comment",
            |z| z.eocd_comment = b"hello".to_vec(),
            |e| matches!(zip_err(e), Some(ZipError::EocdComment)),
        ),
        (
            "central directory comment",
            |z| z.entries[1].comment = b"c".to_vec(),
            |e| matches!(zip_err(e), Some(ZipError::CentralComment { .. })),
        ),
        (
            "duplicate central entry",
            |z| {
                let mut dup = z.entries[0].clone();
                dup.central_offset = Some(0);
                z.extra_central.push(dup);
            },
            |e| matches!(zip_err(e), Some(ZipError::DuplicateCentral { path }) if path == "demo_pkg/__init__.py"),
        ),
        (
            "duplicate local header",
            |z| {
                let mut dup = z.entries[0].clone();
                dup.in_central = false;
                z.entries.insert(1, dup);
            },
            |e| matches!(zip_err(e), Some(ZipError::DuplicateLocal { .. })),
        ),
        (
            "local entry missing from the central directory",
            |z| z.entries[1].in_central = false,
            |e| matches!(zip_err(e), Some(ZipError::NotInCentralDirectory { path }) if path == "demo_pkg/core.py"),
        ),
        (
            "central entry without a local header",
            |z| {
                let mut ghost = RawEntry::stored("demo_pkg/ghost.py", b"boo");
                ghost.in_local = false;
                ghost.central_offset = Some(0);
                z.entries.push(ghost);
            },
            |e| matches!(zip_err(e), Some(ZipError::MissingLocalHeader { path }) if path == "demo_pkg/ghost.py"),
        ),
        (
            "many central entries pointing at one local header (Fifield)",
            |z| {
                for i in 0..50 {
                    let mut e = z.entries[1].clone();
                    e.name = format!("demo_pkg/bomb{i}.py").into_bytes();
                    e.in_local = false;
                    e.central_offset = Some(0);
                    z.extra_central.push(e);
                }
            },
            |e| matches!(zip_err(e), Some(ZipError::MissingLocalHeader { .. })),
        ),
        (
            "central offset pointing at another local header",
            |z| z.entries[1].central_offset = Some(0),
            |e| mismatch(e, "local header offset"),
        ),
        (
            "central file size differs",
            |z| z.entries[0].central_usize = Some(z.entries[0].usize + 1),
            |e| mismatch(e, "file size"),
        ),
        (
            "central data size differs",
            |z| z.entries[0].central_csize = Some(z.entries[0].csize + 1),
            |e| mismatch(e, "data size"),
        ),
        (
            "central CRC differs",
            |z| z.entries[0].central_crc = Some(z.entries[0].crc ^ 1),
            |e| mismatch(e, "CRC-32"),
        ),
        (
            "central compression method differs",
            |z| z.entries[0].central_method = Some(0),
            |e| mismatch(e, "compression method"),
        ),
        (
            "central flags differ",
            |z| z.entries[0].central_flags = Some(0x0802),
            |e| mismatch(e, "flags"),
        ),
        (
            "bzip2 member",
            |z| {
                let e = &mut z.entries[1];
                e.method = 12;
                e.data = b"BZh91AY&SY\x00\x00\x00\x00".to_vec();
                e.csize = e.data.len() as u32;
            },
            |e| matches!(e, DistError::UnsupportedCompression { method: 12, .. }),
        ),
        (
            "lzma member",
            |z| z.entries[1].method = 14,
            |e| matches!(e, DistError::UnsupportedCompression { method: 14, .. }),
        ),
        (
            "zstd member",
            |z| z.entries[1].method = 93,
            |e| matches!(e, DistError::UnsupportedCompression { method: 93, .. }),
        ),
        (
            "data descriptor",
            |z| z.entries[1].flags |= 0x0008,
            |e| matches!(zip_err(e), Some(ZipError::DataDescriptor { .. })),
        ),
        (
            "encrypted member",
            |z| z.entries[1].flags |= 0x0001,
            |e| matches!(zip_err(e), Some(ZipError::Encrypted { .. })),
        ),
        (
            "control character in a name",
            |z| rename(z, b"demo_pkg/a\x01.py"),
            |e| matches!(e, DistError::InvalidCharacter { .. }),
        ),
        (
            "DEL in a name",
            |z| rename(z, b"demo_pkg/a\x7f.py"),
            |e| matches!(e, DistError::InvalidCharacter { .. }),
        ),
        (
            "C1 control character in a name",
            |z| rename(z, "demo_pkg/a\u{85}.py".as_bytes()),
            |e| matches!(e, DistError::InvalidCharacter { .. }),
        ),
        (
            "non-UTF-8 name",
            |z| rename(z, b"demo_pkg/\xff\xfe.py"),
            |e| matches!(e, DistError::NonUtf8Filename { .. }),
        ),
        (
            "non-ASCII name without the UTF-8 flag",
            |z| {
                rename(z, "demo_pkg/d\u{e9}mo.py".as_bytes());
                z.entries[0].flags = 0;
            },
            |e| matches!(zip_err(e), Some(ZipError::NonAsciiWithoutUtf8Flag { .. })),
        ),
        (
            "Unicode path extra differing from the local name",
            |z| z.entries[0].local_extra = unicode_path_extra("demo_pkg/evil.py"),
            |e| matches!(zip_err(e), Some(ZipError::UnicodePathMismatch { .. })),
        ),
        (
            "Unicode path extra differing from the central name",
            |z| z.entries[0].central_extra = unicode_path_extra("../evil.py"),
            |e| matches!(zip_err(e), Some(ZipError::UnicodePathMismatch { .. })),
        ),
        (
            "duplicate Unicode path extra",
            |z| {
                let one = unicode_path_extra("demo_pkg/__init__.py");
                z.entries[0].local_extra = [one.clone(), one].concat();
            },
            |e| {
                matches!(
                    zip_err(e),
                    Some(ZipError::DuplicateExtra {
                        location: "local file"
                    })
                )
            },
        ),
        (
            "duplicate ZIP64 extra in the central directory",
            |z| z.entries[0].central_extra = [zip64_extra(&[]), zip64_extra(&[])].concat(),
            |e| {
                matches!(
                    zip_err(e),
                    Some(ZipError::DuplicateExtra {
                        location: "central directory"
                    })
                )
            },
        ),
        (
            "truncated extra field",
            |z| z.entries[0].local_extra = vec![0x55, 0x54, 9],
            |e| matches!(zip_err(e), Some(ZipError::Malformed { .. })),
        ),
        (
            "symlink member",
            |z| z.entries[0].mode = 0o120_777,
            |e| matches!(zip_err(e), Some(ZipError::Symlink { path }) if path == "demo_pkg/__init__.py"),
        ),
        (
            "character device member",
            |z| z.entries[0].mode = 0o020_644,
            |e| matches!(zip_err(e), Some(ZipError::SpecialFile { .. })),
        ),
        (
            "FIFO member",
            |z| z.entries[0].mode = 0o010_644,
            |e| matches!(zip_err(e), Some(ZipError::SpecialFile { .. })),
        ),
        (
            "directory mode on a file name",
            |z| z.entries[0].mode = S_IFDIR,
            |e| matches!(zip_err(e), Some(ZipError::TypeMismatch { .. })),
        ),
        (
            "directory entry with data",
            |z| {
                let mut d = RawEntry::stored("demo_pkg/sub/", b"hidden");
                d.mode = S_IFDIR;
                z.entries.insert(0, d);
            },
            |e| matches!(zip_err(e), Some(ZipError::DirectoryWithData { .. })),
        ),
        (
            "end record count differs",
            |z| z.eocd_records = Some(3),
            |e| matches!(zip_err(e), Some(ZipError::MismatchedRecords)),
        ),
        (
            "end record offset differs",
            |z| z.eocd_cd_offset = Some(0),
            |e| matches!(zip_err(e), Some(ZipError::MismatchedOffset)),
        ),
        (
            "end record size differs",
            |z| z.eocd_cd_size = Some(46),
            |e| matches!(zip_err(e), Some(ZipError::MismatchedSize)),
        ),
        (
            "multi-disk central entry",
            |z| z.entries[0].central_disk = Some(1),
            |e| matches!(zip_err(e), Some(ZipError::Malformed { .. })),
        ),
        (
            "size sentinel without a ZIP64 extra",
            |z| z.entries[0].central_csize = Some(0xFFFF_FFFF),
            |e| matches!(zip_err(e), Some(ZipError::Zip64 { .. })),
        ),
        (
            "ZIP64 central extra with fields not marked by sentinels",
            |z| z.entries[0].central_extra = zip64_extra(&[u64::from(z.entries[0].usize)]),
            |e| matches!(zip_err(e), Some(ZipError::Zip64 { .. })),
        ),
        (
            "ZIP64 local extra disagreeing with the header sizes",
            |z| {
                let e = &mut z.entries[0];
                e.local_extra = zip64_extra(&[u64::from(e.usize), u64::from(e.csize) + 4096]);
            },
            |e| matches!(zip_err(e), Some(ZipError::Zip64 { .. })),
        ),
        (
            "ZIP64 local extra with an invalid length",
            |z| z.entries[0].local_extra = extra(0x0001, &[0; 12]),
            |e| matches!(zip_err(e), Some(ZipError::Zip64 { .. })),
        ),
        (
            "ZIP64 end record with extensible data",
            |z| {
                z.zip64_end = true;
                z.eocd64_extensible = vec![0; 8];
            },
            |e| matches!(zip_err(e), Some(ZipError::Zip64ExtensibleData)),
        ),
        (
            "ZIP64 locator pointing elsewhere",
            |z| {
                z.zip64_end = true;
                z.locator_offset_delta = -4;
            },
            |e| matches!(zip_err(e), Some(ZipError::Zip64 { .. })),
        ),
        (
            "bad CRC in both headers",
            |z| {
                z.entries[1].crc ^= 0xdead;
            },
            |e| matches!(zip_err(e), Some(ZipError::CrcMismatch { path }) if path == "demo_pkg/core.py"),
        ),
        (
            "corrupt deflate data",
            |z| {
                let e = &mut z.entries[1];
                e.data = vec![0xff; 16];
                e.csize = 16;
            },
            |e| matches!(zip_err(e), Some(ZipError::CorruptData { .. })),
        ),
    ]
}

#[test]
fn base_wheel_passes() {
    let info = wheel(&base_wheel().build()).expect("base wheel is valid");
    assert_eq!(info.dist_info_dir, DIST);
    // A Unicode path extra that agrees with the name, and unknown extras, are fine.
    let mut z = base_wheel();
    z.entries[0].local_extra = [
        unicode_path_extra("demo_pkg/__init__.py"),
        extra(0x5455, &[3, 0, 0, 0, 0]),
    ]
    .concat();
    z.entries[0].central_extra = unicode_path_extra("demo_pkg/__init__.py");
    wheel(&z.build()).expect("agreeing extras are valid");
}

#[test]
fn messages_use_pypi_wording() {
    let mut z = base_wheel();
    z.suffix = b"x".to_vec();
    assert_eq!(
        err(wheel(&z.build())).to_string(),
        "ZIP archive not accepted: Trailing data"
    );
    let mut z = base_wheel();
    let dup = z.entries[0].clone();
    z.entries.insert(
        1,
        RawEntry {
            in_central: false,
            ..dup
        },
    );
    assert_eq!(
        err(wheel(&z.build())).to_string(),
        "ZIP archive not accepted: Duplicate filename in local headers: \"demo_pkg/__init__.py\""
    );
    let mut z = base_wheel();
    z.entries[1].method = 12;
    assert!(
        err(wheel(&z.build()))
            .to_string()
            .starts_with("File does not use a supported compression type")
    );
}

#[test]
fn hostile_framing_is_refused() {
    for (name, mutate, check) in cases() {
        let mut z = base_wheel();
        mutate(&mut z);
        let e = err(wheel(&z.build()));
        assert!(check(&e), "{name}: unexpected error {e:?}");
    }
}

#[test]
fn header_understating_the_decompressed_size_is_caught_while_streaming() {
    let mut files = base_files();
    files.push(("demo_pkg/zeros.bin".into(), vec![0u8; 1 << 20]));
    let mut z = wheel_zip(&files);
    let zeros = z.entries.len() - 2;
    z.entries[zeros].usize = 1000;
    let e = err(wheel(&z.build()));
    assert!(
        matches!(e, DistError::Zip(ZipError::SizeMismatch { ref path }) if path == "demo_pkg/zeros.bin"),
        "{e:?}"
    );
}

#[test]
fn zip_slip_names_are_refused() {
    let names: [&[u8]; 8] = [
        b"../../x.py",
        b"/etc/x",
        b"C:\\x",
        b"pkg\\..\\..\\x",
        b"C:/x",
        b"demo_pkg/./x.py",
        b"demo_pkg//x.py",
        b"demo_pkg/../../x.py",
    ];
    for name in names {
        let mut z = base_wheel();
        rename(&mut z, name);
        let e = err(wheel(&z.build()));
        assert!(
            matches!(e, DistError::InvalidPath { .. }),
            "{}: {e:?}",
            String::from_utf8_lossy(name)
        );
        assert!(e.to_string().contains("invalid path"), "{e}");
    }
}

/// Insert `bytes` just before the end record (the central directory offsets stay right).
fn splice_before_eocd(z: &RawZip, bytes: &[u8]) -> Vec<u8> {
    let mut data = z.build();
    let at = data.len() - 22;
    data.splice(at..at, bytes.iter().copied());
    data
}

#[test]
fn records_out_of_order_are_refused() {
    let z = base_wheel();
    let local = RawZip::new(vec![RawEntry::stored("late.py", b"x")]).build();
    let late_local = &local[..local.len() - 22 - 46 - 7];
    let locator = [b"PK\x06\x07".as_slice(), &[0u8; 16]].concat();
    for inserted in [late_local, locator.as_slice()] {
        let e = err(wheel(&splice_before_eocd(&z, inserted)));
        assert!(
            matches!(
                e,
                DistError::Zip(ZipError::Malformed {
                    reason: "records out of order"
                })
            ),
            "{e:?}"
        );
    }
}

#[test]
fn overlapping_quoted_local_header_is_refused() {
    // Fifield-style overlap: entry B's local header lives inside entry A's data.
    let inner = RawZip::new(vec![RawEntry::stored("demo_pkg/b.py", b"print(1)\n")]).build();
    let b_local = inner[..inner.len() - 22 - 46 - "demo_pkg/b.py".len()].to_vec();
    let mut a = RawEntry::stored("demo_pkg/a.py", &b_local);
    a.name = b"demo_pkg/a.py".to_vec();
    let mut b = RawEntry::stored("demo_pkg/b.py", b"print(1)\n");
    b.in_local = false;
    b.central_offset = Some(30 + "demo_pkg/a.py".len() as u32);
    let e = err(wheel(&RawZip::new(vec![a, b]).build()));
    assert!(
        matches!(e, DistError::Zip(ZipError::MissingLocalHeader { ref path }) if path == "demo_pkg/b.py"),
        "{e:?}"
    );
}

#[test]
fn truncated_and_non_zip_files_are_refused() {
    let full = base_wheel().build();
    for cut in [10usize, 30] {
        let e = err(wheel(&full[..full.len() - cut]));
        assert!(matches!(e, DistError::NotZip), "cut {cut}: {e:?}");
    }
    let mut middle = full.clone();
    middle.drain(100..140);
    assert!(matches!(err(wheel(&middle)), DistError::Zip(_)));
    assert!(matches!(err(wheel(b"")), DistError::NotZip));
    assert!(matches!(
        err(wheel(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0])),
        DistError::NotZip
    ));
}

#[test]
fn consistent_zip64_records_are_accepted() {
    let mut z = base_wheel();
    z.zip64_end = true;
    let e = &mut z.entries[0];
    e.local_extra = zip64_extra(&[u64::from(e.usize), u64::from(e.csize)]);
    e.csize = 0xFFFF_FFFF;
    e.usize = 0xFFFF_FFFF;
    let (c, u) = (e.data.len() as u64, "from .core import main\n".len() as u64);
    e.central_csize = Some(0xFFFF_FFFF);
    e.central_usize = Some(0xFFFF_FFFF);
    e.central_extra = zip64_extra(&[u, c]);
    let info = wheel(&z.build()).expect("consistent ZIP64 is fine");
    assert_eq!(info.members.len(), 7);
}

/// A ZIP whose first 512 bytes are also a valid tar header.
fn zip_tar_polyglot(break_checksum: bool) -> Vec<u8> {
    let mut files = base_files();
    let mut name = String::from("demo_pkg/");
    while name.len() < 200 {
        name.push('a');
    }
    name.push_str(".txt");
    files.insert(0, (name.clone(), vec![b'z'; 400]));
    let mut z = wheel_zip(&files);
    z.entries[0] = RawEntry::stored(&name, &[b'z'; 400]);
    let mut bytes = z.build();
    // Name bytes start at 30; the tar checksum field is bytes 148..156 of the block.
    bytes[148..156].copy_from_slice(b"        ");
    let sum: u32 = bytes[..512].iter().map(|&b| u32::from(b)).sum();
    let field = format!("{:07o} ", sum + u32::from(break_checksum));
    bytes[148..156].copy_from_slice(field.as_bytes());
    // Keep the ZIP consistent: rebuild with the patched name.
    let patched = String::from_utf8(bytes[30..30 + name.len()].to_vec()).expect("ascii");
    files[0].0 = patched.clone();
    let mut z = wheel_zip(&files);
    z.entries[0] = RawEntry::stored(&patched, &[b'z'; 400]);
    z.build()
}

#[test]
fn zip_tar_polyglot_is_refused() {
    let e = err(wheel(&zip_tar_polyglot(false)));
    assert!(matches!(e, DistError::Polyglot), "{e:?}");
    assert_eq!(e.to_string(), "File is both a zip and a tar file");
    // The same archive without a valid tar checksum is an ordinary wheel.
    wheel(&zip_tar_polyglot(true)).expect("not a polyglot");
}
