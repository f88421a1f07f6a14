//! Tests for the simple-API writers: exact output on a fixture, escaping, JSON keys.

use super::*;

fn name(s: &str) -> NormalizedName {
    NormalizedName::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn file(filename: &str, url: &str, sha256: &str) -> SimpleFile {
    SimpleFile {
        filename: filename.to_owned(),
        url: url.to_owned(),
        sha256: sha256.to_owned(),
        requires_python: None,
        size: Some(100),
        upload_time: Some("2024-01-02T03:04:05.123456Z".to_owned()),
        yanked: None,
        core_metadata_sha256: None,
        provenance: None,
    }
}

fn fixture() -> ProjectPage {
    let plain = file(
        "foo_bar-1.0.tar.gz",
        "https://files.example/packages/ab/cd/ef/foo_bar-1.0.tar.gz",
        "aa",
    );
    let wheel = SimpleFile {
        requires_python: Some(">=3.8,<4".to_owned()),
        core_metadata_sha256: Some("cc".to_owned()),
        ..file(
            "foo_bar-1.0-py3-none-any.whl",
            "/packages/12/34/56/foo_bar-1.0-py3-none-any.whl",
            "bb",
        )
    };
    let yanked_no_reason = SimpleFile {
        requires_python: Some(String::new()),
        yanked: Some(String::new()),
        ..file(
            "foo_bar-2.0.tar.gz",
            "https://x/foo_bar-2.0.tar.gz?a=1&b=2",
            "dd",
        )
    };
    let yanked_hostile = SimpleFile {
        requires_python: Some(">=3.8".to_owned()),
        yanked: Some("bad <svg onload=alert(1)> \"q\" 'a' & co".to_owned()),
        core_metadata_sha256: Some("ff".to_owned()),
        ..file(
            "foo_bar-2.0-py3-none-any.whl",
            "https://x/foo_bar-2.0-py3-none-any.whl",
            "ee",
        )
    };
    ProjectPage {
        name: name("foo-bar"),
        status: ProjectStatus::Active,
        status_reason: None,
        last_serial: 42,
        versions: vec!["1.0".to_owned(), "2.0".to_owned()],
        files: vec![plain, wheel, yanked_no_reason, yanked_hostile],
    }
}

/// Rendered by Jinja2 from Warehouse's `detail.html` with Warehouse's settings.
const EXPECTED_PROJECT_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta name="pypi:repository-version" content="1.4">
<meta name="pypi:project-status" content="active">    <title>Links for foo-bar</title>
  </head>
  <body>
    <h1>Links for foo-bar</h1>
<a href="https://files.example/packages/ab/cd/ef/foo_bar-1.0.tar.gz#sha256=aa" >foo_bar-1.0.tar.gz</a><br />
<a href="/packages/12/34/56/foo_bar-1.0-py3-none-any.whl#sha256=bb" data-requires-python="&gt;=3.8,&lt;4" data-dist-info-metadata="sha256=cc" data-core-metadata="sha256=cc">foo_bar-1.0-py3-none-any.whl</a><br />
<a href="https://x/foo_bar-2.0.tar.gz?a=1&amp;b=2#sha256=dd" data-yanked="" >foo_bar-2.0.tar.gz</a><br />
<a href="https://x/foo_bar-2.0-py3-none-any.whl#sha256=ee" data-requires-python="&gt;=3.8" data-yanked="bad &lt;svg onload=alert(1)&gt; &#34;q&#34; &#39;a&#39; &amp; co" data-dist-info-metadata="sha256=ff" data-core-metadata="sha256=ff">foo_bar-2.0-py3-none-any.whl</a><br />
</body>
</html>
<!--SERIAL 42-->"#;

#[test]
fn project_html_is_pypis() {
    assert_eq!(project_html(&fixture()), EXPECTED_PROJECT_HTML);
}

#[test]
fn project_html_status_and_empty() {
    let page = ProjectPage {
        name: name("x"),
        status: ProjectStatus::Archived,
        status_reason: None,
        last_serial: 0,
        versions: Vec::new(),
        files: Vec::new(),
    };
    let html = project_html(&page);
    assert!(html.contains("<meta name=\"pypi:project-status\" content=\"archived\">"));
    assert!(html.ends_with("    <h1>Links for x</h1>\n</body>\n</html>\n<!--SERIAL 0-->"));
}

#[test]
fn index_html_is_pypis_plus_serial() {
    let entries = [
        IndexEntry {
            name: "Zed".to_owned(),
            normalized: name("Zed"),
            last_serial: 3,
        },
        IndexEntry {
            name: "Foo_Bar".to_owned(),
            normalized: name("Foo_Bar"),
            last_serial: 1,
        },
        IndexEntry {
            name: "aaa".to_owned(),
            normalized: name("aaa"),
            last_serial: 2,
        },
    ];
    let expected = r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <title>Simple index</title>
  </head>
  <body>
<a href="/simple/aaa/">aaa</a>
<a href="/simple/foo-bar/">Foo_Bar</a>
<a href="/simple/zed/">Zed</a>
</body>
</html>
<!--SERIAL 7-->"#;
    assert_eq!(index_html(&entries, 7), expected);
    assert_eq!(
        index_json(&entries, 7),
        r#"{"meta":{"api-version":"1.4","_last-serial":7},"projects":[{"name":"aaa","_last-serial":2},{"name":"Foo_Bar","_last-serial":1},{"name":"Zed","_last-serial":3}]}"#
    );
}

#[test]
fn the_index_in_pieces_is_the_whole_index() {
    let entries: Vec<IndexEntry> = (0..7)
        .map(|i| IndexEntry {
            name: format!("Pkg_{i}"),
            normalized: name(&format!("Pkg_{i}")),
            last_serial: i,
        })
        .collect();
    let sorted: Vec<&IndexEntry> = entries.iter().collect();
    for json in [false, true] {
        let whole = if json {
            index_json(&entries, 9)
        } else {
            index_html(&entries, 9)
        };
        // no entry at all, one run, and runs of 1, 2 and 4
        for runs in [vec![], vec![7], vec![1, 2, 4]] {
            let mut pieces = IndexPieces::new(json, 9);
            let mut out = pieces.head();
            let mut at = 0;
            for n in &runs {
                pieces.entries(&sorted[at..at + n], &mut out);
                at += n;
            }
            out.push_str(&pieces.tail());
            if runs.is_empty() {
                let empty = if json {
                    index_json(&[], 9)
                } else {
                    index_html(&[], 9)
                };
                assert_eq!(out, empty, "json={json}");
            } else {
                assert_eq!(out, whole, "json={json} runs={runs:?}");
            }
        }
    }
}

#[test]
fn hostile_display_names_are_escaped() {
    let entries = [IndexEntry {
        name: "<svg onload=alert(1)>".to_owned(),
        normalized: name("svg"),
        last_serial: 1,
    }];
    let html = index_html(&entries, 1);
    assert!(html.contains(">&lt;svg onload=alert(1)&gt;</a>"));
    assert!(!html.contains("<svg"));
}

#[test]
fn escape_table() {
    let cases = [
        ("plain", "plain"),
        ("<svg onload=alert(1)>", "&lt;svg onload=alert(1)&gt;"),
        ("a&b", "a&amp;b"),
        ("\"q\"", "&#34;q&#34;"),
        ("'s'", "&#39;s&#39;"),
        ("&amp;", "&amp;amp;"),
        ("ünï", "ünï"),
    ];
    for (raw, escaped) in cases {
        assert_eq!(escape_html(raw), escaped);
    }
}

#[test]
fn project_json_keys_and_values() {
    let text = project_json(&fixture());
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(doc["meta"]["api-version"], "1.4");
    assert_eq!(doc["meta"]["_last-serial"], 42);
    assert_eq!(doc["name"], "foo-bar");
    assert_eq!(doc["project-status"]["status"], "active");
    assert_eq!(doc["versions"], serde_json::json!(["1.0", "2.0"]));
    let files = doc["files"].as_array().expect("files");
    assert_eq!(files.len(), 4);
    let f0 = &files[0];
    assert_eq!(f0["filename"], "foo_bar-1.0.tar.gz");
    assert_eq!(
        f0["url"],
        "https://files.example/packages/ab/cd/ef/foo_bar-1.0.tar.gz"
    );
    assert_eq!(f0["hashes"], serde_json::json!({"sha256": "aa"}));
    assert_eq!(f0["requires-python"], serde_json::Value::Null);
    assert_eq!(f0["size"], 100);
    assert_eq!(f0["upload-time"], "2024-01-02T03:04:05.123456Z");
    assert_eq!(f0["yanked"], false);
    assert_eq!(f0["core-metadata"], false);
    assert_eq!(f0["data-dist-info-metadata"], false);
    assert_eq!(f0["dist-info-metadata"], false);
    assert_eq!(f0["provenance"], serde_json::Value::Null);
    assert_eq!(files[1]["requires-python"], ">=3.8,<4");
    assert_eq!(
        files[1]["core-metadata"],
        serde_json::json!({"sha256": "cc"})
    );
    assert_eq!(
        files[1]["data-dist-info-metadata"],
        serde_json::json!({"sha256": "cc"})
    );
    assert_eq!(
        files[1]["dist-info-metadata"],
        serde_json::json!({"sha256": "cc"})
    );
    assert_eq!(files[2]["yanked"], true);
    assert_eq!(files[2]["requires-python"], serde_json::Value::Null);
    assert_eq!(
        files[3]["yanked"],
        "bad <svg onload=alert(1)> \"q\" 'a' & co"
    );
    // Key order is fixed (meta first), so output is byte-stable.
    assert!(text.starts_with(r#"{"meta":{"api-version":"1.4","_last-serial":42},"name":"foo-bar","project-status":{"status":"active"},"versions":["1.0","2.0"],"files":[{"filename":"foo_bar-1.0.tar.gz","url":"#));
    assert_eq!(text, project_json(&fixture()));
}

/// An upstream page's fields: unknown size and upload time are left out of the JSON (not
/// written as 0 or ""), provenance and the PEP 792 reason are written in both formats.
fn upstream_page() -> ProjectPage {
    let sha = "ab".repeat(32);
    let known = SimpleFile {
        provenance: Some("https://up.example/integrity/p?a=1&b=\"2\"".to_owned()),
        core_metadata_sha256: Some("cd".repeat(32)),
        ..file(
            "foo_bar-1.0-py3-none-any.whl",
            "https://x/foo_bar-1.0-py3-none-any.whl",
            &sha,
        )
    };
    let unknown = SimpleFile {
        size: None,
        upload_time: None,
        requires_python: Some(">=3.9".to_owned()),
        ..file("foo_bar-1.0.tar.gz", "https://x/foo_bar-1.0.tar.gz", &sha)
    };
    ProjectPage {
        name: name("foo-bar"),
        status: ProjectStatus::Deprecated,
        status_reason: Some("use: <other> & \"more\"".to_owned()),
        last_serial: 5,
        versions: vec!["1.0".to_owned()],
        files: vec![known, unknown],
    }
}

#[test]
fn project_html_writes_provenance_and_status_reason() {
    let html = project_html(&upstream_page());
    let sha = "ab".repeat(32);
    let md = "cd".repeat(32);
    assert!(html.contains(
        "<meta name=\"pypi:project-status\" content=\"deprecated\"><meta name=\"pypi:project-status-reason\" content=\"use: &lt;other&gt; &amp; &#34;more&#34;\">    <title>"
    ), "{html}");
    assert!(html.contains(&format!(
        "<a href=\"https://x/foo_bar-1.0-py3-none-any.whl#sha256={sha}\" data-dist-info-metadata=\"sha256={md}\" data-core-metadata=\"sha256={md}\" data-provenance=\"https://up.example/integrity/p?a=1&amp;b=&#34;2&#34;\">foo_bar-1.0-py3-none-any.whl</a><br />"
    )), "{html}");
    assert!(html.contains(&format!(
        "<a href=\"https://x/foo_bar-1.0.tar.gz#sha256={sha}\" data-requires-python=\"&gt;=3.9\" >foo_bar-1.0.tar.gz</a><br />"
    )), "{html}");
    // A local page (no reason) has no reason marker.
    assert!(!project_html(&fixture()).contains("project-status-reason"));
}

#[test]
fn project_json_leaves_unknown_size_and_upload_time_out() {
    let text = project_json(&upstream_page());
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(
        doc["project-status"],
        serde_json::json!({"status": "deprecated", "reason": "use: <other> & \"more\""})
    );
    let files = doc["files"].as_array().expect("files");
    assert_eq!(
        files[0]["provenance"],
        "https://up.example/integrity/p?a=1&b=\"2\""
    );
    assert_eq!(files[0]["size"], 100);
    assert_eq!(files[0]["upload-time"], "2024-01-02T03:04:05.123456Z");
    let unknown = files[1].as_object().expect("object");
    assert!(!unknown.contains_key("size"), "{text}");
    assert!(!unknown.contains_key("upload-time"), "{text}");
    assert_eq!(unknown["provenance"], serde_json::Value::Null);
    // A local page (no reason) keeps PyPI's `{"status": …}` exactly.
    assert!(project_json(&fixture()).contains(r#""project-status":{"status":"active"}"#));
}

/// What strongroom writes, its own reader reads back unchanged, in both formats: a
/// strongroom can be another strongroom's upstream with full fidelity.
#[test]
fn rendered_pages_read_back_unchanged() {
    use super::read::{UpstreamStatus, parse_project_html, parse_project_json};
    let page = upstream_page();
    let asked = name("foo-bar");
    let url = "https://sr.example/simple/foo-bar/";
    let from_json = parse_project_json(&asked, project_json(&page).as_bytes(), url)
        .expect("reads its own JSON");
    let from_html = parse_project_html(&asked, project_html(&page).as_bytes(), url)
        .expect("reads its own HTML");
    for read in [&from_json, &from_html] {
        assert_eq!(read.status, UpstreamStatus::Deprecated);
        assert_eq!(read.status_reason, page.status_reason);
        assert_eq!(read.files.len(), 2);
        for (got, want) in read.files.iter().zip(&page.files) {
            assert_eq!(got.filename, want.filename);
            assert_eq!(got.url, want.url);
            assert_eq!(got.sha256.as_deref(), Some(want.sha256.as_str()));
            assert_eq!(got.requires_python, want.requires_python);
            assert_eq!(got.yanked, want.yanked);
            assert_eq!(
                got.core_metadata,
                want.core_metadata_sha256.clone().map(Some)
            );
            // URLs come back as the URL standard writes them (`"` in a query → `%22`).
            let normal = |u: &str| url::Url::parse(u).map(String::from).ok();
            assert_eq!(got.provenance, want.provenance.as_deref().and_then(normal));
        }
    }
    assert_eq!(from_json.versions, page.versions);
    for (got, want) in from_json.files.iter().zip(&page.files) {
        assert_eq!(got.size, want.size);
        assert_eq!(got.upload_time, want.upload_time);
    }
}
