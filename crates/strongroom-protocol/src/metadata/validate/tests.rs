//! Tests for PyPI's metadata validation rules and error priority.

use crate::metadata::CoreMetadata;

fn minimal() -> CoreMetadata {
    CoreMetadata {
        metadata_version: Some("2.1".to_owned()),
        name: Some("foo".to_owned()),
        version: Some("1.0".to_owned()),
        ..CoreMetadata::default()
    }
}

/// Each case: a mutation of valid metadata and the error PyPI reports.
#[test]
fn every_rejection() {
    type Mutate = fn(&mut CoreMetadata);
    let cases: Vec<(Mutate, &str, &str)> = vec![
        (
            |m| m.metadata_version = None,
            "metadata-version",
            "'metadata-version' is a required field",
        ),
        (
            |m| m.metadata_version = Some("2.0".into()),
            "metadata-version",
            "'2.0' is not a valid metadata version",
        ),
        (
            |m| m.metadata_version = Some("2.6".into()),
            "metadata-version",
            "'2.6' is not a valid metadata version",
        ),
        (|m| m.name = None, "name", "'name' is a required field"),
        (
            |m| m.name = Some("bad name".into()),
            "name",
            "'bad name' is invalid for 'name'",
        ),
        (
            |m| m.name = Some("rеquests".into()),
            "name",
            "'rеquests' is invalid for 'name'",
        ),
        (
            |m| m.version = None,
            "version",
            "'version' is a required field",
        ),
        (
            |m| m.version = Some("１.0".into()),
            "version",
            "'１.0' is invalid for 'version'",
        ),
        (
            |m| m.version = Some("1.999999999999999999999999".into()),
            "version",
            "'1.999999999999999999999999' is invalid for 'version'",
        ),
        (
            |m| m.version = Some("1.0+evil".into()),
            "version",
            "The use of local versions in '1.0+evil' is not allowed.",
        ),
        (
            |m| m.summary = Some("two\nlines".into()),
            "summary",
            "'summary' must be a single line",
        ),
        (
            |m| m.summary = Some("x".repeat(513)),
            "summary",
            "'summary' field must be 512 characters or less.",
        ),
        (
            |m| m.description_content_type = Some("text/html".into()),
            "description-content-type",
            "'description-content-type' must be one of ['text/plain', 'text/x-rst', 'text/markdown'], not 'text/html'",
        ),
        (
            |m| m.description_content_type = Some("text/plain; charset=latin-1".into()),
            "description-content-type",
            "'description-content-type' can only specify the UTF-8 charset, not 'latin-1'",
        ),
        (
            |m| m.description_content_type = Some("text/markdown; variant=Pandoc".into()),
            "description-content-type",
            "valid Markdown variants for 'description-content-type' are ['GFM', 'CommonMark'], not 'Pandoc'",
        ),
        (
            |m| m.author_email = Some("not-an-email".into()),
            "author-email",
            "'not-an-email' is not a valid email address: An email address must have an @-sign.",
        ),
        (
            |m| m.maintainer_email = Some("Jo <jo@localhost>".into()),
            "maintainer-email",
            "'jo@localhost' is not a valid email address: The part after the @-sign is not valid. It should have a period.",
        ),
        (
            |m| m.classifiers = vec!["Programming Language :: Python :: 4".into()],
            "classifier",
            "'Programming Language :: Python :: 4' is not a valid classifier.",
        ),
        (
            |m| m.classifiers = vec!["Natural Language :: Ukranian".into()],
            "classifier",
            "The classifier 'Natural Language :: Ukranian' has been deprecated, use one of ['Natural Language :: Ukrainian'] instead.",
        ),
        (
            |m| m.classifiers = vec!["License :: OSI Approved :: Intel Open Source License".into()],
            "classifier",
            "The classifier 'License :: OSI Approved :: Intel Open Source License' has been deprecated.",
        ),
        (
            |m| m.home_page = Some("javascript:alert(1)".into()),
            "home-page",
            "'javascript:alert(1)' is not a valid url.",
        ),
        (
            |m| m.download_url = Some("ftp://example.org/x.tar.gz".into()),
            "download-url",
            "'ftp://example.org/x.tar.gz' is not a valid url.",
        ),
        (
            |m| m.project_urls = vec!["Chat, https://example.org/#a\nb".into()],
            "project-url",
            "'https://example.org/#a\\nb' is not a valid url",
        ),
        (
            |m| m.project_urls = vec![", https://example.org".into()],
            "project-url",
            "Must have a label",
        ),
        (
            |m| m.project_urls = vec![format!("{}, https://example.org", "L".repeat(33))],
            "project-url",
            "'LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL' must be 32 characters or less.",
        ),
        (
            |m| m.project_urls = vec!["Source,".into()],
            "project-url",
            "Must have a URL",
        ),
        (
            |m| m.project_urls = vec!["Source, data:text/html,x".into()],
            "project-url",
            "'data:text/html,x' is not a valid url",
        ),
        (
            |m| m.project_urls = vec!["A, https://a.org".into(), "A, https://b.org".into()],
            "project-url",
            "'project-url' has invalid data",
        ),
        (
            |m| m.requires_dist = vec!["x @ https://evil.example/x.whl".into()],
            "requires-dist",
            "Can't have direct dependency: x @ https://evil.example/x.whl",
        ),
        (
            |m| m.requires_dist = vec!["foo >= ".into()],
            "requires-dist",
            "'foo >= ' is invalid for 'requires-dist'",
        ),
        (
            |m| m.provides_dist = vec!["y @ https://evil.example/y.whl".into()],
            "provides-dist",
            "Can't have direct dependency: 'y @ https://evil.example/y.whl'",
        ),
        (
            |m| m.obsoletes_dist = vec!["z @ file:///tmp/z".into()],
            "obsoletes-dist",
            "Can't have direct dependency: 'z @ file:///tmp/z'",
        ),
        (
            |m| m.requires_python = Some(">=3.8.*".into()),
            "requires-python",
            "'>=3.8.*' is invalid for 'requires-python'",
        ),
        (
            |m| m.provides_extra = vec!["bad extra!".into()],
            "provides-extra",
            "'bad extra!' is invalid for 'provides-extra'",
        ),
        (
            |m| {
                m.metadata_version = Some("2.2".into());
                m.dynamic = vec!["Name".into()];
            },
            "dynamic",
            "'name' is not allowed as a dynamic field",
        ),
        (
            |m| {
                m.metadata_version = Some("2.2".into());
                m.dynamic = vec!["Colour".into()];
            },
            "dynamic",
            "'colour' is not a valid dynamic field",
        ),
        (
            |m| {
                m.metadata_version = Some("2.2".into());
                m.dynamic = vec!["Dynamic".into()];
            },
            "dynamic",
            "Dynamic field 'dynamic' is not a valid dynamic field.",
        ),
        (
            |m| m.dynamic = vec!["Summary".into()],
            "dynamic",
            "dynamic introduced in metadata version 2.2, not 2.1",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license = Some("MIT".into());
                m.license_expression = Some("MIT".into());
            },
            "license",
            "License is deprecated when License-Expression is present. Only License-Expression should be present.",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license_expression = Some("MIT AND".into());
            },
            "license-expression",
            "'MIT AND' is invalid for 'license-expression'",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license_files = vec!["../LICENSE".into()];
            },
            "license-file",
            "'../LICENSE' is invalid for 'license-file', parent directory indicators are not allowed",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license_files = vec!["/etc/passwd".into()];
            },
            "license-file",
            "'/etc/passwd' is invalid for 'license-file', paths must be relative",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license_files = vec!["LICENSES\\MIT".into()];
            },
            "license-file",
            "'LICENSES\\\\MIT' is invalid for 'license-file', paths must use '/' delimiter",
        ),
        (
            |m| {
                m.metadata_version = Some("2.4".into());
                m.license_files = vec!["LICEN*".into()];
            },
            "license-file",
            "'LICEN*' is invalid for 'license-file', paths must be resolved",
        ),
        (
            |m| {
                m.metadata_version = Some("2.5".into());
                m.import_names = vec!["foo.class".into()];
            },
            "import-name",
            "'foo.class' is invalid for 'import-name'; 'class' is a keyword",
        ),
        (
            |m| {
                m.metadata_version = Some("2.5".into());
                m.import_namespaces = vec!["foo-bar".into()];
            },
            "import-namespace",
            "'foo-bar' is invalid for 'import-namespace'; 'foo-bar' is not a valid identifier",
        ),
        (
            |m| {
                m.metadata_version = Some("2.5".into());
                m.import_names = vec!["foo; public".into()];
            },
            "import-name",
            "'foo; public' is invalid for 'import-name'; the only valid option is 'private'",
        ),
        (
            |m| m.import_names = vec!["foo".into()],
            "import-name",
            "import-name introduced in metadata version 2.5, not 2.1",
        ),
    ];
    for (mutate, field, message) in cases {
        let mut m = minimal();
        mutate(&mut m);
        let err = m.validate().expect_err(message);
        assert_eq!(err.to_string(), message);
        assert_eq!(err.field(), Some(field), "{message}");
    }
}

