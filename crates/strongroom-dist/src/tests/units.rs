//! Small units: digests, limits, paths, RECORD, WHEEL and entry-point parsing.

use crate::entry_points;
use crate::paths::check_member_path;
use crate::record::{self, HashAlgo};
use crate::tarstream::parse_numeric;
use crate::wheelfile;
use crate::{DistError, Hasher, Limits};

#[test]
fn digests_match_known_vectors() {
    let mut h = Hasher::new();
    h.update(b"a");
    h.update(b"bc");
    let d = h.finish();
    assert_eq!(d.md5_hex(), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        d.sha256_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        d.blake2b_256_hex(),
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"
    );
    assert_eq!(Hasher::hash_reader(&b"abc"[..]).expect("read"), d);
}

#[test]
fn default_limits_match_warehouse() {
    let l = Limits::default();
    assert_eq!(l.max_entries, 100_000);
    assert_eq!(l.max_total_uncompressed, 2 << 30);
    assert_eq!(l.ratio_threshold, 50.0);
    assert_eq!(l.ratio_min_size, 64 << 20);
    assert_eq!(l.max_member_uncompressed, 1 << 30);
    assert_eq!(l.max_metadata_bytes, 8 << 20);
    // Both conditions are needed for the ratio rule.
    assert!(l.check_total(64 << 20, 1).is_ok());
    assert!(l.check_total((64 << 20) + 1, 2 << 20).is_ok());
    assert!(matches!(
        l.check_total((64 << 20) + 1, 1 << 10),
        Err(DistError::CompressionRatio { .. })
    ));
}

#[test]
fn the_member_ratio_rule_is_for_code_members_over_one_mib() {
    let l = Limits::default();
    assert_eq!(l.member_ratio_min_size, 1 << 20);
    let big = 3 << 20;
    assert!(matches!(
        l.check_member_ratio("p/m.py", big, 1 << 10),
        Err(DistError::MemberCompressionRatio { .. })
    ));
    assert!(l.check_member_ratio("p/x.PTH", big, 1 << 10).is_err());
    // Data, small code and ordinary ratios pass.
    assert!(l.check_member_ratio("p/zeros.bin", big, 1 << 10).is_ok());
    assert!(l.check_member_ratio("p/m.py", 1 << 20, 1).is_ok());
    assert!(l.check_member_ratio("p/m.py", big, big / 10).is_ok());
}

