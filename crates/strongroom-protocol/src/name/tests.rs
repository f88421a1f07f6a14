//! Tests for project-name validation and normalisation.

use super::*;

#[test]
fn valid_and_invalid_names() {
    let valid = [
        "a",
        "A",
        "0",
        "requests",
        "Flask",
        "zope.interface",
        "foo_bar-baz.qux",
        "Foo__Bar",
        "1password",
        "a-b",
    ];
    for name in valid {
        assert!(ProjectName::new(name).is_ok(), "{name} should be valid");
    }
    let invalid = [
        "",
        "-foo",
        "foo-",
        "_foo",
        "foo.",
        ".",
        "foo bar",
        "foo/bar",
        "foo\0",
        "foo\n",
        "reqшests",         // Cyrillic
        "rеquests",         // Cyrillic е that looks like e
        "ｒｅｑｕｅｓｔｓ", // full-width letters
        "foo!",
        "café",
        "foo+bar",
    ];
    for name in invalid {
        let err = ProjectName::new(name).expect_err(name);
        assert_eq!(
            err,
            NameError::Invalid {
                name: name.to_owned()
            }
        );
    }
}

#[test]
fn invalid_name_message_is_pypis() {
    let err = ProjectName::new("foo bar").expect_err("space");
    assert_eq!(err.to_string(), "The name 'foo bar' is invalid.");
    let err = ProjectName::new("it's").expect_err("quote");
    assert_eq!(err.to_string(), "The name \"it's\" is invalid.");
}

#[test]
fn normalisation_table() {
    let cases = [
        ("Foo_Bar", "foo-bar"),
        ("foo.bar", "foo-bar"),
        ("FOO-BAR", "foo-bar"),
        ("foo--bar", "foo-bar"),
        ("foo-_.-bar", "foo-bar"),
        ("Django", "django"),
        ("zope.interface", "zope-interface"),
        ("A", "a"),
        ("ruamel.yaml.clib", "ruamel-yaml-clib"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize(raw), want, "normalize({raw})");
        let n = NormalizedName::new(raw).expect(raw);
        assert_eq!(n.as_str(), want);
        assert_eq!(ProjectName::new(raw).expect(raw).normalized(), n);
    }
    assert_eq!(
        NormalizedName::new("Foo.Bar").expect("valid").underscored(),
        "foo_bar"
    );
    assert!(NormalizedName::new("foo bar").is_err());
}

#[test]
fn display_name_is_kept() {
    let name = ProjectName::new("Foo_Bar").expect("valid");
    assert_eq!(name.as_str(), "Foo_Bar");
    assert_eq!(name.to_string(), "Foo_Bar");
    assert_eq!(name.normalized().to_string(), "foo-bar");
}

/// Each input and its skeleton: the admin guide's examples first (docs/admin-guide.md, step 4).
#[test]
fn skeleton_table() {
    let cases = [
        ("acme-utils", "acmeutlls"),
        ("acme_utils", "acmeutlls"),
        ("ACME.utils", "acmeutlls"),
        ("acrne-utils", "acmeutlls"),
        ("acme-uti1s", "acmeutlls"),
        ("requests", "requests"),
        ("Foo.Bar_Baz-Qux", "foobarbazqux"),
        ("cli", "dl"),
        ("CLI", "dl"),
        ("cl1", "dl"),
        ("c1i", "dl"),
        ("LOL", "lol"),
        ("I-O", "lo"),
        ("api", "apl"),
        ("apl", "apl"),
        ("vvheel", "wheel"),
        ("wheel", "wheel"),
        ("modern", "modem"),
        ("c0ntrol", "control"),
        ("Pil-Low", "plllow"),
        // Script look-alikes (never valid project names, but the skeleton is total).
        ("\u{430}cme-utils", "acmeutlls"), // Cyrillic a
        ("\u{410}CME-UTILS", "acmeutlls"), // Cyrillic A
        ("\u{3bf}penai", "openal"),        // Greek omicron
        ("r\u{435}quests", "requests"),    // Cyrillic ie
        ("\u{ff41}cme", "acme"),           // fullwidth a
        ("\u{e9}clair", "edalr"),          // e with acute
        ("", ""),
    ];
    for (raw, want) in cases {
        assert_eq!(skeleton(raw), want, "skeleton({raw})");
        assert_eq!(skeleton(want), want, "skeleton is idempotent on {want}");
    }
    assert_eq!(
        ProjectName::new("Pil-Low").expect("valid").skeleton(),
        skeleton("p1ll0w")
    );
}

