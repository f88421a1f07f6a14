//! Tests for PEP 440 version handling.

use super::*;

fn v(s: &str) -> Version {
    Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn normal_and_canonical_forms() {
    // (raw, normalized, canonical) — values checked against packaging 26.
    let cases = [
        ("1.0", "1.0", "1"),
        ("1.0.0", "1.0.0", "1"),
        ("0", "0", "0"),
        ("0.0", "0.0", "0"),
        ("v1.0", "1.0", "1"),
        ("V2.1", "2.1", "2.1"),
        ("0.1.2-1", "0.1.2.post1", "0.1.2.post1"),
        ("1.0-1", "1.0.post1", "1.post1"),
        ("1.0.post0", "1.0.post0", "1.post0"),
        ("1.0.0.dev0", "1.0.0.dev0", "1.dev0"),
        ("1.0.0a", "1.0.0a0", "1a0"),
        ("1.0RC1", "1.0rc1", "1rc1"),
        ("1.0c1", "1.0rc1", "1rc1"),
        ("1!2.0.0rc1", "1!2.0.0rc1", "1!2rc1"),
        ("01.0", "1.0", "1"),
        ("1.10", "1.10", "1.10"),
        ("1.4.0.0.0", "1.4.0.0.0", "1.4"),
        ("1.0.0+Local.01", "1.0.0+local.1", "1+local.1"),
        ("2024.1", "2024.1", "2024.1"),
    ];
    for (raw, normalized, canonical) in cases {
        let parsed = v(raw);
        assert_eq!(parsed.raw(), raw);
        assert_eq!(parsed.normalized(), normalized, "normalized({raw})");
        assert_eq!(parsed.canonical(), canonical, "canonical({raw})");
        assert_eq!(parsed.to_string(), normalized);
    }
}

#[test]
fn local_and_prerelease_flags() {
    assert!(v("1.0+evil").is_local());
    assert!(v("1.0+ubuntu.1").is_local());
    assert!(!v("1.0").is_local());
    for pre in ["1.0a1", "1.0b2", "1.0rc1", "1.0.dev1", "1.0.post1.dev0"] {
        assert!(v(pre).is_prerelease(), "{pre}");
    }
    for stable in ["1.0", "1.0.post1", "1!1.0"] {
        assert!(!v(stable).is_prerelease(), "{stable}");
    }
    assert!(v("0.1.2-1").is_postrelease());
    assert_eq!(v("1!0.0.1").epoch(), 1);
    assert_eq!(v("1.2.3").release(), &[1, 2, 3]);
}

#[test]
fn rejections_are_clean() {
    let invalid = [
        "", " 1.0", "1.0 ", "1.0\n", "１.0", // full-width digit
        "1.0ä", "1.0$", "latest", "1.0.*", "1..0", "1.0-", "1.0+", "1.0+a+b",
    ];
    for raw in invalid {
        let err = Version::parse(raw).expect_err(raw);
        assert_eq!(err, VersionError::Invalid(raw.to_owned()), "{raw}");
    }
    assert_eq!(
        Version::parse("1.0$").expect_err("$").to_string(),
        "Invalid version: '1.0$'"
    );
}

#[test]
fn huge_components_do_not_panic() {
    for raw in [
        "1.999999999999999999999999",
        "99999999999999999999999",
        "1.0.post99999999999999999999",
        "1.0.dev18446744073709551616",
        "18446744073709551616!1.0",
    ] {
        assert_eq!(
            Version::parse(raw),
            Err(VersionError::NumberTooLarge(raw.to_owned())),
            "{raw}"
        );
    }
    // u64::MAX itself and leading zeros are fine.
    assert!(Version::parse("18446744073709551615").is_ok());
    assert_eq!(v("1.0000000000000000000000001").normalized(), "1.1");
}

#[test]
fn length_cap() {
    let long = format!("1.{}", "0.".repeat(60));
    assert!(long.len() > MAX_VERSION_LEN);
    assert!(matches!(
        Version::parse(&long),
        Err(VersionError::TooLong { .. })
    ));
    let ok = format!("1{}", ".0".repeat(49));
    assert_eq!(ok.len(), 99);
    assert!(Version::parse(&ok).is_ok());
    // The normal form counts too (found by the `version` fuzz target's invariant: a 100-character
    // spelling whose normal form is longer could never be parsed back, e.g. by `yank`).
    let grows = format!("1{}c", ".1".repeat(49));
    assert_eq!(grows.len(), 100);
    assert!(matches!(
        Version::parse(&grows),
        Err(VersionError::TooLong { len: 102 })
    ));
    let fits = format!("1{}c", ".1".repeat(48));
    let v = Version::parse(&fits).expect("normal form of 100 characters");
    assert_eq!(v.normalized().len(), 100);
    assert_eq!(Version::parse(&v.normalized()).expect("parses back"), v);
}

#[test]
fn pep440_ordering() {
    let ascending = [
        "0.9",
        "1.0.dev456",
        "1.0a1",
        "1.0a2.dev456",
        "1.0a12",
        "1.0b2.post345",
        "1.0rc1",
        "1.0",
        "1.0+local",
        "1.0.post456.dev34",
        "1.0.post456",
        "1.1",
        "1.10",
        "2.0",
        "1!0.0.1",
    ];
    for pair in ascending.windows(2) {
        assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
    }
    let mut shuffled: Vec<Version> = ascending.iter().rev().map(|s| v(s)).collect();
    shuffled.sort();
    let sorted: Vec<&str> = shuffled.iter().map(Version::raw).collect();
    assert_eq!(sorted, ascending);
}

#[test]
fn canonical_identity() {
    use std::collections::HashSet;
    assert_eq!(v("1.0"), v("1.0.0"));
    assert_eq!(v("1.0").canonical(), v("1.0.0").canonical());
    assert_ne!(v("1.0"), v("1.0.1"));
    assert_ne!(v("1.0").canonical(), v("1.0.post0").canonical());
    let set: HashSet<Version> = ["1.0", "1.0.0", "v1", "1.0.0.0"]
        .iter()
        .map(|s| v(s))
        .collect();
    assert_eq!(set.len(), 1);
    assert_eq!(v("0.1.2-1"), v("0.1.2.post1"));
}

#[test]
fn serde_uses_normal_form() {
    assert_eq!(
        serde_json::to_string(&v("V1.0-1")).expect("ser"),
        "\"1.0.post1\""
    );
    let back: Version = serde_json::from_str("\"1.0\"").expect("de");
    assert_eq!(back, v("1.0"));
    assert!(serde_json::from_str::<Version>("\"nope\"").is_err());
}

#[test]
fn requires_python() {
    for ok in [
        ">=3.8",
        ">=3.8,<4",
        ">=3.8, <4",
        ">=2.7, !=3.0.*, !=3.1.*",
        "~=3.9",
        "==3.*",
        ">=3.6,",
        ">= 3.6",
    ] {
        assert!(validate_requires_python(ok).is_ok(), "{ok}");
    }
    for bad in [
        ">=3.8.*",
        "3.8",
        ">=three",
        "~=3",
        ">=3.8;",
        ">＝3.8",
        ">=3.999999999999999999999",
    ] {
        let err = validate_requires_python(bad).expect_err(bad);
        assert_eq!(err.value, bad);
    }
    assert_eq!(
        validate_requires_python("3.8")
            .expect_err("bare")
            .to_string(),
        "'3.8' is invalid for 'requires-python'"
    );
}