#[test]
fn accepted_values() {
    let mut m = minimal();
    m.author_email = Some("Jane <jane@example.org>, Bob <bob@example.com>".into());
    m.maintainer_email = Some("x@sub.example.co.uk (Team)".into());
    m.home_page = Some("HTTPS://Example.org:8443/path?q=1#frag".into());
    m.download_url = Some("http://[::1]:8080/dl".into());
    // aiohttp's, yarl's and multidict's chat link: a fragment holding '#' (not checked, as
    // Warehouse does not check fragments)
    m.project_urls = vec![
        "Source Code, https://github.com/x/y".into(),
        "Chat: Matrix, https://matrix.to/#/#aio-libs:matrix.org".into(),
    ];
    m.requires_dist = vec![
        "requests[security,socks] >=2.8.1, ==2.8.* ; python_version < \"3.8\"".into(),
        "tomli; python_version < '3.11'".into(),
    ];
    m.requires_python = Some(">=3.8, <4".into());
    m.provides_extra = vec!["use_chardet_on_py3".into()];
    m.classifiers = vec!["Typing :: Typed".into(), "Typing :: Typed".into()];
    m.license_files = vec!["LICENSE".into()]; // tolerated before 2.4
    m.description_content_type = Some("text/markdown; charset=utf-8; variant=GFM".into());
    assert_eq!(m.validate(), Ok(()));
    let mut m = minimal();
    m.metadata_version = Some("2.4".into());
    m.license_expression = Some("LicenseRef-Proprietary AND (MIT OR GPL-2.0-or-later)".into());
    assert_eq!(m.validate(), Ok(()));
}

