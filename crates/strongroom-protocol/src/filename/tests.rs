//! Tests for distribution filename parsing and checks.

use super::*;

fn ver(s: &str) -> Version {
    Version::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn project(s: &str) -> NormalizedName {
    NormalizedName::new(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn legacy_and_modern_sdists() {
    // (filename, name part, version, kind)
    let cases = [
        ("Flask-2.0.0.tar.gz", "Flask", "2.0.0", SdistKind::TarGz),
        ("flask-3.1.0.tar.gz", "flask", "3.1.0", SdistKind::TarGz),
        (
            "python-dateutil-2.8.2.tar.gz",
            "python-dateutil",
            "2.8.2",
            SdistKind::TarGz,
        ),
        (
            "zope.interface-5.4.0.zip",
            "zope.interface",
            "5.4.0",
            SdistKind::Zip,
        ),
        (
            "foo_bar-1.0rc1.tar.gz",
            "foo_bar",
            "1.0rc1",
            SdistKind::TarGz,
        ),
        ("py-3to2-1.1.1.tar.gz", "py-3to2", "1.1.1", SdistKind::TarGz),
        ("foo-1!2.0.tar.gz", "foo", "1!2.0", SdistKind::TarGz),
    ];
    for (filename, name, version, kind) in cases {
        let parsed = DistFilename::parse(filename).unwrap_or_else(|e| panic!("{filename}: {e}"));
        let DistFilename::Sdist(sdist) = &parsed else {
            panic!("{filename} should be an sdist");
        };
        assert_eq!(sdist.name, name, "{filename}");
        assert_eq!(sdist.version.raw(), version, "{filename}");
        assert_eq!(sdist.kind, kind, "{filename}");
        assert_eq!(sdist.to_string(), filename);
        assert_eq!(parsed.packagetype(), "sdist");
    }
}

#[test]
fn sdist_with_dash_in_version() {
    // The last dash wins by default; the expected version picks the other split.
    let plain = SdistFilename::parse("ctx-0.1.2-1.tar.gz").expect("parses");
    assert_eq!(
        (plain.name.as_str(), plain.version.raw()),
        ("ctx-0.1.2", "1")
    );
    let guided = SdistFilename::parse_for_version("ctx-0.1.2-1.tar.gz", &ver("0.1.2.post1"))
        .expect("parses");
    assert_eq!(
        (guided.name.as_str(), guided.version.raw()),
        ("ctx", "0.1.2-1")
    );
    // Falls back to the last split when nothing equals the expected version.
    let fallback =
        SdistFilename::parse_for_version("foo-bar-1.0.tar.gz", &ver("9")).expect("parses");
    assert_eq!(fallback.name, "foo-bar");
}

#[test]
fn bad_sdists() {
    for filename in [
        "foo.tar.gz",
        "-1.0.tar.gz",
        "foo-bar.tar.gz",
        "foo-1.0$.zip",
    ] {
        assert_eq!(
            DistFilename::parse(filename),
            Err(FilenameError::InvalidSdist {
                filename: filename.to_owned()
            }),
            "{filename}"
        );
    }
}

#[test]
fn wheels() {
    let w = WheelFilename::parse(
        "MarkupSafe-3.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    .expect("parses");
    assert_eq!(w.name, "MarkupSafe");
    assert_eq!(w.version.raw(), "3.0.2");
    assert_eq!(w.build_tag, None);
    assert_eq!(w.python_tags, ["cp311"]);
    assert_eq!(w.abi_tags, ["cp311"]);
    assert_eq!(
        w.platform_tags,
        ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    );
    assert_eq!(w.unsupported_platform_tag(), None);
    assert_eq!(w.expanded_tags().len(), 2);

    let w = WheelFilename::parse("six-1.16.0-py2.py3-none-any.whl").expect("parses");
    assert_eq!(w.python_tags, ["py2", "py3"]);
    assert_eq!(w.expanded_tags(), ["py2-none-any", "py3-none-any"]);
    assert_eq!(w.to_string(), "six-1.16.0-py2.py3-none-any.whl");

    let w = WheelFilename::parse("foo-1.0-1local-py3-none-any.whl").expect("build tag");
    assert_eq!(w.build_tag.as_deref(), Some("1local"));
    assert_eq!(w.to_string(), "foo-1.0-1local-py3-none-any.whl");

    let w = WheelFilename::parse("foo_bar-2.0-py3-none-linux_x86_64.whl").expect("parses");
    assert_eq!(w.unsupported_platform_tag(), Some("linux_x86_64"));
}

#[test]
fn bad_wheels_give_packaging_messages() {
    let cases = [
        (
            "foo-1.0-py3-none.whl",
            "Invalid wheel filename (wrong number of parts): 'foo-1.0-py3-none'",
        ),
        (
            "foo-1.0-a-b-py3-none-any.whl",
            "Invalid wheel filename (wrong number of parts): 'foo-1.0-a-b-py3-none-any'",
        ),
        (
            "foo__bar-1.0-py3-none-any.whl",
            "Invalid project name: 'foo__bar-1.0-py3-none-any'",
        ),
        (
            "foo!-1.0-py3-none-any.whl",
            "Invalid project name: 'foo!-1.0-py3-none-any'",
        ),
        (
            "foo-1.0$-py3-none-any.whl",
            "Invalid wheel filename (invalid version): 'foo-1.0$-py3-none-any'",
        ),
        (
            "foo-1.0-py3-none-\u{202e}any.whl",
            r"Invalid wheel filename (invalid tag component): 'foo-1.0-py3-none-\u202eany'",
        ),
        (
            "foo-1.0-py3-none-any .whl",
            "Invalid wheel filename (invalid tag component): 'foo-1.0-py3-none-any '",
        ),
        (
            "foo-1.0-x1-py3-none-any.whl",
            "Invalid build number: x1 in 'foo-1.0-x1-py3-none-any'",
        ),
        (
            "foo-1.0-py3..py2-none-any.whl",
            "Invalid wheel filename (invalid tag component): 'foo-1.0-py3..py2-none-any'",
        ),
        (
            "foo-1.0-3py-none-any.whl",
            "Invalid wheel filename (invalid tag component): 'foo-1.0-3py-none-any'",
        ),
    ];
    for (filename, message) in cases {
        let err = DistFilename::parse(filename).expect_err(filename);
        assert_eq!(err.to_string(), message, "{filename}");
    }
}

#[test]
fn basic_checks() {
    let cases: [(&str, FilenameError); 9] = [
        ("foo-1.0.tar.gz\0", FilenameError::ControlCharacter),
        ("foo\n-1.0.tar.gz", FilenameError::ControlCharacter),
        ("foo\u{7f}-1.0.tar.gz", FilenameError::ControlCharacter),
        ("../foo-1.0.tar.gz", FilenameError::PathSeparator),
        ("..\\foo-1.0.tar.gz", FilenameError::PathSeparator),
        ("foo-1.0.egg", FilenameError::InvalidExtension),
        ("foo-1.0.tar.bz2", FilenameError::InvalidExtension),
        ("foo-1.0.exe", FilenameError::InvalidExtension),
        (".whl", FilenameError::InvalidExtension),
    ];
    for (filename, want) in cases {
        assert_eq!(check_basic(filename), Err(want.clone()), "{filename:?}");
        assert_eq!(DistFilename::parse(filename), Err(want), "{filename:?}");
    }
    assert_eq!(
        FilenameError::InvalidExtension.to_string(),
        "Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information"
    );
    assert_eq!(
        FilenameError::PathSeparator.to_string(),
        "Cannot upload a file with '/' or '\\' in the name."
    );
    // Upper-case extensions pass PyPI's (case-insensitive) check but are not parseable.
    assert!(check_basic("FOO-1.0.TAR.GZ").is_ok());
    assert_eq!(
        DistFilename::parse("FOO-1.0.WHL"),
        Err(FilenameError::InvalidExtension)
    );
}

#[test]
fn long_names_are_clean_errors() {
    let long_sdist = format!("{}-1.0.tar.gz", "a".repeat(300));
    assert_eq!(long_sdist.len(), 311);
    assert!(matches!(
        DistFilename::parse(&long_sdist),
        Err(FilenameError::TooLong { .. })
    ));
    let at_limit = format!("{}-1.0.tar.gz", "a".repeat(MAX_FILENAME_LEN - 11));
    assert_eq!(at_limit.len(), MAX_FILENAME_LEN);
    assert!(DistFilename::parse(&at_limit).is_ok());
    // A wheel must leave room for "<filename>.metadata".
    let wheel = format!("{}-1.0-py3-none-any.whl", "a".repeat(230));
    assert!(wheel.len() > MAX_WHEEL_FILENAME_LEN && wheel.len() <= MAX_FILENAME_LEN);
    let err = DistFilename::parse(&wheel).expect_err("too long");
    assert_eq!(err.to_string(), format!("Filename is too long: '{wheel}'"));
}

#[test]
fn extension_for_filetype() {
    assert!(check_extension_for_filetype("foo-1.0.tar.gz", "sdist").is_ok());
    assert!(check_extension_for_filetype("foo-1.0.zip", "sdist").is_ok());
    assert!(check_extension_for_filetype("foo-1.0-py3-none-any.whl", "bdist_wheel").is_ok());
    let err =
        check_extension_for_filetype("foo-1.0-py3-none-any.whl", "sdist").expect_err("mismatch");
    assert_eq!(
        err.to_string(),
        "Invalid file extension: Extension .whl is invalid for filetype sdist. See https://www.python.org/dev/peps/pep-0527 for more information."
    );
    assert!(check_extension_for_filetype("foo-1.0.tar.gz", "bdist_egg").is_err());
}

#[test]
fn pep625_expected_names() {
    let cases = [
        ("Foo.Bar", "1.0", "foo_bar-1.0.tar.gz", "foo_bar"),
        ("foo_bar", "01.0", "foo_bar-1.0.tar.gz", "foo_bar"),
        ("ctx", "0.1.2-1", "ctx-0.1.2.post1.tar.gz", "ctx"),
        ("Django", "v4.2.0", "django-4.2.0.tar.gz", "django"),
    ];
    for (name, version, sdist, wheel_part) in cases {
        let p = project(name);
        assert_eq!(expected_sdist_filename(&p, &ver(version)), sdist);
        assert_eq!(expected_wheel_name_part(&p), wheel_part);
    }
    assert!(name_matches_project("Foo.Bar", &project("foo-bar")));
    assert!(name_matches_project("foo__bar", &project("foo-bar")));
    assert!(!name_matches_project("foobar", &project("foo-bar")));
}

#[test]
fn release_checks_in_pypi_order() {
    let p = project("foo-bar");
    let v = ver("1.0");
    let check = |filename: &str| {
        DistFilename::parse(filename)
            .and_then(|f| f.check_release(filename, "Foo-Bar", &p, &v))
            .map_err(|e| e.to_string())
    };
    assert_eq!(check("foo_bar-1.0.tar.gz"), Ok(()));
    assert_eq!(check("foo_bar-1.0-py3-none-any.whl"), Ok(()));
    assert_eq!(check("foo_bar-1.0.0-py3-none-any.whl"), Ok(()));
    assert_eq!(
        check("bar-1.0.tar.gz"),
        Err("Start filename for 'Foo-Bar' with 'foo_bar'.".to_owned())
    );
    assert_eq!(
        check("Foo.Bar-1.0.tar.gz"),
        Err("Filename 'Foo.Bar-1.0.tar.gz' is invalid, should be 'foo_bar-1.0.tar.gz'.".to_owned())
    );
    assert_eq!(
        check("foo_bar-01.0.tar.gz"),
        Err(
            "Filename 'foo_bar-01.0.tar.gz' is invalid, should be 'foo_bar-1.0.tar.gz'.".to_owned()
        )
    );
    assert_eq!(
        check("foo_bar-1.0.zip"),
        Err("Filename 'foo_bar-1.0.zip' is invalid, should be 'foo_bar-1.0.tar.gz'.".to_owned())
    );
    assert_eq!(
        check("Foo_Bar-1.0-py3-none-any.whl"),
        Err("Filename 'Foo_Bar-1.0-py3-none-any.whl' should contain the normalized project name 'foo_bar', not 'Foo_Bar'.".to_owned())
    );
    assert_eq!(
        check("foo_bar-2.0-py3-none-any.whl"),
        Err("Version in filename should be '1.0' not '2.0'.".to_owned())
    );
    assert_eq!(
        check("foo_bar-1.0-cp312-cp312-linux_x86_64.whl"),
        Err("Binary wheel 'foo_bar-1.0-cp312-cp312-linux_x86_64.whl' has an unsupported platform tag 'linux_x86_64'.".to_owned())
    );
    assert_eq!(
        check("evil-1.0-py3-none-any.whl"),
        Err("Start filename for 'Foo-Bar' with 'foo_bar'.".to_owned())
    );
}

#[test]
fn dist_dirs_match_their_release_in_every_spelling_real_files_use() {
    // (folder, project, version): top folders of real sdists published over the years, and
    // `.dist-info` stems of real wheels.
    let real = [
        ("Django-1.11.29", "Django", "1.11.29"),
        ("zope.interface-4.1.3", "zope.interface", "4.1.3"),
        ("zope_interface-4.1.3", "zope.interface", "4.1.3"),
        ("python-dateutil-2.2", "python-dateutil", "2.2"),
        (
            "backports.ssl_match_hostname-3.4.0.2",
            "backports-ssl-match-hostname",
            "3.4.0.2",
        ),
        ("jaraco_functools-4.1.0", "jaraco.functools", "4.1.0"),
        ("markupsafe-3.0.2", "MarkupSafe", "3.0.2"),
        ("pyOpenSSL-0.13", "pyopenssl", "0.13"),
        ("setuptools-40.0.0", "setuptools", "40.0.0"),
        ("mock-1.0b1", "mock", "1.0b1"),
        ("pyramid-1.0a1", "pyramid", "1.0a1"),
        ("sphinx_rtd_theme-0.1.9", "sphinx-rtd-theme", "0.1.9"),
        ("MarkupSafe-3.0.2", "markupsafe", "3.0.2"),
        // PEP 440 equal spellings of one version, and a legacy `-` post-release.
        ("demo-1.0", "demo", "1.0.0"),
        ("demo-1.0.0", "demo", "1.0"),
        ("demo-1.0-beta.1", "demo", "1.0b1"),
        ("demo-1.0-1", "demo", "1.0.post1"),
        ("demo-2-1.0", "demo-2", "1.0"),
    ];
    for (dir, name, version) in real {
        assert!(
            dist_dir_matches(dir, &project(name), &ver(version)),
            "{dir} should name {name} {version}"
        );
    }
    let wrong = [
        ("evil-1.0", "demo", "1.0"),
        ("demo-1.1", "demo", "1.0"),
        ("demo", "demo", "1.0"),
        ("demo-", "demo", "1.0"),
        ("-1.0", "demo", "1.0"),
        ("demo1.0", "demo", "1.0"),
        ("demo-1.0-extra", "demo", "1.0"),
        ("src", "demo", "1.0"),
        ("demo-1.0.dist-info", "demo", "1.0"),
        // A name that only normalises to the project through Unicode case mapping (Kelvin sign).
        ("\u{212a}it-1.0", "kit", "1.0"),
        ("d\u{e9}mo-1.0", "demo", "1.0"),
    ];
    for (dir, name, version) in wrong {
        assert!(
            !dist_dir_matches(dir, &project(name), &ver(version)),
            "{dir} must not name {name} {version}"
        );
    }
    // Cheap however many dashes a hostile folder name has.
    let long = format!("{}-1.0", "a-".repeat(40_000));
    assert!(!dist_dir_matches(&long, &project("demo"), &ver("1.0")));
}
