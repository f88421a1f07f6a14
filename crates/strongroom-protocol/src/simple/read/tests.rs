//! Tests of the upstream page readers: PyPI-shaped pages, the odd-but-valid inputs pip and uv
//! accept, the bounds, and every error message word for word.

use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const PAGE: &str = "https://up.example/simple/demo/";

fn demo() -> NormalizedName {
    NormalizedName::new("demo").expect("valid name")
}

fn json(body: &str) -> Result<UpstreamPage, ReadError> {
    parse_project_json(&demo(), body.as_bytes(), PAGE)
}

fn html(body: &str) -> Result<UpstreamPage, ReadError> {
    parse_project_html(&demo(), body.as_bytes(), PAGE)
}

fn err(result: Result<UpstreamPage, ReadError>) -> String {
    match result {
        Ok(page) => panic!("expected an error, got {page:?}"),
        Err(e) => e.to_string(),
    }
}

/// A page shaped like PyPI's JSON (every field strongroom keeps, plus the legacy keys).
#[test]
fn json_page_like_pypis_reads_every_field() {
    let body = format!(
        r#"{{"meta":{{"api-version":"1.4","_last-serial":7}},"name":"Demo",
        "project-status":{{"status":"deprecated","reason":"use other"}},
        "versions":["1.0","2.0"],
        "files":[
          {{"filename":"demo-1.0.tar.gz","url":"https://files.example/p/demo-1.0.tar.gz",
            "hashes":{{"sha256":"{SHA}","md5":"x"}},"requires-python":">=3.8","size":123,
            "upload-time":"2024-01-02T03:04:05.123456Z","yanked":false,
            "data-dist-info-metadata":false,"core-metadata":false,"provenance":null}},
          {{"filename":"demo-2.0-py3-none-any.whl","url":"../../files/demo-2.0-py3-none-any.whl",
            "hashes":{{"sha256":"{upper}"}},"requires-python":null,"size":5,
            "upload-time":"2025-01-02T03:04:05Z","yanked":"broken",
            "core-metadata":{{"sha256":"{SHA}"}},"provenance":"https://up.example/integrity/demo/2.0/demo-2.0-py3-none-any.whl/provenance"}}
        ]}}"#,
        upper = SHA.to_ascii_uppercase()
    );
    let page = json(&body).expect("reads");
    assert_eq!(page.name, "demo");
    assert_eq!(page.status, UpstreamStatus::Deprecated);
    assert_eq!(page.status_reason.as_deref(), Some("use other"));
    assert_eq!(page.versions, ["1.0", "2.0"]);
    assert_eq!(
        page.files,
        [
            UpstreamFile {
                filename: "demo-1.0.tar.gz".into(),
                url: "https://files.example/p/demo-1.0.tar.gz".into(),
                sha256: Some(SHA.into()),
                requires_python: Some(">=3.8".into()),
                yanked: None,
                size: Some(123),
                upload_time: Some("2024-01-02T03:04:05.123456Z".into()),
                core_metadata: None,
                provenance: None,
            },
            UpstreamFile {
                filename: "demo-2.0-py3-none-any.whl".into(),
                url: "https://up.example/files/demo-2.0-py3-none-any.whl".into(),
                sha256: Some(SHA.into()),
                requires_python: None,
                yanked: Some("broken".into()),
                size: Some(5),
                upload_time: Some("2025-01-02T03:04:05Z".into()),
                core_metadata: Some(Some(SHA.into())),
                provenance: Some(
                    "https://up.example/integrity/demo/2.0/demo-2.0-py3-none-any.whl/provenance"
                        .into()
                ),
            },
        ]
    );
}

