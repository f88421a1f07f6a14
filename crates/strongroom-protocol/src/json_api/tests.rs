//! Tests for the legacy JSON API documents.

use super::*;
use serde_json::{Value, json};

fn ver(s: &str) -> Version {
    Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn sample_meta() -> CoreMetadata {
    CoreMetadata {
        metadata_version: Some("2.2".into()),
        name: Some("Foo_Bar".into()),
        version: Some("1.0".into()),
        summary: Some("A thing".into()),
        keywords: Some("a,b , c".into()),
        classifiers: vec!["Typing :: Typed".into()],
        requires_dist: vec!["requests>=2".into()],
        requires_python: Some(">=3.8".into()),
        project_urls: vec![
            "Source, https://example.org/src".into(),
            "Docs, https://example.org/docs".into(),
        ],
        platforms: vec!["any".into(), "linux".into()],
        dynamic: vec!["requires-dist".into(), "license-file".into()],
        ..CoreMetadata::default()
    }
}

fn sample_file() -> FileJson {
    FileJson {
        comment_text: None,
        core_metadata: CoreMetadataRef::from_sha256(Some("abc")),
        digests: Digests {
            md5: "m".into(),
            sha256: "s".into(),
            blake2b_256: "b".into(),
        },
        downloads: -1,
        filename: "foo_bar-1.0-py3-none-any.whl".into(),
        has_sig: false,
        md5_digest: "m".into(),
        packagetype: "bdist_wheel".into(),
        python_version: "py3".into(),
        requires_python: Some(">=3.8".into()),
        size: 1234,
        upload_time: legacy_upload_time("2024-01-02T03:04:05.123456Z"),
        upload_time_iso_8601: "2024-01-02T03:04:05.123456Z".into(),
        url: "https://files.example/packages/aa/bb/cc/foo_bar-1.0-py3-none-any.whl".into(),
        yanked: false,
        yanked_reason: None,
    }
}

#[test]
fn info_from_metadata() {
    let links = ReleaseLinks::new("https://pypi.example/", "Foo_Bar", "1.0");
    assert_eq!(links.package_url, "https://pypi.example/project/Foo_Bar/");
    assert_eq!(
        links.release_url,
        "https://pypi.example/project/Foo_Bar/1.0/"
    );
    let info = Info::from_metadata(&sample_meta(), "Foo_Bar", "1.0", links, Some("broken"));
    assert_eq!(info.keywords.as_deref(), Some("a, b, c"));
    assert_eq!(info.platform.as_deref(), Some("any"));
    assert_eq!(info.description.as_deref(), Some(""));
    assert_eq!(
        info.dynamic,
        Some(vec!["Requires-Dist".into(), "License-File".into()])
    );
    assert_eq!(info.requires_dist, Some(vec!["requests>=2".into()]));
    assert_eq!(info.provides_extra, None);
    assert_eq!(info.license_files, None);
    assert!(info.yanked);
    assert_eq!(info.yanked_reason.as_deref(), Some("broken"));
    let urls = info.project_urls.as_ref().expect("urls");
    assert_eq!(
        urls.get("Docs").map(String::as_str),
        Some("https://example.org/docs")
    );

    let unyanked = Info::from_metadata(
        &CoreMetadata::default(),
        "x",
        "1",
        ReleaseLinks::new("", "x", "1"),
        None,
    );
    assert!(!unyanked.yanked);
    assert_eq!(unyanked.project_urls, None);
    assert_eq!(unyanked.requires_dist, None);
    let yanked_no_reason = Info::from_metadata(
        &CoreMetadata::default(),
        "x",
        "1",
        ReleaseLinks::new("", "x", "1"),
        Some(""),
    );
    assert!(yanked_no_reason.yanked);
    assert_eq!(yanked_no_reason.yanked_reason, None);
}

#[test]
fn serialised_keys_match_pypi() {
    let links = ReleaseLinks::new("https://pypi.example", "Foo_Bar", "1.0");
    let doc = ProjectJson {
        info: Info::from_metadata(&sample_meta(), "Foo_Bar", "1.0", links, None),
        last_serial: 99,
        releases: Some(BTreeMap::from([("1.0".to_owned(), vec![sample_file()])])),
        urls: vec![sample_file()],
        vulnerabilities: Some(Vec::new()),
        ownership: Ownership::default(),
    };
    let value: Value = serde_json::to_value(&doc).expect("serialise");
    let top: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(top.len(), 6);
    for key in [
        "info",
        "last_serial",
        "releases",
        "urls",
        "vulnerabilities",
        "ownership",
    ] {
        assert!(top.contains(&key), "{key}");
    }
    let info = value["info"].as_object().expect("info");
    let info_keys = [
        "author",
        "author_email",
        "bugtrack_url",
        "classifiers",
        "description",
        "description_content_type",
        "docs_url",
        "download_url",
        "downloads",
        "dynamic",
        "home_page",
        "keywords",
        "license",
        "license_expression",
        "license_files",
        "maintainer",
        "maintainer_email",
        "name",
        "package_url",
        "platform",
        "project_url",
        "project_urls",
        "provides_extra",
        "release_url",
        "requires_dist",
        "requires_python",
        "summary",
        "version",
        "yanked",
        "yanked_reason",
    ];
    assert_eq!(info.len(), info_keys.len());
    for key in info_keys {
        assert!(info.contains_key(key), "info.{key}");
    }
    assert_eq!(
        value["info"]["downloads"],
        json!({"last_day": -1, "last_week": -1, "last_month": -1})
    );
    assert_eq!(value["info"]["bugtrack_url"], Value::Null);
    assert_eq!(value["info"]["docs_url"], Value::Null);
    assert_eq!(value["info"]["home_page"], Value::Null);
    assert_eq!(value["info"]["yanked"], false);
    assert_eq!(
        value["ownership"],
        json!({"roles": [], "organization": null})
    );
    assert_eq!(value["vulnerabilities"], json!([]));
    // never looked up: the key is left out, not claimed empty
    let unchecked = ProjectJson {
        vulnerabilities: None,
        ..doc.clone()
    };
    let unchecked: Value = serde_json::to_value(&unchecked).expect("serialise");
    assert!(unchecked.get("vulnerabilities").is_none(), "{unchecked}");

    let file = value["urls"][0].as_object().expect("file");
    let file_keys = [
        "comment_text",
        "core-metadata",
        "digests",
        "downloads",
        "filename",
        "has_sig",
        "md5_digest",
        "packagetype",
        "python_version",
        "requires_python",
        "size",
        "upload_time",
        "upload_time_iso_8601",
        "url",
        "yanked",
        "yanked_reason",
    ];
    assert_eq!(file.len(), file_keys.len());
    for key in file_keys {
        assert!(file.contains_key(key), "file.{key}");
    }
    assert_eq!(value["urls"][0]["upload_time"], "2024-01-02T03:04:05");
    assert_eq!(value["urls"][0]["core-metadata"], json!({"sha256": "abc"}));
    assert_eq!(
        value["urls"][0]["digests"],
        json!({"md5": "m", "sha256": "s", "blake2b_256": "b"})
    );
    assert_eq!(value["urls"][0]["downloads"], -1);
    assert_eq!(
        value["releases"]["1.0"][0]["filename"],
        "foo_bar-1.0-py3-none-any.whl"
    );

    // Round trip.
    let back: ProjectJson = serde_json::from_value(value).expect("deserialise");
    assert_eq!(back, doc);
}

#[test]
fn release_route_has_no_releases_key() {
    let doc = ProjectJson {
        info: Info::default(),
        last_serial: 1,
        releases: None,
        urls: Vec::new(),
        vulnerabilities: None,
        ownership: Ownership::default(),
    };
    let value = serde_json::to_value(&doc).expect("serialise");
    assert!(value.get("releases").is_none());
    assert_eq!(
        serde_json::to_value(CoreMetadataRef::from_sha256(None)).expect("ser"),
        json!(false)
    );
}

#[test]
fn latest_version_rules() {
    type Case<'a> = (&'a [(&'a str, bool)], Option<&'a str>);
    let cases: [Case<'_>; 6] = [
        (&[], None),
        (
            &[("1.0", false), ("2.0", false), ("1.5", false)],
            Some("2.0"),
        ),
        (&[("1.0", false), ("2.0", true)], Some("1.0")),
        (&[("1.0", false), ("2.0rc1", false)], Some("1.0")),
        (&[("1.0", true), ("2.0rc1", false)], Some("2.0rc1")),
        (
            &[("1.0", true), ("0.9", true), ("3.0.dev1", true)],
            Some("1.0"),
        ),
    ];
    for (releases, want) in cases {
        let owned: Vec<(Version, bool)> = releases.iter().map(|(v, y)| (ver(v), *y)).collect();
        assert_eq!(
            latest_version(&owned).map(Version::raw),
            want,
            "{releases:?}"
        );
    }
    let epoch = [(ver("2.0"), false), (ver("1!0.1"), false)];
    assert_eq!(latest_version(&epoch).map(Version::raw), Some("1!0.1"));
}

#[test]
fn upload_time_forms() {
    assert_eq!(
        legacy_upload_time("2024-01-02T03:04:05.123456Z"),
        "2024-01-02T03:04:05"
    );
    assert_eq!(
        legacy_upload_time("2024-01-02T03:04:05Z"),
        "2024-01-02T03:04:05"
    );
    assert_eq!(legacy_upload_time("short"), "short");
}