#[test]
fn member_paths() {
    for ok in [
        "a",
        "a/b.py",
        "a/b/",
        "pkg-1.0.dist-info/RECORD",
        "d\u{e9}j\u{e0}/x",
    ] {
        check_member_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    for bad in [
        "", "/", "/a", "a/../b", "..", "./a", "a//b", "a\\b", "C:x", "a/b:c", "a/",
    ] {
        if bad == "a/" {
            continue;
        }
        assert!(
            matches!(check_member_path(bad), Err(DistError::InvalidPath { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        check_member_path("a\u{2028}b"),
        Err(DistError::InvalidCharacter { .. })
    ));
}

#[test]
fn tar_numeric_fields() {
    assert_eq!(parse_numeric(b"0000644\0"), Some(0o644));
    assert_eq!(parse_numeric(b"  644 \0\0"), Some(0o644));
    assert_eq!(parse_numeric(b"\0\0\0\0"), Some(0));
    assert_eq!(parse_numeric(&[0x80, 0, 0, 1, 0]), Some(256));
    assert_eq!(parse_numeric(&[0xff, 0xff]), None);
    assert_eq!(parse_numeric(b"0o17\0"), None);
    assert_eq!(parse_numeric(b"+17\0"), None);
    assert_eq!(parse_numeric(b"18\0"), None);
}

#[test]
fn record_rows() {
    let rows = record::parse(
        "R",
        b"a.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\r\n\"b,c.py\",,\n\nR,,\n",
    )
    .expect("valid");
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].hash.as_ref().map(|h| h.0), Some(HashAlgo::Sha256));
    assert_eq!(rows[0].size, Some(0));
    assert_eq!(rows[1].path, "b,c.py");
    assert_eq!(rows[1].hash, None);
}

#[test]
fn wheel_file_fields() {
    let w = wheelfile::parse("W", b"Wheel-Version: 1.0\nRoot-Is-Purelib: FALSE\nTag: py2-none-any\nTag: py3-none-any\n\nbody: ignored\n")
        .expect("valid");
    assert_eq!(w.version, "1.0");
    assert_eq!(w.root_is_purelib, Some(false));
    assert_eq!(w.tags, ["py2-none-any", "py3-none-any"]);
}

/// WHEEL is read as Python's `email.parser` (pip, installer) reads it: the header block ends
/// at the first line that is no header, so nothing after it counts, here or there.
#[test]
fn wheel_file_is_read_as_email_parsers_read_it() {
    let msg = |bytes: &[u8]| match wheelfile::parse("x-1.0.dist-info/WHEEL", bytes) {
        Ok(w) => panic!("{:?}: accepted as {w:?}", String::from_utf8_lossy(bytes)),
        Err(e) => e.to_string(),
    };
    // pip sees no header at all here ("WHEEL is missing Wheel-Version"); so does strongroom.
    assert_eq!(
        msg(b"Wheel-Version : 2.0\nWheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
        "Invalid WHEEL file x-1.0.dist-info/WHEEL: no Wheel-Version before \"Wheel-Version : 2.0\", which ends the header block (it is not a 'Name: value' line)"
    );
    assert_eq!(
        msg(b"Generator: x\n\nWheel-Version: 1.0\n"),
        "Invalid WHEEL file x-1.0.dist-info/WHEEL: no Wheel-Version before \"Wheel-Version: 1.0\", which ends the header block (it is not a 'Name: value' line)"
    );
    msg(b"Generator: x\ngarbage\nWheel-Version: 1.0\n");
    msg(b"\xef\xbb\xbfWheel-Version: 1.0\n");
    // A bare CR ends a line for pip: the second Wheel-Version is a header to both.
    assert_eq!(
        msg(b"Wheel-Version: 1.0\rWheel-Version: 2.0\r\n"),
        "Invalid WHEEL file x-1.0.dist-info/WHEEL: Wheel-Version appears twice"
    );
    assert_eq!(
        msg(b"Generator: x\rWheel-Version: 2.0\n"),
        "x-1.0.dist-info/WHEEL declares Wheel-Version 2.0, which installers cannot install: only Wheel-Version 1.x is supported"
    );
    // Lines pip drops silently are refused.
    assert_eq!(
        msg(b"From x\nWheel-Version: 1.0\n"),
        "Invalid WHEEL file x-1.0.dist-info/WHEEL: the header line \"From x\" starts with 'From ', which email parsers do not read as a header"
    );
    msg(b": 2.0\nWheel-Version: 1.0\n");
    msg(b"Wheel-Version: 1.0\n  2\n");
    // CRLF files and a leading continuation (ignored by Python too) still read.
    let w = wheelfile::parse(
        "W",
        b"  stray\r\nWheel-Version: 1.0\r\nTag: py3-none-any\r\n",
    )
    .expect("valid");
    assert_eq!((w.version.as_str(), w.tags.len()), ("1.0", 1));
}

#[test]
fn entry_point_rules() {
    entry_points::validate(b"").expect("empty is fine");
    entry_points::validate(b"[console_scripts]\n; comment\nx = a.b:c\n  \n").expect("valid");
    for bad in [
        &b"[console_scripts]\nx = 1abc:main\n"[..],
        b"[console_scripts]\nx = a:\n",
        b"[console_scripts]\nx = a [b\n",
        b"[group]\nx =\n",
        b"[]\n",
        b"[console_scripts\nx = a:b\n",
        b"[console_scripts]\nx = a:b\x00\n",
    ] {
        assert!(
            matches!(
                entry_points::validate(bad),
                Err(DistError::InvalidEntryPoints { .. })
            ),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

mod collisions {
    use crate::DistError;
    use crate::collisions::NameSet;

    fn check(names: &[&str]) -> Result<(), DistError> {
        let mut set = NameSet::default();
        for name in names {
            set.add(name, name.ends_with('/'));
        }
        set.check()
    }

    fn collision(names: &[&str]) -> (String, String) {
        match check(names) {
            Err(DistError::CaseCollision { first, second }) => (first, second),
            other => panic!("{names:?}: expected a collision, got {other:?}"),
        }
    }

    #[test]
    fn distinct_names_pass() {
        check(&[
            "a/",
            "a/b.py",
            "a/b/",
            "a/b/c.py",
            "a/b-c.py",
            "a/b.pyc",
            "A1/x",
            "caf\u{e9}/x",
            "strasse.txt",
            "\u{3a3}.txt",
            "x/\u{1f600}.txt",
        ])
        .expect("no collision");
        // A name only in NFD (as macOS writes archives) is fine on its own.
        check(&["pkg/cafe\u{301}.py", "pkg/other.py"]).expect("NFD alone is fine");
    }

    #[test]
    fn case_only_differences_collide() {
        assert_eq!(
            collision(&["a/Foo.py", "a/foo.py"]),
            ("a/Foo.py".into(), "a/foo.py".into())
        );
        assert_eq!(
            collision(&["pkg/readme", "pkg/x", "pkg/README"]),
            ("pkg/readme".into(), "pkg/README".into())
        );
        // An implicit directory against another spelling of it.
        assert_eq!(
            collision(&["Pkg/a.py", "pkg/b.py"]),
            ("Pkg".into(), "pkg".into())
        );
        assert_eq!(
            collision(&["p/Sub/", "p/sub/x.py"]),
            ("p/Sub".into(), "p/sub".into())
        );
        // Non-ASCII letters fold too (NTFS, APFS): Greek sigma forms, German sharp s, Kelvin.
        collision(&["\u{3a3}.txt", "\u{3c3}.txt"]);
        collision(&["\u{3c2}.txt", "\u{3c3}.txt"]);
        collision(&["stra\u{df}e", "STRASSE"]);
        collision(&["\u{212a}.py", "k.py"]);
    }

    #[test]
    fn unicode_normalisation_look_alikes_collide() {
        // NFC and NFD spellings of one name are one file on APFS and HFS+.
        let (first, second) = collision(&["pkg/caf\u{e9}.py", "pkg/cafe\u{301}.py"]);
        assert_ne!(first, second);
        assert_eq!(
            check(&["pkg/caf\u{e9}.py", "pkg/cafe\u{301}.py"])
                .expect_err("collision")
                .to_string(),
            format!(
                "Archive members {first:?} and {second:?} differ only in letter case or Unicode normalization: they are one path on case-insensitive file systems"
            )
        );
        collision(&["\u{212b}", "\u{c5}"]);
    }

    #[test]
    fn a_file_that_is_also_a_directory_is_refused() {
        for names in [
            &["a/b", "a/b/c"][..],
            &["a/b", "a/b-x", "a/b/c"][..],
            &["a/b", "a/b/"][..],
            &["a/b/", "a/b"][..],
        ] {
            let e = check(names).expect_err("file and directory");
            assert!(
                matches!(e, DistError::FileIsDirectory { ref path } if path == "a/b"),
                "{names:?}: {e:?}"
            );
            assert_eq!(
                e.to_string(),
                "Archive member \"a/b\" is both a file and a directory"
            );
        }
    }
}

/// Names Windows or macOS cannot hold as written, or would read as another name (`portable`).
mod portable {
    use crate::DistError;
    use crate::paths::check_member_path;

    fn message(path: &str) -> String {
        match check_member_path(path) {
            Err(e @ DistError::UnportableName { .. }) => e.to_string(),
            other => panic!("{path:?}: expected an unportable name, got {other:?}"),
        }
    }

    #[test]
    fn portable_names_pass() {
        for ok in [
            "pkg/__init__.py",
            "pkg/con_tools.py",
            "pkg/console.py",
            "pkg/com10.py",
            "pkg/auxiliary/",
            "pkg/nullable.py",
            "pkg/.hidden",
            "pkg/a.b.c.txt",
            "pkg/file~",
            "pkg/a~b.py",
            "pkg/longer_name~1.py",
            "pkg/x~1.tar.gz",
            "pkg/caf\u{e9}.py",
            "pkg/\u{1f600}.txt",
            "pkg/ a.py",
            "pkg-1.0.dist-info/RECORD",
        ] {
            check_member_path(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn trailing_dots_and_spaces_are_refused() {
        assert_eq!(
            message("names_0/__init__.py."),
            "Archive member \"names_0/__init__.py.\" is not a portable file name: the name \"__init__.py.\" ends with a dot or a space, which Windows drops"
        );
        message("names_1/__init__.py ");
        message("pkg./x.py");
        message("pkg/sub /x.py");
        message("pkg/.../x.py");
    }

    #[test]
    fn windows_device_names_are_refused_in_any_case_and_with_any_extension() {
        assert_eq!(
            message("names_4/con.py"),
            "Archive member \"names_4/con.py\" is not a portable file name: \"con.py\" is a reserved device name on Windows"
        );
        for bad in [
            "pkg/CON",
            "pkg/Prn.txt",
            "pkg/aux/x.py",
            "pkg/nul.tar.gz",
            "pkg/COM1.py",
            "pkg/com9",
            "pkg/lpt1.c",
            "pkg/LPT0",
            "pkg/COM\u{b9}.py",
            "pkg/lpt\u{b3}",
            "pkg/conin$",
            "pkg/CONOUT$.log",
            "pkg/NUL .txt",
            "AUX/x.py",
        ] {
            message(bad);
        }
    }

    #[test]
    fn characters_windows_refuses_are_refused() {
        assert_eq!(
            message("names_5/a<b>|c?.py"),
            "Archive member \"names_5/a<b>|c?.py\" is not a portable file name: the character '<' is not allowed in file names on Windows"
        );
        for bad in ["p/a>b", "p/a\"b", "p/a|b", "p/a?b", "p/*.py"] {
            message(bad);
        }
        // Controls, backslashes and colons keep their own (older) refusals.
        assert!(matches!(
            check_member_path("p/a\u{1}b"),
            Err(DistError::InvalidCharacter { .. })
        ));
        assert!(matches!(
            check_member_path("p/a\\b"),
            Err(DistError::InvalidPath { .. })
        ));
        assert!(matches!(
            check_member_path("p/a:b.py"),
            Err(DistError::InvalidPath { .. })
        ));
    }

    #[test]
    fn short_name_forms_are_refused() {
        assert_eq!(
            message("names_2/LONGMO~1.PY"),
            "Archive member \"names_2/LONGMO~1.PY\" is not a portable file name: \"LONGMO~1.PY\" has the form of a Windows 8.3 short name, which can refer to another file"
        );
        for bad in [
            "PROGRA~1/x.py",
            "p/progr~12",
            "p/AB12C~1.TXT",
            "p/~1",
            "p/a~1.py",
        ] {
            check_member_path(bad).expect_err(bad);
        }
    }

    #[test]
    fn invisible_code_points_are_refused() {
        assert_eq!(
            message("names_3/__init\u{200d}__.py"),
            "Archive member \"names_3/__init\\u{200d}__.py\" is not a portable file name: it contains the invisible character U+200D, which some file systems ignore"
        );
        for c in [
            '\u{ad}',
            '\u{34f}',
            '\u{200b}',
            '\u{200c}',
            '\u{200e}',
            '\u{202e}',
            '\u{2060}',
            '\u{2066}',
            '\u{fe0f}',
            '\u{feff}',
            '\u{e0001}',
        ] {
            let path = format!("pkg/a{c}b.py");
            message(&path);
        }
    }
}

mod collision_keys {
    use crate::DistError;
    use crate::collisions::NameSet;

    #[test]
    fn invisible_characters_and_trailing_dots_are_dropped_before_folding() {
        // The key of each pair is the same, whichever of the two the file system keeps.
        for (a, b) in [
            ("pkg/__init__.py", "pkg/__INIT\u{200d}__.py"),
            ("pkg/a.py", "pkg/A.py."),
            ("pkg/a.py", "pkg/a.py \u{feff}"),
            ("pkg/caf\u{e9}.py", "pkg/CAFE\u{301}\u{ad}.py"),
        ] {
            let mut set = NameSet::default();
            set.add(a, false);
            set.add(b, false);
            assert!(
                matches!(set.check(), Err(DistError::CaseCollision { .. })),
                "{a:?} {b:?}"
            );
        }
    }
}