/// A page shaped like PyPI's HTML.
#[test]
fn html_page_like_pypis_reads_every_field() {
    let body = format!(
        r#"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta name="pypi:repository-version" content="1.4">
<meta name="pypi:project-status" content="quarantined"><meta name="pypi:project-status-reason" content="under &lt;review&gt;">    <title>Links for Demo</title>
  </head>
  <body>
    <h1>Links for Demo</h1>
<a href="https://files.example/p/demo-1.0.tar.gz#sha256={SHA}" data-requires-python="&gt;=3.8" >demo-1.0.tar.gz</a><br />
<a href="../../files/demo-2.0-py3-none-any.whl#sha256={SHA}" data-yanked="" data-dist-info-metadata="sha256={SHA}" data-core-metadata="sha256={SHA}" data-provenance="/integrity/p">demo-2.0-py3-none-any.whl</a><br />
</body>
</html>
<!--SERIAL 7-->"#
    );
    let page = html(&body).expect("reads");
    assert_eq!(page.status, UpstreamStatus::Quarantined);
    assert_eq!(page.status_reason.as_deref(), Some("under <review>"));
    assert!(page.versions.is_empty());
    assert_eq!(
        page.files,
        [
            UpstreamFile {
                filename: "demo-1.0.tar.gz".into(),
                url: "https://files.example/p/demo-1.0.tar.gz".into(),
                sha256: Some(SHA.into()),
                requires_python: Some(">=3.8".into()),
                yanked: None,
                size: None,
                upload_time: None,
                core_metadata: None,
                provenance: None,
            },
            UpstreamFile {
                filename: "demo-2.0-py3-none-any.whl".into(),
                url: "https://up.example/files/demo-2.0-py3-none-any.whl".into(),
                sha256: Some(SHA.into()),
                requires_python: None,
                yanked: Some(String::new()),
                size: None,
                upload_time: None,
                core_metadata: Some(Some(SHA.into())),
                provenance: Some("https://up.example/integrity/p".into()),
            },
        ]
    );
}

#[test]
fn every_error_message() {
    assert_eq!(
        err(json("{")),
        "not a project page: invalid JSON page: EOF while parsing an object at line 1 column 1"
    );
    assert_eq!(
        err(json(r#"{"files":[]}"#)),
        "not a project page: invalid JSON page: missing field `name` at line 1 column 12"
    );
    assert_eq!(
        err(json(r#"{"name":"demo"}"#)),
        "not a project page: invalid JSON page: missing field `files` at line 1 column 15"
    );
    assert_eq!(
        err(json(r#"{"name":"demo","files":["x"]}"#)),
        "not a project page: invalid JSON page: invalid type: string \"x\", expected struct FileDoc at line 1 column 27"
    );
    assert_eq!(
        err(json(
            r#"{"meta":{"api-version":"2.0"},"name":"demo","files":[]}"#
        )),
        "not a project page: API version \"2.0\" is not supported (strongroom reads 1.x)"
    );
    assert_eq!(
        err(json(
            r#"{"meta":{"api-version":1},"name":"demo","files":[]}"#
        )),
        "not a project page: meta.api-version is not a string: 1"
    );
    assert_eq!(
        err(json(r#"{"name":"other","files":[]}"#)),
        "the page is for other, not demo"
    );
    assert_eq!(
        err(parse_project_json(&demo(), b"{}", "file:///etc/")),
        "not a project page: the page URL \"file:///etc/\" is not an http(s) URL"
    );
    assert_eq!(
        err(parse_project_html(&demo(), b"", "/simple/demo/")),
        "not a project page: the page URL \"/simple/demo/\" is not an http(s) URL"
    );
    assert_eq!(
        err(html(
            r#"<meta name="pypi:repository-version" content="2.0">"#
        )),
        "not a project page: API version \"2.0\" is not supported (strongroom reads 1.x)"
    );
    assert_eq!(
        err(html("<title>Links for other</title>")),
        "the page is for other, not demo"
    );
    assert_eq!(
        err(html("<h1>Links for Other_Name</h1>")),
        "the page is for Other_Name, not demo"
    );
}