/// Pairs that must collide and pairs that must not.
#[test]
fn skeleton_collisions() {
    let same = [
        ("acme-utils", "acrne-utils"),
        ("acme-utils", "ACME.utils"),
        ("acme-utils", "acme_uti1s"),
        ("wheel", "vvheel"),
        ("django", "cljango"),
        ("django", "c1jango"),
        ("numpy", "nurnpy"),
        ("pillow", "p1ll0w"),
        ("requests", "r\u{435}quests"),
    ];
    for (a, b) in same {
        assert_eq!(skeleton(a), skeleton(b), "{a} and {b} must collide");
    }
    let different = [
        ("requests", "reqvests"),
        ("acme-utils", "acme-util"),
        ("numpy", "numba"),
        ("six", "six2"),
        ("wheel", "whee1s"),
        ("django", "dj-ango-rest"),
    ];
    for (a, b) in different {
        assert_ne!(skeleton(a), skeleton(b), "{a} and {b} must not collide");
    }
}

/// Real project names (the sample distributions the e2e tests upload) keep distinct skeletons.
#[test]
fn real_names_do_not_collide() {
    let names = [
        "Click",
        "Django",
        "Flask",
        "Jinja2",
        "MarkupSafe",
        "PyYAML",
        "attrs",
        "black",
        "certifi",
        "chardet",
        "cryptography",
        "flit_core",
        "hatchling",
        "idna",
        "numpy",
        "packaging",
        "pdm_backend",
        "poetry_core",
        "pydantic_core",
        "python-dateutil",
        "pytz",
        "requests",
        "setuptools",
        "simplejson",
        "six",
        "tomli",
        "typing_extensions",
        "urllib3",
        "wheel",
        "zope.interface",
        // More names that contain the folded pairs.
        "scikit-learn",
        "modern",
        "cloud",
        "click-log",
        "pyclip",
        "dateparser",
    ];
    let mut seen = std::collections::BTreeMap::new();
    for name in names {
        if let Some(other) = seen.insert(skeleton(name), name) {
            panic!("{name} and {other} share the skeleton {}", skeleton(name));
        }
    }
}

#[test]
fn stdlib_names_are_refused_for_new_projects() {
    for name in [
        "json",
        "asyncio",
        "JSON",
        "os.path",
        "os_path",
        "xml.etree",
        "distutils",
        "tomllib",
        "urllib2",
    ] {
        let n = NormalizedName::new(name).expect(name);
        assert!(is_stdlib_module_name(&n), "{name} is stdlib");
        let err = ProjectName::new_project(name).expect_err(name);
        assert_eq!(
            err.to_string(),
            format!(
                "The name '{name}' isn't allowed (conflict with Python Standard Library module name)."
            )
        );
    }
    for name in ["requests", "pip", "jsonx", "asyncio-extras", "numpy"] {
        let n = NormalizedName::new(name).expect(name);
        assert!(!is_stdlib_module_name(&n), "{name} is not stdlib");
        assert!(ProjectName::new_project(name).is_ok());
    }
}

#[test]
fn stdlib_list_is_sorted_and_normalized() {
    let list = &*STDLIB_MODULES;
    assert!(list.len() > 2000);
    assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    assert!(
        list.iter()
            .all(|m| normalize(m) == *m && is_valid_project_name(m))
    );
}

#[test]
fn serde_round_trip_validates() {
    let n: NormalizedName = serde_json::from_str("\"Foo_Bar\"").expect("valid");
    assert_eq!(n.as_str(), "foo-bar");
    assert_eq!(serde_json::to_string(&n).expect("ser"), "\"foo-bar\"");
    assert!(serde_json::from_str::<ProjectName>("\"bad name\"").is_err());
    assert_eq!("Foo".parse::<ProjectName>().expect("valid").as_str(), "Foo");
}

#[test]
fn is_normalized_says_what_normalize_would_leave_unchanged() {
    for name in [
        "requests",
        "Requests",
        "zope.interface",
        "zope-interface",
        "zope--interface",
        "zope_-interface",
        "a",
        "A",
        "-",
        "--",
        "a-",
        "-a",
        "a-b-c",
        "a.b",
        "ab_",
        "",
        "x1-2",
        "İstanbul",
        "straße",
        "ǅ",
        "ﬀ",
    ] {
        assert_eq!(
            is_normalized(name),
            normalize(name) == name,
            "{name:?} normalises to {:?}",
            normalize(name)
        );
    }
}
