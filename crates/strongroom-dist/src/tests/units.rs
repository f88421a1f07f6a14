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
