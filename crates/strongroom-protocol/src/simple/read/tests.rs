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
        "project-status":{{"status":"STATUS","reason":"use other"}},
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
    let quarantined = json(&body.replace("STATUS", "quarantined")).expect("reads");
    assert_eq!(quarantined.status, UpstreamStatus::Quarantined);
    assert_eq!(
        quarantined.files,
        [],
        "PEP 792: a quarantined project offers no files"
    );
    let page = json(&body.replace("STATUS", "deprecated")).expect("reads");
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
    let quarantined = html(&body).expect("reads");
    assert_eq!(quarantined.status, UpstreamStatus::Quarantined);
    assert_eq!(quarantined.status_reason.as_deref(), Some("under <review>"));
    assert_eq!(
        quarantined.files,
        [],
        "PEP 792: a quarantined project offers no files"
    );
    let page = html(&body.replace("quarantined", "archived")).expect("reads");
    assert_eq!(page.status, UpstreamStatus::Archived);
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
        err(json(" {")),
        "not a project page: invalid JSON page: EOF while parsing an object at line 1 column 2"
    );
    assert_eq!(
        err(json(r#"{"name":["demo"],"files":[]}"#)),
        "not a project page: invalid JSON page: invalid type: sequence, expected a string at line 1 column 8"
    );
    assert_eq!(
        err(json(r#"{"message":"no such project"}"#)),
        "not a project page: invalid JSON page: missing field `files` at line 1 column 29"
    );
    assert_eq!(
        err(json(r#"{"name":"demo","files":{}}"#)),
        "not a project page: invalid JSON page: invalid type: map, expected a list of at most 250000 entries at line 1 column 23"
    );
    for not_an_object in ["[]", r#"[null,null,[],null,null]"#, "\"x\"", "", "  \n"] {
        assert_eq!(
            err(json(not_an_object)),
            "not a project page: invalid JSON page: not a JSON object",
            "{not_an_object:?}"
        );
    }
    assert_eq!(
        err(json(r#"{"name":"demo"}"#)),
        "not a project page: invalid JSON page: missing field `files` at line 1 column 15"
    );
    assert_eq!(
        err(json(r#"{"name":"demo","files":["x"]}"#)),
        "not a project page: invalid JSON page: invalid type: string \"x\", expected a file object at line 1 column 27"
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
    // Messages quoting the page are bounded and carry no control characters (they are logged
    // and stored).
    let huge = "x".repeat(1 << 20);
    assert_eq!(
        err(json(&format!(r#"{{"name":"demo","files":["{huge}"]}}"#))),
        format!(
            "not a project page: invalid JSON page: invalid type: string \"{}",
            &huge[..200 - "invalid type: string \"".len()]
        ) + &format!(
            " at line 1 column {}",
            r#"{"name":"demo","files":[""#.len() + huge.len() + 1
        )
    );
    assert_eq!(
        err(json(&format!(r#"{{"name":"{huge}\u001b[2J","files":[]}}"#))),
        format!("the page is for {}, not demo", &huge[..200])
    );
    assert_eq!(
        err(json(r#"{"name":"x\u001b[2J\r\n","files":[]}"#)),
        "the page is for x [2J  , not demo"
    );
    let long = err(json(&format!(
        r#"{{"meta":{{"api-version":"{huge}"}},"name":"demo","files":[]}}"#
    )));
    assert!(
        long.len() <= "not a project page: ".len() + 512,
        "{}",
        long.len()
    );
}

fn one_html(anchor: &str) -> Option<UpstreamFile> {
    let mut page = html(&format!("<html><body>{anchor}</body></html>")).expect("reads");
    assert!(page.files.len() <= 1, "{page:?}");
    page.files.pop()
}

fn one_json(file: &str) -> Option<UpstreamFile> {
    let mut page = json(&format!(r#"{{"name":"demo","files":[{file}]}}"#)).expect("reads");
    assert!(page.files.len() <= 1, "{page:?}");
    page.files.pop()
}

/// Markup pip (Python's HTMLParser) and uv read, read the same way.
#[test]
fn html_odd_but_valid_markup() {
    let upper = SHA.to_ascii_uppercase();
    // Unquoted and single-quoted attributes, upper-case tag and attribute names.
    let f = one_html(&format!(
        "<A HREF=/f/demo-1.0.tar.gz#sha256={upper} DATA-REQUIRES-PYTHON='&gt;=3.8'>x</A>"
    ))
    .expect("a file");
    assert_eq!(f.url, "https://up.example/f/demo-1.0.tar.gz");
    assert_eq!(
        f.sha256.as_deref(),
        Some(SHA),
        "upper-case hex is lower-cased"
    );
    assert_eq!(f.requires_python.as_deref(), Some(">=3.8"));
    // Entities in attributes: named, decimal, hex, and `&` in a query.
    let f = one_html(&format!(
        r#"<a href="demo-1.0&#43;local-py3-none-any.whl?a=1&amp;b=2#sha256={SHA}" data-yanked="a &quot;reason&quot; &#x26; more">x</a>"#
    ))
    .expect("a file");
    assert_eq!(f.filename, "demo-1.0+local-py3-none-any.whl");
    assert_eq!(
        f.url,
        "https://up.example/simple/demo/demo-1.0+local-py3-none-any.whl?a=1&b=2"
    );
    assert_eq!(f.yanked.as_deref(), Some("a \"reason\" & more"));
    // Percent-encoded filenames are decoded, as pip and uv name the file.
    let f = one_html(&format!(
        r#"<a href="demo-1.0%2Blocal.tar.gz#sha256={SHA}">x</a>"#
    ))
    .expect("a file");
    assert_eq!(f.filename, "demo-1.0+local.tar.gz");
    // Relative URLs of every kind.
    for (href, url) in [
        (
            "../../f/demo-1.0.tar.gz",
            "https://up.example/f/demo-1.0.tar.gz",
        ),
        ("/f/demo-1.0.tar.gz", "https://up.example/f/demo-1.0.tar.gz"),
        (
            "//files.example/demo-1.0.tar.gz",
            "https://files.example/demo-1.0.tar.gz",
        ),
        (
            "demo-1.0.tar.gz",
            "https://up.example/simple/demo/demo-1.0.tar.gz",
        ),
        (
            "  demo-1.0.tar.gz  ",
            "https://up.example/simple/demo/demo-1.0.tar.gz",
        ),
    ] {
        let f = one_html(&format!(r#"<a href="{href}">x</a>"#)).expect(href);
        assert_eq!(f.url, url, "{href}");
        assert_eq!(f.filename, "demo-1.0.tar.gz");
        assert_eq!(f.sha256, None);
    }
    // Only sha256 is kept; other algorithms and other fragment parts are not a sha256.
    for (fragment, sha) in [
        (format!("md5={}", &SHA[..32]), None),
        (format!("sha512={SHA}{SHA}"), None),
        (format!("egg=demo&sha256={SHA}"), Some(SHA)),
        (format!("sha256={SHA}&subdirectory=x"), Some(SHA)),
        ("sha256=abc".to_owned(), None),
        (format!("sha256={}zz", &SHA[..62]), None),
        ("main".to_owned(), None),
    ] {
        let f =
            one_html(&format!(r#"<a href="demo-1.0.tar.gz#{fragment}">x</a>"#)).expect("a file");
        assert_eq!(f.sha256.as_deref(), sha, "{fragment}");
        assert_eq!(f.url, "https://up.example/simple/demo/demo-1.0.tar.gz");
    }
    // PEP 658/714 metadata values.
    for (attrs, want) in [
        (r#"data-dist-info-metadata="true""#.to_owned(), Some(None)),
        (r#"data-core-metadata="true""#.to_owned(), Some(None)),
        (r#"data-core-metadata="false""#.to_owned(), None),
        (
            format!(r#"data-core-metadata="sha256={SHA}""#),
            Some(Some(SHA.to_owned())),
        ),
        (
            format!(r#"data-core-metadata="SHA256={upper}""#),
            Some(Some(SHA.to_owned())),
        ),
        (format!(r#"data-core-metadata="sha512={SHA}""#), Some(None)),
        ("data-core-metadata=garbage".to_owned(), Some(None)),
        (
            format!(r#"data-dist-info-metadata="sha256={SHA}" data-core-metadata="true""#),
            Some(None),
        ),
        (
            format!(r#"data-dist-info-metadata="sha256={SHA}""#),
            Some(Some(SHA.to_owned())),
        ),
    ] {
        let f = one_html(&format!(r#"<a href="demo-1.0.tar.gz" {attrs}>x</a>"#)).expect("file");
        assert_eq!(f.core_metadata, want, "{attrs}");
    }
    // `data-yanked` with no value is yanked without a reason.
    let f = one_html(r#"<a href="demo-1.0.tar.gz" data-yanked>x</a>"#).expect("a file");
    assert_eq!(f.yanked.as_deref(), Some(""));
    // uv's non-standard HTML `data-size` / `data-upload-time`.
    let f = one_html(
        r#"<a href="demo-1.0.tar.gz" data-size=42 data-upload-time="2024-05-06T07:08:09Z">x</a>"#,
    )
    .expect("a file");
    assert_eq!(
        (f.size, f.upload_time.as_deref()),
        (Some(42), Some("2024-05-06T07:08:09Z"))
    );
}

#[test]
fn html_base_href_and_what_is_not_a_link() {
    let page = html(&format!(
        r##"<html><head><base href="/mirror/"><base href="https://ignored.example/"></head><body>
        <a href="demo-1.0.tar.gz#sha256={SHA}">x</a>
        <a>no href</a><a href="">empty</a><a href="#only-a-fragment">x</a>
        <a href="javascript:alert(1)">x</a><a href="file:///etc/demo-1.0.tar.gz">x</a>
        <a href="data:text/plain,demo-1.0.tar.gz">x</a><a href="ftp://h/demo-1.0.tar.gz">x</a>
        <a href="demo%2F..%2Fescape.tar.gz">x</a><a href="demo-1.0%00.tar.gz">x</a>
        <a href="./">dir</a><a href="..">dots</a>
        <!-- <a href="commented-1.0.tar.gz">x</a> -->
        <script>var s = '<a href="scripted-1.0.tar.gz">x</a>';</script>
        <style>a[href="styled-1.0.tar.gz"] {{}}</style>
        <textarea><a href="textarea-1.0.tar.gz">x</a></textarea>
        </body></html>"##
    ))
    .expect("reads");
    let urls: Vec<&str> = page.files.iter().map(|f| f.url.as_str()).collect();
    assert_eq!(urls, ["https://up.example/mirror/demo-1.0.tar.gz"]);
}

#[test]
fn html_status_meta_and_headings() {
    let page = html(
        r#"<meta name="pypi:project-status" content="archived">
           <meta name="pypi:project-status" content="quarantined">
           <meta name="pypi:project-status-reason" content="line one
line two &#27;[31m">
           <title>Links for DEMO</title><h1>Links for demo</h1>"#,
    )
    .expect("reads");
    assert_eq!(
        page.status,
        UpstreamStatus::Archived,
        "the first marker counts"
    );
    assert_eq!(
        page.status_reason.as_deref(),
        Some("line one line two  [31m"),
        "control characters (terminal escapes too) become spaces"
    );
    for (status, want) in [
        ("active", UpstreamStatus::Active),
        ("deprecated", UpstreamStatus::Deprecated),
        ("quarantined", UpstreamStatus::Quarantined),
        ("something-new", UpstreamStatus::Active),
    ] {
        let page = html(&format!(
            r#"<meta name="pypi:project-status" content="{status}">"#
        ))
        .expect("reads");
        assert_eq!(page.status, want, "{status}");
    }
    // A page with no heading, or a heading that names nothing, is not checked.
    for body in ["", "<title>Simple</title>", "<h1>Index of /demo</h1>"] {
        assert!(html(body).is_ok(), "{body}");
    }
    // Non-UTF-8 bytes do not make the page unreadable.
    let page = parse_project_html(
        &demo(),
        b"<a href=\"demo-1.0.tar.gz\" data-yanked=\"caf\xe9\">x</a>",
        PAGE,
    )
    .expect("reads");
    assert_eq!(page.files[0].yanked.as_deref(), Some("caf\u{fffd}"));
}

#[test]
fn json_odd_but_valid_values() {
    let href = r#""filename":"demo-1.0.tar.gz","url":"demo-1.0.tar.gz""#;
    // yanked: true | "reason" | "" | false | null | absent.
    for (value, want) in [
        ("true", Some("")),
        (r#""broken""#, Some("broken")),
        (r#""""#, Some("")),
        ("false", None),
        ("null", None),
    ] {
        let f = one_json(&format!(r#"{{{href},"yanked":{value}}}"#)).expect("a file");
        assert_eq!(f.yanked.as_deref(), want, "{value}");
    }
    assert_eq!(one_json(&format!("{{{href}}}")).expect("file").yanked, None);
    // core-metadata: true | {sha256} | false, the older names as fallback.
    for (keys, want) in [
        (r#""core-metadata":true"#.to_owned(), Some(None)),
        (
            format!(r#""core-metadata":{{"sha256":"{SHA}"}}"#),
            Some(Some(SHA.to_owned())),
        ),
        (
            format!(
                r#""core-metadata":{{"sha256":"{}"}}"#,
                SHA.to_ascii_uppercase()
            ),
            Some(Some(SHA.to_owned())),
        ),
        (r#""core-metadata":{"sha512":"ab"}"#.to_owned(), Some(None)),
        (r#""core-metadata":false"#.to_owned(), None),
        (r#""dist-info-metadata":true"#.to_owned(), Some(None)),
        (
            format!(r#""data-dist-info-metadata":{{"sha256":"{SHA}"}}"#),
            Some(Some(SHA.to_owned())),
        ),
        (
            format!(r#""dist-info-metadata":{{"sha256":"{SHA}"}},"core-metadata":true"#),
            Some(None),
        ),
        (r#""core-metadata":"yes""#.to_owned(), None),
    ] {
        let f = one_json(&format!("{{{href},{keys}}}")).expect("a file");
        assert_eq!(f.core_metadata, want, "{keys}");
    }
    // Fields of an odd type read as absent; the file stays.
    let f = one_json(&format!(
        r#"{{{href},"hashes":"{SHA}","size":"12","upload-time":12,"requires-python":3,"provenance":true}}"#
    ))
    .expect("a file");
    assert_eq!(
        (
            f.sha256,
            f.size,
            f.upload_time,
            f.requires_python,
            f.provenance
        ),
        (None, None, None, None, None)
    );
    // A repeated key: the last one wins, as Python's json reads it.
    let f = one_json(&format!(r#"{{{href},"size":1,"size":2}}"#)).expect("a file");
    assert_eq!(f.size, Some(2));
    // upload-time: PEP 700's form kept as given; other RFC 3339 spellings rewritten to the
    // same instant in that form (pip on Python < 3.11 reads nothing else); the rest dropped.
    for (value, kept) in [
        ("2024-01-02T03:04:05Z", Some("2024-01-02T03:04:05Z")),
        (
            "2024-01-02T03:04:05.123456Z",
            Some("2024-01-02T03:04:05.123456Z"),
        ),
        (
            "2024-01-02T03:04:05.123456789Z",
            Some("2024-01-02T03:04:05.123456Z"),
        ),
        (
            "2024-01-02T03:04:05.1Z",
            Some("2024-01-02T03:04:05.100000Z"),
        ),
        ("2024-01-02t03:04:05z", Some("2024-01-02T03:04:05Z")),
        ("2024-01-02 03:04:05Z", Some("2024-01-02T03:04:05Z")),
        (" 2024-01-02T03:04:05Z ", Some("2024-01-02T03:04:05Z")),
        ("2024-01-02T03:04:05+02:00", Some("2024-01-02T01:04:05Z")),
        (
            "2024-03-01T01:00:00.5+02:30",
            Some("2024-02-29T22:30:00.500000Z"),
        ),
        ("2023-12-31T23:30:00-01:00", Some("2024-01-01T00:30:00Z")),
        ("2024-02-29T00:00:00Z", Some("2024-02-29T00:00:00Z")),
        ("2023-02-29T00:00:00Z", None),
        ("1900-02-29T00:00:00Z", None),
        ("2024-04-31T00:00:00Z", None),
        ("0000-01-01T00:00:00Z", None),
        ("0001-01-01T00:00:00+00:01", None),
        ("2024-01-02T03:04:60Z", None),
        ("2024-01-02T03:04:05", None),
        ("2024-13-02T03:04:05Z", None),
        ("2024-01-02T24:04:05Z", None),
        ("2024-01-02T03:04:05.Z", None),
        ("2024-01-02T03:04:05.1234567890Z", None),
        ("2024-01-02T03:04:05+24:00", None),
        ("2024-01-02T03:04:05+0200", None),
        ("+2024-01-02T03:04:05Z", None),
        ("yesterday", None),
        ("", None),
    ] {
        let f = one_json(&format!(r#"{{{href},"upload-time":"{value}"}}"#)).expect("file");
        assert_eq!(f.upload_time.as_deref(), kept, "{value}");
        assert_eq!(normal_upload_time(value).as_deref(), kept, "{value}");
    }
    // The fragment is a fallback for a missing hashes table; the URL keeps no fragment.
    let f = one_json(&format!(
        r#"{{"filename":"demo-1.0.tar.gz","url":"x/demo-1.0.tar.gz#sha256={SHA}"}}"#
    ))
    .expect("a file");
    assert_eq!(f.sha256.as_deref(), Some(SHA));
    assert_eq!(f.url, "https://up.example/simple/demo/x/demo-1.0.tar.gz");
    // Entries that cannot be a file are dropped, as pip skips them.
    for entry in [
        "{}",
        r#"{"url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"demo-1.0.tar.gz","url":"javascript:x"}"#,
        r#"{"filename":"../demo-1.0.tar.gz","url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"a\\b.tar.gz","url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"a\u0000.tar.gz","url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"..","url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":"","url":"demo-1.0.tar.gz"}"#,
        r#"{"filename":7,"url":"demo-1.0.tar.gz"}"#,
    ] {
        assert_eq!(one_json(entry), None, "{entry}");
    }
    // Without a name (pip and uv do not read it) the page reads; files still must be demo's.
    assert_eq!(json(r#"{"files":[]}"#).expect("reads").name, "demo");
    // Other keys and a page without meta, versions or status read fine; unknown status = active.
    let page = json(
        r#"{"name":"DEMO","files":[],"alternate-locations":[],"project-status":{"status":"new"},"versions":["1.0",2,""]}"#,
    )
    .expect("reads");
    assert_eq!(page.status, UpstreamStatus::Active);
    assert_eq!(page.versions, ["1.0"]);
}

#[test]
fn bounds_on_what_one_page_may_hold() {
    // File count: one more than the limit is refused, in both formats.
    let files = vec!["{}"; MAX_FILES + 1].join(",");
    assert_eq!(
        err(json(&format!(r#"{{"name":"demo","files":[{files}]}}"#))),
        format!(
            "not a project page: invalid JSON page: more than {MAX_FILES} entries in a list at line 1 column {}",
            r#"{"name":"demo","files":["#.len() + 3 * (MAX_FILES + 1)
        )
    );
    let at_limit = vec!["{}"; MAX_FILES].join(",");
    assert!(json(&format!(r#"{{"name":"demo","files":[{at_limit}]}}"#)).is_ok());
    let versions = vec!["\"1\""; MAX_VERSIONS + 1].join(",");
    assert!(
        err(json(&format!(
            r#"{{"name":"demo","files":[],"versions":[{versions}]}}"#
        )))
        .contains(&format!("more than {MAX_VERSIONS} entries in a list"))
    );
    // (HTML at a small limit: the tokenizer is generic, so it runs unoptimised in tests.)
    let read = |n: usize| {
        let links = "<a href=demo-1.0.tar.gz>x</a><a>no href</a>".repeat(n);
        super::html::parse_with_limit(&demo(), links.as_bytes(), PAGE, 10)
    };
    assert_eq!(
        err(read(11)),
        "not a project page: more than 10 links on the page"
    );
    assert_eq!(read(10).expect("reads").files.len(), 10);
    // Strings: an overlong URL, filename or requires-python drops the file; reasons are cut.
    let long_url = format!("{}/demo-1.0.tar.gz", "a".repeat(MAX_URL_BYTES));
    assert_eq!(one_html(&format!(r#"<a href="{long_url}">x</a>"#)), None);
    // (A wheel whose compressed tag set `py3.py3.….py3` makes the name long: 21 + 4n bytes.)
    let wheel = |tags: usize| format!("demo-1.0-{}-none-any.whl", vec!["py3"; tags].join("."));
    let long_name = wheel((MAX_FILENAME_BYTES - 21) / 4 + 1);
    assert_eq!(one_html(&format!(r#"<a href="{long_name}">x</a>"#)), None);
    let ok_name = wheel((MAX_FILENAME_BYTES - 21) / 4);
    assert!(long_name.len() > MAX_FILENAME_BYTES && ok_name.len() > MAX_FILENAME_BYTES - 4);
    assert!(one_html(&format!(r#"<a href="{ok_name}">x</a>"#)).is_some());
    let long_rp = format!(">={}", "1".repeat(MAX_REQUIRES_PYTHON_BYTES));
    assert_eq!(
        one_html(&format!(
            r#"<a href="demo-1.0.tar.gz" data-requires-python="{long_rp}">x</a>"#
        )),
        None
    );
    let long_reason = "é".repeat(MAX_REASON_BYTES);
    let f = one_html(&format!(
        r#"<a href="demo-1.0.tar.gz" data-yanked="{long_reason}">x</a>"#
    ))
    .expect("a file");
    assert_eq!(
        f.yanked.as_deref(),
        Some("é".repeat(MAX_REASON_BYTES / 2).as_str())
    );
    let page = json(&format!(
        r#"{{"name":"demo","files":[],"project-status":{{"status":"archived","reason":"{long_reason}"}},"versions":["{}"]}}"#,
        "1".repeat(MAX_VERSION_BYTES + 1)
    ))
    .expect("reads");
    assert_eq!(page.status_reason.map(|r| r.len()), Some(MAX_REASON_BYTES));
    assert!(page.versions.is_empty());
    // The heading kept for the name check is bounded too (a long one names nothing).
    let long_title = format!("<title>Links for {}</title>", "x".repeat(10_000));
    assert!(html(&long_title).is_ok());
}

/// A filename an upload would refuse is dropped: a bidi override or a space in a wheel tag,
/// a space or a non-ASCII letter anywhere (an admin reads these names; they are blob keys).
#[test]
fn filenames_an_upload_refuses_are_dropped() {
    for filename in [
        "demo-1.0-py3-none-\u{202e}any.whl",
        "demo-1.0-py3-\u{202e}none-any.whl",
        "demo-1.0-py3-none-any .whl",
        "demo-1.0-py3-no ne-any.whl",
        "demo-1.0-1\u{202e}x-py3-none-any.whl",
        "demo-1.0-py3-none-\u{430}ny.whl",
        "demo-1.0 .tar.gz",
        "demo-1.0\u{202e}.tar.gz",
    ] {
        assert_eq!(dist_version(filename, &demo()), None, "{filename:?}");
        let entry = format!(r#"{{"filename":"{filename}","url":"f/x.whl"}}"#);
        assert_eq!(one_json(&entry), None, "{filename:?}");
    }
    // what they imitate is kept
    for filename in [
        "demo-1.0-py3-none-any.whl",
        "demo-1.0-1_b-cp313-cp313t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "demo-1.0.tar.gz",
    ] {
        assert!(dist_version(filename, &demo()).is_some(), "{filename:?}");
    }
}

/// Only distributions of the project asked for are kept (pip and uv skip another project's
/// file on a page; the gateway's per-version rules need the version each file belongs to).
#[test]
fn only_the_projects_distributions_are_kept() {
    for (filename, version) in [
        ("demo-1.0.tar.gz", Some("1.0")),
        ("Demo-1.0.tar.gz", Some("1.0")),
        ("demo-1.0-1.tar.gz", Some("1.0-1")),
        ("demo-1.0.zip", Some("1.0")),
        ("demo-1.0.tar.bz2", Some("1.0")),
        ("demo-1.0.tgz", Some("1.0")),
        ("demo-2.0rc1.tar.xz", Some("2.0rc1")),
        ("demo-1.0+local.tar.gz", Some("1.0+local")),
        ("demo-1.0-py3-none-any.whl", Some("1.0")),
        (
            "DEMO-1.0-2-cp311-cp311-manylinux_2_17_x86_64.whl",
            Some("1.0"),
        ),
        ("other-1.0.tar.gz", None),
        ("demo-x-1.0.tar.gz", None),
        ("demo_x-1.0-py3-none-any.whl", None),
        ("demo-1.0.egg", None),
        ("demo-1.0.win32.exe", None),
        ("demo-1.0-py3-none-any.whl.metadata", None),
        ("demo-notaversion.tar.gz", None),
        ("demo.tar.gz", None),
        ("demo-1.0-py3-none.whl", None),
    ] {
        let kept = one_json(&format!(
            r#"{{"filename":"{filename}","url":"f/{filename}"}}"#
        ));
        assert_eq!(
            kept.as_ref()
                .and_then(|f| f.version(&demo()))
                .map(|v| v.raw().to_owned())
                .as_deref(),
            version,
            "{filename}"
        );
        assert_eq!(kept.is_some(), version.is_some(), "{filename}");
        assert_eq!(
            one_html(&format!(r#"<a href="f/{filename}">x</a>"#)).is_some(),
            version.is_some(),
            "{filename}"
        );
    }
    let name = NormalizedName::new("python-dateutil").expect("valid");
    let version = dist_version("python_dateutil-2.8.2.tar.gz", &name).map(|v| v.raw().to_owned());
    assert_eq!(version.as_deref(), Some("2.8.2"));
}