#[test]
fn error_priority_is_pypis() {
    let mut m = minimal();
    m.summary = Some("a\nb".into());
    m.name = Some("bad name".into());
    m.description_content_type = Some("text/html".into());
    assert_eq!(m.validate().expect_err("name first").field(), Some("name"));
    m.name = Some("ok".into());
    // Alphabetical among the rest: description-content-type < summary.
    assert_eq!(
        m.validate().expect_err("dct").field(),
        Some("description-content-type")
    );
    assert_eq!(m.validate_all().len(), 2);
    // Warehouse-level errors only appear once packaging-level ones are fixed.
    let mut m = minimal();
    m.version = Some("1.0+local".into());
    m.summary = Some("a\nb".into());
    assert_eq!(m.validate().expect_err("summary").field(), Some("summary"));
    m.summary = None;
    assert_eq!(m.validate().expect_err("local").field(), Some("version"));
}

/// pep508_rs panicked on these (found by the `metadata` and `form_metadata` fuzz targets; the
/// inputs are in fuzz/corpus): a name ending in `.`, `-` or `_` followed by anything else.
#[test]
fn requirement_names_ending_in_a_separator_are_refused_not_a_panic() {
    for req in [
        "L_\u{f}",
        "idna. ",
        "foo_ >=1.0",
        "a-[x]",
        "b.;python_version>'3'",
        "  c_ (>=1)",
    ] {
        let mut m = minimal();
        m.requires_dist = vec![req.to_owned()];
        let errors = m.validate_all();
        assert_eq!(errors.len(), 1, "{req:?}: {errors:?}");
        assert_eq!(errors[0].field(), Some("requires-dist"));
        assert!(
            errors[0]
                .to_string()
                .ends_with("is invalid for 'requires-dist'"),
            "{req:?}: {}",
            errors[0]
        );
        let mut m = minimal();
        m.provides_dist = vec![req.to_owned()];
        assert!(
            m.validate_all().iter().any(|e| e
                .to_string()
                .contains("Package name must end with an alphanumeric character")),
            "{req:?}"
        );
    }
    // The same in extras (pep508_rs's `ExtraName` expect).
    for req in ["t[a.", "e[s_", "x[ok, b- ]", "y [c.]; python_version > '3'"] {
        let mut m = minimal();
        m.requires_dist = vec![req.to_owned()];
        let errors = m.validate_all();
        assert_eq!(errors.len(), 1, "{req:?}: {errors:?}");
        assert_eq!(errors[0].field(), Some("requires-dist"));
        // Refused by our check, not by catching pep508_rs's panic ("invalid requirement").
        let mut m = minimal();
        m.provides_dist = vec![req.to_owned()];
        assert!(
            m.validate_all().iter().any(|e| e
                .to_string()
                .contains("Extra name must end with an alphanumeric character")),
            "{req:?}: {:?}",
            m.validate_all()
        );
    }
    // Non-ASCII anywhere (pep508_rs sliced inside the character).
    for req in ["p[t \u{2192}", "i;extra=='.'g\u{7da}", "caf\u{e9}>=1"] {
        let mut m = minimal();
        m.provides_dist = vec![req.to_owned()];
        assert!(
            m.validate_all()
                .iter()
                .any(|e| e.to_string().contains("requirements must be ASCII")),
            "{req:?}: {:?}",
            m.validate_all()
        );
    }
    // Names that end well still parse, with or without a space before the specifier.
    let mut m = minimal();
    m.requires_dist = vec![
        "foo_bar >=1.0".into(),
        "a.b[x]".into(),
        "c-d".into(),
        "e [x_y, z.1] ; extra == 'q'".into(),
    ];
    assert!(m.validate_all().is_empty(), "{:?}", m.validate_all());
}
