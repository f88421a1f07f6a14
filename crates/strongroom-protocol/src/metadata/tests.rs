//! Tests for core-metadata parsing and validation.

use super::*;

const SETUPTOOLS_METADATA: &str = "Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
Author-email: me@kennethreitz.org
License: Apache 2.0
Project-URL: Documentation, https://requests.readthedocs.io
Project-URL: Source, https://github.com/psf/requests
Platform: UNKNOWN
Classifier: Development Status :: 5 - Production/Stable
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.7
Description-Content-Type: text/markdown
License-File: LICENSE
Requires-Dist: charset-normalizer (<4,>=2)
Requires-Dist: idna (<4,>=2.5)
Requires-Dist: urllib3 (<3,>=1.21.1)
Requires-Dist: certifi (>=2017.4.17)
Provides-Extra: socks
Requires-Dist: PySocks (!=1.5.7,>=1.5.6) ; extra == 'socks'
Provides-Extra: use_chardet_on_py3
Requires-Dist: chardet (<6,>=3.0.2) ; extra == 'use_chardet_on_py3'

# Requests

**Requests** is a simple, yet elegant, HTTP library.
";

const HATCHLING_24: &str = "Metadata-Version: 2.4
Name: hatch-demo
Version: 1.2.0
Summary: A demo
Project-URL: Homepage, https://example.org/demo
Project-URL: Issues, https://example.org/demo/issues
Author-email: Jane Doe <jane@example.org>
License-Expression: MIT OR (Apache-2.0 WITH LLVM-exception)
License-File: LICENSE.txt
License-File: licenses/third_party/NOTICE
Keywords: demo,example , packaging
Classifier: Programming Language :: Python :: 3.12
Requires-Python: >=3.9
Provides-Extra: docs
Requires-Dist: sphinx>=7; extra == 'docs'
Dynamic: Requires-Dist
Description-Content-Type: text/markdown; charset=UTF-8; variant=CommonMark

# hatch-demo

Body text.
";

const OLD_PKG_INFO: &str = "Metadata-Version: 1.0
Name: OldThing
Version: 0.3
Summary: Something old
Home-page: UNKNOWN
Author: A. Person
Author-email: a.person@example.com
License: UNKNOWN
Description: OldThing
        ========
        
        Indented  code block stays indented:
        
            x = 1
        
        The end.
Platform: UNKNOWN
";

fn parse(text: &str) -> CoreMetadata {
    CoreMetadata::parse(text.as_bytes()).unwrap_or_else(|e| panic!("parse failed: {e}"))
}

#[test]
fn setuptools_metadata() {
    let m = parse(SETUPTOOLS_METADATA);
    assert_eq!(m.metadata_version.as_deref(), Some("2.1"));
    assert_eq!(m.name.as_deref(), Some("requests"));
    assert_eq!(m.version.as_deref(), Some("2.31.0"));
    assert_eq!(
        m.home_page.as_deref(),
        Some("https://requests.readthedocs.io")
    );
    assert!(m.platforms.is_empty(), "UNKNOWN dropped");
    assert_eq!(m.classifiers.len(), 3);
    assert_eq!(m.requires_dist.len(), 6);
    assert_eq!(m.requires_dist[0], "charset-normalizer (<4,>=2)");
    assert_eq!(m.provides_extra, ["socks", "use_chardet_on_py3"]);
    assert_eq!(m.license_files, ["LICENSE"]);
    assert_eq!(
        m.project_urls(),
        [
            (
                "Documentation".to_owned(),
                "https://requests.readthedocs.io".to_owned()
            ),
            (
                "Source".to_owned(),
                "https://github.com/psf/requests".to_owned()
            ),
        ]
    );
    assert_eq!(
        m.description.as_deref(),
        Some("# Requests\n\n**Requests** is a simple, yet elegant, HTTP library.\n")
    );
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn hatchling_metadata_2_4() {
    let m = parse(HATCHLING_24);
    assert_eq!(
        m.license_expression.as_deref(),
        Some("MIT OR (Apache-2.0 WITH LLVM-exception)")
    );
    assert_eq!(
        m.license_files,
        ["LICENSE.txt", "licenses/third_party/NOTICE"]
    );
    assert_eq!(m.keywords_list(), ["demo", "example", "packaging"]);
    assert_eq!(
        m.author_email.as_deref(),
        Some("Jane Doe <jane@example.org>")
    );
    assert_eq!(m.dynamic, ["Requires-Dist"]);
    assert!(
        m.description
            .as_deref()
            .is_some_and(|d| d.starts_with("# hatch-demo\n"))
    );
    assert_eq!(m.validate(), Ok(()));

    let mut older = m.clone();
    older.metadata_version = Some("2.3".to_owned());
    assert_eq!(
        older.validate().map_err(|e| e.to_string()),
        Err("license-expression introduced in metadata version 2.4, not 2.3".to_owned())
    );
}

#[test]
fn metadata_2_5_import_names() {
    let text = "Metadata-Version: 2.5\nName: demo\nVersion: 1.0\nImport-Name: demo\nImport-Name: demo._impl; private\nImport-Namespace: demo_ns\n";
    let m = parse(text);
    assert_eq!(m.import_names, ["demo", "demo._impl; private"]);
    assert_eq!(m.import_namespaces, ["demo_ns"]);
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn old_pkg_info_with_indented_description() {
    let m = parse(OLD_PKG_INFO);
    assert_eq!(m.metadata_version.as_deref(), Some("1.0"));
    assert_eq!(m.home_page, None);
    assert_eq!(m.license, None);
    assert_eq!(
        m.description.as_deref(),
        Some("OldThing\n========\n\nIndented  code block stays indented:\n\n    x = 1\n\nThe end.")
    );
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn pipe_prefixed_description_and_folded_headers() {
    let text = "Metadata-Version: 1.1\r\nName: piped\r\nVersion: 1\r\nSummary: folded\r\n  summary\r\nDescription: first\r\n       |second\r\n       |\r\n       |  indented\r\nkeywords: a b\r\n";
    let m = parse(text);
    assert_eq!(
        m.description.as_deref(),
        Some("first\nsecond\n\n  indented")
    );
    assert_eq!(m.summary.as_deref(), Some("folded summary"));
    assert_eq!(
        m.keywords.as_deref(),
        Some("a b"),
        "header names are case-insensitive"
    );
}

#[test]
fn parse_edge_cases() {
    // NUL is neutralised, not kept.
    let m = parse("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nSummary: a\0b\n");
    assert_eq!(m.summary.as_deref(), Some("a\\x00b"));
    // Unknown headers are ignored; a body with no blank line still counts.
    let m = parse("Metadata-Version: 2.1\nName: foo\nX-Custom: 1\nVersion: 1.0\nthis is body\n");
    assert_eq!(m.version.as_deref(), Some("1.0"));
    assert_eq!(m.description.as_deref(), Some("this is body\n"));
    // Duplicate single-use field.
    let err = CoreMetadata::parse(b"Name: a\nName: b\n").expect_err("dup");
    assert_eq!(err.to_string(), "'name' has invalid data");
    // Description both as header and body.
    let err = CoreMetadata::parse(b"Name: a\nDescription: x\n\nbody\n").expect_err("both");
    assert_eq!(
        err,
        MetadataError::Unparsable {
            field: "description".to_owned()
        }
    );
    // Not UTF-8.
    let err = CoreMetadata::parse(b"Name: caf\xe9\n").expect_err("latin-1");
    assert_eq!(err, MetadataError::NotUtf8 { offset: 9 });
    assert!(err.to_string().contains("UTF-8"));
}

#[test]
fn parse_bounds() {
    let big = vec![b'a'; MAX_METADATA_BYTES + 1];
    assert!(matches!(
        CoreMetadata::parse(&big),
        Err(MetadataError::TooLarge { .. })
    ));
    let many = "Classifier: x\n".repeat(MAX_HEADERS + 1);
    assert_eq!(
        CoreMetadata::parse(many.as_bytes()),
        Err(MetadataError::TooManyHeaders { limit: MAX_HEADERS })
    );
    let ok = "Classifier: x\n".repeat(MAX_HEADERS);
    assert_eq!(parse(&ok).classifiers.len(), MAX_HEADERS);
}

#[test]
fn form_fields() {
    let pairs = [
        ("metadata_version", "2.1"),
        ("name", "Foo"),
        ("version", "1.0"),
        ("classifiers", "Programming Language :: Python :: 3"),
        ("classifiers", "Programming Language :: Python :: 3.12"),
        ("project_urls", "Source, https://example.org/src"),
        ("platform", "any"),
        ("license_file", "LICENSE"),
        ("summary", ""),
        ("home_page", "UNKNOWN"),
        ("Description-Content-Type", "text/markdown"),
        (":action", "file_upload"),
    ];
    let m = CoreMetadata::from_form(&pairs).expect("form");
    assert_eq!(m.name.as_deref(), Some("Foo"));
    assert_eq!(m.classifiers.len(), 2);
    assert_eq!(m.platforms, ["any"]);
    assert_eq!(m.license_files, ["LICENSE"]);
    assert_eq!(m.summary, None);
    assert_eq!(m.home_page, None);
    assert_eq!(
        m.description_content_type, None,
        "literal header key is ignored"
    );
    let err = CoreMetadata::from_form(&[("version", "1.0"), ("version", "2.0")]).expect_err("dup");
    assert_eq!(err.to_string(), "'version' has invalid data");
}

#[test]
fn upload_message_has_pypi_suffix() {
    let err = MetadataError::invalid("summary", "'summary' must be a single line");
    assert_eq!(
        err.upload_message(),
        "'summary' must be a single line. See https://packaging.python.org/specifications/core-metadata for more information."
    );
    let err = MetadataError::invalid(
        "version",
        "The use of local versions in '1.0+x' is not allowed.",
    );
    assert!(
        err.upload_message()
            .starts_with("The use of local versions in '1.0+x' is not allowed. See ")
    );
}

/// The header block ends where Python's `email.parser` (pip, installer, packaging) ends it, so a
/// field is read by the index exactly when installers read it.
#[test]
fn fields_are_read_as_python_email_parser_reads_them() {
    // A bare CR ends a line: the dependency behind it is a header to pip, so it is one here.
    let m = parse(
        "Metadata-Version: 2.1\nName: md\nVersion: 1.0\nDescription: x\rRequires-Dist: evil-dep\n",
    );
    assert_eq!(m.requires_dist, ["evil-dep"]);
    assert_eq!(m.description.as_deref(), Some("x"));
    // A NUL in a name ends the block (the `\x00` text it is rewritten to must not make it a
    // header): the lines after it are the body, for pip too.
    let m = parse(
        "Metadata-Version: 2.1\nName: md\nVersion: 1.0\nRequires\0-Dist: a\nRequires-Dist: evil-dep\n",
    );
    assert!(m.requires_dist.is_empty());
    assert_eq!(
        m.description.as_deref(),
        Some("Requires\\x00-Dist: a\nRequires-Dist: evil-dep\n")
    );
    // A space before the colon ends the block.
    let m = parse(
        "Metadata-Version: 2.1\nName: md\nVersion: 1.0\nSummary : x\nRequires-Dist: evil-dep\n\nbody\n",
    );
    assert!(m.requires_dist.is_empty() && m.summary.is_none());
    // Lines Python drops silently are refused.
    let err = CoreMetadata::parse(
        b"Metadata-Version: 2.1\nName: md\nVersion: 1.0\nFrom here\nRequires-Dist: evil-dep\n",
    )
    .expect_err("envelope line");
    assert_eq!(
        err.to_string(),
        "Metadata cannot be read: the header line \"From here\" starts with 'From ', which email parsers do not read as a header."
    );
    // A folded requirement keeps its line break in Python (packaging, pip >= 24.1 refuse it):
    // refused here rather than joined into a dependency no installer reads. Free text (the summary, the license, people) may fold.
    let err = CoreMetadata::parse(
        b"Metadata-Version: 2.1\nName: md\nVersion: 1.0\nRequires-Dist: ok-dep\n\t; extra == 'x'\n",
    )
    .expect_err("folded requirement");
    assert_eq!(
        err.to_string(),
        "Metadata cannot be read: the Requires-Dist field is folded over several lines, which installers do not read as one value; write it on one line."
    );
    for field in [
        "Name",
        "Version",
        "Requires-Python",
        "Provides-Extra",
        "requires-dist",
    ] {
        let text = format!("Metadata-Version: 2.1\nName: md\nVersion: 1.0\n{field}: a\n b\n");
        assert!(
            CoreMetadata::parse(text.as_bytes()).is_err(),
            "a folded {field} is refused"
        );
    }
    let m = parse(
        "Metadata-Version: 2.1\nName: md\nVersion: 1.0\nLicense: MIT\n        \n        Copyright x\nAuthor: A\n B\n",
    );
    assert_eq!(m.author.as_deref(), Some("A B"));
    assert!(
        m.license
            .as_deref()
            .is_some_and(|l| l.contains("Copyright x"))
    );
    let err = CoreMetadata::parse(b"Metadata-Version: 2.1\nName: md\n: hidden\nVersion: 1.0\n")
        .expect_err("nameless header");
    assert_eq!(
        err.to_string(),
        "Metadata cannot be read: the header line \": hidden\" has no field name."
    );
}
